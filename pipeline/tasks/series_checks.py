"""The validate stage's checks of a series (issue 22): Great Expectations on the raw rows, each
broken row named, as for the other kinds, through helper columns that ``prepare`` adds:

* ``<time> (as time)``: the timestamp parsed (blank where it does not parse), so that one check
  names the rows that do not parse, one those that repeat, and one those that go backwards;
* ``<time> (steps since the row before)``: how many steps of the frequency (declared, or inferred
  from the rows) lie between a row and the one before: 1 is the next step, 3 means two steps are
  missing (a gap, refused under ``gaps: error``), a fraction means a timestamp off the frequency;
* ``<column> (as number)``: the numbers whose ranges are checked (as a table's).

``frequency: rows`` has no steps to count: its rows are the steps. A blank target or past covariate
is a gap too: refused under ``gaps: error``, left to the policy otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.core.timestamps import ROWS, infer_frequency
from pipeline.tasks.base import AS_NUMBER, AS_TIME, HELPER_NOTE, NUMBER_TYPES, STEPS, meta

STEPS_NOTE = (
    "Steps of the series' frequency from the row before: 1 is the next step, more means missing "
    "steps (a gap), a fraction a timestamp off the frequency."
)
TIME_NOTE = "Runs on the timestamps parsed; a value that does not parse is blank here."


def helper_columns(config: TimeseriesTaskConfig) -> list[str]:
    """The helper columns ``prepare`` adds (validate leaves them out of what it reports)."""
    schema = config.schema_
    steps = [] if schema.frequency == ROWS else [f"{schema.time}{STEPS}"]
    return [f"{schema.time}{AS_TIME}", *steps, *(f"{c}{AS_NUMBER}" for c in schema.numbers)]


def step_counts(times: pd.Series, frequency: str) -> pd.Series:
    """Per row, the steps of ``frequency`` since the row before (NaN for the first row, for a
    timestamp that does not parse and for one off the frequency's grid)."""
    valid = times.dropna()
    out = pd.Series(np.nan, index=times.index, dtype="float64")
    if len(valid) < 2 or not valid.is_monotonic_increasing:
        return out  # the order checks name the rows; steps mean nothing until they pass
    grid = pd.date_range(valid.iloc[0], valid.iloc[-1], freq=frequency)
    position = pd.Series(grid.get_indexer(pd.DatetimeIndex(valid)), index=valid.index, dtype="float64")
    position[position < 0] = np.nan
    steps = position.diff()
    off = position.isna() & (valid.index != valid.index[0])
    steps[off] = 0.5  # off the grid: a fraction, so that the check names the row
    out[steps.index] = steps
    return out


def prepare(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> None:
    """Add the helper columns (see the module docstring), in place."""
    schema = config.schema_
    if schema.time in frame.columns:
        text = frame[schema.time].astype("string").str.strip()
        times = pd.Series(pd.to_datetime(text, errors="coerce", format="mixed"), index=frame.index)
        frame[f"{schema.time}{AS_TIME}"] = times
        if schema.frequency != ROWS:
            frequency = schema.frequency
            if frequency == "infer":
                try:
                    frequency = infer_frequency(pd.DatetimeIndex(times.dropna()), schema.time)
                except (DataError, ValueError):
                    frequency = ""
            frame[f"{schema.time}{STEPS}"] = step_counts(times, frequency) if frequency else np.nan
    for column in schema.numbers:
        if column in frame.columns:
            frame[f"{column}{AS_NUMBER}"] = pd.to_numeric(frame[column], errors="coerce").astype("float64")


def expectations(config: TimeseriesTaskConfig, exp: Any) -> list[Any]:
    """The suite: the columns, the rows' count, the timestamps, the steps and the values."""
    schema = config.schema_
    time, parsed = schema.time, f"{schema.time}{AS_TIME}"
    columns = [time, schema.target, *schema.covariates, *schema.drop]
    columns += [config.split.column] if config.split.column else []
    checks: list[Any] = [
        exp.ExpectTableColumnsToMatchSet(column_set=[*columns, *helper_columns(config)], exact_match=True),
        exp.ExpectTableRowCountToBeBetween(min_value=schema.min_rows, max_value=schema.max_rows),
        exp.ExpectColumnValuesToNotBeNull(column=parsed, meta=meta(time), notes=TIME_NOTE),
        exp.ExpectColumnValuesToBeUnique(column=parsed, meta=meta(time), notes=TIME_NOTE),
        exp.ExpectColumnValuesToBeIncreasing(column=parsed, strictly=True, meta=meta(time), notes=TIME_NOTE),
    ]
    if schema.frequency != ROWS:
        most = 1 if schema.gaps == "error" else None
        steps = f"{time}{STEPS}"
        checks.append(
            exp.ExpectColumnValuesToBeBetween(
                column=steps, min_value=1, max_value=most, meta=meta(time), notes=STEPS_NOTE
            )
        )
        checks.append(
            exp.ExpectColumnValuesToMatchRegex(
                column=steps, regex=r"^\d+(?:\.0*)?$", meta=meta(time), notes=STEPS_NOTE
            )
        )
    return checks + _value_checks(config, exp)


def _value_checks(config: TimeseriesTaskConfig, exp: Any) -> list[Any]:
    schema = config.schema_
    checks: list[Any] = []
    for column in schema.numbers:
        spec = schema.covariates.get(column, schema)
        gap_if_blank = column == schema.target or schema.covariates[column].role == "past"
        checks.append(
            exp.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMBER_TYPES, meta=meta(column))
        )
        if not gap_if_blank or schema.gaps == "error":
            checks.append(exp.ExpectColumnValuesToNotBeNull(column=column, meta=meta(column)))
        low = -np.finfo("float64").max if spec.min is None else spec.min
        high = np.finfo("float64").max if spec.max is None else spec.max
        checks.append(
            exp.ExpectColumnValuesToBeBetween(
                column=f"{column}{AS_NUMBER}",
                min_value=float(low),
                max_value=float(high),
                meta=meta(column),
                notes=HELPER_NOTE,
            )
        )
    for column, spec in schema.covariates.items():
        if spec.type == "category":
            checks.append(exp.ExpectColumnValuesToNotBeNull(column=column, meta=meta(column)))
            values = list(spec.values or [])
            checks.append(exp.ExpectColumnValuesToBeInSet(column=column, value_set=values, meta=meta(column)))
    return checks
