"""Batch scoring at scale (issue 24): rows per second and peak memory of ``python -m pipeline score``.

Builds two Parquet files by resampling (seeded) real rows, then scores each with the model a
``dvc repro`` left in ``models/``, in a child process whose peak resident memory is read from the
kernel (``ru_maxrss``) after it exits:

* ``churn``: 1,000,000 customers drawn from ``Churn_Modelling.csv``;
* ``sentiment``: 200,000 IMDB reviews drawn from ``aclImdb_v1_labeled.tar.gz`` (their own length).

Beside each figure it prints the same ONNX session's batch-256 rows/s that ``bench`` measured
(``reports/bench.json``), which streaming should come within 20% of.

    python benchmarks/batch_scoring.py ../shared/data [--rows 1000000] [--reviews 200000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def churn_file(data: Path, rows: int, out: Path) -> Path:
    table = pd.read_csv(data / "Churn_Modelling.csv")
    picked = table.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    picked["CustomerId"] = np.arange(rows)  # an id a user would join the scores back on
    path = out / "customers.parquet"
    picked.to_parquet(path, index=False)
    return path


def reviews_file(data: Path, rows: int, out: Path) -> Path:
    texts = []
    with tarfile.open(data / "aclImdb_v1_labeled.tar.gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".txt"):
                texts.append(archive.extractfile(member).read().decode("utf-8"))  # type: ignore[union-attr]
    picked = np.random.default_rng(0).choice(len(texts), rows)
    path = out / "reviews.parquet"
    pd.DataFrame({"id": np.arange(rows), "text": [texts[i] for i in picked]}).to_parquet(path, index=False)
    return path


# A wrapper whose only child is the scoring process: its RUSAGE_CHILDREN peak is that process's.
PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def score(task: str, model: str, source: Path, out: Path) -> dict[str, float]:
    output = out / f"{task}.parquet"
    command = [sys.executable, "-m", "pipeline", "score", task, "--model", model, "--input", str(source)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *command, "--output", str(output), "--quiet"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    rows = pq.ParquetFile(output).metadata.num_rows
    peak_kib = int(done.stdout.split()[-1])  # ru_maxrss is in KiB on Linux
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_mib": peak_kib / 1024}


def bench_figure(model: str) -> float | None:
    path = REPO / "reports" / "bench.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())  # bench.json: one object per backend x batch
    found = [
        r["rows_per_s"]
        for r in rows
        if r["model"] == model and r["backend"] == "onnxruntime" and r["batch"] == 256
    ]
    return found[0] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "data", type=Path, help="the folder of Churn_Modelling.csv and aclImdb_v1_labeled.tar.gz"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reviews", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        runs = [
            ("churn", "churn/ann", churn_file(args.data, args.rows, out)),
            ("sentiment", "sentiment/lstm", reviews_file(args.data, args.reviews, out)),
        ]
        for task, model, source in runs:
            size = source.stat().st_size / 2**20
            figures = score(task, str(REPO / "models" / model), source, out)
            reference = bench_figure(model)
            versus = f"; bench's batch 256: {reference:,.0f} rows/s" if reference else ""
            print(
                f"{model}: {figures['rows']:,} rows ({size:,.0f} MiB Parquet) in {figures['seconds']:.1f} s, "
                f"{figures['rows_per_s']:,.0f} rows/s, peak RSS {figures['peak_mib']:,.0f} MiB{versus}"
            )


if __name__ == "__main__":
    main()
