"""The classical models of a table's numeric target, on exactly the network's encoded features and
split: ridge regression, a Poisson GLM (a count: log link, positive predictions) and
HistGradientBoostingRegressor. Each result holds its validation and test metrics, and the test
rows' predictions and targets for the paired differences of compare and promote."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.core.value_metrics import value_metrics


def factories(seed: int) -> dict[str, Any]:
    """A fresh unfitted model per baseline name (the baselines stage and cross-validation)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import PoissonRegressor, Ridge

    return {
        "ridge": lambda: Ridge(alpha=1.0),
        "poisson_glm": lambda: PoissonRegressor(alpha=1e-4, max_iter=1000),
        "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(random_state=seed),
    }


def run(task: str, names: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
    from pipeline.encoders.dataset import load_dataset

    data = load_dataset(task)
    np.random.seed(seed)
    made = factories(seed)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        started = time.perf_counter()
        model = made[name]().fit(data.train.x, data.train.y.astype("float64"))
        test_scores = model.predict(data.test.x).astype("float64")
        results[name] = {
            "val": value_metrics(data.val.y, model.predict(data.val.x)),
            "test": value_metrics(data.test.y, test_scores),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "test_scores": test_scores,
            "test_labels": data.test.y,
        }
    return results
