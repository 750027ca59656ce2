"""evaluate: validation and test metrics, curves and figures for a trained Keras model.

Outputs in ``reports/eval/<task>/<arch>/``: ``metrics.json`` (``{"val": {...}, "test": {...}}``:
binary or multi-class metrics, see ``pipeline.core.metrics``; every test metric has its seeded
bootstrap interval beside it as ``<metric>_ci``), ``test_scores.npy`` and ``test_labels.npy``
(the test rows' scores and labels, for the paired comparisons of compare and promote),
``per_class.csv`` (precision, recall, F1 and support per class), ``roc.csv``, ``pr.csv``
(micro-averaged one-vs-rest for multi-class) and ``confusion.csv`` (class names for multi-class),
a numeric target's ``predictions.csv`` (its test rows), a forecaster's ``forecast.csv`` and
``error_by_step.csv`` (all DVC plots; each table another kind does not fill keeps its header) and
``figures/*.png``, which are also
logged to the model's MLflow run together with the metrics. The export stage adds the ONNX parity
and publishes the result as ``metrics/<task>/<arch>.json``.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import bootstrap, paths
from pipeline.core.config import EvaluateConfig, params
from pipeline.core.errors import ModelError
from pipeline.core.io import (
    atomic_folder,
    atomic_path,
    read_json,
    save_array,
    write_metrics_json,
    write_text,
)
from pipeline.core.metrics import (
    binary_metrics,
    classification_metrics,
    confusion,
    gate_metric,
    per_class_report,
    pr_points,
    predicted_classes,
    prefixed,
    roc_points,
)

# Past this many classes (a language model's vocabulary) the confusion matrix and the class list
# stay out of metrics.json and the confusion figure is not drawn: millions of cells say nothing.
MAX_SHOWN_CLASSES = 100
# The classifier's tables (DVC plots and outputs of every model's evaluate stage in dvc.yaml); a
# kind with reports of its own (a numeric target) leaves them with their header and no row.
CLASSIFIER_TABLES = {
    "roc.csv": ("fpr", "tpr"),
    "pr.csv": ("recall", "precision"),
    "confusion.csv": ("actual", "predicted"),
    "per_class.csv": ("class", "precision", "recall", "f1", "support"),
}
# Tables a kind's own reports may write into the figures folder for DVC's plots (a numeric target's
# test rows; a forecast's last origins against what followed, and its error by step ahead); evaluate
# moves each next to metrics.json, where dvc.yaml declares them for every model, and writes the
# header of any the model's kind does not write.
REPORT_TABLES = {
    "predictions.csv": ("actual", "predicted", "residual", "interval_low", "interval_high"),
    "forecast.csv": ("point", "origin", "step", "actual", "forecast"),
    "error_by_step.csv": ("step", "mae", "rmse"),
}


def evaluation(
    y_val: np.ndarray,
    p_val: np.ndarray,
    y_test: np.ndarray,
    p_test: np.ndarray,
    class_names: list[str],
    settings: EvaluateConfig | None = None,
    seed: int = 42,
    metrics: Any = classification_metrics,
    extras: Any = None,
) -> dict[str, Any]:
    """Pure core: the metrics document for one model (binary: 1-D probabilities of class 1; a
    numeric target, no class names: its values). ``metrics(y, p, n_classes)``: the task kind's
    metrics of one split; ``extras(y_val, p_val, y_test, p_test, settings, seed)``: what the kind
    adds (``kind.evaluation_extras``)."""
    n_classes = len(class_names) or 1
    settings = settings or EvaluateConfig()
    test = bootstrap.with_test_intervals(
        metrics(y_test, p_test, n_classes),
        y_test,
        p_test,
        n_classes,
        resamples=settings.bootstrap_resamples,
        level=settings.ci_level,
        seed=seed,
    )
    doc: dict[str, Any] = {
        "val": metrics(y_val, p_val, n_classes),
        "test": test,
        "test_ci": {"method": "percentile bootstrap", **ci_settings(settings)},
    }
    if 2 <= n_classes <= MAX_SHOWN_CLASSES:
        doc["test_confusion_matrix"] = confusion(y_test, p_test)
    if n_classes == 2:
        doc["threshold"] = 0.5
    elif 2 < n_classes <= MAX_SHOWN_CLASSES:
        doc["classes"] = list(class_names)
    added = dict(extras(y_val, p_val, y_test, p_test, settings, seed)) if extras else {}
    doc["test"].update(added.pop("test", {}))
    doc.update(added)
    doc["n"] = {"val": len(y_val), "test": len(y_test)}
    return doc


def ci_settings(settings: EvaluateConfig) -> dict[str, Any]:
    return {"resamples": settings.bootstrap_resamples, "level": settings.ci_level}


def curve_inputs(y_true: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores for one ROC/PR curve: as they are for binary, one-vs-rest pooled over
    every class (the micro average) for multi-class."""
    if np.ndim(probability) == 1:
        return np.asarray(y_true), probability
    onehot = np.eye(probability.shape[1], dtype=int)[np.asarray(y_true).astype(int)]
    return onehot.ravel(), np.asarray(probability).ravel()


def write_csv(path: Path, columns: dict[str, list[Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))


def confusion_rows(y_true: np.ndarray, probability: np.ndarray, class_names: list[str]) -> dict[str, list]:
    """One row per test example (actual, predicted): the layout of DVC's confusion template.
    Binary keeps 0/1; multi-class rows carry the class names."""
    actual, predicted = np.asarray(y_true).astype(int), predicted_classes(probability)
    if np.ndim(probability) == 1:
        return {"actual": actual.tolist(), "predicted": predicted.tolist()}
    names = np.asarray(class_names, dtype=object)
    return {"actual": names[actual].tolist(), "predicted": names[predicted].tolist()}


def per_class_rows(y_true: np.ndarray, probability: np.ndarray, class_names: list[str]) -> dict[str, list]:
    report = per_class_report(y_true, probability, list(class_names))
    return {
        key: [round(r[key], 6) if isinstance(r[key], float) else r[key] for r in report] for key in report[0]
    }


def save_figures(
    out_dir: Path, title: str, y: np.ndarray, p: np.ndarray, class_names: list[str], history_csv: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    curve_y, curve_p = curve_inputs(y, p)
    roc, pr = roc_points(curve_y, curve_p), pr_points(curve_y, curve_p)
    m = binary_metrics(curve_y, curve_p)
    pooled = "" if np.ndim(p) == 1 else " (micro-average)"

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(roc["fpr"], roc["tpr"], label=f"ROC AUC {m['roc_auc']:.3f}{pooled}")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC (test)")
    ax.legend(loc="lower right")
    files.append(out_dir / "roc.png")

    fig2, ax2 = plt.subplots(figsize=(4.5, 4))
    ax2.plot(pr["recall"], pr["precision"], label=f"PR AUC {m['pr_auc']:.3f}{pooled}")
    ax2.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall (test)")
    ax2.legend(loc="lower left")
    files.append(out_dir / "pr.png")

    figs = [fig, fig2]
    if len(class_names) <= MAX_SHOWN_CLASSES:
        figs.append(_confusion_figure(out_dir, title, y, p, class_names))
        files.append(out_dir / "confusion.png")
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


def _confusion_figure(out_dir: Path, title: str, y: np.ndarray, p: np.ndarray, class_names: list[str]) -> Any:
    import matplotlib.pyplot as plt

    cm = np.array(confusion(y, p))
    side = max(4.0, 0.28 * len(cm) + 2)
    fig3, ax3 = plt.subplots(figsize=(side, side * 0.9))
    ax3.imshow(cm, cmap="Blues")
    if len(cm) <= 12:
        for (i, j), v in np.ndenumerate(cm):
            ax3.text(j, i, str(v), ha="center", va="center", color="black")
    ticks = list(range(len(cm)))
    labels = ticks if np.ndim(p) == 1 else list(class_names)
    ax3.set(
        xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="actual", title=f"{title}: confusion (test)"
    )
    ax3.set_xticklabels(labels, rotation=90 if len(cm) > 2 else 0, fontsize=8 if len(cm) > 12 else 10)
    ax3.set_yticklabels(labels, fontsize=8 if len(cm) > 12 else 10)
    return fig3


def whole_labels(y: np.ndarray) -> np.ndarray:
    """Labels as int32 when every one is a whole number (classes, counts), else float32."""
    y = np.asarray(y)
    whole = y.astype("int32")
    return whole if np.array_equal(whole, y) else y.astype("float32")


def _write_reports(
    task: str,
    arch: str,
    data: Any,
    p_test: np.ndarray,
    names: list[str],
    examples: Any,
    kind: Any,
    config: Any = None,
    evaluation: Any = None,
) -> list[Path]:
    """The test scores and labels, the curves and tables, and the figures; returns the figures."""
    out = paths.eval_dir(task, arch)
    save_array(paths.test_scores(task, arch), np.asarray(p_test, dtype="float32"))
    save_array(out / "test_labels.npy", whole_labels(data.test.y))
    title = f"{task}/{arch}"
    with atomic_folder(out / "figures") as folder:  # replaced whole: no figure of an earlier run stays
        saved = kind.evaluation_reports(config, folder, title, data.test.y, p_test, evaluation)
        if saved is None:  # a classifier's curves, tables and figures
            saved = _classifier_reports(out, folder, title, data.test.y, p_test, names, task, arch)
        else:  # dvc.yaml declares the classifier's tables for every model: headers only here
            for name, header in CLASSIFIER_TABLES.items():
                write_csv(out / name, {key: [] for key in header})
        for name, header in REPORT_TABLES.items():
            if (folder / name).is_file():
                os.replace(folder / name, out / name)
            else:
                write_csv(out / name, {key: [] for key in header})
        if examples:  # in the figures folder: the stage's one output that takes any file
            saved.append(folder / "completions.md")
            write_text(saved[-1], kind.examples_markdown(title, examples))
    return [out / "figures" / Path(figure).name for figure in saved]


def _classifier_reports(
    out: Path, folder: Path, title: str, y: np.ndarray, p: np.ndarray, names: list[str], task: str, arch: str
) -> list[Path]:
    curve_y, curve_p = curve_inputs(y, p)
    write_csv(out / "roc.csv", roc_points(curve_y, curve_p))
    write_csv(out / "pr.csv", pr_points(curve_y, curve_p))
    write_csv(out / "confusion.csv", confusion_rows(y, p, names))
    write_csv(out / "per_class.csv", per_class_rows(y, p, names))
    return save_figures(folder, title, y, p, names, paths.train_report_dir(task, arch) / "history.csv")


def _log_to_run(task: str, arch: str, result: dict[str, Any], figures: list[Path]) -> None:
    """The metrics and figures, to train's MLflow run (when ``run.json`` names one)."""
    import mlflow

    from pipeline.core import tracking

    run_file = paths.model_dir(task, arch) / "run.json"
    if run_file.exists():
        tracking.setup_experiment(task)
        with mlflow.start_run(run_id=read_json(run_file)["run_id"]):
            mlflow.log_metrics(
                {
                    **prefixed("val", result["val"]),
                    **prefixed("test", result["test"]),
                    **bootstrap.interval_metrics("test", result["test"]),
                }
            )
            for figure in figures:
                mlflow.log_artifact(str(figure), artifact_path="figures")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline evaluate", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("arch")
    args = parser.parse_args(argv)
    task, arch = args.task, args.arch
    config = params().task(task)
    params().model_params(task, arch)
    model_path = paths.model_dir(task, arch) / "model.keras"
    if not model_path.exists():
        raise ModelError(f"{model_path}: not found; run 'python -m pipeline repro train@{task}-{arch}' first")

    import keras

    from pipeline import tasks
    from pipeline.encoders.dataset import load_dataset, load_splits_frame, test_rows_sha256
    from pipeline.modeling.models import predict_proba

    kind = tasks.kind_of(config)
    data = load_dataset(task)
    model = keras.saving.load_model(model_path, compile=False)
    p_val, p_test = predict_proba(model, data.val.x), predict_proba(model, data.test.x)
    names = list(data.class_names)
    result = evaluation(
        data.val.y,
        p_val,
        data.test.y,
        p_test,
        names,
        params().evaluate,
        params().seed,
        lambda y, p, n: kind.metrics(y, p, n, data.target),
        lambda *args: kind.evaluation_extras(config, *args),
    )
    result["test_rows_sha256"] = test_rows_sha256(load_splits_frame(task))
    encoder_data = read_json(paths.encoded_dir(task) / "encoder.json")
    examples = kind.examples(lambda x: model(x, training=False).numpy(), encoder_data, config)
    if examples:
        result["examples"] = examples

    out = paths.eval_dir(task, arch)
    figures = _write_reports(task, arch, data, p_test, names, examples, kind, config, result)
    write_metrics_json(out / "metrics.json", result)
    _log_to_run(task, arch, result, figures)
    t, gate = result["test"], gate_metric(config, data.n_classes)
    low, high = t[f"{gate}_ci"]
    accuracy = f"test accuracy {t['accuracy']:.4f}, " if "accuracy" in t else "test "
    print(
        f"evaluate {task}/{arch}: {accuracy}{gate} {t[gate]:.4f} "
        f"[{low:.4f}, {high:.4f}]; val {gate} {result['val'][gate]:.4f}"
    )
    return 0
