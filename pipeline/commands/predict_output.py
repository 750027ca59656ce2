"""What predict writes: the scored rows (:class:`Scored`), their problems on stderr, and the
table, CSV or JSON they are written as."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.io import write_text
from pipeline.core.rows import RowMap
from pipeline.encoders.base import RowError

MAX_ERROR_LINES = 100
SHORT_HEADERS = {"known_token_share": "known", "top": "top classes", "class_name": "class"}  # table headers


@dataclass
class Scored:
    """The input rows with ``probability``, ``prediction``/``label``, ``class_name`` and ``error``
    columns."""

    frame: pd.DataFrame
    errors: list[RowError]  # 0-based rows
    unit: str  # how a row is called to the user: "data row", "line" or "text"
    row_map: RowMap | None = None  # a CSV's file lines
    # the answer's columns, as the kind's ``predict_columns`` made them (shown by the table when
    # the answer has no ``probability``: a numeric target's value and interval)
    answer_columns: tuple[str, ...] = ()

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
    """Probabilities to ``digits`` decimals for files (float32 carries about 7 digits); an answer
    without probabilities is left as its kind wrote it."""
    if "probability" not in frame.columns:
        return frame
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
    prediction/label, the class's name, a text's known-word share, a multi-class model's top classes,
    text, error."""
    frame = scored.frame
    outcome = "label" if "label" in frame.columns else "prediction"
    answer = (
        ["probability", outcome, *(["class_name"] if "class_name" in frame.columns else [])]
        if "probability" in frame.columns
        else list(scored.answer_columns)
    )
    columns = [*id_columns, *answer]
    # a multi-class model's best classes ("label p; label p"), as the CSV and JSON carry them
    columns += [c for c in ("known_token_share", "top", "explanation") if c in frame.columns]
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


def explanation_text(explanation: dict[str, Any] | None) -> str:
    """An explanation on one line: ``Age=62: +0.213; IsActiveMember=0: +0.105`` (a table's columns
    with their values and SHAP contributions), ``great: +0.482`` (a text's words); empty for none."""
    if not explanation:
        return ""
    parts = [
        f"{item['column']}={item['value']}: {item['contribution']:+.4f}"
        if "column" in item
        else f"{item['word']}: {item['change']:+.4f}"
        for item in explanation["top"]
    ]
    return "; ".join(parts)


def check_explainable(predictor: Any, batch_path: bool) -> None:
    """Refuse ``--explain`` before scoring: on the streaming path, or for a model whose kind cannot."""
    from pipeline.serving.responses import explain_rows

    if batch_path:
        raise DataError("--explain works on a CSV or texts scored in memory, not with Parquet or --rejects")
    try:
        explain_rows(predictor, [], np.empty(0))
    except ValueError as exc:
        raise DataError(f"--explain: {exc}") from exc
