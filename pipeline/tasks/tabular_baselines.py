"""A table's classical baselines on exactly the model's encoded features (the baselines stage and
cross-validation): logistic regression and HistGradientBoosting for classes, and for a numeric
target those of :mod:`pipeline.tasks.numeric_baselines`."""

from __future__ import annotations

from typing import Any

from pipeline.core.config import TabularTaskConfig
from pipeline.tasks.base import by_class_index


def baseline_factories(seed: int) -> dict[str, Any]:
    """A fresh unfitted model per baseline name (the baselines stage and cross-validation)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "logistic_regression": lambda: LogisticRegression(max_iter=2000),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }


def baseline_scores(model: Any, x: Any, n_classes: int) -> Any:
    return by_class_index(model.predict_proba(x), model.classes_, n_classes)


def baselines(task: str, config: TabularTaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    """Logistic regression and HistGradientBoosting on exactly the model's encoded features; each
    result also holds the test rows' scores and labels (``test_scores``, ``test_labels``)."""
    import time

    import numpy as np

    from pipeline.core.metrics import classification_metrics
    from pipeline.encoders.dataset import load_dataset

    if config.schema_.labels.numeric:
        from pipeline.tasks import numeric_baselines

        return numeric_baselines.run(task, config.baselines, seed)
    data = load_dataset(task)
    np.random.seed(seed)
    factories = baseline_factories(seed)
    results: dict[str, dict[str, Any]] = {}
    for name in config.baselines:
        started = time.perf_counter()
        model = factories[name]().fit(data.train.x, data.train.y.astype(int))
        test_scores = baseline_scores(model, data.test.x, data.n_classes)
        results[name] = {
            "val": classification_metrics(
                data.val.y, baseline_scores(model, data.val.x, data.n_classes), data.n_classes
            ),
            "test": classification_metrics(data.test.y, test_scores, data.n_classes),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "test_scores": test_scores,
            "test_labels": data.test.y,
        }
    return results
