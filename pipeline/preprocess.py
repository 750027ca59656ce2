"""Encoders shared by training, evaluation, export, predict, serving and the MLflow pyfunc.

Pure NumPy/pandas and saved as JSON, so inference needs neither TensorFlow nor pickle.
``TabularEncoder`` standardises numerics and one-hot/binary-encodes categories;
``TextEncoder`` is the one standardise-and-tokenise implementation for text.
Both check raw inference rows and report problems per row instead of dropping them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import DataError, ModelError
from pipeline.rows import header_problem, mangled_duplicate, row_label

PAD, OOV = "<pad>", "<oov>"
_MISSING = object()
EMPTY_ROW = "the row is empty: no value in any column"  # e.g. a blank line in a CSV


@dataclass(frozen=True)
class RowError:
    """One problem in one input row.

    ``row`` is the row's 0-based position, for indexing; what users see counts from 1 (see
    :mod:`pipeline.rows`): ``row 3``, or ``data row 3 (file line 4)`` when ``line``, the row's
    line in its CSV file or body, is known.
    """

    row: int
    message: str
    column: str | None = None
    line: int | None = None

    @property
    def number(self) -> int:
        """The row as users count it: from 1."""
        return self.row + 1

    def where(self) -> str:
        return row_label(self.row, self.line)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.number}
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        out["message"] = self.message
        return out

    def __str__(self) -> str:
        where = self.where() + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


# ------------------------------------------------------------------------ tabular
@dataclass
class TabularEncoder:
    numeric: dict[str, dict[str, float]]  # column -> {mean, std, min, max}
    categorical: dict[str, list[str]]  # column -> allowed values (schema order)
    passthrough: list[str] = field(default_factory=list)  # id/target columns accepted but unused
    kind: str = "tabular"

    def __post_init__(self) -> None:
        self.categorical = {
            col: [category_key(v) for v in values] for col, values in self.categorical.items()
        }

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: Any) -> TabularEncoder:
        """Fit on the training split only: means and standard deviations of numerics."""
        numeric = {}
        for col, spec in schema.numeric.items():
            values = train[col].astype("float64").to_numpy()
            std = float(values.std())
            numeric[col] = {
                "mean": float(values.mean()),
                "std": std if std > 0 else 1.0,
                "min": float(spec.min),
                "max": float(spec.max),
            }
        categorical = {col: [str(v) for v in values] for col, values in schema.categorical.items()}
        return cls(numeric, categorical, passthrough=[*schema.drop, schema.target])

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for col, values in self.categorical.items():
            names += [f"{col}={values[1]}"] if len(values) == 2 else [f"{col}={v}" for v in values]
        return names

    @property
    def input_columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def check(self, frame: pd.DataFrame) -> list[RowError]:
        """Every problem in raw rows: missing/unknown columns, non-numbers, NaN, ranges, categories."""
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
            values = pd.to_numeric(raw, errors="coerce")
            for i in np.flatnonzero(raw.isna().to_numpy()):
                errors.append(RowError(int(i), "is missing (NaN/null); expected a number", col))
            bad_type = values.isna().to_numpy() & ~raw.isna().to_numpy()
            for i in np.flatnonzero(bad_type):
                errors.append(RowError(int(i), f"{raw.iloc[i]!r} is not a number", col))
            finite = values.to_numpy(dtype="float64", na_value=np.nan)
            out_of_range = ~np.isnan(finite) & ((finite < spec["min"]) | (finite > spec["max"]))
            for i in np.flatnonzero(out_of_range):
                errors.append(
                    RowError(
                        int(i),
                        f"{finite[i]:g} is outside the expected range [{spec['min']:g}, {spec['max']:g}]",
                        col,
                    )
                )
        for col, allowed in self.categorical.items():
            raw = frame[col]
            for i, value in enumerate(raw.tolist()):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    errors.append(RowError(i, f"is missing; expected one of {allowed}", col))
                elif category_key(value) not in allowed:
                    errors.append(RowError(i, f"unknown category {value!r}; expected one of {allowed}", col))
        errors = [e for e in errors if e.column is None or not empty[e.row]]
        return sorted(errors, key=lambda e: e.row)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode rows that passed :meth:`check` into float32 model inputs."""
        columns = []
        for col, stats in self.numeric.items():
            values = pd.to_numeric(frame[col]).to_numpy(dtype="float64")
            columns.append((values - stats["mean"]) / stats["std"])
        for col, allowed in self.categorical.items():
            values = np.array([category_key(v) for v in frame[col].tolist()], dtype=object)
            levels = allowed[1:] if len(allowed) == 2 else allowed
            columns += [(values == level).astype("float64") for level in levels]
        if not columns:
            return np.zeros((len(frame), 0), dtype="float32")
        return np.stack(columns, axis=1).astype("float32")

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
            for col, spec in self.numeric.items():
                value = record[col]
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    errors.append(RowError(i, "is missing (NaN/null); expected a number", col))
                    continue
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    errors.append(RowError(i, f"{value!r} is not a number", col))
                    continue
                if math.isnan(number):
                    errors.append(RowError(i, "is missing (NaN/null); expected a number", col))
                elif not spec["min"] <= number <= spec["max"]:
                    errors.append(
                        RowError(
                            i,
                            f"{number:g} is outside the expected range [{spec['min']:g}, {spec['max']:g}]",
                            col,
                        )
                    )
            for col, allowed in self.categorical.items():
                value = record[col]
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    errors.append(RowError(i, f"is missing; expected one of {allowed}", col))
                elif category_key(value) not in allowed:
                    errors.append(RowError(i, f"unknown category {value!r}; expected one of {allowed}", col))
        return errors

    def transform_records(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """:meth:`transform` for records that passed :meth:`check_records`."""
        rows = []
        for record in records:
            row = [(float(record[c]) - s["mean"]) / s["std"] for c, s in self.numeric.items()]
            for col, allowed in self.categorical.items():
                key = category_key(record[col])
                levels = allowed[1:] if len(allowed) == 2 else allowed
                row += [1.0 if key == level else 0.0 for level in levels]
            rows.append(row)
        if not rows:
            return np.zeros((0, len(self.feature_names)), dtype="float32")
        return np.asarray(rows, dtype="float32")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "numeric": self.numeric,
            "categorical": self.categorical,
            "passthrough": self.passthrough,
            "feature_names": self.feature_names,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularEncoder:
        return cls(data["numeric"], data["categorical"], data.get("passthrough", []))

    def records_to_frame(self, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame.from_records(list(records), columns=_union_keys(records))


def category_key(value: Any) -> str:
    """A category as text; whole floats as integers (a CSV column with a gap reads 2 as 2.0)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- text
_TAGS = re.compile(r"<[^>]+>")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def standardize(text: str, lowercase: bool = True) -> str:
    """Strip HTML tags (IMDB has ``<br />``) and, by default, lowercase."""
    text = _TAGS.sub(" ", text)
    return text.lower() if lowercase else text


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words and contractions ("isn't" stays one token, so negation survives)."""
    text = standardize(text, lowercase)
    pattern = _TOKEN if lowercase else re.compile(_TOKEN.pattern, re.IGNORECASE)
    return pattern.findall(text)


@dataclass
class TextEncoder:
    vocabulary: list[str]  # index 0 = padding, 1 = out of vocabulary
    sequence_length: int
    padding: str = "pre"
    truncation: str = "pre"
    lowercase: bool = True
    text_column: str = "text"
    kind: str = "text"
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.vocabulary[:2] != [PAD, OOV]:
            raise ModelError(f"vocabulary must start with {PAD!r} and {OOV!r}")
        self._index = {word: i for i, word in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, texts: Iterable[str], config: Any, text_column: str = "text") -> TextEncoder:
        """The ``max_tokens - 2`` most frequent training words; ties broken alphabetically."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text, config.lowercase))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        words = [w for w, _ in ranked[: config.max_tokens - 2]]
        return cls(
            [PAD, OOV, *words],
            config.sequence_length,
            config.padding,
            config.truncation,
            config.lowercase,
            text_column,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode_one(self, text: str) -> list[int]:
        return [self._index.get(tok, 1) for tok in tokenize(text, self.lowercase)]

    def transform_texts(self, texts: Iterable[str]) -> np.ndarray:
        rows = [self.encode_one(t) for t in texts]
        out = np.zeros((len(rows), self.sequence_length), dtype="int32")
        n = self.sequence_length
        for i, ids in enumerate(rows):
            if len(ids) > n:
                ids = ids[-n:] if self.truncation == "pre" else ids[:n]
            if ids:
                if self.padding == "pre":
                    out[i, n - len(ids) :] = ids
                else:
                    out[i, : len(ids)] = ids
        return out

    def check(self, frame: pd.DataFrame) -> list[RowError]:
        col = self.text_column
        if col not in frame.columns:
            return [
                RowError(i, f"missing column {col!r} (expected the review text)") for i in range(len(frame))
            ]
        errors = []
        for i, value in enumerate(frame[col].tolist()):
            if not isinstance(value, str):
                kind = (
                    "null"
                    if value is None or (isinstance(value, float) and math.isnan(value))
                    else type(value).__name__
                )
                errors.append(RowError(i, f"expected text, got {kind}", col))
            elif not value.strip():
                errors.append(RowError(i, "text is empty", col))
        return errors

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.transform_texts(frame[self.text_column].tolist())

    def _texts(self, records: Sequence[Any]) -> list[Any]:
        col = self.text_column
        return [r.get(col, _MISSING) if isinstance(r, dict) else r for r in records]

    def check_records(self, records: Sequence[Any]) -> list[RowError]:
        """:meth:`check` for plain strings or ``{"text": ...}`` records, without pandas."""
        errors = []
        for i, value in enumerate(self._texts(records)):
            if value is _MISSING:
                errors.append(RowError(i, f"missing column {self.text_column!r} (expected the review text)"))
            elif not isinstance(value, str):
                kind = (
                    "null"
                    if value is None or (isinstance(value, float) and math.isnan(value))
                    else type(value).__name__
                )
                errors.append(RowError(i, f"expected text, got {kind}", self.text_column))
            elif not value.strip():
                errors.append(RowError(i, "text is empty", self.text_column))
        return errors

    def transform_records(self, records: Sequence[Any]) -> np.ndarray:
        return self.transform_texts(self._texts(records))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sequence_length": self.sequence_length,
            "padding": self.padding,
            "truncation": self.truncation,
            "lowercase": self.lowercase,
            "text_column": self.text_column,
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoder:
        return cls(
            list(data["vocabulary"]),
            int(data["sequence_length"]),
            data.get("padding", "pre"),
            data.get("truncation", "pre"),
            bool(data.get("lowercase", True)),
            data.get("text_column", "text"),
        )

    def records_to_frame(self, records: Sequence[Any]) -> pd.DataFrame:
        """Accept plain strings or ``{"text": ...}`` records."""
        if all(not isinstance(r, dict) for r in records):
            return pd.DataFrame({self.text_column: list(records)})
        return pd.DataFrame.from_records(list(records), columns=_union_keys(records))


Encoder = TabularEncoder | TextEncoder


def encoder_from_dict(data: dict[str, Any]) -> Encoder:
    kind = data.get("kind")
    if kind == "tabular":
        return TabularEncoder.from_dict(data)
    if kind == "text":
        return TextEncoder.from_dict(data)
    raise ModelError(f"unknown encoder kind {kind!r}")


def save_encoder(encoder: Encoder, path: Path) -> None:
    from pipeline.io import write_json

    write_json(path, encoder.to_dict())


def load_encoder(path: Path) -> Encoder:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: encoder file not found") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    return encoder_from_dict(data)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _union_keys(records: Sequence[Any]) -> list[str]:
    keys: dict[str, None] = {}
    for r in records:
        if isinstance(r, dict):
            keys.update(dict.fromkeys(map(str, r)))
    return list(keys)
