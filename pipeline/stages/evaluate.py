"""evaluate: validation and test metrics, curves and figures for a trained Keras model.

Outputs in ``reports/eval/<task>/<arch>/``: ``metrics.json`` (``{"val": {...}, "test": {...}}``),
``roc.csv``, ``pr.csv`` and ``confusion.csv`` (DVC plots) and ``figures/*.png``, which are also
logged to the model's MLflow run together with the metrics. The export stage adds the ONNX parity
and publishes the result as ``metrics/<task>/<arch>.json``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.errors import ModelError
from pipeline.core.io import atomic_path, read_json, write_json
from pipeline.core.metrics import binary_metrics, confusion, pr_points, prefixed, roc_points


def evaluation(
    y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray
) -> dict[str, Any]:
    """Pure core: the metrics document for one model."""
    return {
        "val": binary_metrics(y_val, p_val),
        "test": binary_metrics(y_test, p_test),
        "test_confusion_matrix": confusion(y_test, p_test),
        "threshold": 0.5,
        "n": {"val": len(y_val), "test": len(y_test)},
    }


def write_csv(path: Path, columns: dict[str, list[Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))


def confusion_rows(y_true: np.ndarray, probability: np.ndarray) -> dict[str, list[int]]:
    """One row per test example (actual, predicted): the layout of DVC's confusion template."""
    return {
        "actual": np.asarray(y_true).astype(int).tolist(),
        "predicted": (np.asarray(probability) >= 0.5).astype(int).tolist(),
    }


def save_figures(out_dir: Path, title: str, y: np.ndarray, p: np.ndarray, history_csv: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    roc, pr = roc_points(y, p), pr_points(y, p)
    m = binary_metrics(y, p)

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(roc["fpr"], roc["tpr"], label=f"ROC AUC {m['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC (test)")
    ax.legend(loc="lower right")
    files.append(out_dir / "roc.png")

    fig2, ax2 = plt.subplots(figsize=(4.5, 4))
    ax2.plot(pr["recall"], pr["precision"], label=f"PR AUC {m['pr_auc']:.3f}")
    ax2.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall (test)")
    ax2.legend(loc="lower left")
    files.append(out_dir / "pr.png")

    fig3, ax3 = plt.subplots(figsize=(4, 3.6))
    cm = np.array(confusion(y, p))
    ax3.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax3.text(j, i, str(v), ha="center", va="center", color="black")
    ax3.set(
        xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=f"{title}: confusion (test)"
    )
    files.append(out_dir / "confusion.png")

    figs = [fig, fig2, fig3]
    if history_csv.exists():
        hist = pd.read_csv(history_csv)
        fig4, (a, b) = plt.subplots(1, 2, figsize=(8, 3.5))
        for col in ("loss", "val_loss"):
            if col in hist:
                a.plot(hist["epoch"], hist[col], label=col)
        for col in ("accuracy", "val_accuracy"):
            if col in hist:
                b.plot(hist["epoch"], hist[col], label=col)
        a.set(xlabel="epoch", title="loss")
        b.set(xlabel="epoch", title="accuracy")
        a.legend()
        b.legend()
        files.append(out_dir / "training_curves.png")
        figs.append(fig4)
    for f, path in zip(figs, files, strict=True):
        f.tight_layout()
        f.savefig(path, dpi=90)
        plt.close(f)
    return files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline evaluate", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("arch")
    args = parser.parse_args(argv)
    task, arch = args.task, args.arch
    params().model_params(task, arch)
    model_path = paths.model_dir(task, arch) / "model.keras"
    if not model_path.exists():
        raise ModelError(f"{model_path}: not found; run 'dvc repro train@{task}-{arch}' first")

    import keras
    import mlflow

    from pipeline.core import tracking
    from pipeline.encoders.dataset import load_dataset
    from pipeline.modeling.models import predict_proba

    data = load_dataset(task)
    model = keras.saving.load_model(model_path, compile=False)
    p_val, p_test = predict_proba(model, data.val.x), predict_proba(model, data.test.x)
    result = evaluation(data.val.y, p_val, data.test.y, p_test)

    out = paths.eval_dir(task, arch)
    write_csv(out / "roc.csv", roc_points(data.test.y, p_test))
    write_csv(out / "pr.csv", pr_points(data.test.y, p_test))
    write_csv(out / "confusion.csv", confusion_rows(data.test.y, p_test))
    figures = save_figures(
        out / "figures",
        f"{task}/{arch}",
        data.test.y,
        p_test,
        paths.train_report_dir(task, arch) / "history.csv",
    )
    write_json(out / "metrics.json", result)

    run_file = paths.model_dir(task, arch) / "run.json"
    if run_file.exists():
        tracking.setup_experiment(task)
        with mlflow.start_run(run_id=read_json(run_file)["run_id"]):
            mlflow.log_metrics({**prefixed("val", result["val"]), **prefixed("test", result["test"])})
            for figure in figures:
                mlflow.log_artifact(str(figure), artifact_path="figures")
    t = result["test"]
    print(
        f"evaluate {task}/{arch}: test accuracy {t['accuracy']:.4f}, ROC AUC {t['roc_auc']:.4f}, "
        f"F1 {t['f1']:.4f}; val ROC AUC {result['val']['roc_auc']:.4f}"
    )
    return 0
