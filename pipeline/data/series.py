"""A time series as read from a CSV: its timestamps checked, its frequency found, its gaps located
and the task's gap policy applied (issue 22).

:func:`regular_series` is the whole path: timestamps that parse, are unique and increase; a
frequency declared or inferred that every timestamp keeps; numbers within their ranges and
categories among their values; each gap (missing steps, and blank cells of the target or a past
covariate) counted and located; then ``error`` refuses the gaps, ``interpolate`` fills the short
ones linearly in time, ``drop-window`` leaves them missing for the windows to step over. Every
message names the column and the data rows (the caller's ``label`` turns a position into
``data row N (file line M)``), and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.rows import plural
from pipeline.core.timestamps import ROWS, data_row, grid, infer_frequency, listed, parse_times

MAX_LISTED = 10


@dataclass(frozen=True)
class Gap:
    """Missing steps: from ``start`` to ``end`` (both missing), ``steps`` of them, after ``after``."""

    start: pd.Timestamp
    end: pd.Timestamp
    steps: int
    after: str  # the last row before the gap, as users count it

    def __str__(self) -> str:
        span = str(self.start) if self.steps == 1 else f"{self.start} to {self.end}"
        return f"{span} ({plural(self.steps, 'step')}, after {self.after})"


@dataclass(frozen=True)
class SeriesReport:
    """What reading the series found and did: the frequency (and whether it was inferred), the gaps,
    the policy and how many steps it filled or left missing."""

    frequency: str
    inferred: bool
    steps: int
    gaps: list[Gap] = field(default_factory=list)
    policy: str = "error"
    filled: int = 0
    left_missing: int = 0

    @property
    def missing_steps(self) -> int:
        return sum(g.steps for g in self.gaps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "frequency_inferred": self.inferred,
            "steps": self.steps,
            "gaps": len(self.gaps),
            "missing_steps": self.missing_steps,
            "gap_policy": self.policy,
            "filled_steps": self.filled,
            "missing_steps_left": self.left_missing,
            "first_gaps": [str(g) for g in self.gaps[:MAX_LISTED]],
        }


# ------------------------------------------------------------------------------ values
def _numbers(frame: pd.DataFrame, schema: Any, label: Callable[[int], str]) -> dict[str, pd.Series]:
    """The numeric columns as float64 (blank cells NaN), refusing text and values out of range."""
    problems, out = [], {}
    for column in schema.numbers:
        spec = schema.covariates.get(column, schema)
        raw = frame[column]
        blank = raw.isna() | raw.astype("string").str.strip().eq("").fillna(True)
        values = pd.to_numeric(raw.where(~blank), errors="coerce").astype("float64")
        text = np.flatnonzero((values.isna() & ~blank).to_numpy() | np.isinf(values.to_numpy())).tolist()
        if len(text):
            shown = [f"{label(i)}: {raw.iloc[i]!r}" for i in text]
            problems.append(f"column {column!r}: expected finite numbers: {listed(shown)}")
        low, high = spec.min, spec.max
        out_of_range = (values < (-np.inf if low is None else low)) | (
            values > (np.inf if high is None else high)
        )
        wrong = np.flatnonzero(out_of_range.to_numpy()).tolist()
        if len(wrong):
            shown = [f"{label(i)}: {values.iloc[i]:g}" for i in wrong]
            problems.append(f"column {column!r}: expected values in [{low}, {high}]: {listed(shown)}")
        out[column] = values
    if problems:
        raise DataError("; ".join(problems))
    return out


def _categories(frame: pd.DataFrame, schema: Any, label: Callable[[int], str]) -> None:
    problems = []
    for column, spec in schema.covariates.items():
        if spec.type != "category":
            continue
        allowed = {str(v) for v in spec.values}
        values = frame[column].astype("string").str.strip()
        wrong = np.flatnonzero(~values.isin(allowed).fillna(False).to_numpy()).tolist()
        if len(wrong):
            shown = [f"{label(i)}: {frame[column].iloc[i]!r}" for i in wrong]
            problems.append(f"column {column!r}: expected one of {sorted(allowed)}: {listed(shown)}")
    if problems:
        raise DataError("; ".join(problems))


def _known_present(values: dict[str, pd.Series], schema: Any, label: Callable[[int], str]) -> None:
    """A known covariate is known for every step: a blank one is refused (not a gap)."""
    for column, spec in schema.covariates.items():
        if spec.role == "known" and spec.type == "number":
            blank = np.flatnonzero(values[column].isna().to_numpy()).tolist()
            if len(blank):
                shown = [label(i) for i in blank]
                raise DataError(f"column {column!r} is known in advance, so never blank: {listed(shown)}")


# ------------------------------------------------------------------------------ gaps
def locate_gaps(
    present: np.ndarray, index: pd.DatetimeIndex, rows: np.ndarray, label: Callable[[int], str]
) -> list[Gap]:
    """The runs of steps not ``present`` on the regular ``index``; ``rows[i]`` is step i's data row
    (-1 for a step the file lacks)."""
    gaps, i, n = [], 0, len(present)
    while i < n:
        if present[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and not present[j + 1]:
            j += 1
        before = rows[:i][rows[:i] >= 0]
        gaps.append(
            Gap(index[i], index[j], j - i + 1, label(int(before[-1])) if len(before) else "the start")
        )
        i = j + 1
    return gaps


def regular_series(
    frame: pd.DataFrame, schema: Any, label: Callable[[int], str] = data_row
) -> tuple[pd.DataFrame, SeriesReport]:
    """The checked series on its regular grid (the timestamps as index; the numbers as float64, the
    categories as text, a missing step's cells NaN unless filled), and what was found and done."""
    missing = [c for c in [schema.time, schema.target, *schema.covariates] if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))}; the file has {list(frame.columns)}"
        )
    if not schema.min_rows <= len(frame) <= schema.max_rows:
        raise DataError(f"{len(frame)} rows; expected between {schema.min_rows} and {schema.max_rows}")
    times = parse_times(frame[schema.time], schema.time, label)
    values = _numbers(frame, schema, label)
    _categories(frame, schema, label)
    _known_present(values, schema, label)
    inferred = schema.frequency == "infer"
    frequency = infer_frequency(times, schema.time) if inferred else schema.frequency
    series = pd.DataFrame({c: v.to_numpy() for c, v in values.items()}, index=times)
    for column, spec in schema.covariates.items():
        if spec.type == "category":
            series[column] = frame[column].astype("string").str.strip().to_numpy()
    series["_row"] = np.arange(len(frame))
    full = times if frequency == ROWS else grid(times, frequency, schema.time, label)
    series = series.reindex(full)
    rows = series.pop("_row").fillna(-1).astype("int64").to_numpy()
    observed = [schema.target, *(c for c, s in schema.covariates.items() if s.role == "past")]
    present = series[observed].notna().all(axis=1).to_numpy()
    gaps = locate_gaps(present, full, rows, label)
    report = SeriesReport(frequency, inferred, len(full), gaps, schema.gaps)
    return apply_gap_policy(series, schema, report), _with_counts(series, schema, report)


def apply_gap_policy(series: pd.DataFrame, schema: Any, report: SeriesReport) -> pd.DataFrame:
    """``error``: the gaps refused; ``interpolate``: each gap of at most ``max_gap`` steps filled
    linearly in time (a longer one refused, as a known covariate's missing step); ``drop-window``:
    left missing, for the windows to step over. In place."""
    if not report.gaps:
        return series
    where = listed([str(g) for g in report.gaps])
    if schema.gaps == "error":
        raise DataError(
            f"column {schema.time!r}: {plural(len(report.gaps), 'gap')} in the {report.frequency!r} series "
            f"({plural(report.missing_steps, 'missing step')}): {where}; fill them, or set schema.gaps "
            "to interpolate or drop-window"
        )
    if schema.gaps == "interpolate":
        long = [str(g) for g in report.gaps if g.steps > schema.max_gap]
        if long:
            raise DataError(
                f"column {schema.time!r}: gap(s) longer than schema.max_gap {schema.max_gap} cannot be "
                f"interpolated: {listed(long)}"
            )
        categories = [c for c, s in schema.covariates.items() if s.type == "category"]
        numbers = [c for c in series.columns if c not in categories]
        series[numbers] = series[numbers].interpolate(method="time", limit_area="inside")
        if categories:  # a known category of a step the file lacks: the step before's
            series[categories] = series[categories].ffill()
    return series


def _with_counts(series: pd.DataFrame, schema: Any, report: SeriesReport) -> SeriesReport:
    left = int(series[schema.target].isna().sum())
    return SeriesReport(
        report.frequency,
        report.inferred,
        report.steps,
        report.gaps,
        report.policy,
        filled=report.missing_steps - left if schema.gaps == "interpolate" else 0,
        left_missing=left,
    )
