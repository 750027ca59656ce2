"""The forecasting baselines (pipeline/tasks/series_baselines.py) on tiny series whose answers are
known, and statsmodels' Holt-Winters read from every origin as the library itself forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.core.timeseries_config import SeriesEncodeConfig, SeriesSchema, SeriesSplit
from pipeline.encoders.timeseries import WindowEncoder
from pipeline.tasks.series_baselines import (
    baseline_metrics,
    ets_forecasts,
    naive,
    seasonal_naive,
)
from pipeline.tasks.series_split import origins, periods


def test_naive_and_seasonal_naive_read_what_the_origin_has_seen() -> None:
    y = np.arange(20, dtype="float64")
    assert naive(y, [5, 10], 3).tolist() == [[4, 4, 4], [9, 9, 9]]
    # season 4, origin 10 (steps 10..15 ahead): 6, 7, 8, 9, then one more season back: 6, 7
    assert seasonal_naive(y, [10], 6, 4).tolist() == [[6, 7, 8, 9, 6, 7]]
    y[6] = np.nan  # missing: the naive value instead
    assert seasonal_naive(y, [10], 2, 4).tolist() == [[9, 7]]


def test_ets_from_each_origin_is_the_library_s_own_forecast() -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    rng = np.random.default_rng(1)
    t = np.arange(300)
    y = 50 + 0.1 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 300)
    predicted, settings = ets_forecasts(y, 200, [220, 299], 15, 12)
    assert settings["seasonal"] and predicted.shape == (2, 15)
    fitted = ExponentialSmoothing(
        y[:200], trend="add", damped_trend=True, seasonal="add", seasonal_periods=12,
        initialization_method="estimated",
    ).fit()  # fmt: skip
    p = fitted.params
    again = ExponentialSmoothing(
        y[:220], trend="add", damped_trend=True, seasonal="add", seasonal_periods=12,
        initialization_method="known", initial_level=p["initial_level"], initial_trend=p["initial_trend"],
        initial_seasonal=p["initial_seasons"],
    ).fit(
        smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"],
        smoothing_seasonal=p["smoothing_seasonal"], damping_trend=p["damping_trend"], optimized=False,
    )  # fmt: skip
    assert predicted[0] == pytest.approx(again.forecast(15), abs=1e-9)
    assert np.abs(predicted[1] - y[299]).mean() < 5  # near the series, a trend and a season on


def test_every_baseline_scores_a_seasonal_series_and_the_seasonal_ones_beat_naive() -> None:
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=24 * 14, freq="h")
    hours = index.hour.to_numpy()
    load = 100 + 20 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, len(index))
    series = pd.DataFrame({"load": load}, index=index)
    schema = SeriesSchema.model_validate({"time": "t", "target": "load"})
    encode = SeriesEncodeConfig(
        lookback=24, horizon=4, season_length=24, calendar=["hour_of_day"], origin_every=4
    )
    period = periods(index, SeriesSplit(val_fraction=0.2, test_fraction=0.2))
    encoder = WindowEncoder.fit(series[period == "train"], schema, encode, "h")
    at = {p: origins(period, p, 4, 1 if p == "train" else 4) for p in ("train", "val", "test")}
    names = ["naive", "seasonal_naive", "linear_ar", "hist_gradient_boosting", "ets"]
    results = baseline_metrics(names, series, period, encoder, at, seed=0)
    test = {name: results[name]["test"] for name in names}
    assert all(m["origins"] == 16 for m in test.values())
    assert test["naive"]["mase"] > 2 * test["seasonal_naive"]["mase"]
    for name in ("linear_ar", "hist_gradient_boosting", "ets"):
        assert test[name]["mae"] < test["naive"]["mae"] / 2, name
        assert test[name]["r2"] > 0.9, name
    assert len(test["ets"]["by_step"]["mae"]) == 4
