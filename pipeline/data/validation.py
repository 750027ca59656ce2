"""The verdict of validating a task's raw data, in the user's terms: each expectation's
``Outcome`` (which rows and file lines, which values) and the ``ValidationSummary`` that the
validate stage writes to ``result.json`` and turns into its error message.

Rows are named as everywhere in the pipeline (:mod:`pipeline.core.rows`); see the validate stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EXAMPLES = 3  # rows/values quoted per failure in the error message
MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, in the user's terms."""

    expectation: str
    column: str | None
    success: bool
    kwargs: dict[str, Any]
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    unexpected_values: list[Any] = field(default_factory=list)
    unexpected_rows: list[int] = field(default_factory=list)  # data rows, counted from 1
    unexpected_lines: list[int] = field(default_factory=list)  # their file lines, when known
    missing_columns: list[str] = field(default_factory=list)
    unexpected_columns: list[str] = field(default_factory=list)
    measure: str | None = None
    error: str | None = None
    column_missing: bool = False  # not evaluated: a column check already reports the column

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.expectation, "column": self.column, "success": self.success}
        if self.kwargs:
            data["kwargs"] = self.kwargs
        if self.measure:
            data["measure"] = self.measure
        if self.unexpected_count is not None:
            data["unexpected_count"] = self.unexpected_count
            data["unexpected_percent"] = self.unexpected_percent
            data["unexpected_values"] = self.unexpected_values
            data["unexpected_rows"] = self.unexpected_rows
            if self.unexpected_lines:
                data["unexpected_file_lines"] = self.unexpected_lines
        if self.observed_value is not None:
            data["observed_value"] = self.observed_value
        if self.missing_columns or self.unexpected_columns:
            data["missing_columns"] = self.missing_columns
            data["unexpected_columns"] = self.unexpected_columns
        if self.column_missing:
            data["error"] = "column missing"
        elif self.error:
            data["error"] = self.error
        return data

    def describe(self) -> str:
        """``column 'Age': expect_...: 2 row(s) out of [18, 100] (data rows 4, 17 (file lines 5, 18);
        values 1, 250)``."""
        where = f"column {self.column!r}" if self.column else "table"
        return f"{where}: {self.expectation}: {self._problem()}"

    def _problem(self) -> str:
        kw = self.kwargs
        if self.error:
            return f"could not be evaluated: {self.error}"
        if self.missing_columns or self.unexpected_columns:
            parts = []
            if self.missing_columns:
                parts.append(f"missing column(s) {', '.join(map(repr, self.missing_columns))}")
            if self.unexpected_columns:
                parts.append(f"unexpected column(s) {', '.join(map(repr, self.unexpected_columns))}")
            return "; ".join(parts)
        if self.expectation == "expect_column_to_exist":
            return "column missing"
        if self.unexpected_count is None:  # an aggregate: row count, mean, column dtype
            observed = fmt(self.observed_value)
            if "min_value" in kw:
                what = self.measure or ("row count" if "row_count" in self.expectation else "value")
                return f"{what} {observed}, expected in [{fmt(kw['min_value'])}, {fmt(kw['max_value'])}]"
            return f"observed {observed}"
        problem = {
            "expect_column_values_to_be_in_type_list": "not numbers",
            "expect_column_values_to_not_be_null": "null",
            "expect_column_values_to_match_regex": "not whole numbers",
        }.get(self.expectation)
        if problem is None and "value_set" in kw:
            problem = f"not in {{{', '.join(fmt(v) for v in kw['value_set'])}}}"
        if problem is None and "min_value" in kw:
            unit = " characters long" if "lengths" in self.expectation else ""
            problem = f"out of [{fmt(kw['min_value'])}, {fmt(kw['max_value'])}]{unit}"
        text = f"{self.unexpected_count} row(s) {problem or 'unexpected'}"
        examples = []
        if self.unexpected_rows:
            examples.append(_places(self.unexpected_rows[:EXAMPLES], self.unexpected_lines[:EXAMPLES]))
        shown = [v for v in self.unexpected_values[:EXAMPLES] if v is not None]
        if shown:
            examples.append("values " + ", ".join(fmt(v) for v in shown))
        return f"{text} ({'; '.join(examples)})" if examples else text


def _places(rows: list[int], lines: list[int]) -> str:
    """``data rows 4, 17 (file lines 5, 18)``, or ``data row 4`` without lines."""
    many = len(rows) > 1
    text = f"data row{'s' if many else ''} {', '.join(map(str, rows))}"
    if lines:
        text += f" (file line{'s' if many else ''} {', '.join(map(str, lines))})"
    return text


def row_numbers_note(source: str | None) -> str:
    """How ``unexpected_rows`` count, for result.json and the error message."""
    if source:
        return (
            f"data rows count from 1 under the header of {source} (blank lines count); file lines "
            "count every line of that file from 1, the header being line 1"
        )
    return "data rows count the rows of the raw data from 1"


@dataclass(frozen=True)
class ValidationSummary:
    """The suite's verdict on one frame: ``failures`` are what the user must fix."""

    success: bool
    rows: int
    outcomes: list[Outcome]
    row_numbers: str = field(default_factory=lambda: row_numbers_note(None))

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and not o.column_missing]

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "rows": self.rows,
            "evaluated_expectations": len(self.outcomes),
            "failed_expectations": sum(not o.success for o in self.outcomes),
            "row_numbers": self.row_numbers,
            "expectations": [o.as_dict() for o in self.outcomes],
        }

    def message(self, source: str) -> str:
        failures = self.failures
        lines = "".join(f"\n  - {f.describe()}" for f in failures)
        note = f"\n  rows: {self.row_numbers}" if any(f.unexpected_rows for f in failures) else ""
        return f"{source} failed {len(failures)} expectation(s):{lines}{note}"


def plain(value: Any) -> Any:
    """A JSON value that compares equal across runs (NaN -> None, long texts cut)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else round(value, 6)
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[: MAX_VALUE_CHARS - 3] + "..."
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def fmt(value: Any) -> str:
    value = plain(value)
    return repr(value) if isinstance(value, str) else str(value)
