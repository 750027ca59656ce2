"""ingest: fetch a task's raw data and store it as ``data/raw/<task>.parquet`` plus a JSON note of its origin.

``tasks.<task>.data.source`` in params.yaml is a local path (relative to the repository root, or
absolute; the default is the generated ``data/synthetic/<task>.csv``) or an http(s) URL;
``tasks.<task>.data.sha256``, when set, must match the bytes read. A tabular task reads a CSV. A text
task reads either the aclImdb archive (``.tar.gz``/``.tgz``/``.tar``, streamed without extracting
it) or a CSV with the text and label columns named in its schema. dvc.yaml lists the source as a
dependency of this stage, so DVC reruns it when the file (or a URL's ETag) changes.

Ingest only reads and stores: whether columns, types and ranges are right is the validate stage's
job. It fails on what it cannot read at all (an empty file, bytes that are not UTF-8, broken CSV, a
truncated archive, a download error, a checksum mismatch), and then writes nothing.

Rows are named as everywhere in the pipeline (:mod:`pipeline.rows`): ``data row N (file line M)``,
data rows counted from 1 under the header, file lines from 1 with the header as line 1. Blank lines
of a CSV are not stored, but they count, so that the numbers match the file. For a CSV, the note's
``row_map`` records where the stored rows are (``[[row, data_row, file_line], ...]``: stored row
``row``, counted from 1, is data row ``data_row`` on file line ``file_line``, and the rows after it
follow one line each until the next entry), so that validate can name file lines too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import ConfigError, TaskConfig, params
from pipeline.core.errors import DataError
from pipeline.core.io import atomic_path
from pipeline.core.task_config import missing_stage_keys, stage_keys_message
from pipeline.data.sources import DOWNLOAD_TIMEOUT_S, check_sha256, fetched, sha256_file


@dataclass(frozen=True)
class Ingested:
    """What ingest stores: the rows and the note describing where they came from."""

    frame: pd.DataFrame
    meta: dict[str, Any]


def ingest(
    task: str, config: TaskConfig, root: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_S
) -> Ingested:
    """Read a task's raw rows; writes nothing."""
    root = root or paths.project_root()
    source = config.data.source.strip()
    meta: dict[str, Any] = {"task": task, "source": source}
    with fetched(source, root, timeout) as path:
        files = [path / config.data.train_file, path / config.data.test_file] if path.is_dir() else [path]
        if path.is_dir() and config.data.sha256:
            raise DataError(f"{source}: sha256 pins one file; a folder source cannot take it")
        try:
            digests = [sha256_file(f) for f in files if f.is_file()]
        except OSError as exc:
            raise DataError(f"{source}: cannot read: {exc.strerror or exc}") from exc
        digest = digests[0] if len(digests) == 1 else hashlib.sha256(" ".join(digests).encode()).hexdigest()
        check_sha256(source, digest, config.data.sha256)
        size = sum(f.stat().st_size for f in files if f.is_file())
        read, meta["format"] = tasks.kind_of(config).read(path, source, config)
    frame = read.frame
    meta |= {"sha256": digest, "bytes": size}
    if read.rows is not None:
        meta["row_map"] = read.rows.to_json()
    meta |= {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
    meta |= tasks.kind_of(config).describe(frame, config)
    return Ingested(frame, meta)


def write_ingested(ingested: Ingested, data_path: Path, meta_path: Path) -> None:
    """Both files or neither: each goes to a temporary file first and is moved in only on success."""
    with atomic_path(data_path) as tmp_data, atomic_path(meta_path) as tmp_meta:
        try:
            ingested.frame.to_parquet(tmp_data, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise DataError(f"{ingested.meta['source']}: cannot store the rows as parquet: {exc}") from exc
        except Exception as exc:  # pyarrow's own errors (ArrowInvalid, ...) do not share a public base
            if type(exc).__module__.startswith("pyarrow"):
                raise DataError(
                    f"{ingested.meta['source']}: cannot store the rows as parquet: {exc}"
                ) from exc
            raise
        tmp_meta.write_text(json.dumps(ingested.meta, indent=2) + "\n", encoding="utf-8")


def summary(ingested: Ingested) -> str:
    meta = ingested.meta
    splits = meta.get("splits")
    split_text = (
        f" ({', '.join(f'{k} {v}' for k, v in splits.items())})" if splits and "all" not in splits else ""
    )
    return (
        f"ingest {meta['task']}: {meta['rows']} rows{split_text}, {len(meta['columns'])} columns "
        f"from {meta['source']} (sha256 {meta['sha256'][:12]})"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", help="churn or sentiment")
    parser.add_argument(
        "--timeout", type=float, default=DOWNLOAD_TIMEOUT_S, help="seconds to wait for a URL to answer"
    )
    args = parser.parse_args(argv)
    p = params()
    config = p.task(args.task)
    fill = missing_stage_keys(config)
    if fill:  # a task's first stage says it, before DVC refuses a later one by its key
        if os.environ.get("DVC_STAGE"):  # run by dvc repro, which would stop at encode
            raise ConfigError(stage_keys_message(args.task, fill))
        print(f"warning: {stage_keys_message(args.task, fill)}", file=sys.stderr)
    result = ingest(args.task, config, timeout=args.timeout)
    write_ingested(result, paths.raw_data(args.task), paths.raw_meta(args.task))
    print(summary(result))
    return 0
