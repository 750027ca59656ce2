"""File formats a task's raw data can come in: CSV (one file, or train and test files in a folder)
and the aclImdb archive. Each reader fails with the file and the data row (or archive member)
named, and never guesses: whether columns, types and ranges are right is validate's job."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import re
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.rows import RowMap, csv_header, header_problem, scan_rows

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
# aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt; unsup/, urls_*.txt and *.feat do not match.
REVIEW_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
LABEL_WORDS = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "pos": 1, "neg": 0, "positive": 1, "negative": 0}
SPLIT_COLUMN = "split"
SPLIT_VALUES = ("train", "test")
MAX_LISTED = 10  # bad rows named in one message
CHUNK_BYTES = 1 << 20


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
    return CsvRows(blank_as_missing(frame), scan_rows(text, keep_blank=False, expected=len(frame)))


def blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Whitespace-only cells as missing values, as an empty cell is; a text column whose other
    cells are all numbers then becomes the numeric column it is (" " in Telco's TotalCharges)."""
    for col in frame.columns:
        values = frame[col]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        blank = values.map(lambda v: isinstance(v, str) and not v.strip())
        if not blank.any():
            continue
        values = values.mask(blank)
        numbers = pd.to_numeric(values, errors="coerce")
        frame[col] = numbers if numbers.notna().sum() == values.notna().sum() else values
    return frame


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


def read_text_csv(path: Path, name: str, schema: Any) -> CsvRows:
    """``text``/``label`` columns (names from params), plus an optional ``split`` of train/test. A
    numeric label (``labels.type: number``) is read as pandas infers it; validate judges its values."""
    numeric = schema.labels.numeric
    wanted = {schema.text: "str", SPLIT_COLUMN: "str"} | ({} if numeric else {schema.label: "str"})
    read = read_csv_file(path, name, dtype=wanted)
    frame = read.frame
    missing = [c for c in (schema.text, schema.label) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))} (the task's schema.text/label in "
            f"params.yaml); the file has {', '.join(map(repr, map(str, frame.columns)))}"
        )
    if numeric:  # a number: as read (a value that is not one is named by validate)
        labels: Any = frame[schema.label]
    elif schema.labels.classes is None:  # binary: 0/1 or pos/neg words, stored as 0/1
        labels = map_labels(frame[schema.label], name, schema.label, read)
    else:  # class names, checked against the classes by validate and encode
        labels = frame[schema.label].astype("string").str.strip()
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


def read_aclimdb(
    path: Path, name: str, text: str = "text", label: str = "label", label_from: str = "polarity"
) -> pd.DataFrame:
    """Reviews streamed straight from the archive, sorted by (split: train first, polarity, id).

    The ``label`` column holds the folder's polarity (pos 1, neg 0), or with ``label_from="rating"``
    the star rating of the file name ``<id>_<rating>.txt``; ``id`` and ``rating`` are kept beside."""
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
    return _review_frame(records, text, label, label_from)


def _review_frame(
    records: list[tuple[int, int, int, int, str]], text: str, label: str, label_from: str
) -> pd.DataFrame:
    """The reviews' columns: the text, the label (polarity or rating), the split, then ``id`` and
    ``rating`` by their own names (none replaces the text, the label or the split)."""
    split_idx, polarities, ids, ratings, texts = zip(*records, strict=True)
    columns = {
        "id": np.array(ids, dtype="int64"),
        "rating": np.array(ratings, dtype="int64"),
        "polarity": np.array(polarities, dtype="int64"),
    }
    if label_from not in ("polarity", "rating"):
        raise ValueError(f"label_from {label_from!r}: expected polarity or rating")
    frame = pd.DataFrame(
        {
            text: pd.Series(texts, dtype="str"),
            label: columns[label_from],
            SPLIT_COLUMN: np.array(SPLIT_VALUES)[list(split_idx)],
        }
    )
    kept = [c for c in ("id", "rating") if c not in frame.columns]
    return frame.assign(**{c: columns[c] for c in kept})
