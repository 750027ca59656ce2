"""predict: score raw customer rows or review texts with ONNX Runtime (never TensorFlow).

    python -m pipeline predict churn --input customers.csv --output scored.csv
    python -m pipeline predict sentiment --text "A fine film." --text "Dull and far too long."
    python -m pipeline predict sentiment --model models/sentiment/lstm --input reviews.txt
    python -m pipeline predict nextword --text "to be or not to" --top-k 5 --generate 10

The model is ``models:/<task>@champion`` from the MLflow registry unless ``--model`` names another
MLflow URI or a local model directory (``model.onnx`` + ``encoder.json``).

Inputs. churn: a CSV of raw rows in the training schema (id and target columns may be present and
are carried through). sentiment: repeated ``--text``, or ``--input`` with a ``.csv`` holding the
text column (``text`` by default) or any other file with one review per line.

Outputs. A table on stdout, or ``--output FILE`` as CSV (``.json``: a JSON list of records). Every
input row is kept, in order, with the input columns plus ``probability``, ``prediction`` (churn:
1 when p >= 0.5) or ``label`` (sentiment: Positive / Negative, Neutral when ``|p - 0.5|`` is below
the neutral band), for sentiment ``known_token_share`` (the share of the text's tokens in the
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
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.io import write_text
from pipeline.core.rows import RowMap, csv_header, header_problem, scan_rows
from pipeline.encoders.base import RowError
from pipeline.encoders.text import TextEncoder
from pipeline.serving.inference import check_model

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
CHUNK_ROWS = 8192  # rows per ONNX Runtime call: bounded memory on big files
MAX_ERROR_LINES = 100
SHORT_HEADERS = {"known_token_share": "known"}  # table headers


@dataclass
class Scored:
    """The input rows with ``probability``, ``prediction``/``label`` and ``error`` columns."""

    frame: pd.DataFrame
    errors: list[RowError]  # 0-based rows
    unit: str  # how a row is called to the user: "data row", "line" or "text"
    row_map: RowMap | None = None  # a CSV's file lines

    def label(self, index: int) -> str:
        """How the row at ``index`` (0-based) is named to the user."""
        if self.row_map is not None:
            return self.row_map.label(index)
        return f"{self.unit} {index + 1}"

    @property
    def n_invalid(self) -> int:
        return len({e.row for e in self.errors})

    @property
    def n_valid(self) -> int:
        return len(self.frame) - self.n_invalid


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
) -> Scored:
    """Pure core: score every valid row of ``frame``; keep invalid ones with their reasons."""
    from pipeline.tasks.answers import (
        check_neutral_band,
        churn_prediction,
        classifier_answers,
        sentiment_outcome,
    )

    band = check_neutral_band(neutral_band)
    frame = frame.reset_index(drop=True)
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
    by_row: dict[int, list[str]] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(f"column {e.column!r}: {e.message}" if e.column else e.message)
    out = restore_integers(frame)  # the echo only; the encoder saw the values as read
    is_text = isinstance(predictor.encoder, TextEncoder)
    if multiclass:
        answers = classifier_answers(
            probabilities, predictor.classes, known_shares=shares if is_text else None
        )
        out["label"] = [a["label"] for a in answers]
        out["probability"] = [a["probability"] for a in answers]
        out["top"] = [
            "; ".join(f"{t['label']} {t['probability']:.3f}" for t in a["top"]) if a["top"] else ""
            for a in answers
        ]
        if is_text:
            out["known_token_share"] = shares.round(4)
            out["warning"] = [a["warning"] or "" for a in answers]
        out["error"] = ["; ".join(by_row[i]) if i in by_row else "" for i in range(len(out))]
        return Scored(out, errors, unit, row_map)
    out["probability"] = probabilities
    valid = ~np.isnan(probabilities)
    if is_text:
        outcomes = [
            sentiment_outcome(p, s, band) if ok else (None, None)
            for p, s, ok in zip(probabilities, shares, valid, strict=True)
        ]
        out["label"] = [label for label, _ in outcomes]
        out["known_token_share"] = shares.round(4)
        out["warning"] = [warning or "" for _, warning in outcomes]
    else:
        out["prediction"] = pd.array(
            [churn_prediction(p) if ok else None for p, ok in zip(probabilities, valid, strict=True)],
            dtype="Int64",
        )
    out["error"] = ["; ".join(by_row[i]) if i in by_row else "" for i in range(len(out))]
    return Scored(out, errors, unit, row_map)


def exit_status(scored: Scored) -> int:
    if scored.n_invalid == 0:
        return EXIT_OK
    return EXIT_PARTIAL if scored.n_valid else EXIT_FAILED


def error_lines(scored: Scored, limit: int = MAX_ERROR_LINES) -> list[str]:
    """``data row N (file line M): reason`` (or ``line N``, ``text N``) per invalid row, at most
    ``limit`` lines then a count."""
    rows = sorted({e.row for e in scored.errors})
    reasons = scored.frame["error"]
    lines = [f"{scored.label(i)}: {reasons.iloc[i]}" for i in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more invalid {scored.unit}s")
    return lines


def warning_lines(scored: Scored, limit: int = MAX_ERROR_LINES) -> list[str]:
    """``text N: warning`` per scored row with a warning (a text with no known word)."""
    if "warning" not in scored.frame.columns:
        return []
    rows = [i for i, w in enumerate(scored.frame["warning"].tolist()) if w]
    lines = [f"{scored.label(i)}: {scored.frame['warning'].iloc[i]}" for i in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more {scored.unit}s with no known word")
    return lines


def file_level_problem(scored: Scored) -> str | None:
    """The message when every row fails for the same column-level reason (e.g. a missing column)."""
    if scored.n_valid or not scored.errors:
        return None
    messages = {e.message for e in scored.errors if e.column is None}
    if len(messages) == 1 and all(e.column is None for e in scored.errors):
        return messages.pop()
    return None


# ----------------------------------------------------------------------------- output
def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN/NA become null, NumPy scalars plain numbers."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
                clean[str(key)] = None
            elif isinstance(value, np.generic):
                clean[str(key)] = value.item()
            else:
                clean[str(key)] = value
        out.append(clean)
    return out


def rounded(frame: pd.DataFrame, digits: int = 6) -> pd.DataFrame:
    """Probabilities to ``digits`` decimals for files (float32 carries about 7 digits)."""
    return frame.assign(probability=frame["probability"].round(digits))


def to_csv(scored: Scored) -> str:
    return rounded(scored.frame).to_csv(index=False)


def to_json(scored: Scored) -> str:
    return json.dumps(records(rounded(scored.frame)), indent=2, allow_nan=False) + "\n"


def write_output(scored: Scored, path: Path) -> None:
    """CSV, or JSON when the name ends in ``.json``; written atomically."""
    write_text(path, to_json(scored) if path.suffix.lower() == ".json" else to_csv(scored))


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if not math.isnan(value) else ""
    return str(value)


def render_table(
    scored: Scored, id_columns: list[str], text_column: str | None = None, width: int = 60
) -> str:
    """A fixed-width table: row number (and a CSV's file line), id columns, probability,
    prediction/label, text, error."""
    frame = scored.frame
    outcome = "label" if "label" in frame.columns else "prediction"
    columns = [*id_columns, "probability", outcome]
    if "known_token_share" in frame.columns:
        columns.append("known_token_share")
    places = ["row", "line"] if scored.row_map is not None else [scored.unit.split()[-1]]
    headers = [*places, *(SHORT_HEADERS.get(c, c) for c in columns)]
    body = []
    for i in range(len(frame)):
        place = [str(i + 1)] + ([str(scored.row_map.line(i))] if scored.row_map is not None else [])
        cells = [*place, *(_cell(frame[c].iloc[i]) for c in columns)]
        body.append(cells)
    if text_column is not None:
        headers.append("text")
        for cells, value in zip(body, frame[text_column].tolist(), strict=True):
            text = _cell(value).replace("\n", " ")
            cells.append(text if len(text) <= width else text[: width - 3] + "...")
    headers.append("error")
    for cells, reason in zip(body, frame["error"].tolist(), strict=True):
        cells.append(reason)
    widths = [max(len(h), *(len(r[j]) for r in body)) for j, h in enumerate(headers)]
    first = len(places)
    numbers = {"probability", "prediction", "known_token_share"}
    numeric = {*range(first), *(j + first for j, c in enumerate(columns) if c in numbers)}

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if j in numeric else c.ljust(w)
            for j, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)])


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


def render_next_words(scored: Scored, text_column: str) -> str:
    """Per text: its next words with their probabilities, unknown words, and the continuation."""
    blocks = []
    for _, row in scored.frame.iterrows():
        lines = [f"{row[text_column]!r}"]
        if row["error"]:
            lines.append(f"  error: {row['error']}")
        else:
            width = max(len(t["label"]) for t in row["top"])
            lines += [f"  {t['label']:<{width}}  {t['probability']:.4f}" for t in row["top"]]
            if row["unknown_words"]:
                lines.append(f"  unknown words (read as the OOV token): {', '.join(row['unknown_words'])}")
            if row["warning"]:
                lines.append(f"  warning: {row['warning']}")
            if "generated" in row and row["generated"] is not None:
                lines.append(f"  continued: {row[text_column]} {row['generated']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.core.config import params
    from pipeline.serving.inference import Predictor
    from pipeline.tasks.answers import DEFAULT_NEUTRAL_BAND, check_neutral_band

    if args.text is not None and params().task(args.task).kind == "tabular":
        raise DataError(f"--text is for text tasks; {args.task!r} reads rows from --input FILE.csv")
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
    encoder = predictor.encoder

    row_map = None
    if args.text is not None:
        frame, unit, source = pd.DataFrame({encoder.text_column: args.text}), "text", "--text"
    elif isinstance(encoder, TextEncoder) and args.input.suffix.lower() != ".csv":
        frame, unit, source = read_lines(args.input, encoder.text_column), "line", str(args.input)
    else:
        text_column = encoder.text_column if isinstance(encoder, TextEncoder) else None
        (frame, row_map), unit, source = read_csv(args.input, text_column), "data row", str(args.input)

    if predictor.kind == "language_model":
        return predict_next_words(args, predictor, frame, uri, source, unit)
    scored = score(predictor, frame, neutral_band=band, unit=unit, row_map=row_map)
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
        ids = [c for c in getattr(encoder, "passthrough", []) if c in frame.columns]
        text_column = encoder.text_column if isinstance(encoder, TextEncoder) else None
        print(render_table(scored, ids, text_column))
    summary = f"predict {args.task}: {scored.n_valid} of {len(frame)} {unit}s scored with {uri}"
    if scored.n_invalid:
        summary += f"; {scored.n_invalid} invalid"
    if args.output:
        summary += f"; wrote {args.output}"
    print(summary, file=sys.stderr)
    return status


def predict_next_words(
    args: argparse.Namespace, predictor: Any, frame: pd.DataFrame, uri: str, source: str, unit: str
) -> int:
    from pipeline.serving.responses import check_request_params

    given = {
        "top_k": args.top_k or predictor.output.get("top_k") or 5,
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
