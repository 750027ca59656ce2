"""Forecast metrics (pipeline/core/forecast_metrics.py) against hand-computed figures and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score

from pipeline.core.forecast_metrics import forecast_intervals, forecast_metrics, forecast_samples
from pipeline.core.metrics import higher_is_better


def test_the_figures_over_every_origin_and_step() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(10, 20, (30, 4))
    p = y + rng.normal(0, 1, (30, 4))
    got = forecast_metrics(y, p, mase_scale=2.0)
    assert got["mae"] == pytest.approx(mean_absolute_error(y.ravel(), p.ravel()))
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))
    assert got["r2"] == pytest.approx(r2_score(y.ravel(), p.ravel()))
    assert got["mape"] == pytest.approx(mean_absolute_percentage_error(y.ravel(), p.ravel()))
    assert got["smape"] == pytest.approx(np.mean(2 * np.abs(y - p) / (np.abs(y) + np.abs(p))))
    assert got["mase"] == pytest.approx(got["mae"] / 2.0)
    assert got["by_step"]["mae"] == pytest.approx(list(np.abs(y - p).mean(axis=0)))
    assert len(got["by_step"]["rmse"]) == 4 and got["origins"] == 30


def test_no_mape_at_zero_and_smape_of_two_zeros_is_zero() -> None:
    got = forecast_metrics(np.array([[0.0, 2.0]]), np.array([[0.0, 1.0]]), mase_scale=1.0)
    assert "mape" not in got and got["smape"] == pytest.approx((0 + 2 * 1 / 3) / 2)


def test_weights_resample_whole_origins() -> None:
    y = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 4.0]])
    p = np.array([[1.5, 2.0], [3.0, 4.0], [2.0, 4.0]])
    twice_first = forecast_samples(y, p, 1.0, np.array([[2.0, 1.0, 0.0]]))
    repeated = forecast_metrics(y[[0, 0, 1]], p[[0, 0, 1]], 1.0)
    for name in ("mae", "rmse", "r2", "mape", "smape", "mase"):
        assert twice_first[name][0] == pytest.approx(repeated[name])


def test_lower_is_better_for_the_forecast_errors() -> None:
    assert not higher_is_better("val_mase") and not higher_is_better("smape") and higher_is_better("r2")


def test_bootstrap_intervals_over_origins_hold_the_figure_and_repeat_with_the_seed() -> None:
    rng = np.random.default_rng(5)
    y = rng.uniform(50, 60, (40, 3))
    p = y + rng.normal(0, 2, (40, 3))
    figures = forecast_metrics(y, p, 1.5)
    intervals = forecast_intervals(y, p, 1.5, resamples=300, level=0.9, seed=7)
    assert set(intervals) == {"mae", "rmse", "r2", "mape", "smape", "mase"}
    for name, (low, high) in intervals.items():
        assert low <= figures[name] <= high, name
    assert intervals == forecast_intervals(y, p, 1.5, resamples=300, level=0.9, seed=7)
