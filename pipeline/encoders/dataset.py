"""The model-ready arrays that ``encode`` writes and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.errors import DataError
from pipeline.encoders.preprocess import TextEncoder, load_encoder

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    """Model-ready arrays written by ``encode``."""

    train: Split
    val: Split
    test: Split
    vocab_size: int = 0  # text only: the encoder's vocabulary size (padding and OOV included)

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def load_dataset(task: str, directory: Path | None = None) -> Dataset:
    directory = directory or paths.encoded_dir(task)
    splits = {}
    for name in SPLITS:
        path = directory / f"{name}.npz"
        if not path.exists():
            raise DataError(f"{path}: not found; run 'dvc repro encode@{task}' first")
        with np.load(path, allow_pickle=False) as npz:
            splits[name] = Split(npz["x"], npz["y"])
    encoder = load_encoder(directory / "encoder.json")
    vocab_size = encoder.vocab_size if isinstance(encoder, TextEncoder) else 0
    return Dataset(splits["train"], splits["val"], splits["test"], vocab_size)


def load_splits_frame(task: str, directory: Path | None = None) -> pd.DataFrame:
    return pd.read_parquet((directory or paths.encoded_dir(task)) / "splits.parquet")
