"""The classical forecasts a forecasting model must beat, from the same origins as the models.

* ``naive``: the last observed value, for every step ahead;
* ``seasonal_naive``: the value one season (``season_length`` steps) before each forecast step;
* ``linear_ar``: a linear regression of the next ``horizon`` values on the flattened window (the
  same inputs as the models: lags of the target and the covariates, known values ahead);
* ``hist_gradient_boosting``: scikit-learn's HistGradientBoostingRegressor on the same window, one
  per step ahead;
* ``ets``: statsmodels' Holt-Winters exponential smoothing (additive damped trend, additive season
  when the training period holds two seasons), its parameters fitted on the training period; from
  each origin it forecasts with the states that filtering the series up to the origin leaves, which
  the library computes in one pass with those parameters fixed (a missing step is interpolated for
  it alone, since it needs every step).

Every fitted value comes from the training period's windows or steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

NAMES = ("naive", "seasonal_naive", "linear_ar", "hist_gradient_boosting", "ets")


def naive(y: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    """``[origins, horizon]``: the value just before each origin, repeated."""
    last = np.asarray(y, "float64")[np.asarray(origins, dtype="int64") - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def season_lags(horizon: int, season: int) -> np.ndarray:
    """For each step ahead (1..horizon), how many steps before it the same step of the last season
    that the origin observed lies: one season for the first ``season`` steps, two for the next..."""
    h = np.arange(1, horizon + 1)
    return season * ((h - 1) // season + 1)


def seasonal_naive(y: np.ndarray, origins: Sequence[int], horizon: int, season: int) -> np.ndarray:
    """``[origins, horizon]``: for step ``o + h - 1``, the value ``season`` steps (or whole seasons)
    before it that was observed by the origin; the naive value where that one is missing."""
    y = np.asarray(y, "float64")
    at = np.asarray(origins, dtype="int64")[:, None] + np.arange(horizon)[None, :]
    back = at - season_lags(horizon, season)[None, :]
    values = np.where(back >= 0, y[np.clip(back, 0, None)], np.nan)
    fallback = naive(y, origins, horizon)
    return np.where(np.isnan(values), fallback, values)


def window_regression(name: str, x_train: np.ndarray, y_train: np.ndarray, seed: int) -> Any:
    """A fitted regression of the ``horizon`` targets on the flattened windows.

    HistGradientBoosting fits one model per step ahead on every feature of every window step: its
    time grows with ``horizon x lookback x features`` (an hourly week, 168 steps of 7 features, 24
    steps ahead, 1,200 windows: about 7 minutes on 2 shared cores), so a task with a long window
    keeps it out of ``baselines`` or its window short."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.multioutput import MultiOutputRegressor

    flat = x_train.reshape(len(x_train), -1)
    if name == "linear_ar":
        return LinearRegression().fit(flat, y_train)
    if name == "hist_gradient_boosting":
        model = MultiOutputRegressor(HistGradientBoostingRegressor(random_state=seed))
        return model.fit(flat, y_train)
    raise ValueError(f"unknown window regression {name!r}")


def predict_windows(model: Any, x: np.ndarray) -> np.ndarray:
    out = np.asarray(model.predict(x.reshape(len(x), -1)), dtype="float64")
    return out.reshape(len(x), -1)


# ------------------------------------------------------------------------------ ETS
def _ets_model(y: np.ndarray, season: int, seasonal: bool, **known: Any) -> Any:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    return ExponentialSmoothing(
        y,
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=season if seasonal else None,
        **known,
    )


def ets_forecasts(
    y: np.ndarray, train_end: int, origins: Sequence[int], horizon: int, season: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """``[origins, horizon]`` Holt-Winters forecasts (see the module docstring) and the fitted
    parameters. ``train_end``: the training period's first step after it."""
    import pandas as pd
    import statsmodels.tsa.holtwinters  # noqa: F401  (imported before the filter: it sets its own)

    series = pd.Series(np.asarray(y, "float64")).interpolate(limit_direction="both").to_numpy()
    seasonal = season > 1 and train_end >= 2 * season
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence notes; the figures tell the story
        fitted = _ets_model(series[:train_end], season, seasonal, initialization_method="estimated").fit()
        p = fitted.params
        known = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"]}
        if seasonal:
            known["initial_seasonal"] = p["initial_seasons"]
        smoothing = {
            "smoothing_level": p["smoothing_level"],
            "smoothing_trend": p["smoothing_trend"],
            "damping_trend": p["damping_trend"],
        }
        if seasonal:
            smoothing["smoothing_seasonal"] = p["smoothing_seasonal"]
        run = _ets_model(series, season, seasonal, initialization_method="known", **known)
        states = run.fit(optimized=False, **smoothing)
    at = np.asarray(origins, dtype="int64")[:, None] - 1  # the last step each origin has seen
    h = np.arange(1, horizon + 1)[None, :]
    damped = np.cumsum(float(p["damping_trend"]) ** np.arange(1, horizon + 1))[None, :]
    forecast = np.asarray(states.level)[at] + damped * np.asarray(states.trend)[at]
    if seasonal:
        forecast = forecast + np.asarray(states.season)[at + h - season_lags(horizon, season)[None, :]]
    settings = {k: float(v) for k, v in smoothing.items()} | {"seasonal": seasonal, "season_length": season}
    return forecast, settings


# ------------------------------------------------------------------------------ all of them
def forecasts(
    name: str, series: Any, period: np.ndarray, encoder: Any, origins: dict[str, list[int]], seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Baseline ``name``'s ``(targets, forecasts)`` per period (``val``, ``test``) at the origins the
    encoder keeps (those whose window and targets are whole), as the models are scored."""
    y = series[encoder.target].to_numpy("float64")
    H, m = encoder.horizon, encoder.season_length
    windows = {p: encoder.windows(series, origins[p]) for p in ("train", "val", "test")}
    model = None
    if name in ("linear_ar", "hist_gradient_boosting"):
        x_train, y_train, _ = windows["train"]
        model = window_regression(name, x_train, y_train, seed)
    out = {}
    for p in ("val", "test"):
        x, targets, kept = windows[p]
        if name == "naive":
            predicted = naive(y, kept, H)
        elif name == "seasonal_naive":
            predicted = seasonal_naive(y, kept, H, m)
        elif name == "ets":
            predicted, _ = ets_forecasts(y, int((period == "train").sum()), kept, H, m)
        else:
            predicted = predict_windows(model, x)
        out[p] = (targets.astype("float64"), predicted)
    return out


def baseline_metrics(
    names: Sequence[str],
    series: Any,
    period: np.ndarray,
    encoder: Any,
    origins: dict[str, list[int]],
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each baseline's metrics on the validation and test origins (``pipeline.core.forecast_metrics``)."""
    from pipeline.core.forecast_metrics import forecast_metrics

    results = {}
    for name in names:
        scored = forecasts(name, series, period, encoder, origins, seed)
        results[name] = {p: forecast_metrics(t, f, encoder.mase_scale) for p, (t, f) in scored.items()}
    return results
