"""Reading a series (pipeline/data/series.py): timestamps, frequency, ranges, gaps and the gap policy,
with every refusal naming the column, the rows and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import SeriesSchema
from pipeline.core.timestamps import infer_frequency, parse_times
from pipeline.data.readers import read_csv_file
from pipeline.data.series import regular_series

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def hourly(n: int = 60, **columns: Any) -> pd.DataFrame:
    times = pd.date_range("2024-01-01", periods=n, freq="h")
    frame = pd.DataFrame({"t": times.strftime("%Y-%m-%d %H:%M"), "y": np.arange(n, dtype=float)})
    for name, values in columns.items():
        frame[name] = values
    return frame


def schema(**changes: Any) -> SeriesSchema:
    return SeriesSchema.model_validate({"time": "t", "target": "y", **changes})


def test_a_regular_series_reads_with_its_inferred_frequency() -> None:
    series, report = regular_series(hourly(), schema())
    assert report.frequency == "h" and report.inferred and report.steps == 60
    assert report.gaps == [] and series["y"].tolist() == list(range(60))
    assert isinstance(series.index, pd.DatetimeIndex)


@pytest.mark.parametrize(
    ("stamps", "message"),
    [
        (["2024-01-01", "not a date", "2024-01-03"], r"1 timestamp do not parse: data row 2: 'not a date'"),
        (["2024-01-01", "2024-01-02", "2024-01-02"], r"data row 3 repeats 2024-01-02 00:00:00 of data row 2"),
        (["2024-01-01", "2024-01-03", "2024-01-02"], r"must increase: data row 3 \(2024-01-02"),
    ],
)
def test_timestamps_that_do_not_parse_repeat_or_go_back_are_refused(stamps: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_times(pd.Series(stamps), "t")


def test_weekdays_are_business_days_and_a_broken_frequency_names_its_row() -> None:
    days = pd.bdate_range("2024-01-01", periods=30)
    assert infer_frequency(days.delete([3, 10]), "t") == "B"
    frame = hourly()
    frame.loc[7, "t"] = "2024-01-01 07:30"
    with pytest.raises(DataError, match=r"off the frequency 'h'.*data row 8 \(2024-01-01 07:30"):
        regular_series(frame, schema(frequency="h"))


def test_numbers_out_of_range_or_not_numbers_are_named() -> None:
    frame = hourly(x=["1"] * 58 + ["abc", "9"])
    frame.loc[4, "y"] = -5
    message = r"column 'y': expected values in \[0.0, None\]: data row 5: -5.*column 'x'.*data row 59: 'abc'"
    with pytest.raises(DataError, match=message):
        regular_series(frame, schema(min=0, covariates={"x": {"role": "past", "max": 5}}))
    with pytest.raises(DataError, match=r"column 'd': expected one of \['fri', 'mon'\]: data row 1: 'sun'"):
        regular_series(
            hourly(d=["sun"] + ["mon"] * 59),
            schema(covariates={"d": {"role": "known", "type": "category", "values": ["mon", "fri"]}}),
        )


def with_gaps() -> pd.DataFrame:
    frame = hourly().drop(index=[10, 11, 30]).reset_index(drop=True)
    frame.loc[40, "y"] = None  # a blank target is a missing step too
    return frame


def test_gaps_are_counted_located_and_refused_by_default() -> None:
    message = (
        r"3 gaps in the 'h' series \(4 missing steps\): 2024-01-01 10:00:00 to 2024-01-01 11:00:00 "
        r"\(2 steps, after data row 10\); 2024-01-02 06:00:00 \(1 step, after data row 28\); "
        r"2024-01-02 19:00:00 \(1 step, after data row 40\)"
    )
    with pytest.raises(DataError, match=message):
        regular_series(with_gaps(), schema(frequency="h"))


def test_interpolate_fills_the_gaps_linearly_in_time_and_reports_it() -> None:
    series, report = regular_series(with_gaps(), schema(frequency="h", gaps="interpolate"))
    assert series["y"].tolist() == pytest.approx(list(range(60)))
    assert report.filled == 4 and report.left_missing == 0 and len(report.gaps) == 3
    assert report.as_dict()["missing_steps"] == 4
    with pytest.raises(DataError, match=r"longer than schema.max_gap 1 .*2 steps"):
        regular_series(with_gaps(), schema(frequency="h", gaps="interpolate", max_gap=1))


def test_drop_window_leaves_the_gaps_missing() -> None:
    series, report = regular_series(with_gaps(), schema(frequency="h", gaps="drop-window"))
    assert len(series) == 60 and series["y"].isna().sum() == 4 and report.left_missing == 4


def test_rows_frequency_takes_the_rows_as_steps() -> None:
    frame = hourly().drop(index=[10, 11]).reset_index(drop=True)
    series, report = regular_series(frame, schema(frequency="rows"))
    assert len(series) == 58 and report.gaps == [] and report.frequency == "rows"


@pytest.mark.skipif(not (SHARED / "taylor_demand.csv").exists(), reason="../shared/data is absent")
def test_the_real_series_read_whole() -> None:
    demand = read_csv_file(SHARED / "taylor_demand.csv", "taylor_demand.csv")
    series, report = regular_series(demand.frame, schema(time="timestamp", target="demand_mw"), demand.label)
    assert report.frequency == "30min" and report.steps == 4032 and not report.gaps
    nyse = read_csv_file(SHARED / "nyse_daily.csv", "nyse_daily.csv")
    given = {
        "time": "date",
        "target": "log_volume",
        "frequency": "rows",
        "covariates": {
            "DJ_return": {"role": "past"},
            "log_volatility": {"role": "past"},
            "day_of_week": {
                "role": "known",
                "type": "category",
                "values": ["mon", "tues", "wed", "thur", "fri"],
            },
        },
    }
    series, report = regular_series(nyse.frame, SeriesSchema.model_validate(given), nyse.label)
    assert report.steps == 6051 and series["day_of_week"].iloc[0] == "mon"
    with pytest.raises(DataError, match=r"gaps in the 'B' series"):  # holidays, on a weekday grid
        regular_series(nyse.frame, SeriesSchema.model_validate({**given, "frequency": "B"}), nyse.label)
