"""What a training epoch of the text models costs: compiled steps (``jit_compile``) and length bucketing.

Trains each recurrent architecture on ``--rows`` IMDB-like rows, left-padded to ``--steps`` tokens
as the encoder writes them: review lengths drawn from a log-normal with IMDB's median (about 174
words) and spread, the longest cut to ``--steps`` (``truncation: pre``), random token ids. For every
architecture x ``jit_compile`` off/on x bucketing off/on it times ``--epochs`` epochs through
``pipeline.modeling.models.fit`` (the path train, tune and cv use) and prints the first epoch
(tracing and, with XLA, compiling every bucket's shape) and the fastest of the later ones (steady
state; the fastest, because a job sharing the cores only ever slows an epoch down) in seconds and
rows per second, with the share of recurrent steps the buckets skip. The model is
``params/real/imdb.yaml``'s LSTM size: embedding 128, 64 units, max pooling; batch 64.

    python benchmarks/train_steps.py [--rows 2000] [--steps 300] [--epochs 2] [--archs rnn,lstm,gru]

``jit_compile`` on needs TensorFlow's op determinism off (Keras falls back to uncompiled steps
while it is on, and the pipeline turns it on for reproducible runs): this script turns it off for
those fits only.

Figures are wall-clock on whatever else the cores are running: compare rows of one run only.
"""

from __future__ import annotations

import argparse

import numpy as np

from pipeline.core.config import BucketingConfig, RecurrentParams
from pipeline.encoders.dataset import Dataset, Split

VOCAB = 10_000


def imdb_like(rows: int, steps: int, seed: int = 0) -> Dataset:
    """Left-padded token rows with IMDB-like lengths, and random 0/1 labels (the cost, not the skill)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(174), 0.65, rows).astype(int), 10, steps)
    x = np.zeros((rows, steps), "int32")
    for i, n in enumerate(lengths):
        x[i, -n:] = rng.integers(2, VOCAB, n)
    y = rng.integers(0, 2, rows).astype("float32")
    val = max(1, rows // 10)
    return Dataset(Split(x, y), Split(x[:val], y[:val]), Split(x[:val], y[:val]), vocab_size=VOCAB)


def epoch_times(arch: str, params: RecurrentParams, data: Dataset, jit: bool) -> list[float]:
    """Seconds per epoch (validation included) of one seeded fit."""
    from tensorflow.python.framework import config as tf_config

    from pipeline.modeling import models

    models.seed_everything(0)
    if jit:  # Keras refuses XLA while op determinism is on (seed_everything's): off for this fit only
        tf_config.disable_op_determinism()
    try:
        model = models.build_for(arch, params, data)
        model.jit_compile = jit
        clock = models.EpochClock()
        models.fit(model, params, data, callbacks=[clock])
    finally:
        tf_config.enable_op_determinism()
    return [epoch["seconds"] for epoch in clock.epochs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--archs", default="rnn,lstm,gru")
    parser.add_argument("--jit", default="off,on", help="off, on or off,on")
    args = parser.parse_args()
    data = imdb_like(args.rows, args.steps)
    from pipeline.modeling.buckets import plan_for

    plan = plan_for(data.train.x, 64, BucketingConfig().buckets, 0.0)
    skipped = plan.saving if plan else 0.0
    print(f"{args.rows} rows of {args.steps} steps, {args.epochs} epochs; buckets skip {skipped:.0%}")
    print(f"{'arch':<5} {'jit':<4} {'buckets':<8} {'first epoch s (rows/s)':>22} {'fastest later':>18}")
    for arch in args.archs.split(","):
        for jit in args.jit.split(","):
            for bucketing in (False, True):
                params = RecurrentParams(
                    embedding_dim=128,
                    units=64,
                    pooling="max",
                    batch_size=64,
                    epochs=args.epochs,
                    patience=args.epochs,
                    bucketing=BucketingConfig(enabled=bucketing),
                )
                times = epoch_times(arch, params, data, jit == "on")
                cells = [f"{t:7.2f} ({args.rows / t:6.0f})" for t in (times[0], min(times[1:] or times))]
                print(
                    f"{arch:<5} {jit:<4} {'on' if bucketing else 'off':<8} {cells[0]:>22} {cells[1]:>18}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
