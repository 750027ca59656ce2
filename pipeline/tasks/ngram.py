"""Count-based next-word baselines over token ids: interpolated Kneser-Ney and a unigram model.

Both give a full distribution over the vocabulary for each context, so perplexity, top-1 and top-5
are computed exactly as for the neural models. The Kneser-Ney model follows ``nltk.lm``'s
``KneserNeyInterpolated`` (tests/test_language_model.py checks it agrees on a small corpus), with one
fix: a lower order's share counts the distinct words of its continuation table, as Kneser-Ney
defines it, where nltk counts those of the raw n-grams; the two differ only for a context holding
the text's first token, where nltk's probabilities then sum to more than 1. It also
scores a whole context's distribution at once with NumPy: nltk scores one word at a time, which
for top-5 over a few thousand words and test windows takes hours instead of seconds.

For the highest order the counts are the n-grams' own; lower orders use continuation counts (how
many distinct words precede the n-gram), so a word that follows many contexts gets more weight
than one frequent in a single phrase. Each order keeps ``max(count - discount, 0) / total`` and
gives ``discount * distinct followers / total`` to the next lower order; the unigram level is the
share of bigram types that end in the word. A context never seen falls back to the lower order.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np


class KneserNey:
    """Interpolated Kneser-Ney of order ``order`` over ids ``0 .. vocab_size - 1``."""

    def __init__(self, tokens: np.ndarray, vocab_size: int, order: int = 3, discount: float = 0.75) -> None:
        self.order, self.discount, self.vocab_size = order, discount, vocab_size
        seq = [int(t) for t in tokens]
        # raw counts per context (tuple of the previous k ids) -> Counter of next ids, k = 0 .. order - 1
        self.counts: list[dict[tuple[int, ...], Counter[int]]] = [defaultdict(Counter) for _ in range(order)]
        for n in range(1, order + 1):
            for i in range(len(seq) - n + 1):
                gram = tuple(seq[i : i + n])
                self.counts[n - 1][gram[:-1]][gram[-1]] += 1
        # continuation counts for context k (k < order - 1): word w after context c counts the
        # distinct ids preceding c + (w,); totals: the distinct (prefix, c, w) per context c
        self.continuation: list[dict[tuple[int, ...], Counter[int]]] = [
            defaultdict(Counter) for _ in range(order - 1)
        ]
        for k in range(order - 1):
            for context, followers in self.counts[k + 1].items():
                for word in followers:
                    self.continuation[k][context[1:]][word] += 1
        unigram = np.zeros(vocab_size, dtype="float64")
        for word, n in self.continuation[0][()].items():
            unigram[word] = n
        total = unigram.sum()
        self.unigram = unigram / total if total else np.full(vocab_size, 1.0 / vocab_size)

    def distribution(self, context: tuple[int, ...]) -> np.ndarray:
        """P(next id | the last ``order - 1`` ids of ``context``) for every id."""
        context = tuple(int(c) for c in context[len(context) - (self.order - 1) :])
        p = self.unigram
        for k in range(1, len(context) + 1):
            p = self._level(context[len(context) - k :], p)
        return p

    def _level(self, context: tuple[int, ...], lower: np.ndarray) -> np.ndarray:
        k = len(context)
        seen = self.counts[k].get(context)
        if not seen:
            return lower
        table = seen if k == self.order - 1 else self.continuation[k].get(context, Counter())
        total = sum(table.values())
        if total == 0:
            return lower
        words = np.fromiter(table.keys(), dtype="int64", count=len(table))
        counts = np.fromiter(table.values(), dtype="float64", count=len(table))
        gamma = self.discount * len(table) / total
        p = gamma * lower
        p[words] += np.maximum(counts - self.discount, 0.0) / total
        return p

    def probabilities(self, contexts: np.ndarray) -> np.ndarray:
        """``(n, vocab_size)``: one distribution per row of ``contexts`` (the previous ids, oldest first)."""
        width = self.order - 1
        rows = np.asarray(contexts)[:, -width:]
        out = np.empty((len(rows), self.vocab_size), dtype="float64")
        cache: dict[tuple[int, ...], np.ndarray] = {}
        for i, row in enumerate(rows):
            key = tuple(int(c) for c in row)
            if key not in cache:
                cache[key] = self.distribution(key)
            out[i] = cache[key]
        return out


def unigram_probabilities(tokens: np.ndarray, vocab_size: int, n_rows: int) -> np.ndarray:
    """Add-one unigram frequencies of the training ids (padding, id 0, excluded), the same for every row."""
    counts = np.bincount(np.asarray(tokens, dtype="int64"), minlength=vocab_size).astype("float64") + 1.0
    counts[0] = 0.0
    return np.broadcast_to(counts / counts.sum(), (n_rows, vocab_size))
