"""train: fit a Keras model with the tuned (or params.yaml) hyperparameters and log it to MLflow.

Outputs: ``models/<task>/<arch>/model.keras`` and ``reports/train/<task>/<arch>/history.csv``
(per-epoch loss and metrics, a DVC plot). Beside the model it leaves ``run.json``, the MLflow run
that evaluate, export and register attach to: local state like the MLflow store itself, so neither
git nor DVC tracks it (a run id in a tracked file would dirty the tree on every rebuild).
MLflow's Keras autolog is only tested up to Keras 3.13, so params, per-epoch metrics, tags and the
model are logged explicitly.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.io import atomic_path, read_json, write_json


def history_rows(history: dict[str, list[float]]) -> list[dict[str, float]]:
    """Keras' column-per-metric history as one row per epoch (1-based)."""
    epochs = len(next(iter(history.values()))) if history else 0
    return [{"epoch": i + 1, **{k: float(v[i]) for k, v in history.items()}} for i in range(epochs)]


def epoch_cap_warning(
    task: str, arch: str, epochs_trained: int, best_epoch: int, epochs: int, patience: int
) -> str | None:
    """A warning when the epoch cap, not early stopping, ended a model still improving.

    Early stopping ends a fit ``patience`` epochs after its best one; a fit that reached the cap
    with its best epoch within the last ``patience`` epochs was cut short, and more epochs would
    likely have helped.
    """
    if epochs_trained < epochs or best_epoch + patience <= epochs:
        return None
    return (
        f"warning: train {task}/{arch}: the epoch cap ({epochs}) ended training while val_loss was "
        f"still improving (best at epoch {best_epoch}, patience {patience}); raise "
        f"tasks.{task}.models.{arch}.epochs so that early stopping decides when to stop"
    )


def encoder_sizes(task: str) -> dict[str, str]:
    """The encoder sizes encode chose from the training split (``auto``), with how."""
    encoder_file = paths.encoded_dir(task) / "encoder.json"
    return dict(read_json(encoder_file).get("auto", {})) if encoder_file.exists() else {}


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["epoch"])
        writer.writeheader()
        writer.writerows(rows)


def _epoch_logger(epochs: int) -> Any:
    """A Keras callback logging each epoch's metrics to MLflow, and one line of them to the stage's log."""
    import mlflow

    from pipeline.modeling import models

    def log_epoch(epoch: int, seconds: float, values: dict[str, float]) -> None:
        mlflow.log_metrics(values, step=epoch + 1)
        shown = " ".join(f"{k} {v:.4f}" for k, v in values.items() if k != "learning_rate")
        print(f"epoch {epoch + 1}/{epochs}: {shown} ({seconds:.1f} s)", flush=True)

    return models.EpochClock(log_epoch)


def _record(
    task: str,
    arch: str,
    model: Any,
    history: dict[str, list[float]],
    seconds: float,
    run: Any,
    tuned: bool,
    cap: Any,
) -> tuple[list[dict[str, float]], int, str | None]:
    """Log the fit's figures to the run; save the model and its history (both logged to the run too)
    and ``run.json``. Returns the history's rows, the best epoch and the epoch-cap warning.

    ``cap``: the model params (``epochs``, ``patience``)."""
    import mlflow

    from pipeline.modeling import models

    rows = history_rows(history)
    best_epoch = min(rows, key=lambda r: r["val_loss"])["epoch"] if rows else 0
    capped = epoch_cap_warning(task, arch, len(rows), best_epoch, cap.epochs, cap.patience)
    mlflow.set_tag("stopped_by", "epoch cap" if capped else "early stopping")
    mlflow.log_metrics(
        {
            "train_seconds": seconds,
            "epochs_trained": len(rows),
            "best_epoch": best_epoch,
            "seconds_per_epoch": seconds / max(len(rows), 1),
        }
    )
    out_dir = paths.model_dir(task, arch)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_path = out_dir / "model.keras"
    models.save_reproducibly(model, keras_path)
    mlflow.log_artifact(str(keras_path), artifact_path="keras")
    write_history(paths.train_report_dir(task, arch) / "history.csv", rows)
    mlflow.log_artifact(str(paths.train_report_dir(task, arch) / "history.csv"), artifact_path="plots")
    write_json(
        out_dir / "run.json",
        {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "task": task,
            "arch": arch,
            "tuned": tuned,
            "epochs_trained": len(rows),
            "best_epoch": best_epoch,
            "stopped_by": "epoch cap" if capped else "early stopping",
        },
    )
    return rows, best_epoch, capped


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline train", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("arch")
    args = parser.parse_args(argv)
    task, arch = args.task, args.arch
    p = params()
    p.model_params(task, arch)  # unknown task/arch fails here, before TensorFlow loads

    import mlflow

    from pipeline.core import tracking
    from pipeline.encoders.dataset import load_dataset
    from pipeline.encoders.word2vec import initial_table
    from pipeline.modeling import models
    from pipeline.modeling.best_params import load_best_params, merged_model_params

    model_params = merged_model_params(task, arch)
    tuned = bool(load_best_params(task, arch))
    data = load_dataset(task)
    table = initial_table(task, arch, model_params, data.vocab_size)
    models.seed_everything(p.seed)
    model = models.build_for(arch, model_params, data, table)

    tracking.setup_experiment(task)
    with mlflow.start_run(
        run_name=f"{task}-{arch}", tags=tracking.run_tags(task, arch, stage="train")
    ) as run:
        mlflow.log_params(
            {
                **tracking.flatten("", model_params.model_dump()),
                "seed": p.seed,
                "tuned": tuned,
                "n_train": len(data.train.y),
                "n_val": len(data.val.y),
                "n_test": len(data.test.y),
                "input_shape": str(tuple(data.train.x.shape[1:])),
                "n_parameters": model.count_params(),
                **{f"encode.{k}.auto": how for k, how in encoder_sizes(task).items()},
            }
        )
        if table is not None:  # the word2vec table the Embedding started from, and how it was trained
            mlflow.log_artifact(str(paths.embedding_vectors(task, arch)), artifact_path="embedding")
            mlflow.log_artifact(str(paths.embedding_report(task, arch)), artifact_path="embedding")
        started = time.perf_counter()
        history = models.fit(model, model_params, data, callbacks=[_epoch_logger(model_params.epochs)])
        seconds = time.perf_counter() - started
        rows, best_epoch, capped = _record(
            task, arch, model, history.history, seconds, run, tuned, model_params
        )
    if capped:
        print(capped)
    print(
        f"train {task}/{arch}: {len(rows)} epochs ({seconds / max(len(rows), 1):.1f} s/epoch), "
        f"best epoch {best_epoch}, val_loss {min(r['val_loss'] for r in rows):.4f}; "
        f"MLflow run {run.info.run_id}"
    )
    return 0
