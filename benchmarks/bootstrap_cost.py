"""What the test-metric intervals cost per model: ``python benchmarks/bootstrap_cost.py``.

Times ``pipeline.core.bootstrap.intervals`` (every test metric, ``evaluate.bootstrap_resamples``
resamples) and one paired difference on random scores of the default data's test sizes and of the
real data sets', median of 3 runs after a warm-up. The scores are random: the cost depends on the
number of rows and classes only.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from pipeline.core import bootstrap

# (name, test rows, classes): the default tasks' 15% test splits and the real data's test sets
SIZES = [
    ("churn default / real (1,500 rows)", 1500, 2),
    ("sentiment default (900 rows)", 900, 2),
    ("topics default (450 rows, 8 classes)", 450, 8),
    ("IMDB (25,000 rows)", 25_000, 2),
    ("R52 (2,568 rows, 52 classes)", 2568, 52),
]


def scores(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, k, n)
    if k == 2:
        return y, rng.random(n).astype("float32")
    p = rng.random((n, k)).astype("float32")
    return y, p / p.sum(axis=1, keepdims=True)


def median_seconds(run, repeats: int = 3) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    resamples, level = 1000, 0.95
    print(f"{resamples} resamples, every test metric; median of 3 runs")
    for name, n, k in SIZES:
        y, p = scores(n, k, rng)
        _, q = scores(n, k, rng)
        metric = "roc_auc" if k == 2 else "f1_macro"
        one = median_seconds(
            lambda y=y, p=p, k=k: bootstrap.intervals(y, p, k, resamples=resamples, level=level, seed=1)
        )
        paired = median_seconds(
            lambda y=y, p=p, q=q, k=k, m=metric: bootstrap.paired_difference(
                y, p, q, k, m, resamples=resamples, level=level, seed=1
            )
        )
        print(f"{name:<40} intervals {one:6.2f} s   paired difference {paired:6.2f} s")


if __name__ == "__main__":
    main()
