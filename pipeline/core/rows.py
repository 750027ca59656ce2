"""Row numbers and CSV headers: one convention for every message about a row of input.

The convention, used by ``ingest``, ``validate``, ``predict``, ``serve`` and the MLflow pyfunc:

* **data row N** counts the rows under a CSV's header from 1; a blank line is a row too (a
  spreadsheet shows it as an empty row), so data row N is the N-th line under the header unless a
  quoted value holds a line break;
* **file line M** counts every line of the file from 1, the header included: data row N is on
  file line N + 1 in a file without quoted line breaks;
* messages say both, ``data row 12 (file line 13)``;
* input without lines (a JSON request, a DataFrame, ``--text``) says ``row N``: the rows in the
  order given, counted from 1.

Only the standard library: the ingest stage imports it.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEPARATORS = {";": "';'", "\t": "a tab", "|": "'|'"}
SEPARATOR_NAMES = {";": ";-separated", "\t": "tab-separated", "|": "|-separated"}


def row_label(index: int, line: int | None = None) -> str:
    """``row N`` for the 0-based ``index``, or ``data row N (file line M)`` when the line is known."""
    return f"row {index + 1}" if line is None else f"data row {index + 1} (file line {line})"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------- headers
def csv_header(text: str) -> list[str]:
    """The header's fields exactly as written (pandas renames a repeated ``Age`` to ``Age.1``)."""
    return next(csv.reader(io.StringIO(text)), [])


def header_problem(header: Sequence[str]) -> str | None:
    """A repeated column name, or a header that is one column holding another separator."""
    counts = Counter(header)
    repeated = [name for name in dict.fromkeys(header) if counts[name] > 1]
    if repeated:
        times = {2: "twice", 3: "three times"}
        return (
            "; ".join(
                f"column {name!r} appears {times.get(counts[name], f'{counts[name]} times')}"
                for name in repeated
            )
            + " in the header; each column must appear once"
        )
    if len(header) == 1:
        for sep, shown in SEPARATORS.items():
            if sep in header[0]:
                return (
                    f"the header has one column containing {shown}: is the file {SEPARATOR_NAMES[sep]}? "
                    "Expected comma-separated values"
                )
    return None


def mangled_duplicate(column: str, known: Iterable[str]) -> str | None:
    """``'Age'`` when ``column`` is pandas' ``Age.1`` for a second ``Age`` column."""
    base, dot, suffix = column.rpartition(".")
    return base if dot and suffix.isdigit() and base in set(known) else None


# ----------------------------------------------------------------------------- row map
@dataclass(frozen=True)
class RowMap:
    """Where the rows a reader kept sit in their CSV file.

    ``runs`` holds ``(index, data_row, file_line)`` at the start of each run of rows that follow
    one another line by line: from the kept row ``index`` (0-based) on, row ``index + k`` is data
    row ``data_row + k`` on file line ``file_line + k``, up to the next run. A file without blank
    lines or quoted line breaks is one run, ``(0, 1, 2)``.
    """

    runs: tuple[tuple[int, int, int], ...] = ((0, 1, 2),)

    def _run(self, index: int) -> tuple[int, int, int]:
        starts = [r[0] for r in self.runs]
        return self.runs[max(0, bisect.bisect_right(starts, index) - 1)]

    def data_row(self, index: int) -> int:
        start, row, _ = self._run(index)
        return row + index - start

    def line(self, index: int) -> int:
        start, _, line = self._run(index)
        return line + index - start

    def line_of_data_row(self, data_row: int) -> int:
        rows = [r[1] for r in self.runs]
        _, row, line = self.runs[max(0, bisect.bisect_right(rows, data_row) - 1)]
        return line + data_row - row

    def label(self, index: int) -> str:
        return f"data row {self.data_row(index)} (file line {self.line(index)})"

    def to_json(self) -> list[list[int]]:
        """``[[row, data_row, file_line], ...]`` with the kept row counted from 1, for a JSON file."""
        return [[index + 1, row, line] for index, row, line in self.runs]

    @classmethod
    def from_json(cls, data: object) -> RowMap | None:
        if not isinstance(data, list) or not data:
            return None
        try:
            return cls(tuple((int(r[0]) - 1, int(r[1]), int(r[2])) for r in data))
        except (TypeError, ValueError, IndexError):
            return None


def scan_rows(text: str, keep_blank: bool, expected: int | None = None) -> RowMap | None:
    """The :class:`RowMap` of a CSV text as a reader kept its rows.

    ``keep_blank``: whether blank lines became rows (``pd.read_csv(skip_blank_lines=False)``) or
    were skipped (pandas' default; they still count as data rows). ``expected``: the number of rows
    the reader kept; on a mismatch (a file the two parsers split differently) the answer is
    ``None`` and messages fall back to data rows alone.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        next(reader)  # the header
        runs: list[tuple[int, int, int]] = []
        index, data_row, before = 0, 0, reader.line_num
        for record in reader:
            data_row += 1
            line = before + 1
            before = reader.line_num
            if not keep_blank and (not record or (len(record) == 1 and not record[0].strip())):
                continue
            if not runs or runs[-1][1] + index - runs[-1][0] != data_row or _line(runs, index) != line:
                runs.append((index, data_row, line))
            index += 1
    except (csv.Error, StopIteration):
        return None
    if expected is not None and index != expected:
        return None
    return RowMap(tuple(runs) or ((0, 1, 2),))


def _line(runs: list[tuple[int, int, int]], index: int) -> int:
    start, _, line = runs[-1]
    return line + index - start
