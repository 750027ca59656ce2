"""The model-ready arrays that ``encode`` writes and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.errors import DataError
from pipeline.encoders.registry import encoder_from_dict, read_encoder_json

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """Model-ready arrays written by ``encode``.

    Labels: float32 0/1 for a binary task; int32 class indices into ``class_names`` for a
    multi-class one.
    """

    train: Split
    val: Split
    test: Split
    vocab_size: int = 0  # text only: the encoder's vocabulary size (padding and OOV included)
    n_classes: int = 2
    class_names: tuple[str, ...] = ("0", "1")  # label index -> name
    # the values a network answers instead of classes (n_classes 1, no class names), as encoder.json
    # records them: a table's numeric ``target`` (float32 labels in its units; the transform the
    # network's head inverts, pipeline.encoders.labels.NumericTarget), or a series' ``forecast``
    # (labels [windows, horizon]; its horizon, scale and MASE's scale, series_stages.ForecastTarget).
    # The kind's metrics read it (MASE's scale).
    target: dict[str, Any] | None = None

    @property
    def horizon(self) -> int:
        """The steps ahead a forecaster answers (the ``forecast`` record's); 0 for any other model."""
        return int((self.target or {}).get("horizon", 0))

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def load_dataset(task: str, directory: Path | None = None) -> Dataset:
    directory = directory or paths.encoded_dir(task)
    arrays = {}
    for name in SPLITS:
        path = directory / f"{name}.npz"
        if not path.exists():
            raise DataError(f"{path}: not found; run 'python -m pipeline repro encode@{task}' first")
        with np.load(path, allow_pickle=False) as npz:
            arrays[name] = (npz["x"], npz["y"], path)
    encoder_data = read_encoder_json(directory / "encoder.json")
    target = answered_record(encoder_data)
    class_names = () if target else label_classes(encoder_data)
    n_classes = len(class_names) or 1
    splits = {
        name: Split(x, _class_indices(y, n_classes, path) if n_classes > 2 else y)
        for name, (x, y, path) in arrays.items()
    }
    encoder = encoder_from_dict(encoder_data)
    vocab_size = encoder.vocab_size
    return Dataset(splits["train"], splits["val"], splits["test"], vocab_size, n_classes, class_names, target)


def answered_record(encoder_data: dict[str, Any]) -> dict[str, Any] | None:
    """encoder.json's record of the values a network answers instead of classes: a series'
    ``forecast`` (its encoder names the target column under "target"), or a table's numeric
    ``target``; None for classes."""
    record = encoder_data.get("forecast") or encoder_data.get("target")
    return record if isinstance(record, dict) else None


def recorded_mase_scale(task: str, directory: Path | None = None) -> float | None:
    """MASE's denominator as encode recorded it (a forecast's training period); None without one."""
    path = (directory or paths.encoded_dir(task)) / "encoder.json"
    if not path.exists():
        return None
    scale = (answered_record(read_encoder_json(path)) or {}).get("mase_scale")
    return None if scale is None else float(scale)


def label_classes(encoder_data: dict) -> tuple[str, ...]:
    """The label names an encoder.json records under ``"classes"``; ``("0", "1")`` when it records
    none (the binary tasks written before classes were recorded)."""
    classes = encoder_data.get("classes")
    if classes is None:
        return ("0", "1")
    if not isinstance(classes, list) or len(classes) < 2:
        raise DataError(f"encoder 'classes' must list at least 2 class names, got {classes!r}")
    return tuple(str(c) for c in classes)


def _class_indices(y: np.ndarray, n_classes: int, path: Path) -> np.ndarray:
    """Multi-class labels as int32 indices, refusing any that is not one of the ``n_classes``."""
    indices = y.astype("int32")
    bad = (indices != y) | (indices < 0) | (indices >= n_classes)
    if bad.any():
        raise DataError(
            f"{path}: label {y[bad][0].item()!r} is not a class index in [0, {n_classes - 1}] "
            f"({int(bad.sum())} such rows)"
        )
    return indices


def load_splits_frame(task: str, directory: Path | None = None) -> pd.DataFrame:
    return pd.read_parquet((directory or paths.encoded_dir(task)) / "splits.parquet")


def test_rows_sha256(frame: pd.DataFrame) -> str:
    """A fingerprint of the test rows, in order, as ``splits.parquet`` holds them: two models were
    scored on the same test rows when their fingerprints agree (promote's paired comparison)."""
    import hashlib

    rows = frame[frame["split"] == "test"].drop(columns=["split"])
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    return hashlib.sha256(hashes.tobytes()).hexdigest()


def load_classes(task: str, directory: Path | None = None) -> list:
    """The task's classes as ``encode`` recorded them (index i is the model's output i)."""
    from pipeline.core.io import read_json

    path = (directory or paths.encoded_dir(task)) / "encoder.json"
    if not path.exists():
        raise DataError(f"{path}: not found; run 'python -m pipeline repro encode@{task}' first")
    return list(read_json(path).get("classes", [0, 1]) or [])  # a numeric target records none
