"""Classification metrics and curves, the same for every task, model and baseline.

Binary tasks pass the positive-class probability as a 1-D array; multi-class tasks pass the
class probabilities as an ``(n, n_classes)`` array. :func:`classification_metrics` picks the
right set from the number of classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
MULTICLASS_METRIC_NAMES = ("accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro", "top_k_accuracy")
# The metric ``promote`` gates on unless a task names another: ROC AUC ranks a binary model
# independently of its threshold; macro F1 weighs every class alike, so a model cannot pass by
# predicting only the frequent classes.
GATE_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro"}
LANGUAGE_MODEL_METRIC_NAMES = ("perplexity", "cross_entropy", "top1_accuracy", "top5_accuracy")
# numeric targets' errors too (pipeline/core/value_metrics.py); R² is higher-is-better
LOWER_IS_BETTER = frozenset({"perplexity", "cross_entropy", "rmse", "mae", "mape", "smape", "mase"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (tune's direction, challenger and promote)."""
    return metric.removeprefix("val_").removeprefix("test_") not in LOWER_IS_BETTER


def language_model_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Next-word metrics over ``(n, vocabulary)`` probabilities: perplexity (``exp`` of the mean
    negative log-probability of the true next word, natural log), and whether the true word is the
    most probable one (``top1_accuracy``, also ``accuracy``) or among the five most probable."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    proba = _class_probabilities(proba)
    if len(y_true) != len(proba):
        raise ValueError(f"{len(y_true)} next words but {len(proba)} rows of probabilities")
    true_p = proba[np.arange(len(y_true)), y_true]
    cross_entropy = float(-np.mean(np.log(np.maximum(true_p, 1e-12))))
    # rank of the true word: how many words are strictly more probable (ties count in its favour)
    rank = (proba > true_p[:, None]).sum(axis=1)
    top1 = float(np.mean(rank < 1))
    return {
        "perplexity": float(np.exp(cross_entropy)),
        "cross_entropy": cross_entropy,
        "top1_accuracy": top1,
        "top5_accuracy": float(np.mean(rank < 5)),
        "accuracy": top1,
    }


def problem_type(n_classes: int) -> str:
    """``"binary"`` for 2 classes, ``"multiclass"`` for more."""
    if n_classes < 2:
        raise ValueError(f"n_classes = {n_classes}: a classifier needs at least 2 classes")
    return "binary" if n_classes == 2 else "multiclass"


def default_gate_metric(n_classes: int) -> str:
    return GATE_METRIC[problem_type(n_classes)]


def gate_metric(config: Any, n_classes: int) -> str:
    """The metric a task is tuned, chosen and promoted on: ``promote.metric`` in its params, else
    ROC AUC for two classes and macro F1 for more."""
    configured = getattr(getattr(config, "promote", None), "metric", None)
    return configured or default_gate_metric(n_classes)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, n_classes: int, *, k: int = 5
) -> dict[str, float]:
    """:func:`binary_metrics` for 2 classes, :func:`multiclass_metrics` for more.

    For 2 classes ``proba`` is the positive-class probability (1-D); an ``(n, 2)`` array of both
    class probabilities is accepted too and its second column used.
    """
    if problem_type(n_classes) == "binary":
        proba = np.asarray(proba)
        if proba.ndim == 2 and proba.shape[1] == 2:
            proba = proba[:, 1]
        return binary_metrics(y_true, proba)
    return multiclass_metrics(y_true, proba, k=k)


def predicted_classes(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices: ``proba >= threshold`` for a 1-D positive-class probability, else the argmax."""
    proba = np.asarray(proba, dtype="float64")
    if proba.ndim == 1:
        return (proba >= threshold).astype(int)
    return np.argmax(proba, axis=1)


def _class_probabilities(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype="float64")
    if proba.ndim != 2:
        raise ValueError(f"class probabilities of shape {proba.shape}; (n, n_classes) expected")
    return proba


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, k: int = 5) -> dict[str, float]:
    """Accuracy, macro and weighted F1, macro one-vs-rest ROC AUC and top-k accuracy.

    ``y_true`` holds class indices, ``proba`` the ``(n, n_classes)`` class probabilities; the
    predicted class is the most probable one.

    * ``f1_macro``/``f1_weighted``: over the classes that occur in ``y_true`` or in the predictions
      (scikit-learn's default); a class that is predicted but never true counts with F1 = 0.
    * ``roc_auc_ovr_macro``: each class's probability against the rest, averaged over the classes
      that occur in ``y_true`` only. A class absent from ``y_true`` has no positives and so no
      ROC AUC; skipping it instead of returning NaN keeps the metric usable on a test split that
      lacks a rare class. NaN when fewer than two classes occur.
    * ``top_k_accuracy``: the true class is among the ``min(k, n_classes)`` most probable ones.
    """
    from sklearn import metrics

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    proba = _class_probabilities(proba)
    if len(y_true) != len(proba):
        raise ValueError(f"{len(y_true)} labels but {len(proba)} rows of probabilities")
    n_classes = proba.shape[1]
    predicted = np.argmax(proba, axis=1)
    present = np.unique(y_true)
    if len(present) >= 2:
        roc_auc = float(np.mean([metrics.roc_auc_score(y_true == c, proba[:, c]) for c in present]))
    else:
        roc_auc = float("nan")
    top = min(k, n_classes)
    top_k_hit = (np.argsort(-proba, axis=1, kind="stable")[:, :top] == y_true[:, None]).any(axis=1)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "f1_macro": float(metrics.f1_score(y_true, predicted, average="macro", zero_division=0)),
        "f1_weighted": float(metrics.f1_score(y_true, predicted, average="weighted", zero_division=0)),
        "roc_auc_ovr_macro": roc_auc,
        "top_k_accuracy": float(top_k_hit.mean()),
    }


def per_class_report(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support (true rows) for every class, in ``class_names`` order.

    ``proba`` is ``(n, n_classes)`` class probabilities, or a 1-D positive-class probability
    (threshold 0.5) for two classes. A class that is never predicted has precision 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    predicted = predicted_classes(proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted, labels=list(range(len(class_names))), zero_division=0
    )
    return [
        {
            "class": str(name),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall and F1 at ``threshold``; ROC AUC and PR AUC (average precision)."""
    from sklearn import metrics

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probability = np.asarray(probability, dtype="float64").reshape(-1)
    predicted = (probability >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "precision": float(metrics.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, predicted, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(metrics.roc_auc_score(y_true, probability)) if both_classes else float("nan"),
        "pr_auc": float(metrics.average_precision_score(y_true, probability))
        if both_classes
        else float("nan"),
    }


def confusion(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> list[list[int]]:
    """Binary (1-D ``probability``): [[true negatives, false positives], [false negatives, true positives]].

    Multi-class (``(n, n_classes)`` probabilities): :func:`multiclass_confusion`.
    """
    from sklearn.metrics import confusion_matrix

    if np.ndim(probability) == 2:
        return multiclass_confusion(y_true, probability)
    predicted = (np.asarray(probability) >= threshold).astype(int)
    return confusion_matrix(np.asarray(y_true).astype(int), predicted, labels=[0, 1]).tolist()


def multiclass_confusion(y_true: np.ndarray, proba: np.ndarray) -> list[list[int]]:
    """``n_classes`` x ``n_classes`` counts: row = true class, column = predicted (most probable) class.

    Every class has its row and column, also one that occurs in neither.
    """
    from sklearn.metrics import confusion_matrix

    proba = _class_probabilities(proba)
    predicted = np.argmax(proba, axis=1)
    labels = list(range(proba.shape[1]))
    return confusion_matrix(np.asarray(y_true).astype(int).reshape(-1), predicted, labels=labels).tolist()


def roc_points(y_true: np.ndarray, probability: np.ndarray, max_points: int = 200) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), probability)
    keep = _thin(len(fpr), max_points)
    return {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist()}


def pr_points(y_true: np.ndarray, probability: np.ndarray, max_points: int = 200) -> dict[str, list[float]]:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(np.asarray(y_true).astype(int), probability)
    keep = _thin(len(recall), max_points)
    return {"recall": recall[keep].round(5).tolist(), "precision": precision[keep].round(5).tolist()}


def _thin(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced indices that always keep the first and last point of a curve."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def prefixed(section: str, values: dict[str, Any]) -> dict[str, float]:
    """``{"accuracy": 0.9}`` -> ``{"test_accuracy": 0.9}`` for MLflow's flat metric names."""
    return {f"{section}_{k}": float(v) for k, v in values.items() if isinstance(v, (int, float))}
