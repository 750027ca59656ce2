"""Length bucketing: training batches of texts of similar length, each cut to its bucket's length.

The text encoder pads on the left with token 0 (``padding: pre``), so a row of ``T`` columns holds
``T - n`` padding steps before its ``n`` tokens. Rows are put in ``buckets`` by that length (the
bounds are quantiles of the training lengths, rounded up to a multiple of :data:`ROUND_TO`, so a
compiled step meets few shapes); each epoch shuffles the rows within each bucket with a seeded
generator, cuts them into batches, carries a bucket's last partial batch into the next bucket up
(cut to the larger length), and shuffles the order of the batches. A batch keeps only its bucket's
last ``bound`` columns, ``x[:, -bound:]``: every row in it has at least ``T - bound`` leading
padding steps, so only padding is dropped and a recurrent layer runs ``bound`` steps, not ``T``.

What this changes, and what it does not: the models do not mask the padding (the recurrent layers
read token 0 like any token, as the exported ONNX graph does), so a row trained in a bucket is read
after fewer padding steps than at inference. The model the training returns is the same function of
the full padded row as ever: validation (and so early stopping), evaluation, the export and its
parity check all read the full ``T`` columns, and the ONNX graph's padding skip is exact for it. The
weights it learns differ from the unbucketed run's, as any change of batch order makes them differ.

A row's length counts from its first non-zero column; data padded on the right (``padding: post``)
has none to drop, saves nothing, and keeps the plain batches (:func:`plan_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ROUND_TO = 8  # bucket bounds are multiples of this (or the full length)


def text_lengths(x: np.ndarray) -> np.ndarray:
    """Per row, the columns from its first non-zero token to the end (0 for an all-padding row)."""
    tokens = np.asarray(x) != 0
    first = np.where(tokens.any(axis=1), tokens.argmax(axis=1), x.shape[1])
    return (x.shape[1] - first).astype(np.int64)


def bucket_bounds(lengths: np.ndarray, buckets: int, steps: int) -> np.ndarray:
    """Increasing bucket lengths: the ``i / buckets`` quantiles of ``lengths`` rounded up to a multiple
    of :data:`ROUND_TO` (at most ``steps``), the last one the longest row's."""
    qs = np.quantile(lengths, np.arange(1, buckets + 1) / buckets, method="higher")
    bounds = np.minimum(-(-np.maximum(qs, 1) // ROUND_TO) * ROUND_TO, steps)
    return np.unique(bounds.astype(np.int64))


@dataclass(frozen=True)
class Plan:
    """Which bucket each training row falls in, and what the buckets cost against full rows."""

    bounds: np.ndarray  # the bucket lengths, increasing
    bucket: np.ndarray  # per row, its index into bounds
    batch_size: int
    steps: int  # the padded length T

    @property
    def saving(self) -> float:
        """The share of the recurrent steps a full epoch skips (ignoring the carried batches)."""
        counts = np.bincount(self.bucket, minlength=len(self.bounds))
        return 1.0 - float(counts @ self.bounds) / max(1, len(self.bucket) * self.steps)

    @property
    def batches(self) -> int:
        """Batches per epoch: partial ones are carried up, so only the last may be short."""
        return -(-len(self.bucket) // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
        """One epoch's batches in training order: (row indices, columns kept)."""
        batches: list[tuple[np.ndarray, int]] = []
        carried = np.empty(0, dtype=np.int64)
        for b, bound in enumerate(self.bounds):
            rows = np.concatenate([carried, rng.permutation(np.flatnonzero(self.bucket == b))])
            whole = len(rows) - len(rows) % self.batch_size
            batches += [(rows[i : i + self.batch_size], int(bound)) for i in range(0, whole, self.batch_size)]
            carried = rows[whole:]
        if len(carried):
            batches.append((carried, int(self.bounds[-1])))
        return [batches[i] for i in rng.permutation(len(batches))]


def plan_for(x: np.ndarray, batch_size: int, buckets: int, min_saving: float) -> Plan | None:
    """The plan for token rows ``x`` ([n, T] integers), or ``None`` when it would skip less than
    ``min_saving`` of the steps (then the plain shuffled batches are as fast)."""
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer) or len(x) == 0:
        return None
    lengths = text_lengths(x)
    bounds = bucket_bounds(lengths, buckets, x.shape[1])
    plan = Plan(bounds, np.searchsorted(bounds, lengths, side="left"), batch_size, x.shape[1])
    return plan if plan.saving >= min_saving else None


def bucketed_dataset(plan: Plan, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, seed: int) -> Any:
    """A ``tf.data.Dataset`` of ``(x, y[, sample_weight])`` batches; each pass over it (an epoch) is
    the next epoch of ``plan`` drawn from ``np.random.default_rng([seed, epoch])``: seeded, and the
    same sequence of batches for the same seed."""
    import tensorflow as tf

    passes = iter(range(1 << 62))

    def batches() -> Any:
        rng = np.random.default_rng([seed, next(passes)])
        for rows, bound in plan.epoch(rng):
            cut = x[rows, -bound:]
            yield (cut, y[rows]) if weights is None else (cut, y[rows], weights[rows])

    spec = [tf.TensorSpec((None, None), x.dtype), tf.TensorSpec((None, *y.shape[1:]), y.dtype)]
    if weights is not None:
        spec.append(tf.TensorSpec((None,), weights.dtype))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=tuple(spec))
    return dataset.apply(tf.data.experimental.assert_cardinality(plan.batches)).prefetch(2)


def sample_weights(class_weight: dict[int, float] | None, y: np.ndarray) -> np.ndarray | None:
    """Keras' ``class_weight`` as one weight per row (a bucketed dataset carries them per batch)."""
    if class_weight is None:
        return None
    table = np.array([class_weight[c] for c in range(max(class_weight) + 1)], dtype=np.float32)
    return table[np.asarray(y).reshape(len(y), -1)[:, 0].astype(np.int64)]
