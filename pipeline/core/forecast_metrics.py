"""Metrics of a forecast (``kind: timeseries``): every model and baseline is scored by these, on the
same origins, with the same definitions.

A forecast is ``[origins, horizon]``: one row per origin of the rolling-origin evaluation, one column
per step ahead. Over all its values: ``mae``, ``rmse``, ``r2``, ``mape`` (when every target is above
0; a share, 0.0173 is 1.73%), ``smape`` (``2|y - p| / (|y| + |p|)``, 0 where both are 0; a share
from 0 to 2) and ``mase`` (the MAE over the training period's mean absolute seasonal difference,
``mean |y_t - y_{t-m}|``: below 1 beats the in-sample seasonal naive forecast). ``by_step``: the MAE
and RMSE of each step ahead. The weighted form (:func:`forecast_samples`) resamples whole origins, as
the bootstrap of ``pipeline.core.bootstrap`` does rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORECAST_METRIC_NAMES = ("mae", "rmse", "r2", "mape", "smape", "mase")


def _as_grid(values: Any, name: str) -> np.ndarray:
    grid = np.asarray(values, dtype="float64")
    if grid.ndim == 1:
        grid = grid[:, None]
    if grid.ndim != 2:
        raise ValueError(f"{name}: expected [origins, horizon], got shape {grid.shape}")
    return grid


def forecast_samples(y: Any, p: Any, mase_scale: float, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric once per row of ``weights`` (how often each origin was drawn): ``(resamples,)``."""
    y, p = _as_grid(y, "targets"), _as_grid(p, "forecasts")
    if y.shape != p.shape:
        raise ValueError(f"targets {y.shape} and forecasts {p.shape} differ in shape")
    w = np.asarray(weights, dtype="float64")
    total = w.sum(axis=1) * y.shape[1]
    error = y - p

    def mean_of(per_value: np.ndarray) -> np.ndarray:
        return w @ per_value.sum(axis=1) / total

    mae = mean_of(np.abs(error))
    mean_y = mean_of(y)
    squares = w @ (error**2).sum(axis=1)
    # sum of (y - mean)^2 over the drawn values, expanded so that one product serves every resample
    spread = w @ (y**2).sum(axis=1) - 2 * mean_y * (w @ y.sum(axis=1)) + mean_y**2 * total
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1 - squares / spread, np.nan)
        both = np.abs(y) + np.abs(p)
        smape = mean_of(np.where(both > 0, 2 * np.abs(error) / both, 0.0))
    out = {
        "mae": mae,
        "rmse": np.sqrt(squares / total),
        "r2": r2,
        "smape": smape,
        "mase": mae / mase_scale,
    }
    if y.size and (y > 0).all():
        out["mape"] = mean_of(np.abs(error) / y)
    return out


def forecast_metrics(y: Any, p: Any, mase_scale: float) -> dict[str, Any]:
    """One period's figures, and ``by_step``: the MAE and RMSE of each step ahead (lists, step 1 first)."""
    y, p = _as_grid(y, "targets"), _as_grid(p, "forecasts")
    samples = forecast_samples(y, p, mase_scale, np.ones((1, len(y))))
    out: dict[str, Any] = {name: float(samples[name][0]) for name in FORECAST_METRIC_NAMES if name in samples}
    error = y - p
    out["by_step"] = {
        "mae": [float(v) for v in np.abs(error).mean(axis=0)],
        "rmse": [float(v) for v in np.sqrt((error**2).mean(axis=0))],
    }
    out["origins"] = len(y)
    return out


def forecast_intervals(
    y: Any, p: Any, mase_scale: float, resamples: int, level: float, seed: int
) -> dict[str, list[float]]:
    """Each metric's bootstrap percentile interval at ``level``, resampling whole origins (seeded)."""
    from pipeline.core.bootstrap import bounds, resample_weights

    y, p = _as_grid(y, "targets"), _as_grid(p, "forecasts")
    blocks = [forecast_samples(y, p, mase_scale, w) for w in resample_weights(len(y), resamples, seed)]
    names = [name for name in FORECAST_METRIC_NAMES if blocks and name in blocks[0]]
    return {name: bounds(np.concatenate([b[name] for b in blocks]), level) for name in names}
