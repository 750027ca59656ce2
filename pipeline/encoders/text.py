"""The text encoder: the one standardise-and-tokenise implementation for text, as token ids.

It checks raw inference rows and reports problems per row instead of dropping them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.core.data_config import AUTO
from pipeline.core.errors import ModelError
from pipeline.encoders.base import OOV, PAD, Encoder, RowError, _union_keys, tokenize

_MISSING = object()


@dataclass
class TextEncoder(Encoder):
    vocabulary: list[str]  # index 0 = padding, 1 = out of vocabulary
    sequence_length: int
    padding: str = "pre"
    truncation: str = "pre"
    lowercase: bool = True
    text_column: str = "text"
    kind: str = "text"
    auto: dict[str, str] = field(default_factory=dict)  # the sizes fit chose (``auto``), with how
    input_dtype: ClassVar[type[np.generic]] = np.int32  # token ids
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.vocabulary[:2] != [PAD, OOV]:
            raise ModelError(f"vocabulary must start with {PAD!r} and {OOV!r}")
        self._index = {word: i for i, word in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, texts: Iterable[str], config: Any, text_column: str = "text") -> TextEncoder:
        """The most frequent training words (ties broken alphabetically), as many as
        ``config.max_tokens`` allows, and ``config.sequence_length``; ``auto`` sizes either from
        the training texts (see ``TextEncodeConfig``)."""
        counts: Counter[str] = Counter()
        lengths: list[int] = []
        for text in texts:
            tokens = tokenize(text, config.lowercase)
            counts.update(tokens)
            lengths.append(len(tokens))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        n_words, auto = vocabulary_words(ranked, config)
        length, length_auto = fitted_length(lengths, config)
        return cls(
            [PAD, OOV, *(w for w, _ in ranked[:n_words])],
            length,
            config.padding,
            config.truncation,
            config.lowercase,
            text_column,
            auto=auto | length_auto,
        )

    @property
    def sized_from_data(self) -> dict[str, str]:
        return dict(self.auto)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @property
    def input_columns(self) -> list[str]:
        return [self.text_column]

    @property
    def input_width(self) -> int:
        return self.sequence_length

    def encode_one(self, text: str) -> list[int]:
        return [self._index.get(tok, 1) for tok in tokenize(text, self.lowercase)]

    def transform_texts(self, texts: Iterable[str]) -> np.ndarray:
        return self.pad([self.read_ids(t) for t in texts])

    def read_ids(self, text: str) -> list[int]:
        """The ids of :meth:`encode_one` that :meth:`pad` keeps: the tokens truncation drops are
        never looked up (an IMDB review has about 230 tokens, a model may read the last 48)."""
        tokens, n = tokenize(text, self.lowercase), self.sequence_length
        if n > 0 and len(tokens) > n:
            tokens = tokens[-n:] if self.truncation == "pre" else tokens[:n]
        return [self._index.get(tok, 1) for tok in tokens]

    def pad(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Token id lists as the model's rows: truncated and padded to ``sequence_length``."""
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

    @staticmethod
    def known_token_share(ids: np.ndarray) -> np.ndarray:
        """Per encoded row, the share of its tokens that are in the vocabulary (not OOV).

        Counted over the tokens the model reads (after truncation to ``sequence_length``); a text
        with no token at all (only emoji or punctuation) has a share of 0, like one of unknown words.
        """
        tokens = (ids > 0).sum(axis=1)
        known = (ids > 1).sum(axis=1)
        return np.divide(known, tokens, out=np.zeros(len(ids), dtype="float64"), where=tokens > 0)

    def check(self, frame: pd.DataFrame) -> list[RowError]:
        col = self.text_column
        if col not in frame.columns:
            return [RowError(i, f"missing column {col!r} (the text to classify)") for i in range(len(frame))]
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
                errors.append(RowError(i, f"missing column {self.text_column!r} (the text to classify)"))
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
        } | ({"auto": self.auto} if self.auto else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoder:
        return cls(
            list(data["vocabulary"]),
            int(data["sequence_length"]),
            data.get("padding", "pre"),
            data.get("truncation", "pre"),
            bool(data.get("lowercase", True)),
            data.get("text_column", "text"),
            auto=dict(data.get("auto") or {}),
        )

    def records_to_frame(self, records: Sequence[Any]) -> pd.DataFrame:
        """Accept plain strings or ``{"text": ...}`` records."""
        if all(not isinstance(r, dict) for r in records):
            return pd.DataFrame({self.text_column: list(records)})
        return pd.DataFrame.from_records(list(records), columns=_union_keys(records))


def vocabulary_words(ranked: list[tuple[str, int]], config: Any) -> tuple[int, dict[str, str]]:
    """How many of the ranked training words to keep, and how ``auto`` chose it."""
    if config.max_tokens != AUTO:
        return config.max_tokens - 2, {}
    frequent = sum(1 for _, n in ranked if n >= config.min_count)
    kept = min(frequent, config.max_tokens_cap - 2)
    how = (
        f"{kept + 2} (the {kept} training words seen at least {config.min_count} times"
        + (f", capped by max_tokens_cap {config.max_tokens_cap}" if kept < frequent else "")
        + ", plus padding and OOV)"
    )
    return kept, {"max_tokens": how}


def fitted_length(lengths: list[int], config: Any) -> tuple[int, dict[str, str]]:
    """The sequence length, and how ``auto`` chose it from the training texts' token counts."""
    if config.sequence_length != AUTO:
        return config.sequence_length, {}
    # the shortest observed length that at least length_percentile % of the texts fit in
    pct = config.length_percentile
    at = int(np.percentile(lengths, pct, method="inverted_cdf")) if lengths else 0
    length = min(max(at, config.min_sequence_length), config.sequence_length_cap)
    share = float(np.mean(np.asarray(lengths) <= length)) if lengths else 1.0
    how = (
        f"{length} (the {pct:g}th percentile of the training texts' token "
        f"counts is {at}; bounds {config.min_sequence_length}-{config.sequence_length_cap}; "
        f"{share:.1%} of the training texts fit whole)"
    )
    return length, {"sequence_length": how}
