"""Metrics on tiny hand-made arrays whose answers are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.core.metrics import (
    binary_metrics,
    classification_metrics,
    confusion,
    default_gate_metric,
    multiclass_confusion,
    multiclass_metrics,
    per_class_report,
)

# Three classes, six rows. The predicted class (argmax) is   0, 0, 1 | 1, 1 | 0
Y = np.array([0, 0, 0, 1, 1, 2])
PROBA = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.60, 0.10, 0.30],
        [0.30, 0.50, 0.20],  # class 0 read as 1; class 0 is its second choice
        [0.20, 0.70, 0.10],
        [0.15, 0.80, 0.05],
        [0.50, 0.10, 0.40],  # class 2 read as 0; class 2 is its second choice
    ]
)
# class 0: tp 2, fp 1, fn 1 -> precision 2/3, recall 2/3, F1 2/3
# class 1: tp 2, fp 1, fn 0 -> precision 2/3, recall 1,   F1 4/5
# class 2: tp 0, fp 0, fn 1 -> precision 0,   recall 0,   F1 0
F1 = [2 / 3, 4 / 5, 0.0]


def test_multiclass_metrics_match_the_hand_computed_values():
    m = multiclass_metrics(Y, PROBA, k=2)
    assert set(m) == {"accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro", "top_k_accuracy"}
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1_macro"] == pytest.approx(sum(F1) / 3)  # 22/45
    assert m["f1_weighted"] == pytest.approx((3 * F1[0] + 2 * F1[1] + 1 * F1[2]) / 6)  # 0.6
    # one-vs-rest: class 0's positives .7 .6 .3 against negatives .2 .15 .5 win 8 of 9 pairs;
    # classes 1 and 2 separate perfectly -> (8/9 + 1 + 1) / 3
    assert m["roc_auc_ovr_macro"] == pytest.approx(26 / 27)
    assert m["top_k_accuracy"] == 1.0  # both mistakes have the true class second
    assert multiclass_metrics(Y, PROBA, k=1)["top_k_accuracy"] == pytest.approx(m["accuracy"])
    assert multiclass_metrics(Y, PROBA, k=5)["top_k_accuracy"] == 1.0  # k capped at 3 classes


def test_a_class_absent_from_the_labels_leaves_roc_auc_defined():
    """A fourth class that no row belongs to has no one-vs-rest ROC AUC: it is left out, not NaN."""
    four = np.hstack([PROBA * 0.9, np.full((len(PROBA), 1), 0.1)])
    m = multiclass_metrics(Y, four)
    assert m["roc_auc_ovr_macro"] == pytest.approx(26 / 27)
    assert m["f1_macro"] == pytest.approx(sum(F1) / 3)  # never true, never predicted: not counted
    assert math.isnan(multiclass_metrics([1, 1], PROBA[:2])["roc_auc_ovr_macro"])  # one class only


def test_per_class_report_names_every_class():
    report = per_class_report(Y, PROBA, ["earn", "acq", "crude"])
    assert [r["class"] for r in report] == ["earn", "acq", "crude"]
    assert [r["support"] for r in report] == [3, 2, 1]
    assert [r["precision"] for r in report] == pytest.approx([2 / 3, 2 / 3, 0.0])
    assert [r["recall"] for r in report] == pytest.approx([2 / 3, 1.0, 0.0])
    assert [r["f1"] for r in report] == pytest.approx(F1)


def test_multiclass_confusion_has_a_row_and_column_per_class():
    expected = [[2, 1, 0], [0, 2, 0], [1, 0, 0]]  # row = true class, column = predicted
    assert confusion(Y, PROBA) == expected
    four = np.hstack([PROBA, np.zeros((len(PROBA), 1))])
    assert multiclass_confusion(Y, four) == [[*row, 0] for row in expected] + [[0, 0, 0, 0]]


def test_binary_confusion_and_metrics_are_unchanged():
    y = np.array([0, 0, 1, 1, 1], dtype="float32")
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9], dtype="float32")
    assert confusion(y, p) == [[1, 1], [1, 2]]  # [[tn, fp], [fn, tp]]
    assert classification_metrics(y, p, n_classes=2) == binary_metrics(y, p)
    both = np.stack([1 - p, p], axis=1)
    assert classification_metrics(y, both, n_classes=2) == pytest.approx(binary_metrics(y, p))
    assert classification_metrics(Y, PROBA, n_classes=3) == multiclass_metrics(Y, PROBA)


def test_gate_metric_defaults_by_number_of_classes():
    assert default_gate_metric(2) == "roc_auc"
    assert default_gate_metric(52) == "f1_macro"
    with pytest.raises(ValueError, match="at least 2 classes"):
        default_gate_metric(1)
