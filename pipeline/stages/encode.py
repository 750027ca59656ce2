"""encode: split the validated data, fit the encoder on train only, write model-ready arrays.

Output (``data/encoded/<task>/``): ``train.npz``, ``val.npz``, ``test.npz`` (arrays ``x``, ``y``;
read with ``allow_pickle=False``), ``encoder.json`` (the fitted encoder, reused unchanged at
inference) and ``splits.parquet`` (the raw rows with a ``split`` column, for the baselines).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import TaskConfig, params
from pipeline.core.errors import DataError
from pipeline.core.io import atomic_folder, write_json
from pipeline.encoders.base import Encoder
from pipeline.encoders.dataset import Split
from pipeline.encoders.labels import Labels, NumericTarget


def encode_frame(
    frame: pd.DataFrame, config: TaskConfig, seed: int
) -> tuple[Encoder, Labels | NumericTarget, pd.DataFrame, dict[str, Split]]:
    """Pure core: the encoder and classes fitted on train, the rows with their split, the arrays."""
    kind = tasks.kind_of(config)
    # the index stays the row's position in the raw data, so that messages can name the row
    frame = kind.usable_rows(frame.reset_index(drop=True), config)
    frame = frame.assign(split=kind.assign_splits(frame, config, seed))
    encoder = kind.fit_encoder(frame[frame["split"] == "train"], config)
    labels, arrays = kind.encode_splits(frame, encoder, config)
    return encoder, labels, frame, arrays


def write_encoded(
    out_dir: Path,
    encoder: Encoder,
    labels: Labels | NumericTarget,
    frame: pd.DataFrame,
    arrays: dict[str, Split],
) -> None:
    """Write everything to a temporary folder first, then swap it in whole."""
    with atomic_folder(out_dir) as tmp:
        for name, split in arrays.items():
            np.savez(tmp / f"{name}.npz", x=split.x, y=split.y)
        write_json(tmp / "encoder.json", encoder.to_dict() | labels.to_dict())
        frame.to_parquet(tmp / "splits.parquet", index=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline encode", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    p = params()
    config = p.task(args.task)
    raw = paths.raw_data(args.task)
    if not raw.exists():
        raise DataError(f"{raw}: not found; run 'python -m pipeline repro ingest@{args.task}' first")
    rows = pd.read_parquet(raw)
    encoder, labels, frame, arrays = encode_frame(rows, config, p.seed)
    if len(frame) < len(rows):
        print(f"encode {args.task}: {len(rows) - len(frame)} of {len(rows)} rows dropped by schema.missing")
    for line in encoder.fill_report(frame):
        print(f"encode {args.task}: {line} by schema.missing")
    write_encoded(paths.encoded_dir(args.task), encoder, labels, frame, arrays)
    sizes = ", ".join(f"{k} {len(v.y)}" for k, v in arrays.items())
    shape = " x ".join(str(n) for n in arrays["train"].x.shape[1:])  # a forecast's window: steps x features
    print(
        f"encode {args.task}: {sizes} rows; {shape} values per row; "
        f"{len(labels.classes)} classes{tasks.kind_of(config).classes_note()}"
    )
    for name, how in encoder.sized_from_data.items():
        print(f"encode {args.task}: encode.{name}: auto = {how}")
    return 0
