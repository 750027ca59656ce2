"""MLflow set-up shared by the stages: tracking URI, experiments, run tags.

One experiment per task; its artifacts live in ``mlartifacts/`` next to ``mlflow.db`` in the
user's checkout (also when DVC runs the stage in a temporary copy), so every run and registered
model stays readable after ``dvc exp run --temp``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.core import paths

# The folder of a model's run that register logs the test rows' scores and labels to (promote reads it).
EVAL_ARTIFACTS = "eval"
EXPERIMENT_KIND_TAG, CUSTOM_MODEL_KIND = "mlflow.experimentKind", "custom_model_development"


def mlflow_client() -> Any:
    import mlflow

    mlflow.set_tracking_uri(paths.tracking_uri())
    return mlflow.MlflowClient()


@contextmanager
def sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise MLflow store set-up between processes sharing one SQLite file.

    MLflow migrates a fresh SQLite store when it first opens it; two processes doing that at once
    (tuning workers, or tasks built side by side by ``python -m pipeline repro``) leave it
    half-migrated and unusable. An exclusive ``flock`` on the folder holding the file (no lock file
    is left behind) makes the second one wait. Other stores need no lock.
    """
    if not uri.startswith("sqlite:///") or os.name != "posix":
        yield
        return
    import fcntl

    folder = Path(uri[len("sqlite:///") :]).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def setup_experiment(task: str) -> str:
    """Point MLflow at the store and make ``task`` the active experiment; return its id.

    A SQLite store is opened (and, the first time, created) under ``sqlite_init_lock``.
    """
    with sqlite_init_lock(paths.tracking_uri()):
        return _setup_experiment(task)


def _setup_experiment(task: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(paths.tracking_uri())
    experiment = mlflow.get_experiment_by_name(task)
    if experiment is None:
        location = None
        if paths.tracking_uri().startswith("sqlite:"):
            location = (paths.artifact_root() / task).as_uri()
        experiment_id = mlflow.create_experiment(task, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    if experiment is None or experiment.tags.get(EXPERIMENT_KIND_TAG) != CUSTOM_MODEL_KIND:
        # Says what the experiment is. MLflow's UI opens an experiment by this tag only where its
        # GenAI | Model training switch is off; 3.17 shows the switch and goes by it (GenAI in a
        # fresh browser), so `python -m pipeline ui` prints links with workflowType=machine_learning.
        mlflow.MlflowClient().set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, CUSTOM_MODEL_KIND)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=paths.project_root()
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# What a run is made from: a change here that is not committed makes the commit tag a half-truth.
# (The stages' own outputs, the dvc.lock files and the data are left out: DVC rewrites them during
# the run.) Git pathspecs: dvc.yaml and dag/*/dvc.yaml define the stages (dag/README.md).
SOURCE_PATHS = ("pipeline", "params.yaml", "dvc.yaml", "dag/*/dvc.yaml", "pyproject.toml")


def git_dirty() -> str:
    """ "true" when code, params or the pipeline differ from the commit, "false", or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
            capture_output=True,
            text=True,
            check=True,
            cwd=paths.project_root(),
        )
        return "true" if out.stdout.strip() else "false"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_tags(task: str, arch: str | None = None, **extra: str) -> dict[str, str]:
    """Tags on every run: git commit (and whether the tree differed from it), task, architecture
    and, under ``dvc exp run``, the experiment."""
    tags = {"git_commit": git_commit(), "git_dirty": git_dirty(), "task": task, **extra}
    if arch:
        tags["arch"] = arch
    exp_name = os.environ.get("DVC_EXP_NAME")
    if exp_name:
        tags["dvc_experiment"] = exp_name
    return tags


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested params as MLflow's flat ``a.b.c`` keys; lists as their string form."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value if isinstance(value, (int, float, str, bool)) else str(value)}
