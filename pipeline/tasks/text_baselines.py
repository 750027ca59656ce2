"""The classical models of a text task, on exactly the network's split: TF-IDF (1-2 grams) with
logistic regression and a linear SVM for classes, and with ridge regression for a numeric target
(``schema.labels.type: number``). Each result holds its validation and test metrics, and the test
rows' scores (or values) and labels for the paired differences of compare and promote."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pipeline.tasks.base import by_class_index

RIDGE_ALPHA = 1.0


def baselines(task: str, config: Any, seed: int) -> dict[str, dict[str, Any]]:
    """TF-IDF (1-2 grams) with logistic regression and, when asked, a linear SVM (its decision
    values through a softmax over classes stand in for probabilities: ROC AUC and top-k need a score
    per class, and the ranking is the SVM's own); a numeric target's TF-IDF with ridge. Each result
    also holds the test rows' scores and labels (``test_scores``, ``test_labels``)."""
    from pipeline.encoders.dataset import load_classes, load_splits_frame
    from pipeline.encoders.labels import Labels, NumericTarget

    frame = load_splits_frame(task)
    text, label = config.schema_.text, config.schema_.label
    numeric = config.schema_.labels.numeric
    labels: Any = NumericTarget(label) if numeric else Labels(load_classes(task))
    parts = {name: frame[frame["split"] == name] for name in ("train", "val", "test")}
    y = {name: labels.encode(part[label], f"{task} {name} split") for name, part in parts.items()}
    started = time.perf_counter()
    x = _tfidf(parts, text, config.encode.lowercase)
    vectorize_seconds = time.perf_counter() - started
    score, factories = (_values, _value_models(seed)) if numeric else (_class_scores, _class_models(seed))
    n = 1 if numeric else len(labels.classes)
    results: dict[str, dict[str, Any]] = {}
    for name in config.baselines:
        started = time.perf_counter()
        model = factories[name]().fit(x["train"], y["train"] if numeric else y["train"].astype(int))
        scores = {split: score(model, x[split], n) for split in ("val", "test")}
        results[name] = {split: _metrics(y[split], scores[split], n) for split in scores} | {
            "fit_seconds": round(vectorize_seconds + time.perf_counter() - started, 3),
            "test_scores": scores["test"],
            "test_labels": y["test"],
        }
    return results


def _tfidf(parts: dict[str, Any], text: str, lowercase: bool) -> dict[str, Any]:
    """The TF-IDF rows of each split, the vocabulary fitted on the training split."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from pipeline.encoders.base import standardize

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=2,
        max_features=200_000,
        sublinear_tf=True,
        preprocessor=lambda s: standardize(s, lowercase),
        token_pattern=r"[A-Za-z0-9]+(?:'[A-Za-z]+)?",
    )
    x = {"train": vectorizer.fit_transform(parts["train"][text])}
    return x | {name: vectorizer.transform(parts[name][text]) for name in ("val", "test")}


def _class_models(seed: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    return {
        "tfidf_logreg": lambda: LogisticRegression(C=4.0, max_iter=2000, random_state=seed),
        "tfidf_linear_svm": lambda: LinearSVC(C=1.0, random_state=seed),
    }


def _value_models(seed: int) -> dict[str, Any]:
    from sklearn.linear_model import Ridge

    return {"tfidf_ridge": lambda: Ridge(alpha=RIDGE_ALPHA, random_state=seed)}


def _metrics(y: Any, scores: Any, n_classes: int) -> dict[str, float]:
    from pipeline.core.metrics import classification_metrics
    from pipeline.core.value_metrics import value_metrics

    return value_metrics(y, scores) if n_classes == 1 else classification_metrics(y, scores, n_classes)


def _values(model: Any, x: Any, n_classes: int) -> np.ndarray:
    return np.asarray(model.predict(x), dtype="float64")


def _class_scores(model: Any, x: Any, n_classes: int) -> np.ndarray:
    """A probability-like score per class index (the positive class's alone for two classes)."""
    if hasattr(model, "predict_proba"):
        return by_class_index(model.predict_proba(x), model.classes_, n_classes)
    decision = model.decision_function(x)
    if decision.ndim == 1:
        return 1.0 / (1.0 + np.exp(-decision))
    shifted = np.exp(decision - decision.max(axis=1, keepdims=True))
    return by_class_index(shifted / shifted.sum(axis=1, keepdims=True), model.classes_, n_classes)
