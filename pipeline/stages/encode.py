"""encode: split the validated data, fit the encoder on train only, write model-ready arrays.

Output (``data/encoded/<task>/``): ``train.npz``, ``val.npz``, ``test.npz`` (arrays ``x``, ``y``;
read with ``allow_pickle=False``), ``encoder.json`` (the fitted encoder, reused unchanged at
inference) and ``splits.parquet`` (the raw rows with a ``split`` column, for the baselines).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.config import ChurnConfig, SentimentConfig, TaskConfig, params
from pipeline.core.errors import DataError
from pipeline.core.io import write_json
from pipeline.encoders.dataset import SPLITS, Split
from pipeline.encoders.preprocess import Encoder, TabularEncoder, TextEncoder


def assign_splits(frame: pd.DataFrame, label: str, config: TaskConfig, seed: int) -> pd.Series:
    """Stratified, seeded train/val/test assignment.

    Rows that already carry ``split == "test"`` (the official aclImdb test set) stay in test;
    validation is then carved out of the training rows only.
    """
    from sklearn.model_selection import train_test_split

    split = pd.Series("train", index=frame.index, dtype="object")
    pool = frame.index
    if "split" in frame.columns and (frame["split"] == "test").any():
        split[frame["split"] == "test"] = "test"
        pool = frame.index[frame["split"] != "test"]
    else:
        rest, test = train_test_split(
            pool, test_size=config.split.test_fraction, random_state=seed, stratify=frame.loc[pool, label]
        )
        split[test] = "test"
        pool = rest
    val_share = config.split.val_fraction / (
        1 - (0 if "split" in frame.columns else config.split.test_fraction)
    )
    _, val = train_test_split(
        pool, test_size=val_share, random_state=seed + 1, stratify=frame.loc[pool, label]
    )
    split[val] = "val"
    return split


def encode_frame(
    frame: pd.DataFrame, config: TaskConfig, seed: int
) -> tuple[Encoder, pd.DataFrame, dict[str, Split]]:
    """Pure core: returns the fitted encoder, the rows with their split, and the arrays."""
    label = config.schema_.target if isinstance(config, ChurnConfig) else config.schema_.label
    frame = frame.reset_index(drop=True)
    frame = frame.assign(split=assign_splits(frame, label, config, seed))
    train = frame[frame["split"] == "train"]
    encoder: Encoder
    if isinstance(config, SentimentConfig):
        encoder = TextEncoder.fit(train[config.schema_.text], config.encode, text_column=config.schema_.text)
    else:
        encoder = TabularEncoder.fit(train, config.schema_)
    arrays = {}
    for name in SPLITS:
        part = frame[frame["split"] == name]
        arrays[name] = Split(encoder.transform(part), part[label].to_numpy(dtype="float32"))
    return encoder, frame, arrays


def write_encoded(out_dir: Path, encoder: Encoder, frame: pd.DataFrame, arrays: dict[str, Split]) -> None:
    """Write everything to a temporary folder first, then swap it in whole."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, split in arrays.items():
            np.savez(tmp / f"{name}.npz", x=split.x, y=split.y)
        write_json(tmp / "encoder.json", encoder.to_dict())
        frame.to_parquet(tmp / "splits.parquet", index=False)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline encode", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    p = params()
    config = p.task(args.task)
    raw = paths.raw_data(args.task)
    if not raw.exists():
        raise DataError(f"{raw}: not found; run 'dvc repro ingest@{args.task}' first")
    encoder, frame, arrays = encode_frame(pd.read_parquet(raw), config, p.seed)
    write_encoded(paths.encoded_dir(args.task), encoder, frame, arrays)
    sizes = ", ".join(f"{k} {len(v.y)}" for k, v in arrays.items())
    print(f"encode {args.task}: {sizes} rows; {arrays['train'].x.shape[1]} columns per row")
    return 0
