"""score: stream a big CSV or Parquet file through a model, in chunks, with memory bounded by the
chunk and not by the file (issue 24).

    python -m pipeline score churn --input customers.parquet --output scored.parquet --id CustomerId
    python -m pipeline predict churn --input customers.parquet --output scored.parquet   # the same

``predict`` reads its input whole, keeps invalid rows in its output and renders a table; this
command is its batch path, taken by ``predict`` too when the input or the output is Parquet or
``--rejects`` is given. Each chunk of ``--chunk-rows`` rows is read (``pyarrow``'s batches for
Parquet, ``pandas``' chunks for CSV), checked and scored by one ONNX Runtime call, and appended to
the output, so that a file of any length is scored in the memory of one chunk.

The output has the ``--id`` columns (default: the id and target columns the model's encoder
carries through, where the input has them) and the kind's answer columns, one row per valid input
row, in order: a classifier's ``probability``, ``prediction``/``label`` and ``class_name``, a
numeric target's ``value`` and interval. Invalid rows go to the rejects file (``--rejects``,
default ``<output>.rejects.csv``), each with its data row number (from 1, as everywhere in the
pipeline), the column and the reason, and the id columns. The valid rows are all scored.

A progress bar (tqdm: rows, rows per second, time left) is drawn on a terminal's stderr;
``--quiet`` or a pipe turns it off. Exit status: 0 every row scored; 3 some rows rejected; 1 no row
valid or the file unreadable (then the output and rejects files of an earlier run are left as they
were: both are written beside them and moved into place at the end); 2 bad arguments.

``score <task> --stage`` is the ``score@<task>`` DVC stage: the input, id columns and the share of
rejected rows it tolerates come from ``scoring.<task>`` in params.yaml, the model is the version
``reports/registry/<task>.champion.json`` names (written by ``promote``), and the output is
``scores/<task>/`` (``scored.parquet``, ``rejects.csv`` when a row was rejected) with its figures in
``reports/scoring/<task>.json``. Past the tolerated share it fails and keeps the earlier scores.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.encoders.base import RowError
from pipeline.tasks import kind_named

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
CHUNK_ROWS = 8192
FORMATS = (".csv", ".parquet")


@dataclass
class Tally:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    first_reasons: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ reading in chunks
def file_format(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: {what} must be a .csv or a .parquet file, not {suffix or 'no suffix'!r}")
    return suffix


def row_count(path: Path) -> int | None:
    """The data rows of ``path`` when cheap to know (Parquet's metadata; a CSV's lines), for the
    progress bar's time left."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


def read_chunks(path: Path, chunk_rows: int, text_column: str | None) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time. A text column stays text: an empty cell is
    ``""`` (then refused as an empty text), and "NA" is a word."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
            return
        text_options: dict[str, Any] = {}
        if text_column is not None:
            text_options = {"dtype": {text_column: str}, "keep_default_na": False, "na_values": []}
        yield from pd.read_csv(path, chunksize=chunk_rows, encoding="utf-8-sig", **text_options)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable {path.suffix.lower()[1:]} file: {exc}") from exc


# ------------------------------------------------------------------------------ one chunk
def score_chunk(
    predictor: Any, chunk: pd.DataFrame, ids: list[str], options: dict[str, Any]
) -> tuple[pd.DataFrame, list[RowError]]:
    """Pure core: the valid rows' id columns and answers, and the invalid rows' errors (rows
    0-based within the chunk). The answers come a column at a time (the kind's ``answer_columns``):
    a dict per row cost more than the model at a million rows."""
    chunk = chunk.reset_index(drop=True)
    result = predictor.score_frame(chunk)
    valid = np.ones(len(chunk), dtype=bool)
    valid[[e.row for e in result.errors]] = False
    good = np.flatnonzero(valid)
    out = chunk.loc[valid, ids].reset_index(drop=True) if len(good) < len(chunk) else chunk[ids].copy()
    if len(good):
        probabilities = result.probabilities[good]
        shares = None if result.known_token_share is None else result.known_token_share[good]
        inputs = chunk if len(good) == len(chunk) else chunk.iloc[good]
        columns = kind_named(predictor.kind).answer_columns(predictor, probabilities, shares, inputs, options)
        for column, values in columns.items():
            out[column] = values if isinstance(values, np.ndarray) else list(values)  # lists: as before
    return out, result.errors


# ------------------------------------------------------------------------------- writers
class ChunkWriter:
    """Appends chunks to a CSV (the header once) or a Parquet file (the first chunk's schema)."""

    def __init__(self, path: Path) -> None:
        self.path, self.parquet = path, path.suffix.lower() == ".parquet"
        self._writer: Any = None
        self._schema: Any = None
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            texts = {c: "string" for c in frame.columns if frame[c].dtype == object}
            frame = frame.astype(texts) if texts else frame  # astype({}) would still copy the chunk
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.path, self._schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(self.path, mode="w" if self._header else "a", header=self._header, index=False)
            self._header = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def reject_rows(errors: list[RowError], chunk: pd.DataFrame, ids: list[str], start: int) -> list[list[Any]]:
    """One line per invalid row: its data row (from 1 in the file), the columns at fault and the
    reasons (``; ``-joined when several), and its id columns."""
    chunk = chunk.reset_index(drop=True)
    by_row: dict[int, list[RowError]] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(e)
    return [
        [
            start + row + 1,
            "; ".join(e.column for e in found if e.column),
            "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in found),
            *(chunk.at[row, c] for c in ids),
        ]
        for row, found in sorted(by_row.items())
    ]


# --------------------------------------------------------------------------------- the run
def score_file(
    predictor: Any,
    source: Path,
    output: Path,
    rejects: Path,
    *,
    ids: list[str] | None = None,
    chunk_rows: int | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = False,
) -> Tally:
    """Score ``source`` into ``output`` chunk by chunk (``chunk_rows`` rows, by default the
    encoder's ``batch_rows``); invalid rows into ``rejects``. On a failure that stops the run (an
    unreadable file, no valid row) both files are removed."""
    kind = kind_named(predictor.kind)
    if kind.answers_next_words():
        raise DataError("score streams classifiers and numeric targets; use predict for next words")
    text_column = kind.text_column(predictor.encoder)
    tally, writer = Tally(), ChunkWriter(output)
    bar = _progress(source, progress)
    try:
        with rejects.open("w", newline="", encoding="utf-8") as handle:
            rejected = csv.writer(handle)
            for chunk in read_chunks(source, chunk_rows or predictor.encoder.batch_rows, text_column):
                ids = _id_columns(ids, chunk, predictor, source) if tally.rows == 0 else ids
                assert ids is not None
                out, errors = score_chunk(predictor, chunk, ids, options or {})
                if tally.rows == 0:
                    _refuse_the_file(errors, len(chunk), source)
                    rejected.writerow(["data_row", "column", "reason", *ids])
                rejected.writerows(reject_rows(errors, chunk, ids, tally.rows))
                if len(out):
                    writer.write(out)
                tally.rows, tally.scored = tally.rows + len(chunk), tally.scored + len(out)
                tally.rejected += len({e.row for e in errors})
                tally.first_reasons += [e.message for e in errors][: 3 - len(tally.first_reasons)]
                if bar is not None:
                    bar.update(len(chunk))
        writer.close()
        if tally.scored == 0:
            reasons = "; ".join(dict.fromkeys(tally.first_reasons)) or "the file has no data rows"
            raise DataError(f"{source}: no valid row among {tally.rows}; nothing was scored ({reasons})")
    except BaseException:
        writer.close()
        output.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    if not tally.rejected:
        rejects.unlink()
    return tally


def score_in_place(predictor: Any, source: Path, output: Path, rejects: Path, **options: Any) -> Tally:
    """``score_file`` into temporary files beside ``output`` and ``rejects``, moved over them only
    when the run succeeds, so that a failed run leaves an earlier run's files as they were."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    staged_output, staged_rejects = staging / output.name, staging / f"rejects-{rejects.name}"
    try:
        tally = score_file(predictor, source, staged_output, staged_rejects, **options)
        os.replace(staged_output, output)
        if staged_rejects.exists():
            os.replace(staged_rejects, rejects)
        else:
            rejects.unlink(missing_ok=True)  # an earlier run's rejects would not describe this one
        return tally
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_the_file(errors: list[RowError], rows: int, source: Path) -> None:
    """Stop at the first chunk when every row fails for one reason about the file (a missing
    column), instead of rejecting each of its million rows."""
    reasons = {e.message for e in errors if e.column is None}
    if len(reasons) == 1 and len({e.row for e in errors}) == rows and all(e.column is None for e in errors):
        raise DataError(f"{source}: {reasons.pop()}")


def _id_columns(ids: list[str] | None, chunk: pd.DataFrame, predictor: Any, source: Path) -> list[str]:
    if ids is None:  # the columns the encoder carries through, where the file has them
        return [c for c in getattr(predictor.encoder, "passthrough", []) if c in chunk.columns]
    missing = [c for c in ids if c not in chunk.columns]
    if missing:
        raise DataError(f"{source}: --id column(s) {', '.join(map(repr, missing))} not in the file")
    return ids


def _progress(source: Path, wanted: bool) -> Any:
    if not wanted:
        return None
    from tqdm import tqdm

    return tqdm(total=row_count(source), unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True)


# --------------------------------------------------------------------------------- CLI
def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("big files (score's batch path)")
    group.add_argument("--rejects", type=Path, help="invalid rows' CSV (default: <output>.rejects.csv)")
    group.add_argument(
        "--id", action="append", dest="ids", metavar="COLUMN", help="an id column kept (repeatable)"
    )
    group.add_argument(
        "--chunk-rows",
        type=int,
        help="rows per chunk (default: the encoder's batch_rows: 65,536 for a table, 8,192 for a text)",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline score",
        description="Stream a big CSV or Parquet file through a model, chunk by chunk.",
        epilog="Exit status: 0 every row scored, 3 some rows rejected (the others scored), 1 nothing scored.",
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    parser.add_argument("--input", type=Path, help="a .csv or .parquet file")
    parser.add_argument("--output", type=Path, help="the scored rows: .csv or .parquet")
    parser.add_argument(
        "--stage",
        action="store_true",
        help="the score@<task> DVC stage: input and ids from scoring.<task> in params.yaml, the "
        "model from reports/registry/<task>.champion.json, the output in scores/<task>/",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)"
    )
    add_batch_arguments(parser)
    return parser


def run(args: argparse.Namespace, predictor: Any, uri: str, options: dict[str, Any]) -> int:
    """The batch path of ``score`` and ``predict``: ``args`` has input, output, rejects, ids,
    chunk_rows and quiet."""
    file_format(args.input, "--input")
    file_format(args.output, "--output")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise DataError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    rejects = args.rejects or args.output.with_name(args.output.name + ".rejects.csv")
    tally = score_in_place(
        predictor,
        args.input,
        args.output,
        rejects,
        ids=args.ids,
        chunk_rows=args.chunk_rows,
        options=options,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    summary = f"score {args.task}: {tally.scored} of {tally.rows} rows scored with {uri}; wrote {args.output}"
    if tally.rejected:
        summary += f"; {tally.rejected} rejected, listed in {rejects}"
    print(summary, file=sys.stderr)
    return EXIT_PARTIAL if tally.rejected else EXIT_OK


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from pipeline.serving.inference import Predictor, check_model

    if args.stage:
        if args.input or args.output or args.model:
            parser.error("--stage takes its input, output and model from params.yaml and the champion record")
        from pipeline.commands.score_stage import run_stage

        return run_stage(args.task, args.threads)
    if args.input is None or args.output is None:
        parser.error("--input and --output are required (or --stage)")

    uri = args.model or f"models:/{args.task}@champion"
    predictor = Predictor.load(uri, threads=args.threads)
    check_model(predictor, args.task, uri)
    return run(args, predictor, uri, answer_options(predictor, None))


def answer_options(predictor: Any, neutral_band: float | None) -> dict[str, Any]:
    """A sentiment model's neutral band (the option's, else the bundle's); nothing for others."""
    from pipeline.tasks.answers import DEFAULT_NEUTRAL_BAND, check_neutral_band

    if "neutral_band" not in predictor.output:
        return {}
    band = neutral_band if neutral_band is not None else predictor.output.get("neutral_band")
    return {"neutral_band": check_neutral_band(band or DEFAULT_NEUTRAL_BAND)}
