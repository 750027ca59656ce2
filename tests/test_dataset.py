"""load_dataset: the number of classes and their names come from encoder.json's ``classes``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import DataError
from pipeline.core.io import write_json
from pipeline.encoders.base import OOV, PAD
from pipeline.encoders.dataset import load_dataset
from pipeline.encoders.text import TextEncoder


def write_encoded(directory: Path, labels: dict[str, np.ndarray], classes: list[str] | None) -> Path:
    encoder = TextEncoder([PAD, OOV, "oil", "wheat"], 4).to_dict()
    if classes is not None:
        encoder["classes"] = classes
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "encoder.json", encoder)
    for name, y in labels.items():
        np.savez(directory / f"{name}.npz", x=np.ones((len(y), 4), "int32"), y=y)
    return directory


def test_binary_data_keeps_float_labels_and_two_classes(tmp_path):
    y = np.array([0, 1, 1], "float32")
    data = load_dataset("sentiment", write_encoded(tmp_path, dict(train=y, val=y, test=y), None))
    assert (data.n_classes, data.class_names, data.vocab_size) == (2, ("0", "1"), 4)
    assert data.train.y.dtype == np.float32 and np.array_equal(data.train.y, y)


def test_multiclass_labels_are_integer_indices_into_the_named_classes(tmp_path):
    classes = ["earn", "acq", "crude", "trade"]
    y = np.array([0, 3, 2, 1, 0], "float32")  # however encode stored them
    data = load_dataset("topics", write_encoded(tmp_path, dict(train=y, val=y[:2], test=y[2:]), classes))
    assert data.n_classes == 4 and data.class_names == tuple(classes)
    assert data.train.y.dtype == np.int32 and data.train.y.tolist() == [0, 3, 2, 1, 0]
    assert data.test.y.tolist() == [2, 1, 0]


def test_a_label_outside_the_classes_is_refused(tmp_path):
    good = np.array([0, 1, 2])
    directory = write_encoded(tmp_path, dict(train=good, val=np.array([0, 3]), test=good), ["a", "b", "c"])
    with pytest.raises(DataError, match=r"val\.npz: label 3 is not a class index in \[0, 2\]"):
        load_dataset("topics", directory)
