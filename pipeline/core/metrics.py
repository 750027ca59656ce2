"""Binary-classification metrics and curves, the same for every task, model and baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")


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
    """[[true negatives, false positives], [false negatives, true positives]]."""
    from sklearn.metrics import confusion_matrix

    predicted = (np.asarray(probability) >= threshold).astype(int)
    return confusion_matrix(np.asarray(y_true).astype(int), predicted, labels=[0, 1]).tolist()


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
