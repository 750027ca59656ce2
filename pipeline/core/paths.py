"""File layout shared by the stages, dvc.yaml, tests and docs (see docs/design.md).

Every path a stage reads or writes is built here, so dvc.yaml and the code
cannot drift apart silently.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The directory holding params.yaml: the working directory or one of its parents."""
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "params.yaml").is_file():
            return candidate
    return here


def origin_root() -> Path:
    """The user's checkout, also from inside a ``dvc exp run --temp/--queue`` copy.

    DVC runs queued and temporary experiments in copies under ``<repo>/.dvc/tmp/exps``;
    the MLflow store and the Optuna studies must still be the ones in the user's repo.
    DVC names that repo in ``DVC_ROOT`` for every stage it runs.
    """
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    root = project_root()
    parts = root.parts
    for i in range(len(parts) - 2):
        if parts[i] == ".dvc" and parts[i + 1] == "tmp" and parts[i + 2] == "exps":
            return Path(*parts[:i])
    return root


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store in the repo root as an absolute path."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{origin_root() / 'mlflow.db'}"


def artifact_root() -> Path:
    return origin_root() / "mlartifacts"


def synthetic_data(name: str) -> Path:
    return project_root() / "data" / "synthetic" / f"{name}.csv"


def synthetic_split_dir(name: str) -> Path:
    """A generated data set with its own test file: ``train.csv`` and ``test.csv`` in this folder."""
    return project_root() / "data" / "synthetic" / name


def raw_data(task: str) -> Path:
    return project_root() / "data" / "raw" / f"{task}.parquet"


def raw_meta(task: str) -> Path:
    return project_root() / "data" / "raw" / f"{task}.source.json"


def validation_dir(task: str) -> Path:
    return project_root() / "reports" / "validation" / task


def encoded_dir(task: str) -> Path:
    return project_root() / "data" / "encoded" / task


def embedding_vectors(task: str, arch: str) -> Path:
    """The ``embed`` stage's Word2Vec table for a model (an empty array when it learns its own)."""
    return project_root() / "data" / "embeddings" / task / f"{arch}.npy"


def embedding_report(task: str, arch: str) -> Path:
    return project_root() / "data" / "embeddings" / task / f"{arch}.json"


def best_params(task: str, arch: str) -> Path:
    return project_root() / "params" / "best" / task / f"{arch}.yaml"


def model_dir(task: str, arch: str) -> Path:
    return project_root() / "models" / task / arch


def train_report_dir(task: str, arch: str) -> Path:
    return project_root() / "reports" / "train" / task / arch


def eval_dir(task: str, arch: str) -> Path:
    return project_root() / "reports" / "eval" / task / arch


def test_scores(task: str, arch: str) -> Path:
    """A model's test-row scores (positive-class probability, or ``(n, classes)``) as evaluate saw them;
    ``test_labels.npy`` beside it holds the rows' labels."""
    return eval_dir(task, arch) / "test_scores.npy"


def baseline_scores_dir(task: str) -> Path:
    """``<baseline>.npy`` per baseline and ``test_labels.npy``: the same test rows as the models'."""
    return project_root() / "reports" / "eval" / task / "baselines"


def cv_report(task: str) -> Path:
    return project_root() / "reports" / "cv" / f"{task}.json"


def model_card(task: str) -> Path:
    return project_root() / "reports" / task / "model_card.md"


def metrics_file(task: str, model: str) -> Path:
    return project_root() / "metrics" / task / f"{model}.json"


def registry_report(task: str) -> Path:
    return project_root() / "reports" / "registry" / f"{task}.json"


def champion_record(task: str) -> Path:
    """Which version ``promote`` (or ``--rollback``) last made champion: a DVC dependency of
    ``score@<task>``, since an MLflow alias is not a file."""
    return project_root() / "reports" / "registry" / f"{task}.champion.json"


def scores_dir(task: str) -> Path:
    return project_root() / "scores" / task


def scoring_summary(task: str) -> Path:
    return project_root() / "reports" / "scoring" / f"{task}.json"


def optuna_storage_default(task: str) -> str:
    return f"sqlite:///{origin_root() / '.optuna' / f'{task}.db'}"
