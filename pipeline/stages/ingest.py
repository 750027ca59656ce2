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
import bz2
import csv
import gzip
import hashlib
import http.client
import io
import json
import lzma
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.config import SentimentConfig, TaskConfig, TextSchema, params
from pipeline.core.errors import DataError
from pipeline.core.io import atomic_path
from pipeline.core.rows import RowMap, csv_header, header_problem, scan_rows

DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
# aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt; unsup/, urls_*.txt and *.feat do not match.
REVIEW_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
LABEL_WORDS = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "pos": 1, "neg": 0, "positive": 1, "negative": 0}
SPLIT_COLUMN = "split"
SPLIT_VALUES = ("train", "test")
MAX_LISTED = 10  # bad rows named in one message


@dataclass(frozen=True)
class Ingested:
    """What ingest stores: the rows and the note describing where they came from."""

    frame: pd.DataFrame
    meta: dict[str, Any]


# ------------------------------------------------------------------------ sources
def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme.lower() in {"http", "https"}


def resolve_path(source: str, root: Path) -> Path:
    """A local source, relative to the repository root unless absolute."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise DataError(f"{source}: unsupported URL scheme; expected 'synthetic', a local path or http(s)")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise DataError(f"{source}: not found (looked for {path})")
    if not path.is_file():
        raise DataError(f"{source}: not a file ({path})")
    return path


def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` into ``dest``; any HTTP or network failure is a DataError naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": "dl-pipeline-ingest"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            announced = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: download failed: {exc.reason}") from exc
    except TimeoutError as exc:
        raise DataError(f"{url}: download failed: no answer within {timeout:g} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise DataError(f"{url}: download failed: {type(exc).__name__}: {exc}") from exc
    if announced is not None and announced.isdigit() and received != int(announced):
        raise DataError(f"{url}: download incomplete: received {received} of {announced} bytes")


@contextmanager
def fetched(source: str, root: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Iterator[Path]:
    """A local file holding the source's bytes; a download lives in a temporary folder until exit."""
    if not is_url(source):
        yield resolve_path(source, root)
        return
    name = Path(urllib.parse.urlsplit(source).path).name or "download"
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        dest = Path(tmp) / name
        download(source, dest, timeout)
        yield dest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(source: str, actual: str, expected: str | None) -> None:
    if expected and actual.lower() != expected.strip().lower():
        raise DataError(f"{source}: sha256 is {actual}, expected {expected.strip().lower()}")


# --------------------------------------------------------------------------- CSV
def decode_utf8(data: bytes, name: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is dropped); the error names the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        hint = " (it looks like a compressed archive, not a CSV)" if data[:2] == b"\x1f\x8b" else ""
        raise DataError(
            f"{name}: line {line}, column {column}: byte 0x{data[exc.start]:02x} is not valid UTF-8; "
            f"expected a UTF-8 text file{hint}"
        ) from exc
    return text.removeprefix("\ufeff")


@dataclass(frozen=True)
class CsvRows:
    """The rows of a CSV as pandas infers them, and where each one is in the file."""

    frame: pd.DataFrame
    rows: RowMap | None

    def label(self, index: int) -> str:
        """``data row N (file line M)`` for the stored row at ``index`` (0-based)."""
        return self.rows.label(index) if self.rows is not None else f"data row {index + 1}"


def read_csv_file(path: Path, name: str, dtype: dict[str, str] | None = None) -> CsvRows:
    """A CSV as pandas infers it: numbers stay numbers, anything else stays text (types are judged later)."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{name}: empty file ({len(data)} bytes); expected a CSV with a header and rows")
    text = decode_utf8(data, name)
    problem = header_problem(csv_header(text))  # before pandas renames a second 'Age' to 'Age.1'
    if problem:
        raise DataError(f"{name}: {problem}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(io.StringIO(text), low_memory=False, index_col=False, dtype=dtype)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{name}: empty file; expected a CSV with a header and rows") from exc
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(f"{name}: not a readable CSV: {_one_line(exc)}") from exc
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise DataError(f"{name}: not a readable CSV: {_row_with_extra_fields(text)}")
    if frame.empty:
        raise DataError(f"{name}: has a header ({', '.join(map(str, frame.columns))}) but no rows")
    return CsvRows(frame, scan_rows(text, keep_blank=False, expected=len(frame)))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _row_with_extra_fields(text: str) -> str:
    """Where a row has more fields than the header (pandas only warns about it)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    line = reader.line_num + 1
    for data_row, row in enumerate(reader, start=1):
        if len(row) > len(header):
            where = f"data row {data_row} (file line {line})"
            return f"{where} has {len(row)} fields, the header has {len(header)}"
        line = reader.line_num + 1
    return "rows have more fields than the header"


def read_churn_csv(path: Path, name: str) -> CsvRows:
    return read_csv_file(path, name)


def map_labels(values: pd.Series, name: str, column: str, where: CsvRows | None = None) -> np.ndarray:
    """0/1 or pos/neg/positive/negative (any case) -> 1/0; other values are reported by data row."""
    normalised = values.astype("string").str.strip().str.lower()
    mapped = normalised.map(LABEL_WORDS)
    bad = np.flatnonzero(mapped.isna().to_numpy())
    if len(bad):
        raise DataError(
            f"{name}: column {column!r} must hold 0/1 or pos/neg/positive/negative; "
            f"{_rows(values, bad, where)}"
        )
    return mapped.to_numpy(dtype="int64")


def _rows(values: pd.Series, bad: np.ndarray, where: CsvRows | None = None) -> str:
    """``'x' in data row 3 (file line 4), ...``: data rows count from 1 under the header."""
    label = where.label if where is not None else (lambda i: f"data row {i + 1}")
    shown = [f"{_show(values.iloc[i])} in {label(int(i))}" for i in bad[:MAX_LISTED]]
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return f"found {', '.join(shown)}{more} ({len(bad)} bad row{'s' if len(bad) != 1 else ''})"


def _show(value: Any) -> str:
    return "an empty value" if value is None or value is pd.NA or value != value else repr(value)


def read_sentiment_csv(path: Path, name: str, schema: TextSchema) -> CsvRows:
    """``text``/``label`` columns (names from params), plus an optional ``split`` of train/test."""
    wanted = {schema.text: "str", schema.label: "str", SPLIT_COLUMN: "str"}
    read = read_csv_file(path, name, dtype=wanted)
    frame = read.frame
    missing = [c for c in (schema.text, schema.label) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))} (sentiment.schema.text/label in "
            f"params.yaml); the file has {', '.join(map(repr, map(str, frame.columns)))}"
        )
    labels = map_labels(frame[schema.label], name, schema.label, read)
    out = pd.DataFrame({schema.text: frame[schema.text], schema.label: labels})
    if SPLIT_COLUMN in frame.columns:
        split = frame[SPLIT_COLUMN].astype("string").str.strip().str.lower()
        bad = np.flatnonzero(~split.isin(SPLIT_VALUES).fillna(False).to_numpy(dtype=bool))
        if len(bad):
            raise DataError(
                f"{name}: column {SPLIT_COLUMN!r} must hold train or test; "
                f"{_rows(frame[SPLIT_COLUMN], bad, read)}"
            )
        out[SPLIT_COLUMN] = split.astype(str).to_numpy()
    return CsvRows(out, read.rows)


# ----------------------------------------------------------------------- archive
def is_archive(path: Path, name: str) -> bool:
    """By name (.tar.gz, .tgz, .tar...), else by the first bytes (gzip/bzip2/xz or a tar header)."""
    if name.lower().endswith(ARCHIVE_SUFFIXES) or path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    with path.open("rb") as fh:
        head = fh.read(512)
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar"


def _decompressed(path: Path) -> BinaryIO:
    """The archive's tar bytes. gzip/bz2/lzma raise EOFError on a truncated stream, where
    tarfile's own stream decompression would just stop early and lose reviews silently."""
    with path.open("rb") as fh:
        head = fh.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _check_tar_end(path: Path, name: str) -> None:
    """An uncompressed tar ends with two zero blocks; without them it was cut off."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 1024))
        tail = fh.read()
    if size % 512 or len(tail) < 1024 or tail.strip(b"\0"):
        raise DataError(
            f"{name}: not a readable tar archive (truncated or corrupt?): "
            "the end-of-archive marker is missing"
        )


def read_aclimdb(path: Path, name: str, text: str = "text", label: str = "label") -> pd.DataFrame:
    """Reviews streamed straight from the archive, sorted by (split: train first, label, id)."""
    records: list[tuple[int, int, int, int, str]] = []
    try:
        with _decompressed(path) as stream:
            compressed = not isinstance(stream, io.BufferedReader)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    match = REVIEW_MEMBER.search(member.name)
                    if not match or not member.isfile():
                        continue
                    handle = tar.extractfile(member)
                    raw = handle.read() if handle else b""
                    if len(raw) != member.size:
                        raise EOFError(f"member {member.name} is cut short")
                    try:
                        review = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise DataError(
                            f"{name}: member {member.name}: byte 0x{raw[exc.start]:02x} "
                            f"at offset {exc.start} is not valid UTF-8"
                        ) from exc
                    split, polarity, id_, rating = match.groups()
                    records.append(
                        (SPLIT_VALUES.index(split), int(polarity == "pos"), int(id_), int(rating), review)
                    )
            while stream.read(CHUNK_BYTES):  # to the end: the compressed stream's length and CRC are checked
                pass
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise DataError(
            f"{name}: not a readable tar archive (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from exc
    if not compressed:
        _check_tar_end(path, name)
    if not records:
        raise DataError(
            f"{name}: no reviews found; expected members aclImdb/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt"
        )
    records.sort(key=lambda r: r[:3])
    split_idx, labels, ids, ratings, texts = zip(*records, strict=True)
    return pd.DataFrame(
        {
            text: pd.Series(texts, dtype="str"),
            label: np.array(labels, dtype="int64"),
            SPLIT_COLUMN: np.array(SPLIT_VALUES)[list(split_idx)],
            "id": np.array(ids, dtype="int64"),
            "rating": np.array(ratings, dtype="int64"),
        }
    )


# -------------------------------------------------------------------------- core
def _read(path: Path, source: str, config: TaskConfig) -> tuple[CsvRows, str]:
    """The rows of a fetched file and what kind of file it was."""
    if not isinstance(config, SentimentConfig):
        return read_churn_csv(path, source), "csv"
    if is_archive(path, source):
        frame = read_aclimdb(path, source, config.schema_.text, config.schema_.label)
        return CsvRows(frame, None), "aclImdb archive"
    return read_sentiment_csv(path, source, config.schema_), "csv"


def ingest(
    task: str, config: TaskConfig, root: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_S
) -> Ingested:
    """Read a task's raw rows; writes nothing."""
    root = root or paths.project_root()
    source = config.data.source.strip()
    meta: dict[str, Any] = {"task": task, "source": source}
    with fetched(source, root, timeout) as path:
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise DataError(f"{source}: cannot read: {exc.strerror or exc}") from exc
        check_sha256(source, digest, config.data.sha256)
        size = path.stat().st_size
        read, meta["format"] = _read(path, source, config)
    frame = read.frame
    meta |= {"sha256": digest, "bytes": size}
    if read.rows is not None:
        meta["row_map"] = read.rows.to_json()
    meta |= {"rows": len(frame), "columns": [str(c) for c in frame.columns]}
    if isinstance(config, SentimentConfig):
        counts = frame[SPLIT_COLUMN].value_counts() if SPLIT_COLUMN in frame.columns else None
        meta["splits"] = (
            {s: int(counts.get(s, 0)) for s in SPLIT_VALUES} if counts is not None else {"all": len(frame)}
        )
        meta["positive"] = int(frame[config.schema_.label].sum())
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
    result = ingest(args.task, config, timeout=args.timeout)
    write_ingested(result, paths.raw_data(args.task), paths.raw_meta(args.task))
    print(summary(result))
    return 0
