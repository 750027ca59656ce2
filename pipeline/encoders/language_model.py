"""The vocabulary and windows of a next-word language model, saved as JSON like every encoder.

A :class:`LanguageModelEncoder` is a :class:`~pipeline.encoders.text.TextEncoder` whose
sequence is the window of the ``window`` previous tokens (pre-padded, the oldest dropped), so
predict, serve and the pyfunc check and encode a prompt exactly as they do a review. Its vocabulary
is fitted on the training part of the text (``min_count``, ``max_size``); a rarer word is the OOV
token, which the model predicts like any word. The vocabulary is also the model's classes: output
``i`` is the probability that the next word is ``vocabulary[i]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.encoders.base import OOV, PAD, tokenize
from pipeline.encoders.text import TextEncoder

KIND = "language_model"


@dataclass
class LanguageModelEncoder(TextEncoder):
    kind: str = KIND

    @classmethod
    def fit_tokens(
        cls, tokens: Iterable[str], config: Any, text_column: str = "text"
    ) -> LanguageModelEncoder:
        """Words seen at least ``min_count`` times, the ``max_size - 2`` most frequent; ties alphabetical."""
        counts = Counter(tokens)
        ranked = sorted(
            ((w, n) for w, n in counts.items() if n >= config.min_count), key=lambda kv: (-kv[1], kv[0])
        )
        words = [w for w, _ in ranked[: config.max_size - 2]]
        return cls([PAD, OOV, *words], config.window, "pre", "pre", config.lowercase, text_column, KIND)

    @property
    def window(self) -> int:
        return self.sequence_length

    def tokens(self, text: str) -> list[str]:
        return tokenize(text, self.lowercase)

    def ids(self, tokens: Iterable[str]) -> np.ndarray:
        return np.asarray([self._index.get(t, 1) for t in tokens], dtype="int32")

    def texts(self, inputs: Any) -> list[str]:
        """The texts of a DataFrame (its text column) or of records (strings or ``{"text": ...}``)."""
        if hasattr(inputs, "columns"):
            return [str(t) for t in inputs[self.text_column].tolist()]
        return [str(t) for t in self._texts(inputs)]

    def unknown_words(self, text: str | list[str]) -> list[str]:
        """The words of ``text`` (or its tokens) the vocabulary lacks, each once, in order of appearance."""
        tokens = self.tokens(text) if isinstance(text, str) else text
        return list(dict.fromkeys(t for t in tokens if t not in self._index))

    def windows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row per token of ``ids``: the ``window`` tokens before it (padding before the first)
        as input, the token itself as target."""
        n, w = len(ids), self.window
        padded = np.concatenate([np.zeros(w, dtype="int32"), np.asarray(ids, dtype="int32")])
        x = np.lib.stride_tricks.sliding_window_view(padded, w)[:n].copy()
        return x, np.asarray(ids, dtype="int32").copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "window": self.window,
            "lowercase": self.lowercase,
            "text_column": self.text_column,
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LanguageModelEncoder:
        return cls(
            list(data["vocabulary"]),
            int(data["window"]),
            "pre",
            "pre",
            bool(data.get("lowercase", True)),
            data.get("text_column", "text"),
            KIND,
        )


def next_word_ranking(probabilities: np.ndarray, top_k: int) -> list[int]:
    """The ``top_k`` most probable ids, best first, leaving out padding and the OOV token (never an
    answer a user can type)."""
    p = np.asarray(probabilities, dtype="float64")
    n = min(top_k + 2, len(p))
    best = np.argpartition(-p, n - 1)[:n] if n < len(p) else np.arange(len(p))
    order = best[np.lexsort((best, -p[best]))]  # most probable first, ties by index (stable)
    return [int(i) for i in order if i > 1][:top_k]


def continue_text(
    encoder: LanguageModelEncoder,
    predict: Callable[[np.ndarray], np.ndarray],
    text: str,
    n_words: int,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[str]:
    """``n_words`` next words after ``text``, each fed back as context.

    ``predict`` maps windows ``(1, window)`` to probabilities ``(1, vocabulary)``. Temperature 0:
    greedy (the most probable word); above 0: sampled from the probabilities raised to
    ``1 / temperature``, from a generator seeded with ``seed`` (same seed, same words). Padding and
    the OOV token are never produced.
    """
    rng = np.random.default_rng(seed)
    ids = list(encoder.ids(encoder.tokens(text)))
    words: list[str] = []
    for _ in range(n_words):
        x = np.zeros((1, encoder.window), dtype="int32")
        recent = ids[-encoder.window :]
        if recent:
            x[0, encoder.window - len(recent) :] = recent
        p = np.asarray(predict(x), dtype="float64").reshape(-1).copy()
        p[:2] = 0.0
        if temperature <= 0:
            nxt = int(np.argmax(p))
        else:
            logp = np.log(np.maximum(p, 1e-300)) / temperature
            q = np.exp(logp - logp.max())
            q[:2] = 0.0
            nxt = int(rng.choice(len(q), p=q / q.sum()))
        ids.append(nxt)
        words.append(encoder.vocabulary[nxt])
    return words
