"""What the cv stage needs of a table's target, classes or a number, so that the stage itself
never asks which: the labels of train + validation, what to stratify the folds on, the baselines
and how they score, and a fold's numeric-target record (refitted on the fold's training rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FoldTargets:
    y: np.ndarray  # class indices, or a number's values in its units
    n_classes: int  # 1 for a number
    names: tuple[str, ...]  # the class names; none for a number
    strata: np.ndarray | None  # what the folds and the validation share are stratified on

    def target_record(self, train: pd.Series, config: Any) -> dict[str, Any] | None:
        """A numeric target's transform fitted on a fold's training rows (None for classes)."""
        if self.n_classes > 1:
            return None
        from pipeline.encoders.labels import fit_numeric_target

        labels = config.schema_.labels
        return fit_numeric_target(train, config.schema_.target, labels).record()


def fold_targets(task: str, config: Any, pool: pd.DataFrame) -> FoldTargets:
    """The labels of the train + validation rows ``pool`` as encode recorded the task's classes."""
    from pipeline.encoders.dataset import load_classes
    from pipeline.encoders.labels import Labels, NumericTarget

    column = config.schema_.target
    where = f"{task} train+val rows, column {column!r}"
    if config.schema_.labels.numeric:
        return FoldTargets(NumericTarget(column).encode(pool[column], where), 1, (), None)
    labels = Labels(load_classes(task))
    y = labels.encode(pool[column], where)
    return FoldTargets(y, len(labels.classes), tuple(str(c) for c in labels.classes), y.astype(int))


def fold_baselines(config: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """Each baseline's fresh model, and ``scores(fitted, x, y_train_dtype_cast, n_classes)``."""
    if config.schema_.labels.numeric:
        from pipeline.tasks.numeric_baselines import factories

        return factories(seed), _values
    from pipeline.tasks.tabular import baseline_factories

    return baseline_factories(seed), _classes


def _values(model: Any, x: Any, y: Any, n_classes: int, test_x: Any) -> Any:
    return model.fit(x, np.asarray(y, "float64")).predict(test_x)


def _classes(model: Any, x: Any, y: Any, n_classes: int, test_x: Any) -> Any:
    from pipeline.tasks.tabular import baseline_scores

    return baseline_scores(model.fit(x, y.astype(int)), test_x, n_classes)
