"""Timestamps of a series: parsed, unique and increasing, their frequency inferred, and the regular
grid they must keep. Shared by reading a series (``pipeline.data.series``) and checking a posted
history (``pipeline.encoders.timeseries``); pandas only. Messages name the column and the rows
(``label`` turns a 0-based position into what users read, ``data row N`` by default).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.rows import plural

MAX_LISTED = 10
ROWS = "rows"  # a frequency of "each row is one step" (trading days): nothing to hold, no gaps


def data_row(index: int) -> str:
    return f"data row {index + 1}"


def listed(items: list[str]) -> str:
    """The first ``MAX_LISTED`` items, and how many more."""
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return "; ".join(items[:MAX_LISTED]) + more


def parse_times(values: pd.Series, column: str, label: Callable[[int], str] = data_row) -> pd.DatetimeIndex:
    """The timestamps, refused unless every one parses, none repeats and each follows the last."""
    as_text = values.astype("string").str.strip()
    times = pd.to_datetime(as_text, errors="coerce", format="mixed")
    bad = np.flatnonzero(times.isna().to_numpy()).tolist()
    if len(bad):
        shown = [f"{label(i)}: {values.iloc[i]!r}" for i in bad]
        raise DataError(f"column {column!r}: {plural(len(bad), 'timestamp')} do not parse: {listed(shown)}")
    index = pd.DatetimeIndex(times)
    step = np.diff(index.asi8)
    repeated = (np.flatnonzero(step == 0) + 1).tolist()
    if len(repeated):
        shown = [f"{label(i)} repeats {index[i]} of {label(i - 1)}" for i in repeated]
        raise DataError(f"column {column!r}: each timestamp must appear once: {listed(shown)}")
    backwards = (np.flatnonzero(step < 0) + 1).tolist()
    if len(backwards):
        shown = [f"{label(i)} ({index[i]}) comes before {label(i - 1)} ({index[i - 1]})" for i in backwards]
        raise DataError(f"column {column!r}: timestamps must increase: {listed(shown)}")
    return index


def infer_frequency(times: pd.DatetimeIndex, column: str) -> str:
    """The most common step as a pandas offset alias; ``B`` for weekdays whose only longer steps
    are weekends. Refused for fewer than three timestamps."""
    if len(times) < 3:
        raise DataError(f"column {column!r}: {len(times)} timestamps; at least 3 to infer a frequency")
    exact = pd.infer_freq(times)
    if exact is not None:
        return exact.removeprefix("1")
    common = pd.Series(times[1:] - times[:-1]).value_counts().index[0]
    if common == pd.Timedelta(days=1) and (times.dayofweek < 5).all():
        return "B"
    if common >= pd.Timedelta(days=28):  # months and quarters have no one length in nanoseconds
        raise DataError(
            f"column {column!r}: steps of uneven months or quarters with gaps; declare "
            "schema.frequency (MS, QS...)"
        )
    return pd.tseries.frequencies.to_offset(common).freqstr


def grid(
    times: pd.DatetimeIndex, frequency: str, column: str, label: Callable[[int], str]
) -> pd.DatetimeIndex:
    """Every step from the first timestamp to the last at ``frequency``; a timestamp off that grid
    (the frequency broken) is refused, naming its row."""
    try:
        full = pd.date_range(times[0], times[-1], freq=frequency)
    except ValueError as exc:
        raise DataError(f"schema.frequency {frequency!r}: not a pandas frequency ({exc})") from exc
    if len(full) == 0 or full[0] != times[0]:
        raise DataError(
            f"column {column!r}: the first timestamp {times[0]} ({label(0)}) is not on the "
            f"{frequency!r} grid; expected a timestamp of that frequency"
        )
    off = np.flatnonzero(~times.isin(full)).tolist()
    if len(off):
        shown = [f"{label(i)} ({times[i]})" for i in off]
        raise DataError(
            f"column {column!r}: {plural(len(off), 'timestamp')} off the frequency {frequency!r} "
            f"(steps from {times[0]}): {listed(shown)}"
        )
    return full
