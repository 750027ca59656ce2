"""Class labels as the model sees them: an index into ``classes``.

Binary tasks keep today's 0/1 targets (class 1 is the positive one); a multi-class task maps each
class name to its position in ``classes``. The classes travel in ``encoder.json`` (key
``classes``), so evaluation, serving and the registered model answer with the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import LabelSettings
from pipeline.core.errors import DataError

MAX_LISTED = 10


@dataclass(frozen=True)
class Labels:
    classes: list[Any]  # index i is the model's output i; binary: [negative, positive]

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def encode(self, values: pd.Series, where: str) -> np.ndarray:
        """Class indices (float32 0/1 for binary, as the sigmoid head trains on; int64 otherwise)."""
        index = {_key(c): i for i, c in enumerate(self.classes)}
        keys = [_key(v) for v in values]
        codes = np.array([index.get(k, -1) for k in keys], dtype="int64")
        bad = np.flatnonzero(codes < 0)
        if len(bad):
            # the index is the row's position in the raw data: data row N counts from 1
            shown = ", ".join(
                f"{values.iloc[i]!r} in data row {values.index[i] + 1}" for i in bad[:MAX_LISTED]
            )
            more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            raise DataError(f"{where}: label(s) not among the classes {self.classes}: {shown}{more}")
        return codes.astype("float32") if self.binary else codes


def _key(value: Any) -> str:
    """One spelling per class: 1, 1.0 and "1" are the same label."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def fit_labels(train: pd.Series, settings: LabelSettings) -> Labels:
    """The classes from params.yaml, or learned (sorted) from the training split's labels."""
    if settings.classes is None:
        return Labels([0, 1])
    if settings.classes == "learn":
        learned = sorted({_key(v) for v in train})
        if len(learned) < 2:
            raise DataError(f"the training split holds one class only ({learned}); a classifier needs two")
        return Labels(learned)
    classes = list(settings.classes)
    if len(classes) == 2 and settings.positive is not None and classes[1] != settings.positive:
        classes.reverse()  # the positive class is index 1, as the sigmoid head's output
    return Labels(classes)
