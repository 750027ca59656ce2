"""The embedded default series (pipeline/generators/load_series.py): regular, seeded, with the daily
and weekly cycles and the covariates a forecaster can use, and read as a user's series is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.timeseries_config import SeriesSchema
from pipeline.data.series import regular_series
from pipeline.generators.load_series import load_frame

SCHEMA = SeriesSchema.model_validate(
    {
        "time": "timestamp",
        "target": "load",
        "min": 0,
        "covariates": {
            "temperature": {"role": "past", "min": -20, "max": 50},
            "holiday": {"role": "known", "min": 0, "max": 1},
        },
    }
)


def test_the_series_is_regular_seeded_and_reads_like_a_user_s() -> None:
    frame = load_frame(24 * 7 * 4, seed=42)
    assert list(frame.columns) == ["timestamp", "load", "temperature", "holiday"]
    pd.testing.assert_frame_equal(frame, load_frame(24 * 7 * 4, seed=42))
    assert not frame.equals(load_frame(24 * 7 * 4, seed=42, stream=1))
    series, report = regular_series(frame.astype(str), SCHEMA)
    assert series["load"].min() > 0 and series["load"].dtype == "float64"
    assert report.frequency == "h" and report.steps == 24 * 28 and not report.gaps
    assert frame["holiday"].sum() >= 24


def test_it_has_a_daily_and_a_weekly_cycle_that_seasonal_naive_reads() -> None:
    load = load_frame(24 * 7 * 8, seed=1)["load"].to_numpy()
    by_hour = load.reshape(-1, 24).mean(axis=0)
    assert by_hour.argmax() in (18, 19) and by_hour.argmin() in (2, 3, 4, 5)
    days = load.reshape(-1, 24).mean(axis=1).reshape(-1, 7)
    assert (days[:, 5:].mean() / days[:, :5].mean()) < 0.85  # weekends are lower
    last_week = np.abs(load[168:] - load[:-168]).mean()
    last_hour = np.abs(load[1:] - load[:-1]).mean()
    yesterday = np.abs(load[24:] - load[:-24]).mean()
    assert last_week < yesterday and last_week < 2 * last_hour
