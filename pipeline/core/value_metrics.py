"""Metrics of a numeric target (regression), for every model and baseline alike, and their
weighted form for the bootstrap (:mod:`pipeline.core.bootstrap`), plus split-conformal intervals.

``mae``, ``rmse``, ``r2`` and, when every target is positive, ``mape`` (a share: 0.12 is 12%).
RMSE, MAE and MAPE are lower-is-better (``pipeline.core.metrics.LOWER_IS_BETTER``).
"""

from __future__ import annotations

import math

import numpy as np

VALUE_METRIC_NAMES = ("mae", "rmse", "r2", "mape")


def value_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """One split's figures; ``mape`` only when every target is above 0."""
    y = np.asarray(y_true, dtype="float64").reshape(-1)
    p = np.asarray(predicted, dtype="float64").reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} targets but {len(p)} predictions")
    samples = value_samples(y, p, np.ones((1, len(y))))
    return {name: float(values[0]) for name, values in samples.items()}


def value_samples(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric once per row of ``weights`` (how often each row was drawn): ``(resamples,)``."""
    y = np.asarray(y, dtype="float64").reshape(-1)
    p = np.asarray(p, dtype="float64").reshape(-1)
    total = weights.sum(axis=1)
    error = y - p
    mse = weights @ (error**2) / total
    mean_y = weights @ y / total
    spread = (weights * (y[None, :] - mean_y[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1 - (weights @ (error**2)) / spread, np.nan)
    out = {"mae": weights @ np.abs(error) / total, "rmse": np.sqrt(mse), "r2": r2}
    if len(y) and (y > 0).all():
        out["mape"] = weights @ np.abs(error / y) / total
    return out


def conformal_half_width(y_val: np.ndarray, p_val: np.ndarray, level: float) -> float:
    """Split conformal: the ``ceil((n + 1) * level)``-th smallest absolute validation residual, so
    that ``[p - q, p + q]`` holds a new row's target with probability at least ``level`` (rows
    exchangeable with the validation split). Infinite when the split is too small for the level."""
    residuals = np.sort(np.abs(np.asarray(y_val, "float64") - np.asarray(p_val, "float64")).reshape(-1))
    rank = math.ceil((len(residuals) + 1) * level)
    return float(residuals[rank - 1]) if 1 <= rank <= len(residuals) else float("inf")


def interval_bounds(
    values: np.ndarray, half_width: float, low: float | None = None, high: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``[value - q, value + q]``, clipped to the target's known range (a count is never below 0):
    clipping to where every target lies keeps the coverage. Both bounds stay in the range, so a
    value beyond it (a network may extrapolate) gets the range's nearest end, never ``lo > hi``."""
    values = np.asarray(values, dtype="float64")
    lo, hi = values - half_width, values + half_width
    if low is not None:
        lo, hi = np.maximum(lo, low), np.maximum(hi, low)
    if high is not None:
        lo, hi = np.minimum(lo, high), np.minimum(hi, high)
    return lo, hi
