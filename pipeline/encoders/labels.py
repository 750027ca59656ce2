"""Class labels as the model sees them: an index into ``classes``.

Binary tasks keep today's 0/1 targets (class 1 is the positive one); a multi-class task maps each
class name to its position in ``classes``. The classes travel in ``encoder.json`` (key
``classes``), so evaluation, serving and the registered model answer with the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def to_dict(self) -> dict[str, Any]:
        """What encoder.json records beside the encoder: the classes."""
        return {"classes": self.classes}

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


@dataclass(frozen=True)
class NumericTarget:
    """A numeric target (``schema.labels.type: number``) as the model learns it.

    The labels stay in the target's units (float32). ``transform`` is fitted on the training split:
    the network's last Dense unit ``z`` becomes ``z * scale + center`` (``standardize``; ``none``
    with scale 1 and the mean as center, so training starts at the mean), or
    ``expm1(z * scale + center)`` with ``center``/``scale`` those of ``log1p(y)`` (``log1p``), or
    ``exp(z + center)`` (``loss: poisson``, center the log of the mean), so the network's output,
    and therefore the ONNX graph's, is in the target's units. encoder.json records it under
    ``target``.
    """

    column: str
    transform: str = "none"  # none | standardize | log1p
    loss: str = "mse"  # mse | huber | poisson
    center: float = 0.0
    scale: float = 1.0
    units: str = ""
    classes: list[Any] = field(default_factory=list)  # none: a number, not a class

    def encode(self, values: pd.Series, where: str) -> np.ndarray:
        """The targets as float32, refusing a value that is not a finite number (naming its rows)."""
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = np.flatnonzero(~np.isfinite(numbers.to_numpy()))
        if len(bad):
            shown = ", ".join(
                f"{values.iloc[i]!r} in data row {values.index[i] + 1}" for i in bad[:MAX_LISTED]
            )
            more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            raise DataError(f"{where}: target(s) that are not finite numbers: {shown}{more}")
        return numbers.to_numpy().astype("float32")

    def to_dict(self) -> dict[str, Any]:
        """What encoder.json records beside the encoder: no classes, and the target's transform."""
        return {"classes": None, "target": self.record()}

    def record(self) -> dict[str, Any]:
        keys = ("column", "transform", "loss", "center", "scale", "units")
        return {key: getattr(self, key) for key in keys}


def fit_numeric_target(train: pd.Series, column: str, settings: LabelSettings) -> NumericTarget:
    """The target's transform, fitted on the training split's values."""
    y = NumericTarget(column).encode(train, f"training split, column {column!r}").astype("float64")
    if len(y) == 0:
        raise DataError(f"the training split has no rows; column {column!r} cannot be fitted")
    if settings.transform == "log1p" and y.min() <= -1:
        raise DataError(f"column {column!r}: log1p needs targets above -1, found {y.min():g}")
    if settings.transform != "none":
        z = np.log1p(y) if settings.transform == "log1p" else y
        center, scale = float(z.mean()), float(z.std()) or 1.0
    elif settings.loss == "poisson":  # exp(z + log(mean)): the network starts at the mean count
        center, scale = float(np.log(max(y.mean(), 1e-6))), 1.0
    else:  # the network's output starts at the mean
        center, scale = float(y.mean()), 1.0
    return NumericTarget(column, settings.transform, settings.loss, center, scale, settings.units)
