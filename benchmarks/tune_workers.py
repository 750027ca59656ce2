"""Tuning workers on PostgreSQL against one worker on SQLite, for the same trial budget, in one run.

In a temporary project (a copy of params.yaml, the churn data generated, ingested and encoded
there), starts the local stack (``python -m pipeline services up``), then times:

- 1 ``python -m pipeline tune churn ann`` worker on a SQLite study file;
- ``--workers`` such processes started together on one study in the stack's PostgreSQL.

Both run the same study (same space, seed and data) to ``--trials`` finished trials, with
``--epochs-per-trial`` epochs each, and log to one MLflow SQLite file in the temporary project, so
only the Optuna storage and the number of processes differ. Prints the wall time of each, the
trials each finished and the best value. On a machine with fewer free cores than workers the
workers share the CPU: the figure says what the storage allows, not a cluster's speed-up.

    python benchmarks/tune_workers.py                    # 3 workers, 6 trials of 5 epochs
    python benchmarks/tune_workers.py --workers 2 --trials 8

Needs the ``services`` extras and PostgreSQL (see README, "Beyond one machine"). Leaves nothing
running and deletes its temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def tune_workers(n: int, storage: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds for ``n`` workers started together on ``storage``, and what the study holds."""
    import optuna

    cmd = [sys.executable, "-m", "pipeline", "tune", "churn", "ann", "--storage", storage]
    started = time.perf_counter()
    workers = [
        subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(n)
    ]
    outputs = [w.communicate()[0] for w in workers]
    seconds = time.perf_counter() - started
    for worker, output in zip(workers, outputs, strict=True):
        if worker.returncode != 0:
            sys.exit(f"a worker exited {worker.returncode}:\n{output[-3000:]}")
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    return (
        seconds,
        f"{len(states)} trials ({counts}); best {study.best_value:.4f} (trial {study.best_trial.number})",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6, help="the study's trial budget (n_trials)")
    parser.add_argument("--epochs-per-trial", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="tune-workers-"))
    folder.chmod(0o755)  # the stack's PostgreSQL runs as the postgres user when we are root
    project, services = folder / "project", folder / "stack"
    project.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tune = params["tasks"]["churn"]["tune"]["ann"]
    tune.update(n_trials=args.trials, epochs_per_trial=args.epochs_per_trial, timeout_s=None)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    env.update(
        PYTHONPATH=str(ROOT),
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        TF_CPP_MIN_LOG_LEVEL="3",
        GX_ANALYTICS_ENABLED="false",
    )
    try:
        for stage in ("synthesize", "ingest", "encode"):
            run([sys.executable, "-m", "pipeline", stage, "churn"], project, env)
        up = run([sys.executable, "-m", "pipeline", "services", "up", "--dir", str(services)], ROOT, env)
        postgres = next(
            line.split("=", 1)[1] for line in up.splitlines() if line.startswith("export OPTUNA_STORAGE=")
        )
        print(
            f"churn/ann: a study of {args.trials} trials x {args.epochs_per_trial} epochs; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        sqlite_s, sqlite_line = tune_workers(1, f"sqlite:///{project / 'study.db'}", project, env)
        print(f"1 worker,  SQLite:     {sqlite_s:6.1f} s   {sqlite_line}")
        pg_s, pg_line = tune_workers(args.workers, postgres, project, env)
        print(f"{args.workers} workers, PostgreSQL: {pg_s:6.1f} s   {pg_line}")
        print(f"speed-up: {sqlite_s / pg_s:.2f}x")
    finally:
        subprocess.run(
            [sys.executable, "-m", "pipeline", "services", "down", "--dir", str(services)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
