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
            out.append({"timestamps": [t.isoformat() for t in times], "values": [float(v) for v in row]})
    return out


def forecast_table(answer: dict[str, Any], target: str, time: str) -> pd.DataFrame:
    """One answer as ``predict`` prints it: a row per step ahead, its timestamp and value."""
    return pd.DataFrame({time: answer["timestamps"], target: answer["values"]})
