"""predict: score raw customer rows or review texts with ONNX Runtime (never TensorFlow).

    python -m pipeline predict churn --input customers.csv --output scored.csv
    python -m pipeline predict sentiment --text "A fine film." --text "Dull and far too long."
    python -m pipeline predict sentiment --model models/sentiment/lstm --input reviews.txt
    python -m pipeline predict nextword --text "to be or not to" --top-k 5 --generate 10
    python -m pipeline predict load --history recent.csv   # a forecaster: the next horizon steps

The model is ``models:/<task>@champion`` from the MLflow registry unless ``--model`` names another
MLflow URI or a local model directory (``model.onnx`` + ``encoder.json``).

Inputs. churn: a CSV of raw rows in the training schema (id and target columns may be present and
are carried through). sentiment: repeated ``--text``, or ``--input`` with a ``.csv`` holding the
text column (``text`` by default) or any other file with one review per line.

Outputs. A table on stdout, or ``--output FILE`` as CSV (``.json``: a JSON list of records). Every
input row is kept, in order, with the input columns plus ``probability``, ``prediction`` (churn:
1 when p >= 0.5) or ``label`` (sentiment: Positive / Negative, Neutral when ``|p - 0.5|`` is below
the neutral band), ``class_name`` (the class's name the bundle records, from
``tasks.<task>.display.classes``: churn's ``stays``/``leaves``; empty for a Neutral text), for
sentiment ``known_token_share`` (the share of the text's tokens in the
model's vocabulary) and ``warning`` (set, and the label Neutral, when no token is known: see
:mod:`pipeline.serving.responses`), and ``error`` (empty for valid rows; for an invalid row the reason, and
empty probability and prediction). Texts with a warning are also listed on stderr.

nextword (a language model): per text, the ``--top-k`` most probable next words with their
probabilities, the words the vocabulary lacks (read as the OOV token) and, with ``--generate N``,
N more words: greedy by default, sampled with ``--temperature T`` (and ``--seed S``: the same seed
gives the same text). An empty text is invalid; unknown words are reported, never an error.

Invalid rows are listed on stderr (at most 100 lines, then a count), numbered as everywhere in
the pipeline (:mod:`pipeline.rows`): for a CSV, ``data row N (file line M)``, data rows counted
from 1 under the header and file lines from 1 with the header as line 1; for a text file, the line;
for ``--text``, the option's position. A blank line in a CSV is a row too, reported as invalid,
so that the output keeps one row per input row and no later number shifts; blank lines at the
end of the file are ignored.

Exit status: 0 every row scored; 3 some rows invalid, the others scored and written; 1 the file
is unreadable or empty, or no row is valid (then no output file is written); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.commands.predict_output import (
    Scored,
    check_explainable,
    error_lines,
    render_next_words,
    render_table,
    to_csv,
    to_json,
    warning_lines,
    write_output,
)
from pipeline.commands.score import add_batch_arguments, answer_options
from pipeline.commands.score import run as run_batch
from pipeline.core.errors import DataError
from pipeline.core.rows import RowMap, csv_header, header_problem, scan_rows
from pipeline.encoders.base import RowError
from pipeline.serving.inference import check_model
from pipeline.tasks import kind_named
from pipeline.tasks.answers import TOP_K

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
CHUNK_ROWS = 8192  # rows per ONNX Runtime call: bounded memory on big files


# ------------------------------------------------------------------------ reading inputs
def read_csv(path: Path, text_column: str | None = None) -> tuple[pd.DataFrame, RowMap | None]:
    """A user's CSV and where its rows are; every reading problem is a :class:`DataError` naming the file.

    Empty cells are missing values, except in ``text_column``: there they stay ``""`` (reported
    as "text is empty") and words such as "NA" or "null" stay text. Blank lines are kept as rows
    (see the module docstring), except at the end of the file.
    """
    text = _read_text(path)
    text = text.rstrip("\r\n") + "\n"  # blank lines at the end shift nothing: not rows
    problem = header_problem(csv_header(text))  # before pandas renames a second 'Age' to 'Age.1'
    if problem:
        raise DataError(f"{path}: {problem}")
    try:
        frame = pd.read_csv(io.StringIO(text), skip_blank_lines=False)
        if text_column is not None and text_column in frame.columns:
            raw = pd.read_csv(
                io.StringIO(text),
                usecols=[text_column],
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
            )
            frame[text_column] = raw[text_column]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV: {' '.join(str(exc).split())}") from exc
    if frame.empty:
        raise DataError(f"{path}: no data rows (only a header)")
    return frame, scan_rows(text, keep_blank=True, expected=len(frame))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def restore_integers(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns that pandas read as float because of an empty cell, back as integers.

    For the output only: it echoes ``Age`` as ``42``, not ``42.0``, next to the row whose age
    is missing.
    """
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if values.dtype.kind == "f" and values.isna().any() and values.notna().any():
            present = values.dropna()
            if (present == present.round()).all() and present.abs().max() < 2**53:
                out[col] = values.astype("Int64")
    return out


def read_lines(path: Path, column: str) -> pd.DataFrame:
    """One review per line; blank lines are kept (and reported) so line numbers stay true."""
    lines = _read_text(path).splitlines()
    if not lines:
        raise DataError(f"{path}: the file is empty; expected one review per line")
    return pd.DataFrame({column: lines})


# ----------------------------------------------------------------------------- scoring
def score(
    predictor: Any,
    frame: pd.DataFrame,
    *,
    neutral_band: float,
    unit: str = "data row",
    row_map: RowMap | None = None,
    explain: bool = False,
) -> Scored:
    """Pure core: score every valid row of ``frame``; keep invalid ones with their reasons.
    The output columns are the kind's (``pipeline.tasks.<kind>.predict_columns``)."""
    from pipeline.serving.responses import answer_rows
    from pipeline.tasks.answers import check_neutral_band

    band = check_neutral_band(neutral_band)
    frame = frame.reset_index(drop=True)
    probabilities, shares, errors = score_in_chunks(predictor, frame)
    by_row: dict[int, list[str]] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(f"column {e.column!r}: {e.message}" if e.column else e.message)
    out = restore_integers(frame)  # the echo only; the encoder saw the values as read
    options = {"neutral_band": band} if "neutral_band" in predictor.output else {}
    answers = answer_rows(predictor, probabilities, shares, frame, options)
    columns = kind_named(predictor.kind).predict_columns(answers, probabilities, shares)
    for column, values in columns.items():
        out[column] = values
    if explain:  # each row's top contributions, as text (the served answer holds them as objects)
        from pipeline.commands.predict_output import explanation_text
        from pipeline.serving.responses import explain_rows

        out["explanation"] = [explanation_text(e) for e in explain_rows(predictor, frame, probabilities)]
    out["error"] = ["; ".join(by_row[i]) if i in by_row else "" for i in range(len(out))]
    return Scored(out, errors, unit, row_map, tuple(columns))


def score_in_chunks(predictor: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[RowError]]:
    """Every row's probabilities (NaN for an invalid row), known-token shares (NaN without) and
    the invalid rows' errors, :data:`CHUNK_ROWS` rows per ONNX Runtime call."""
    multiclass = predictor.n_classes > 2
    probabilities = np.full((len(frame), predictor.n_classes) if multiclass else len(frame), np.nan)
    shares = np.full(len(frame), np.nan)
    errors: list[RowError] = []
    for start in range(0, len(frame), CHUNK_ROWS):
        result = predictor.score_frame(frame.iloc[start : start + CHUNK_ROWS])
        probabilities[start : start + len(result.probabilities)] = result.probabilities
        if result.known_token_share is not None:
            shares[start : start + len(result.probabilities)] = result.known_token_share
        errors += [RowError(e.row + start, e.message, e.column) for e in result.errors]
    return probabilities, shares, errors


def exit_status(scored: Scored) -> int:
    if scored.n_invalid == 0:
        return EXIT_OK
    return EXIT_PARTIAL if scored.n_valid else EXIT_FAILED


def file_level_problem(scored: Scored) -> str | None:
    """The message when every row fails for the same column-level reason (e.g. a missing column)."""
    if scored.n_valid or not scored.errors:
        return None
    messages = {e.message for e in scored.errors if e.column is None}
    if len(messages) == 1 and all(e.column is None for e in scored.errors):
        return messages.pop()
    return None


# --------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline predict",
        description="Score raw rows or texts with ONNX Runtime.",
        epilog="Invalid rows are listed on stderr as 'data row N (file line M)': data rows count from 1 "
        "under a CSV's header, file lines from 1 with the header as line 1 (for a text file, the line). "
        "Exit status: 0 all rows scored, 3 some rows invalid (the others scored and written), 1 nothing "
        "scored (unreadable or empty file, or no valid row).",
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="a table: a CSV; a text task: a CSV or one text per line")
    source.add_argument("--text", action="append", help="a text to score (text tasks; repeatable)")
    source.add_argument(
        "--history", type=Path, help="a forecasting task: a CSV of the series' recent rows, one input"
    )
    parser.add_argument("--output", type=Path, help="write CSV (or JSON for *.json) instead of a table")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="stdout format without --output"
    )
    parser.add_argument(
        "--neutral-band",
        type=float,
        help="sentiment: Neutral when |p - 0.5| < band (default: tasks.<task>.predict.neutral_band)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="add each row's top contributions: a table's columns (SHAP), a text's words (left out)",
    )
    add_batch_arguments(parser)
    words = parser.add_argument_group("next-word tasks (a language model)")
    words.add_argument("--top-k", type=int, help="next words listed per text (default: predict.top_k)")
    words.add_argument("--generate", type=int, default=0, metavar="N", help="continue each text by N words")
    words.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default); > 0: sampled")
    words.add_argument("--seed", type=int, help="the sampling seed: the same seed gives the same text")
    return parser


def next_words(predictor: Any, frame: pd.DataFrame, options: dict[str, Any], unit: str = "text") -> Scored:
    """Pure core of a language model's predict: every text's answer, invalid ones with their reasons."""
    from pipeline.serving.responses import answer_rows

    frame = frame.reset_index(drop=True)
    result = predictor.score_frame(frame)
    bad = {e.row for e in result.errors}
    good = [i for i in range(len(frame)) if i not in bad]
    answers: list[dict[str, Any] | None] = [None] * len(frame)
    if good:
        valid = answer_rows(predictor, result.probabilities[good], None, frame.iloc[good], options)
        for i, answer in zip(good, valid, strict=True):
            answers[i] = answer
    out = frame.copy()
    for key in ("label", "probability", "top", "unknown_words", "known_token_share", "warning", "generated"):
        if key != "generated" or options.get("generate"):
            out[key] = [a.get(key) if a else None for a in answers]
    out["error"] = ["; ".join(e.message for e in result.errors if e.row == i) for i in range(len(frame))]
    return Scored(out, result.errors, unit)


def read_inputs(
    args: argparse.Namespace, text_column: str | None
) -> tuple[pd.DataFrame, str, str, RowMap | None]:
    """The rows to score, what a row is called, where they came from, and a CSV's file lines.
    ``text_column``: the kind's text column; None for a table (rows from a CSV only)."""
    if args.text is not None:
        if text_column is None:
            raise DataError(f"--text is for text tasks; {args.task!r} reads rows from --input FILE.csv")
        return pd.DataFrame({text_column: args.text}), "text", "--text", None
    if text_column is not None and args.input.suffix.lower() != ".csv":
        return read_lines(args.input, text_column), "line", str(args.input), None
    frame, row_map = read_csv(args.input, text_column)
    return frame, "data row", str(args.input), row_map


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.serving.inference import Predictor
    from pipeline.tasks.answers import DEFAULT_NEUTRAL_BAND, check_neutral_band

    try:
        if args.neutral_band is not None:
            check_neutral_band(args.neutral_band)
    except ValueError as exc:
        raise DataError(f"--neutral-band: {exc}") from exc

    uri = args.model or f"models:/{args.task}@champion"
    predictor = Predictor.load(uri, threads=args.threads)
    check_model(predictor, args.task, uri)
    band = args.neutral_band
    if band is None:  # the bundle's, as exported from tasks.<task>.predict.neutral_band
        band = predictor.output.get("neutral_band") or DEFAULT_NEUTRAL_BAND
    if args.explain:
        check_explainable(predictor, wants_batch_path(args))
    if predictor.encoder.whole_request or args.history:
        return _predict_history(args, predictor, uri)
    if wants_batch_path(args):
        return run_batch(args, predictor, uri, answer_options(predictor, args.neutral_band))
    kind = kind_named(predictor.kind)
    text_column = kind.text_column(predictor.encoder)
    frame, unit, source, row_map = read_inputs(args, text_column)
    if kind.answers_next_words():
        return predict_next_words(args, predictor, frame, uri, source, unit)
    scored = score(predictor, frame, neutral_band=band, unit=unit, row_map=row_map, explain=args.explain)
    problem = file_level_problem(scored)
    if problem:
        raise DataError(f"{source}: {problem}")
    for line in [*error_lines(scored), *warning_lines(scored)]:
        print(line, file=sys.stderr)
    status = exit_status(scored)
    if status == EXIT_FAILED:
        raise DataError(f"{source}: no valid {unit} among {len(frame)}; nothing was scored")

    if args.output:
        write_output(scored, args.output)
    elif args.format == "csv":
        sys.stdout.write(to_csv(scored))
    elif args.format == "json":
        sys.stdout.write(to_json(scored))
    else:
        ids = [c for c in getattr(predictor.encoder, "passthrough", []) if c in frame.columns]
        print(render_table(scored, ids, text_column))
    summary = f"predict {args.task}: {scored.n_valid} of {len(frame)} {unit}s scored with {uri}"
    if scored.n_invalid:
        summary += f"; {scored.n_invalid} invalid"
    if args.output:
        summary += f"; wrote {args.output}"
    print(summary, file=sys.stderr)
    return status


def wants_batch_path(args: argparse.Namespace) -> bool:
    """Parquet in or out, or a rejects file asked for: stream the file (``pipeline.commands.score``)."""
    parquet = any(p is not None and p.suffix.lower() == ".parquet" for p in (args.input, args.output))
    if (parquet or args.rejects) and (args.input is None or args.output is None):
        raise DataError("the batch path (Parquet, --rejects) needs both --input FILE and --output FILE")
    return parquet or args.rejects is not None


def _predict_history(args: Any, predictor: Any, uri: str) -> int:
    """A forecaster reads one history (``--history``); other models read rows or texts."""
    from pipeline.commands.predict_history import predict_history

    if not (predictor.encoder.whole_request and args.history):
        wanted = "--history" if predictor.encoder.whole_request else "--input or --text"
        raise DataError(f"{uri}: this model reads {wanted}")
    return predict_history(args, predictor, uri)


def predict_next_words(
    args: argparse.Namespace, predictor: Any, frame: pd.DataFrame, uri: str, source: str, unit: str
) -> int:
    from pipeline.serving.responses import check_request_params

    given = {  # the bundle's top_k unless --top-k is given; its max_generate bounds --generate
        "top_k": args.top_k or predictor.output.get("top_k") or TOP_K,
        "generate": args.generate,
        "temperature": args.temperature,
    }
    if args.seed is not None:
        given["seed"] = args.seed
    try:
        options = check_request_params(predictor, given)
    except ValueError as exc:
        raise DataError(f"--{str(exc).replace('_', '-')}") from exc
    scored = next_words(predictor, frame, options, unit)
    for line in error_lines(scored):
        print(line, file=sys.stderr)
    status = exit_status(scored)
    if status == EXIT_FAILED:
        raise DataError(f"{source}: no valid {unit} among {len(frame)}; nothing was scored")
    if args.output:
        write_output(scored, args.output)
    elif args.format == "table":
        print(render_next_words(scored, predictor.encoder.text_column))
    else:
        sys.stdout.write(to_json(scored) if args.format == "json" else to_csv(scored))
    print(f"predict {args.task}: {scored.n_valid} of {len(frame)} {unit}s with {uri}", file=sys.stderr)
    return status
