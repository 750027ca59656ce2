"""The training side of the forecasting kind, as the stages call a kind (issue 22; not yet in
``pipeline.tasks.KINDS``: the kind module ``timeseries.py`` that will hold the whole contract is the
next step, and will take these functions as they are).

The stages pass rows (the raw CSV's, as ingest stored them, in file order): each row is one step of
the series. ``assign_splits`` gives each row the period of its step; ``fit_encoder`` reads the
training rows as a series of their own; ``encode_splits`` reads the whole series once more (its gap
policy applied: a step the file lacks exists only there) and cuts each period's windows at its
origins. What it returns beside the arrays, :class:`ForecastTarget`, is what encoder.json records
under ``forecast``: the horizon, the target's scale that the network's head multiplies back, MASE's
scale and the series' frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import TimeseriesTaskConfig, baseline_rows, linear_baseline
from pipeline.core.timestamps import parse_times
from pipeline.data.readers import CsvRows, read_csv_file
from pipeline.data.series import SeriesReport, regular_series
from pipeline.encoders.timeseries import WindowEncoder
from pipeline.tasks.series_split import PERIODS, flag_values, origins, periods


def label_column(config: TimeseriesTaskConfig) -> str:
    return config.schema_.target


def read(path: Path, name: str, config: TimeseriesTaskConfig) -> tuple[CsvRows, str]:
    return read_csv_file(path, name), "csv"


def number_columns(config: TimeseriesTaskConfig) -> list[str]:
    return config.schema_.numbers


def usable_rows(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> pd.DataFrame:
    """Every row: a series keeps its steps, and the gap policy decides about the missing ones."""
    return frame


def checked_series(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> tuple[pd.DataFrame, SeriesReport]:
    """The rows as the regular series (:func:`pipeline.data.series.regular_series`)."""
    return regular_series(frame, config.schema_)


def describe(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> dict[str, Any]:
    """What ingest notes: the series' span, frequency, gaps and the target's range."""
    series, report = checked_series(frame, config)
    y = series[config.schema_.target]
    return {
        "series": {
            "first": str(series.index[0]),
            "last": str(series.index[-1]),
            **report.as_dict(),
            "target": {"column": config.schema_.target, "min": float(y.min()), "max": float(y.max())},
        }
    }


def _step_periods(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The regular series of ``frame`` and each of its steps' period."""
    series, _ = checked_series(frame, config)
    flags = None
    column = config.split.column
    if column is not None:
        if column not in frame.columns:
            raise DataError(f"split.column {column!r}: no such column; the file has {list(frame.columns)}")
        by_time = pd.Series(
            flag_values(frame[column], column), index=parse_times(frame[config.schema_.time], "")
        )
        flags = by_time.reindex(series.index, fill_value=False).to_numpy(dtype=bool)
    return series, periods(pd.DatetimeIndex(series.index), config.split, flags)


def assign_splits(frame: pd.DataFrame, config: TimeseriesTaskConfig, seed: int) -> pd.Series:
    """Each row's period (``train``, ``val``, ``test``): its step's; no randomness (``seed`` unused)."""
    series, period = _step_periods(frame, config)
    times = parse_times(frame[config.schema_.time], config.schema_.time)
    by_step = pd.Series(period, index=series.index)
    return pd.Series(by_step.reindex(times).to_numpy(), index=frame.index, dtype="object")


def fit_encoder(train: pd.DataFrame, config: TimeseriesTaskConfig) -> WindowEncoder:
    """The windows' encoder, fitted on the training period's rows only. ``schema.min_rows`` bounds the
    whole file (validate checks it), not this period: nyse's 5,000 against its 3,639 training days."""
    whole_file = config.schema_.model_copy(update={"min_rows": 10})
    series, report = regular_series(train, whole_file)
    return WindowEncoder.fit(series, config.schema_, config.encode, report.frequency)


@dataclass(frozen=True)
class ForecastTarget:
    """What a forecaster answers, recorded in encoder.json beside the encoder (``forecast``)."""

    target: str
    horizon: int
    center: float
    scale: float
    mase_scale: float
    frequency: str
    # encode.relative_to and what the network then predicts: the target less the window's baseline
    # forecast, whose training-window mean and standard deviation scale the network's head
    relative_to: str = "none"
    season_length: int = 1
    residual: tuple[float, float] = (0.0, 1.0)
    baseline_trainable: bool = False

    @property
    def classes(self) -> list[Any]:
        return []  # a forecast has no classes (encode's report counts them)

    def to_dict(self) -> dict[str, Any]:
        return {
            "forecast": {
                "target": self.target,
                "horizon": self.horizon,
                "center": self.center,
                "scale": self.scale,
                "mase_scale": self.mase_scale,
                "frequency": self.frequency,
                **self._relative(),
            }
        }

    def _relative(self) -> dict[str, Any]:
        if self.relative_to == "none":
            return {}  # the record of a plain forecaster stays as it was
        return {
            "relative_to": self.relative_to,
            "season_length": self.season_length,
            "residual_center": self.residual[0],
            "residual_scale": self.residual[1],
            "baseline_trainable": self.baseline_trainable,
        }


def encode_splits(
    frame: pd.DataFrame, encoder: WindowEncoder, config: TimeseriesTaskConfig
) -> tuple[ForecastTarget, dict[str, Any]]:
    """Each period's windows at its origins (``encode.every(period)``: every step of train and, by
    default, of validation; every ``encode.origin_every``-th of test): ``x`` ``[windows, lookback,
    features]``, ``y`` ``[windows, horizon]``."""
    from pipeline.encoders.dataset import Split

    series, period = _step_periods(frame, config)
    arrays = {}
    for name in PERIODS:
        at = origins(period, name, encoder.horizon, config.encode.every(name))
        x, y, _ = encoder.windows(series, at)
        if not len(x):
            raise DataError(
                f"the {name} period holds no whole window of {encoder.lookback} + {encoder.horizon} steps; "
                "lengthen it (split) or shorten encode.lookback or encode.horizon"
            )
        arrays[name] = Split(x, y)
    center, scale = encoder.scales[encoder.target]
    relative = config.encode.relative_to
    target = ForecastTarget(
        encoder.target,
        encoder.horizon,
        center,
        scale,
        encoder.mase_scale,
        encoder.frequency,
        relative,
        encoder.season_length,
        residual_scale(arrays["train"], relative, encoder.season_length, (center, scale)),
        config.encode.baseline_trainable,
    )
    return target, arrays


def residual_scale(
    train: Any, relative_to: str, season_length: int, target_scale: tuple[float, float]
) -> tuple[float, float]:
    """The mean and standard deviation over the training windows of what a forecaster ``relative_to``
    a baseline predicts: the target less the baseline read from the window (the target is each
    step's first feature, scaled by ``target_scale``); ``(0, 1)`` when it predicts the target."""
    _, lookback, _ = train.x.shape
    rows = baseline_rows(relative_to, lookback, train.y.shape[1], season_length)
    center, scale = target_scale
    if relative_to == "linear":
        kernel, bias = linear_baseline(train.x, train.y)
        base = train.x.reshape(len(train.x), -1).astype("float64") @ kernel + bias
    elif rows:
        base = train.x[:, rows, 0].astype("float64") * scale + center
    else:
        return 0.0, 1.0
    residual = train.y.astype("float64") - base
    std = float(residual.std())
    return float(residual.mean()), std if std > 0 else 1.0


def baselines(
    task: str, config: TimeseriesTaskConfig, seed: int, directory: Path | None = None
) -> dict[str, dict[str, Any]]:
    """The baselines of ``config.baselines`` on the origins the models are scored at, from encode's
    outputs (``splits.parquet``'s rows, ``encoder.json``; ``directory``: encode's folder); each with
    its validation and test metrics, ``fit_seconds`` and the test forecasts and targets
    (``test_scores``, ``test_labels``) for the paired comparison with the models."""
    import time

    from pipeline.core import paths
    from pipeline.core.forecast_metrics import forecast_metrics
    from pipeline.encoders.dataset import load_splits_frame
    from pipeline.encoders.registry import load_encoder
    from pipeline.tasks.series_baselines import forecasts

    folder = directory or paths.encoded_dir(task)
    frame = load_splits_frame(task, folder).drop(columns=["split"])
    encoder = load_encoder(folder / "encoder.json")
    if not isinstance(encoder, WindowEncoder):
        raise DataError(f"{folder / 'encoder.json'}: not a series' window encoder ({encoder.kind})")
    series, period = _step_periods(frame, config)
    at = {p: origins(period, p, encoder.horizon, config.encode.every(p)) for p in PERIODS}
    results: dict[str, dict[str, Any]] = {}
    for name in config.baselines:
        started = time.perf_counter()
        scored = forecasts(name, series, period, encoder, at, seed)
        results[name] = {
            **{p: forecast_metrics(t, f, encoder.mase_scale) for p, (t, f) in scored.items()},
            "fit_seconds": round(time.perf_counter() - started, 3),
            "test_scores": scored["test"][1],
            "test_labels": scored["test"][0],
        }
    return results
