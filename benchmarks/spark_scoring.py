"""Scoring on Spark (issue 24): ``python -m pipeline spark`` on ``local[2]`` beside ``score``.

Builds the 1,000,000-customer Parquet file of ``batch_scoring.py`` (seeded draws from
``Churn_Modelling.csv``), then scores it twice with the same registered version, each in its own
process: ``score`` (one process, ONNX Runtime, chunks of 8,192 rows) and ``spark`` (a local[2]
Spark session, the registered pyfunc in each Python worker through ``mlflow.pyfunc.spark_udf``).
Prints both wall times and checks that the answers agree row for row (by ``CustomerId``).

The registry is a copy: ``mlflow.db`` and ``mlartifacts/`` of ``--project`` (default: this
checkout) go to a temporary folder and the copy's artifact locations are pointed there, so the
project's own store is only read.

    python benchmarks/spark_scoring.py ../shared/data [--project ../main] [--model challenger]
        [--rows 1000000] [--master local[2]] [--partitions 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from batch_scoring import REPO, churn_file, score


def copy_registry(project: Path, into: Path) -> str:
    """``project``'s MLflow store copied into ``into``, its absolute artifact paths rewritten to the
    copy's; the tracking URI of the copy."""
    shutil.copy(project / "mlflow.db", into / "mlflow.db")
    shutil.copytree(project / "mlartifacts", into / "mlartifacts")
    old, new = str((project / "mlartifacts").resolve()), str(into / "mlartifacts")
    with sqlite3.connect(into / "mlflow.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    db.execute(
                        f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?) '
                        f'WHERE "{column[1]}" LIKE ?',
                        (old, new, f"%{old}%"),
                    )
    return f"sqlite:///{into / 'mlflow.db'}"


def spark(model: str, source: Path, output: Path, master: str, partitions: int) -> float:
    command = [sys.executable, "-m", "pipeline", "spark", "churn", "--model", model, "--master", master]
    command += ["--input", str(source), "--output", str(output), "--partitions", str(partitions)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"spark failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def agreement(streamed: Path, on_spark: Path) -> str:
    left = pd.read_parquet(streamed).sort_values("CustomerId").reset_index(drop=True)
    right = pd.read_parquet(on_spark).sort_values("CustomerId").reset_index(drop=True)
    assert left["CustomerId"].tolist() == right["CustomerId"].tolist(), "not the same rows"
    diff = float(np.max(np.abs(left["probability"].to_numpy() - right["probability"].to_numpy())))
    same_class = bool((left["prediction"].astype(int) == right["prediction"].astype(int)).all())
    same_name = bool((left["class_name"] == right["class_name"]).all())
    return (
        f"{len(left):,} rows each; max |probability difference| {diff:.2e}; "
        f"same predictions: {same_class}; same class names: {same_name}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="the folder of Churn_Modelling.csv")
    parser.add_argument("--project", type=Path, default=REPO, help="whose mlflow.db and mlartifacts/")
    parser.add_argument("--model", default="challenger", help="champion, challenger or a version")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=4, help="the input's partitions on Spark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        os.environ["MLFLOW_TRACKING_URI"] = copy_registry(args.project.resolve(), out)
        import mlflow

        client = mlflow.MlflowClient()
        version = (
            args.model
            if args.model.isdigit()
            else client.get_model_version_by_alias("churn", args.model).version
        )
        uri = f"models:/churn/{version}"
        source = churn_file(args.data, args.rows, out)
        size = source.stat().st_size / 2**20
        print(f"churn version {version} ({args.model}); {args.rows:,} rows, {size:,.0f} MiB Parquet")
        streamed = score("churn", uri, source, out)
        print(
            f"score: {streamed['seconds']:.1f} s, {streamed['rows_per_s']:,.0f} rows/s, "
            f"peak RSS {streamed['peak_mib']:,.0f} MiB"
        )
        seconds = spark(str(version), source, out / "spark.parquet", args.master, args.partitions)
        print(
            f"spark ({args.master}, {args.partitions} partitions): {seconds:.1f} s, "
            f"{args.rows / seconds:,.0f} rows/s (JVM start and model load included)"
        )
        print(f"answers: {agreement(out / 'churn.parquet', out / 'spark.parquet')}")


if __name__ == "__main__":
    main()
