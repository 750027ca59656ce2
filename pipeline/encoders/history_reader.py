"""A posted history read from its columns with numpy and plain Python: serving's quick path.

Reading a history with pandas (:meth:`WindowEncoder.history`: a DataFrame, ``to_datetime`` with
mixed formats, a grid built and compared) cost about 7 ms a request on 2 shared cores, while the
model takes 0.04 ms (issue 22). :class:`HistoryReader` reads the usual history, ISO timestamps and
numbers, in a fraction of that: the timestamps parsed by numpy in one call, the frequency checked
on the steps' differences, each column one array.

It only answers a history it can read *in full*. Anything else (a column missing, a timestamp that
is not plain ISO 8601 or carries a time zone, a value that is not a number, a step off the grid, a
gap, too short a history, a blank in the window) makes :meth:`HistoryReader.read` return ``None``,
and the encoder then reads that history with pandas, whose checks name the row and what was
expected. So a refused history gets the same 4xx message as before, and a good one the same window
(``tests/test_timeseries_quick_history.py`` compares the two paths).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.timestamps import ROWS

# what numpy parses as pandas does: a date, then optionally a time (a "T" or a space between); no
# zone, no "NaT" or "today" (numpy reads those too). One line per timestamp: one match for them all.
ISO = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
ISO_LINES = re.compile(rf"(?:{ISO}\n)*{ISO}")
NS_PER_MINUTE = 60 * 10**9
NUMBER_TYPES = (int, float)  # bool is an int to Python: refused by type(v) below, as pandas reads it


@dataclass(frozen=True)
class QuickHistory:
    """A history read by :class:`HistoryReader`: its forecast window and the forecast steps' times."""

    window: np.ndarray  # [1, lookback, features] float32
    future: np.ndarray  # datetime64[ns], the horizon's timestamps


def parse_iso(values: Sequence[Any]) -> np.ndarray | None:
    """``values`` as datetime64[ns] when every one is a plain ISO 8601 string (no zone); else None."""
    try:
        lines = "\n".join(values)
    except TypeError:  # a value that is not a string
        return None
    if not values or not ISO_LINES.fullmatch(lines):
        return None
    try:
        return np.array(values, dtype="datetime64[ns]")
    except ValueError:  # a month 13, a day 32: pandas names the row
        return None


def fixed_step(frequency: str) -> int | None:
    """The step of ``frequency`` in nanoseconds when it has one length (``h``, ``30min``, ``D``);
    None for calendar offsets (months, quarters, business days) and for ``rows``."""
    if frequency == ROWS:
        return None
    try:
        offset = pd.tseries.frequencies.to_offset(frequency)
        return int(offset.nanos) if offset.nanos > 0 else None
    except (ValueError, TypeError):  # not a Tick: no fixed length
        return None


def as_numbers(values: Sequence[Any]) -> np.ndarray | None:
    """float64 of ``values`` when each is an int, a float or None (NaN); else None."""
    if not all(v is None or type(v) in NUMBER_TYPES for v in values):
        return None
    return np.array([math.nan if v is None else v for v in values], dtype="float64")


class HistoryReader:
    """The per-bundle constants of the quick path, computed once from the fitted encoder."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.columns = list(encoder.input_columns)
        self.step = fixed_step(encoder.frequency)
        self.steps_freq = "B" if encoder.frequency == ROWS else encoder.frequency
        self.future_rows = encoder.horizon if encoder.known else 0
        self.now_columns = [encoder.target, *encoder.past]
        self.levels = {c: np.array(v, dtype=object) for c, v in encoder.categories.items()}

    # ----------------------------------------------------------------------------- the columns
    def columns_of_records(self, records: Sequence[Any]) -> dict[str, list[Any]] | None:
        """Each needed column's values from JSON records (objects); None when one lacks a column."""
        if not records or not all(type(r) is dict for r in records):
            return None
        try:
            return {c: [r[c] for r in records] for c in self.columns}
        except KeyError:
            return None

    def columns_of_frame(self, frame: pd.DataFrame) -> dict[str, list[Any]] | None:
        """The same from a DataFrame (a CSV body, ``predict --history``, the pyfunc's input)."""
        if not len(frame) or any(c not in frame.columns for c in self.columns):
            return None
        return {
            c: [None if isinstance(v, float) and math.isnan(v) else v for v in frame[c].tolist()]
            for c in self.columns
        }

    # ----------------------------------------------------------------------------- reading
    def read(self, columns: Mapping[str, list[Any]] | None) -> QuickHistory | None:
        """The window and the forecast's timestamps of a history in full order, or None (see the
        module docstring: the encoder then reads it with pandas)."""
        enc = self.encoder
        if columns is None:
            return None
        times = parse_iso(columns[enc.time])
        n = len(columns[enc.time])
        if times is None or n - self.future_rows < enc.lookback or not self._steps_hold(times):
            return None
        if self.future_rows:
            future = times[-enc.horizon :]
            all_times = times
        else:
            future = self.next_times(times[-1])
            all_times = np.concatenate([times, future])
        o, L, H = len(all_times) - enc.horizon, enc.lookback, enc.horizon
        now = self._features(columns, self.now_columns, o - L, o)
        ahead = self._features(columns, enc.known, o - L + H, o + H)
        if now is None or ahead is None:
            return None
        calendar = [self._calendar(all_times[o - L + H : o + H], f) for f in enc.calendar]
        window = np.concatenate([now, ahead, *calendar], axis=1)
        if np.isnan(window).any():  # a blank: pandas names its row
            return None
        return QuickHistory(window[None].astype("float32"), future)

    def _steps_hold(self, times: np.ndarray) -> bool:
        """Increasing, and at the frequency with no step missing (``rows``: increasing only)."""
        steps = np.diff(times.view("int64"))
        if self.encoder.frequency == ROWS or len(times) < 2:
            return bool((steps > 0).all())
        if self.step is not None:
            return bool((steps == self.step).all())
        expected = pd.date_range(times[0], periods=len(times), freq=self.encoder.frequency)
        return bool((expected.values == times).all())

    def next_times(self, last: np.datetime64) -> np.ndarray:
        """The ``horizon`` steps after ``last`` (``rows``: business days), as datetime64[ns]."""
        horizon = self.encoder.horizon
        if self.step is not None:
            return last + np.arange(1, horizon + 1, dtype="int64") * np.timedelta64(self.step, "ns")
        steps = pd.date_range(pd.Timestamp(last), periods=horizon + 1, freq=self.steps_freq)[1:]
        return steps.values.astype("datetime64[ns]")

    def _features(
        self, columns: Mapping[str, list[Any]], names: list[str], lo: int, hi: int
    ) -> np.ndarray | None:
        """Columns ``names`` of rows ``lo`` to ``hi`` encoded as training encoded them."""
        blocks = []
        for name in names:
            values = columns[name][lo:hi]
            if name in self.levels:
                if not all(type(v) is str for v in values):
                    return None
                blocks.append(
                    (np.array(values, dtype=object)[:, None] == self.levels[name]).astype("float64")
                )
                continue
            numbers = as_numbers(values)
            if numbers is None:
                return None
            mean, std = self.encoder.scales[name]
            blocks.append(((numbers - mean) / std)[:, None])
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((hi - lo, 0))

    def _calendar(self, times: np.ndarray, feature: str) -> np.ndarray:
        ns = times.view("int64")
        if feature == "hour_of_day":  # hours and minutes, as pandas' hour + minute / 60
            day_ns = 24 * 60 * NS_PER_MINUTE
            values = (ns % day_ns // NS_PER_MINUTE) / 60.0
        else:  # day_of_week: 1970-01-01 was a Thursday (3)
            values = ((ns // (24 * 60 * NS_PER_MINUTE) + 3) % 7).astype("float64")
        return self.encoder.encode_calendar_values(values, feature)
