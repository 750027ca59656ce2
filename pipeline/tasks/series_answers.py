"""What a forecaster's bundle records and how a forecast is answered (issue 22): the serving side's
pieces that do not depend on the server, for the kind module to take.

A request holds one history (its rows, oldest first); the answer is the next ``horizon`` timestamps
and values of the target, in its units. ``output_contract`` and ``input_spec`` are what the manifest
records, so that serving needs neither params.yaml nor the training code: the frequency that steps
the timestamps, the history the model reads and the columns a history must have.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.core.timestamps import ROWS
from pipeline.encoders.timeseries import WindowEncoder


def output_contract(config: TimeseriesTaskConfig, measured: dict[str, Any]) -> dict[str, Any]:
    """The forecast's target, horizon and season, and the validation MASE the model was chosen on."""
    val = measured.get("val") or {}
    return {
        "target": config.schema_.target,
        "horizon": config.encode.horizon,
        "season_length": config.encode.season_length,
        "val_mase": val.get("mase"),
    }


def input_spec(encoder: WindowEncoder, config: TimeseriesTaskConfig) -> dict[str, Any]:
    """What a history must be: its columns, at least ``lookback`` steps at ``frequency``, and, when
    the task has known covariates, ``horizon`` more rows holding them (the target left blank)."""
    return {
        "dtype": "float32",
        "window": [encoder.lookback, encoder.n_features],
        "width": encoder.input_width,
        "time_column": encoder.time,
        "columns": encoder.input_columns,
        "frequency": encoder.frequency,
        "min_history": encoder.lookback,
        "known_rows": encoder.horizon if encoder.known else 0,
        "features": encoder.feature_names,
    }


def forecast_answers(values: Any, timestamps: list[pd.DatetimeIndex]) -> list[dict[str, Any]]:
    """``{"timestamps": [...], "values": [...]}`` per history: ISO timestamps and the values in the
    target's units (``None`` for a refused history, whose values are NaN)."""
    grid = np.asarray(values, dtype="float64")
    grid = grid[None] if grid.ndim == 1 else grid
    if len(grid) != len(timestamps):
        raise ValueError(f"{len(grid)} forecasts but {len(timestamps)} histories")
    out: list[dict[str, Any]] = []
    for row, times in zip(grid, timestamps, strict=True):
        if np.isnan(row).any():
            out.append({"timestamps": None, "values": None})
        else:
            out.append({"timestamps": iso_strings(times), "values": row.tolist()})
    return out


def iso_strings(times: pd.DatetimeIndex) -> list[str]:
    """Each timestamp as ``Timestamp.isoformat`` writes it; whole seconds without a zone (the usual
    forecast) by numpy in one call, which costs a request far less than a Timestamp each."""
    if times.tz is None and not (times.asi8 % 10**9).any():
        return np.datetime_as_string(times.values, unit="s").tolist()
    return [t.isoformat() for t in times]


def forecast_table(answer: dict[str, Any], target: str, time: str) -> pd.DataFrame:
    """One answer as ``predict`` prints it: a row per step ahead, its timestamp and value."""
    return pd.DataFrame({time: answer["timestamps"], target: answer["values"]})


def example_records(history: pd.DataFrame, time: str) -> list[dict[str, Any]]:
    """A history as JSON records for the manifest: its cells as Python's values, a blank as null,
    the timestamps as text (as a CSV holds them)."""
    plain = history.astype({time: str}).astype(object)
    return plain.where(history.notna(), None).to_dict(orient="records")


def example_csv(records: list[dict[str, Any]] | None, columns: list[str]) -> str:
    """Those records as the CSV a user would paste (header: ``columns``); ``""`` for none."""
    if not records:
        return ""
    return pd.DataFrame.from_records(records, columns=columns).to_csv(index=False, lineterminator="\n")


BENCH_START = pd.Timestamp("2024-01-01")  # a Monday at midnight: a benchmark history's first step


def _decoded(encoder: WindowEncoder, block: np.ndarray, column: str) -> list[Any]:
    """One column's raw values from its encoded features ``block`` [steps, width]."""
    if column in encoder.categories:
        levels = encoder.categories[column]
        return [levels[int(i)] for i in np.argmax(block, axis=1)]
    mean, std = encoder.scales[column]
    return [float(v) for v in block[:, 0] * std + mean]


def history_records(encoder: WindowEncoder, window: Any) -> list[dict[str, Any]]:
    """A raw history (records, oldest first) whose window has the numbers and categories of
    ``window`` [lookback, features]: the target and past covariates at each step, the known ones
    from the features read ``horizon`` steps ahead (then ``horizon`` more rows, target blank). Its
    timestamps step at the series' frequency from :data:`BENCH_START`, so its calendar features are
    those timestamps', not the window's (the benchmark's server load)."""
    window = np.asarray(window, dtype="float64")
    lookback, horizon = encoder.lookback, encoder.horizon
    steps = lookback + (horizon if encoder.known else 0)
    times = pd.date_range(
        BENCH_START, periods=steps, freq="B" if encoder.frequency == ROWS else encoder.frequency
    )
    records: list[dict[str, Any]] = [{encoder.time: t.isoformat()} for t in times]
    at = 0
    for column in [encoder.target, *encoder.past, *encoder.known]:
        width = len(encoder.categories.get(column, [column]))
        values = _decoded(encoder, window[:, at : at + width], column)
        at += width
        if column in encoder.known:  # read horizon steps ahead: the window's row r is step r + H
            values = [values[0]] * horizon + values
        for record, value in zip(records, values, strict=False):
            record[column] = value
    for record in records[lookback:]:
        for column in [encoder.target, *encoder.past]:
            record[column] = None
    return records
