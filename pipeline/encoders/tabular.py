"""The table encoder: standardises numerics and one-hot/binary-encodes categories.

It checks raw inference rows and reports problems per row instead of dropping them, with the one
rule set below for raw values, shared by predict, serve and the pyfunc.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.rows import header_problem, mangled_duplicate
from pipeline.encoders.base import Encoder, RowError, _is_missing, _union_keys
from pipeline.encoders.tabular_columns import category_positions, one_hot

EMPTY_ROW = "the row is empty: no value in any column"  # e.g. a blank line in a CSV


# -------------------------------------------------------------------- input rules
# The one rule set for raw tabular values, shared by predict, serve and the pyfunc through both
# paths below (DataFrames and JSON records), so that all of them accept and refuse the same input:
#
# * a numeric column takes a number (int or float, NumPy's too). A string is taken when, spaces
#   around it aside, it is a plain decimal number ("52", "-1.5", "1e3"), as a CSV cell is; any
#   other string is "not a number". A boolean is refused ("expected a number, got a boolean"),
#   null/NaN is "missing", and any other type is refused by name. An ``integer: true`` column
#   refuses a fraction: 52.5 is "not a whole number" (52.0 is 52), where MLflow's own schema
#   enforcement would truncate it to 52. The number must then lie in the schema's [min, max].
# * a categorical column takes one of the schema's values. Values the schema wrote as integers
#   (NumOfProducts: [1, 2, 3, 4]) match the same number in any of the forms above (2, 2.0, "2"),
#   never a boolean or a fraction; values written as text match that text.
NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER_TEXT = re.compile(r"[+-]?\d+")
MISSING_NUMBER = "is blank (empty, only spaces, NaN or null); expected a number"


def parse_number(value: Any) -> tuple[float | None, str | None]:
    """``(number, None)``, or ``(None, why)`` when the raw value is not a number by the rules above."""
    kind = type(value)
    if kind is int or (kind is float and value == value):  # the common case first (serving)
        return float(value), None
    if _is_missing(value):
        return None, MISSING_NUMBER
    if isinstance(value, (bool, np.bool_)):
        return None, f"expected a number, got a boolean ({str(value).lower()})"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), None
    if isinstance(value, str):
        text = value.strip()
        if NUMBER_TEXT.fullmatch(text):
            return float(text), None
        return None, f"{value!r} is not a number"
    return None, f"expected a number, got {_kind(value)}"


def check_number(number: float, spec: dict[str, Any]) -> str | None:
    """Why ``number`` does not fit the column's spec (whole number, range), or None."""
    low, high = bounds(spec)
    if not math.isfinite(number):  # an unbounded column still wants a number the model can read
        return f"{_num(number)} is not a finite number; expected a number{range_text(spec, ' in ')}"
    if spec.get("integer") and not number.is_integer():
        return f"{_num(number)} is not a whole number; expected an integer{range_text(spec, ' in ')}"
    if not low <= number <= high:
        return f"{_num(number)} is outside the expected range{range_text(spec, ' ')}"
    return None


def bounds(spec: dict[str, Any]) -> tuple[float, float]:
    """A numeric column's range; a bound the schema leaves out (None) is infinite."""
    low, high = spec.get("min"), spec.get("max")
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def range_text(spec: dict[str, Any], lead: str) -> str:
    """``[0, 10]``, ``of at least 0`` or ``of at most 10`` after ``lead``; empty when unbounded."""
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None:
        return f"{lead}[{_num(low)}, {_num(high)}]"
    if low is not None:
        return f" of at least {_num(low)}"
    return "" if high is None else f" of at most {_num(high)}"


def number_problem(value: Any, spec: dict[str, Any]) -> str | None:
    """Why a raw value does not belong in a numeric column with this spec, or None."""
    number, problem = parse_number(value)
    return problem if number is None else check_number(number, spec)


def _number(value: Any) -> float:
    """The number in a value that passed the checks."""
    number, problem = parse_number(value)
    if number is None:
        raise DataError(f"not a number: {problem}")
    return number


def _num(x: float) -> str:
    """52 for 52.0, 52.5 as 52.5 (not 52 or 52.500000)."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


def _kind(value: Any) -> str:
    names: dict[type, str] = {list: "a list", tuple: "a list", dict: "an object", bytes: "bytes"}
    return names.get(type(value), type(value).__name__)


# ------------------------------------------------------------------------ tabular
@dataclass
class TabularEncoder(Encoder):
    numeric: dict[str, dict[str, Any]]  # column -> {mean, std, min, max, integer}
    categorical: dict[str, list[str | int]]  # column -> allowed values, as the schema wrote them
    passthrough: list[str] = field(default_factory=list)  # id/target columns accepted but unused
    # schema.missing, fitted: a blank cell of a column in ``fills`` becomes that value (a number, or a
    # category as the schema wrote it); a blank cell of a column in ``drop_missing`` refuses the row
    fills: dict[str, Any] = field(default_factory=dict)
    drop_missing: list[str] = field(default_factory=list)
    kind: str = "tabular"
    batch_rows: ClassVar[int] = 65536  # a 1M-row churn file: 5.9 s at 65,536 a chunk, 10.9 s at 8,192
    _keys: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _integer_coded: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.categorical = {col: list(values) for col, values in self.categorical.items()}
        for col, values in self.categorical.items():
            # encoder.json files written before the schema's integers were kept hold "1", "2", ...
            coded = all(
                (isinstance(v, int) and not isinstance(v, bool))
                or (isinstance(v, str) and INTEGER_TEXT.fullmatch(v) is not None)
                for v in values
            )
            self._integer_coded[col] = coded
            self._keys[col] = [str(int(v)) if coded else category_key(v) for v in values]

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: Any) -> TabularEncoder:
        """Fit on the training split only: means and standard deviations of numerics (blank cells
        left out), and the fill value of each column that ``schema.missing`` fills."""
        numeric = {}
        for col, spec in schema.numeric.items():
            values = pd.to_numeric(train[col], errors="coerce").astype("float64").to_numpy()
            present = values[~np.isnan(values)]
            std = float(present.std()) if len(present) else 0.0
            numeric[col] = {
                "mean": float(present.mean()) if len(present) else 0.0,
                "std": std if std > 0 else 1.0,
                "min": None if spec.min is None else float(spec.min),
                "max": None if spec.max is None else float(spec.max),
                "integer": bool(spec.integer),
            }
        categorical = {col: list(values) for col, values in schema.categorical.items()}
        fills: dict[str, Any] = {}
        for col, rule in schema.missing.items():
            column = train[col].dropna()
            if rule == "median":
                fills[col] = float(pd.to_numeric(column).median())
            elif rule == "mode":
                counts = column.astype(str).value_counts()
                if not len(counts):  # else a blank cell would be filled with a blank
                    raise DataError(
                        f"schema.missing: {col!r} has no value in the training split to take the mode of"
                    )
                top = str(counts.index[0])
                written = {str(v): v for v in categorical.get(col, [])}
                fills[col] = written.get(top, top) if col in categorical else float(top)
            elif not isinstance(rule, str):  # {constant: value}
                fills[col] = rule.constant
        drop = [col for col, rule in schema.missing.items() if rule == "drop"]
        return cls(
            numeric, categorical, passthrough=[*schema.drop, schema.target], fills=fills, drop_missing=drop
        )

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for col, values in self.categorical.items():
            names += [f"{col}={values[1]}"] if len(values) == 2 else [f"{col}={v}" for v in values]
        return names

    @property
    def input_columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def input_width(self) -> int:
        return len(self.feature_names)

    def allowed(self, col: str) -> str:
        """The column's values as the schema wrote them: ``[1, 2, 3, 4]``, ``['France', 'Spain']``."""
        if self._integer_coded[col]:
            return f"[{', '.join(str(int(v)) for v in self.categorical[col])}]"
        return repr(self.categorical[col])

    def _category(self, col: str, value: Any) -> tuple[str | None, str | None]:
        """``(key, None)`` for a value of the column, or ``(None, why)``."""
        if type(value) is str and not self._integer_coded[col] and value in self._keys[col]:
            return value, None  # the common case first (serving)
        if _is_missing(value):
            if col in self.fills:
                return self._category(col, self.fills[col])
            return None, f"is missing; expected one of {self.allowed(col)}{self._drop_note(col)}"
        if isinstance(value, (bool, np.bool_)):
            return None, f"expected one of {self.allowed(col)}, got a boolean ({str(value).lower()})"
        if self._integer_coded[col]:
            number, _ = (value, None) if type(value) is int else parse_number(value)
            key = str(int(number)) if number is not None and float(number).is_integer() else None
        else:
            key = category_key(value)
        if key is None or key not in self._keys[col]:
            return None, f"unknown category {value!r}; expected one of {self.allowed(col)}"
        return key, None

    def _drop_note(self, col: str) -> str:
        return " (schema.missing drops rows with this column blank)" if col in self.drop_missing else ""

    def _value_errors(self, i: int, record: Any) -> list[RowError]:
        """The problems of one row's values (``record[col]`` for each input column)."""
        errors = []
        for col, spec in self.numeric.items():
            if col in self.fills and _is_missing(record[col]):
                continue
            problem = number_problem(record[col], spec)
            if problem:
                errors.append(RowError(i, problem, col))
        for col in self.categorical:
            _, problem = self._category(col, record[col])
            if problem:
                errors.append(RowError(i, problem, col))
        return errors

    def check(self, frame: pd.DataFrame) -> list[RowError]:
        """Every problem in raw rows: missing/unknown columns, types, NaN, ranges, categories."""
        errors: list[RowError] = []
        problem = header_problem([str(c) for c in frame.columns])
        if problem:  # a repeated column, or one column holding a whole ';'-separated header
            return [RowError(i, problem) for i in range(len(frame))]
        missing = [c for c in self.input_columns if c not in frame.columns]
        unknown = [c for c in frame.columns if c not in self.input_columns and c not in self.passthrough]
        if missing or unknown:
            message = self._columns_message(missing, [str(c) for c in unknown])
            return [RowError(i, message) for i in range(len(frame))]
        empty = frame[self.input_columns].isna().all(axis=1).to_numpy() if self.input_columns else []
        errors += [RowError(int(i), EMPTY_ROW) for i in np.flatnonzero(empty)]
        for col, spec in self.numeric.items():
            raw = frame[col]
            filled = col in self.fills
            if not _plain_numbers(raw):  # text, booleans, mixed objects: value by value
                for i, value in enumerate(raw.tolist()):
                    problem = None if filled and _is_missing(value) else number_problem(value, spec)
                    if problem:
                        errors.append(RowError(i, problem, col))
                continue
            values = raw.to_numpy(dtype="float64", na_value=np.nan)
            nan = np.isnan(values)
            if not filled:
                blank = MISSING_NUMBER + self._drop_note(col)
                errors += [RowError(int(i), blank, col) for i in np.flatnonzero(nan)]
            low, high = bounds(spec)
            suspect = ~nan & (~np.isfinite(values) | (values < low) | (values > high))
            if spec.get("integer"):
                suspect |= ~nan & np.isfinite(values) & (np.floor(values) != values)
            for i in np.flatnonzero(suspect).tolist():
                errors.append(RowError(i, check_number(float(values[i]), spec) or "", col))
        for col in self.categorical:  # each distinct value judged once (tabular_columns.py)
            errors += [
                RowError(i, problem, col) for i, problem in category_positions(self, col, frame[col])[1]
            ]
        errors = [e for e in errors if e.column is None or not empty[e.row]]
        return sorted(errors, key=lambda e: e.row)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode rows that passed :meth:`check` into float32 model inputs."""
        columns = []
        for col, stats in self.numeric.items():
            raw = frame[col]
            fill = self.fills.get(col)
            if _plain_numbers(raw):
                values = raw.to_numpy(dtype="float64", na_value=np.nan)
                if fill is not None:
                    values = np.where(np.isnan(values), float(fill), values)
            else:
                values = np.array(
                    [_number(fill if _is_missing(v) else v) for v in raw.tolist()], dtype="float64"
                )
            columns.append((values - stats["mean"]) / stats["std"])
        for col in self.categorical:  # one-hot from each row's position among the column's keys
            columns += one_hot(category_positions(self, col, frame[col])[0], len(self._keys[col]))
        if not columns:
            return np.zeros((len(frame), 0), dtype="float32")
        return np.stack(columns, axis=1).astype("float32")

    def _levels(self, col: str) -> list[str]:
        """The keys that get a one-hot column (two values: one binary column for the second)."""
        keys = self._keys[col]
        return keys[1:] if len(keys) == 2 else keys

    def _columns_message(self, missing: list[str], unknown: list[str]) -> str:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unexpected column(s) {', '.join(unknown)}")
            known = [*self.input_columns, *self.passthrough]
            for col in unknown:
                base = mangled_duplicate(col, known)
                if base is not None:
                    parts[-1] += f" ({col!r} is how pandas names a second {base!r} column: is it repeated?)"
        return f"{'; '.join(parts)} (expected {', '.join(self.input_columns)})"

    def check_records(self, records: Sequence[dict[str, Any]]) -> list[RowError]:
        """:meth:`check` for a few JSON records without pandas (the serving fast path)."""
        errors: list[RowError] = []
        columns = self.input_columns
        known = {*columns, *self.passthrough}
        for i, record in enumerate(records):
            missing = [c for c in columns if c not in record]
            unknown = [str(c) for c in record if c not in known]
            if missing or unknown:
                errors.append(RowError(i, self._columns_message(missing, unknown)))
                continue
            if columns and all(_is_missing(record[c]) for c in columns):
                errors.append(RowError(i, EMPTY_ROW))
                continue
            errors += self._value_errors(i, record)
        return errors

    def transform_records(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """:meth:`transform` for records that passed :meth:`check_records`."""
        rows = []
        for record in records:
            row = [(self._record_number(record, c) - s["mean"]) / s["std"] for c, s in self.numeric.items()]
            for col in self.categorical:
                key = self._category(col, record[col])[0]
                row += [1.0 if key == level else 0.0 for level in self._levels(col)]
            rows.append(row)
        if not rows:
            return np.zeros((0, len(self.feature_names)), dtype="float32")
        return np.asarray(rows, dtype="float32")

    def _record_number(self, record: Any, col: str) -> float:
        value = record[col]
        return _number(self.fills[col] if col in self.fills and _is_missing(value) else value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "numeric": self.numeric,
            "categorical": self.categorical,
            "passthrough": self.passthrough,
            "feature_names": self.feature_names,
            "fills": self.fills,
            "drop_missing": self.drop_missing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularEncoder:
        return cls(
            data["numeric"],
            data["categorical"],
            data.get("passthrough", []),
            fills=data.get("fills", {}),
            drop_missing=data.get("drop_missing", []),
        )

    def records_to_frame(self, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame.from_records(list(records), columns=_union_keys(records))

    def fill_report(self, frame: pd.DataFrame) -> list[str]:
        """How many blank cells ``schema.missing`` filled, per column and split, and with what: what a
        user checks after encoding a table with blanks. ``frame`` holds the encoded rows and their split."""
        lines = []
        for col, value in self.fills.items():
            blank = frame[col].map(_is_missing)
            per_split = frame.loc[blank, "split"].value_counts()
            counts = ", ".join(f"{name} {per_split.get(name, 0)}" for name in ("train", "val", "test"))
            lines.append(f"{int(blank.sum())} blank {col} cell(s) ({counts}) filled with {value!r}")
        return lines


def _plain_numbers(column: pd.Series) -> bool:
    """Ints or floats (NumPy or nullable), checked as arrays; anything else is checked value by value."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def category_key(value: Any) -> str:
    """A category as text; whole floats as integers (a CSV column with a gap reads 2 as 2.0)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
