"""Drift monitoring (issue 24): does ``python -m pipeline monitor`` find drift where there is some,
and none where there is none? Figures for the issue's note.

Runs against a checkout where ``dvc repro`` built the default tasks (read-only: the training
split, the test split and the model bundle are copied or read from there; the reports and the
MLflow store go to a temporary folder):

* churn's test split: no drift expected;
* the same rows with ``Age`` + 10 years: drift;
* the same rows with Germany's share tripled (non-German rows, drawn seeded, made German): drift;
* sentiment's test texts: no drift expected;
* the same texts with a third of their words replaced by tokens no training text has: drift.

The default tasks are trained on generated data (``pipeline/generators``), so these are figures on
that data. The model of each task is the bundle ``models/<task>/<arch>`` that the registry
report names challenger (``reports/registry/<task>.json``), or ``--arch``. ``monitor`` reads the
checkout's own params.yaml (its tasks and ``monitor:`` settings; the reference is the split
``monitor.reference`` names, validation by default, printed with its rows tested), so a checkout that
``real-data --only imdb`` pointed at IMDB checks the real reviews: ``--tasks sentiment`` where it
built only that task (``python -m pipeline repro export@sentiment-rnn``), ``--rows`` for a seeded
sample of the test split (both of a task's batches are the same rows).

    python benchmarks/drift_checks.py /work/main
    python benchmarks/drift_checks.py ../imdb --tasks sentiment --sentiment-arch rnn --rows 5000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


TASKS = ("churn", "sentiment")


def split_rows(built: Path, task: str, split: str, rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """A split's raw rows as encode recorded them; a seeded sample of ``rows`` of them when given."""
    frame = pd.read_parquet(built / "data" / "encoded" / task / "splits.parquet")
    frame = frame[frame["split"] == split].drop(columns="split")
    if 0 < rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def tripled(frame: pd.DataFrame, column: str, value: str, seed: int = 0) -> pd.DataFrame:
    """``value``'s share of ``column`` times three (capped at all rows), other rows changed."""
    out = frame.copy()
    share = float((out[column] == value).mean())
    others = out.index[out[column] != value]
    n = min(len(others), round((min(1.0, 3 * share) - share) * len(out)))
    out.loc[np.random.default_rng(seed).choice(others, n, replace=False), column] = value
    return out


def unseen_words(texts: pd.Series, share: float = 1 / 3, seed: int = 0) -> pd.Series:
    """Each text with ``share`` of its words (drawn seeded) replaced by made-up tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for i, text in enumerate(texts):
        words = str(text).split()
        for j in rng.choice(len(words), round(share * len(words)), replace=False) if words else []:
            words[j] = f"zqx{i}q{j}"
        out.append(" ".join(words))
    return pd.Series(out, index=texts.index)


def arch_of(built: Path, task: str, given: str | None) -> str:
    if given:
        return given
    report = json.loads((built / "reports" / "registry" / f"{task}.json").read_text())
    return str(report["challenger_arch"])


def monitor(work: Path, task: str, model: Path, batch: pd.DataFrame, name: str) -> dict:
    """One ``monitor`` run in ``work``: its exit status, seconds and drifted tests."""
    slug = "".join(c if c.isalnum() else "-" for c in name)
    path = work / f"{slug}.parquet"
    batch.to_parquet(path, index=False)
    out = work / "out" / slug
    env = os.environ | {"PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    argv = ["monitor", task, "--input", str(path), "--model", str(model), "--output-dir", str(out)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *argv], cwd=work, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 4):
        raise SystemExit(f"monitor failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads((out / "drift.json").read_text())
    drifted = [
        f"{t['column']} {t['measure']} (p={t['p_value']:.2g})" for t in report["tests"] if t["drifted"]
    ]
    p_values = "; ".join(f"{t['measure']} {t['p_value']:.2g}" for t in report["tests"])
    compared = int(report["batch"]["rows"])  # monitor samples a batch over monitor.sample_rows
    return {
        "case": name,
        "exit": done.returncode,
        "rows": len(batch),
        "compared": compared,
        "s": seconds,
        "drifted": drifted,
        "reference": f"{report['reference'].get('split', 'train')} {report['reference']['rows']}",
        "p_values": p_values,
    }


def data_source(built: Path, task: str) -> str:
    """Where the checkout's task data came from (ingest's record), for the printout."""
    record = built / "data" / "raw" / f"{task}.source.json"
    return str(json.loads(record.read_text())["source"]) if record.is_file() else "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("built", type=Path, help="a checkout where dvc repro built the tasks checked")
    parser.add_argument(
        "--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="the tasks to check (default: both)"
    )
    parser.add_argument("--churn-arch")
    parser.add_argument("--sentiment-arch")
    parser.add_argument(
        "--rows", type=int, default=0, help="a seeded sample of this many test rows per task (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of --rows and of the changes")
    args = parser.parse_args()
    built = args.built.resolve()
    results, models = [], []
    with tempfile.TemporaryDirectory(prefix="drift-checks-") as tmp:
        work = Path(tmp)
        shutil.copy(built / "params.yaml", work / "params.yaml")
        for task in args.tasks:
            (work / "data" / "encoded" / task).mkdir(parents=True)
            shutil.copy(
                built / "data" / "encoded" / task / "splits.parquet", work / "data" / "encoded" / task
            )
        if "churn" in args.tasks:
            churn = built / "models" / "churn" / arch_of(built, "churn", args.churn_arch)
            models.append(f"{churn.relative_to(built)} ({data_source(built, 'churn')})")
            test = split_rows(built, "churn", "test", args.rows, args.seed)
            results.append(monitor(work, "churn", churn, test, "churn test split"))
            aged = test.assign(Age=test["Age"] + 10)
            results.append(monitor(work, "churn", churn, aged, "churn Age +10"))
            germany = tripled(test, "Geography", "Germany", args.seed)
            results.append(monitor(work, "churn", churn, germany, "churn Germany x3"))
        if "sentiment" in args.tasks:
            arch = arch_of(built, "sentiment", args.sentiment_arch)
            sentiment = built / "models" / "sentiment" / arch
            models.append(f"{sentiment.relative_to(built)} ({data_source(built, 'sentiment')})")
            texts = split_rows(built, "sentiment", "test", args.rows, args.seed)
            results.append(monitor(work, "sentiment", sentiment, texts, "sentiment test split"))
            replaced = texts.assign(text=unseen_words(texts["text"], seed=args.seed))
            results.append(monitor(work, "sentiment", sentiment, replaced, "sentiment 1/3 words unseen"))
    print(f"models: {', '.join(models)}, from {built}")
    print(f"{'case':<28} {'rows':>6} {'tested':>6} {'reference':>10} {'exit':>4} {'s':>5}  drifted tests")
    for r in results:
        print(
            f"{r['case']:<28} {r['rows']:>6} {r['compared']:>6} {r['reference']:>10} {r['exit']:>4} "
            f"{r['s']:>5.1f}  {'; '.join(r['drifted']) or '-'}"
        )
    print("every test's p-value:")
    for r in results:
        print(f"  {r['case']}: {r['p_values']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
