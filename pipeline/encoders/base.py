"""What every encoder shares: the :class:`Encoder` contract, per-row errors, tokens, blank cells.

Encoders are pure NumPy/pandas and saved as JSON, so inference needs neither TensorFlow nor pickle.
Callers ask an encoder what they need through :class:`Encoder`'s members (``kind``, ``vocab_size``,
``input_dtype``, ``text_column``, ``known_token_share``, ``fill_report``...), never its class, so
that a new kind is a new subclass and a registry line (:mod:`pipeline.encoders.registry`).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.core.rows import row_label

PAD, OOV = "<pad>", "<oov>"


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


class Encoder(ABC):
    """The contract of every encoder: raw rows in, checked per row, encoded into model inputs.

    The defaults here are a table's; a text encoder overrides the token members.
    """

    kind: str  # the encoder.json "kind", the key of the registry
    input_dtype: ClassVar[type[np.generic]] = np.float32  # what the model's input takes
    text_column: str | None = None  # the one column of text the encoder reads; None for a table
    # a series' history: the request's rows together are one input, answered once, whose transform
    # raises DataError naming what is wrong (a table's and a text's rows are each an input of their own)
    whole_request: ClassVar[bool] = False
    # rows per chunk of score's batch path by default: each chunk costs pandas and ONNX Runtime a
    # fixed overhead, which a table's narrow rows amortise over more rows (tabular.py: 65,536)
    batch_rows: ClassVar[int] = 8192

    @property
    def vocab_size(self) -> int:
        """The vocabulary's size, padding and OOV included; 0 for an encoder without one."""
        return 0

    @property
    @abstractmethod
    def input_columns(self) -> list[str]:
        """The raw columns the encoder reads."""

    @property
    @abstractmethod
    def input_width(self) -> int:
        """The width of one encoded row: the model's input width."""

    @staticmethod
    def known_token_share(ids: np.ndarray) -> np.ndarray | None:
        """Per encoded row, the share of its tokens in the vocabulary; None without a vocabulary."""
        return None

    def fill_report(self, frame: pd.DataFrame) -> list[str]:
        """What a user checks after encoding: blank cells the encoder filled (none by default)."""
        return []

    @property
    def sized_from_data(self) -> dict[str, str]:
        """The settings that fit chose from the training split (``auto``), each with how: printed by
        encode, logged to MLflow by train, shown on the model card. None by default."""
        return {}

    @abstractmethod
    def check(self, frame: pd.DataFrame) -> list[RowError]:
        """Every problem in raw rows, one :class:`RowError` each."""

    @abstractmethod
    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode rows that passed :meth:`check` into model inputs of :attr:`input_dtype`."""

    @abstractmethod
    def check_records(self, records: Sequence[Any]) -> list[RowError]:
        """:meth:`check` for a few JSON records without pandas (the serving fast path)."""

    @abstractmethod
    def transform_records(self, records: Sequence[Any]) -> np.ndarray:
        """:meth:`transform` for records that passed :meth:`check_records`."""

    @abstractmethod
    def records_to_frame(self, records: Sequence[Any]) -> pd.DataFrame:
        """JSON records as the DataFrame :meth:`check` takes."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The encoder as encoder.json holds it, ``kind`` included."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoder:
        """The encoder :meth:`to_dict` wrote."""


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


def _is_missing(value: Any) -> bool:
    """A blank cell: nothing, NaN, or only whitespace (Kaggle's Telco file writes " " for none);
    the same rule in encode, predict, serve and the pyfunc, since they all come here."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _union_keys(records: Sequence[Any]) -> list[str]:
    keys: dict[str, None] = {}
    for r in records:
        if isinstance(r, dict):
            keys.update(dict.fromkeys(map(str, r)))
    return list(keys)
