"""``serve --log-requests PATH``: every answered request's inputs and answers, one JSON line each,
in a file rotated by size (``logging.handlers.RotatingFileHandler``: ``PATH``, ``PATH.1``, ...).

A line is ``{"time": ISO UTC, "model": URI, "content_type": ..., "request": the JSON body}`` (or
``"csv": the CSV body``) ``+ {"predictions": [...]}``. ``monitor --requests PATH`` reads every
file back (oldest first) with the server's own parsing, so it sees the rows the model saw. Only
requests answered 200 are logged; off (None on the service) by default, when nothing is done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.serving.requests import CSV_TYPE, RequestError, content_type_of, frame_from_csv, rows_from_json

MAX_ROWS_READ = 10**9  # the server's max_rows was checked when the request came


class RequestLog:
    """Appends one JSON line per answered request to ``path``, rotating past ``max_bytes``."""

    def __init__(self, path: Path, model: str, max_bytes: int, backups: int) -> None:
        if max_bytes < 1024 or backups < 1:
            raise ValueError("--log-max-bytes must be at least 1024 and --log-backups at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.model = path, model
        self.handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger = logging.Logger(f"requests:{path}")  # not in logging's tree: nothing propagates
        self.logger.addHandler(self.handler)

    def write(self, body: bytes, content_type: str | None, answer: dict[str, Any]) -> None:
        text = body.decode("utf-8")
        mime = content_type_of(content_type)
        line: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "model": self.model,
            "content_type": mime,
        }
        line |= {"csv": text} if mime == CSV_TYPE else {"request": json.loads(text)}
        line["predictions"] = answer.get("predictions", [])
        self.logger.info(json.dumps(line, ensure_ascii=False, allow_nan=False, default=str))

    def close(self) -> None:
        self.handler.close()


def log_files(path: Path) -> list[Path]:
    """``path`` and its rotated copies, oldest first (``PATH.N`` ... ``PATH.1``, ``PATH``)."""
    rotated = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    rotated.sort(key=lambda p: -int(p.suffix[1:]))
    return [*rotated, *([path] if path.is_file() else [])]


def read_request_log(path: Path, encoder: Any) -> pd.DataFrame:
    """Every logged request's rows as one table in the encoder's columns; ValueError naming the
    file and line of anything unreadable."""
    files = log_files(path)
    if not files:
        raise ValueError(f"{path}: not found (nor any rotated {path.name}.N)")
    frames: list[pd.DataFrame] = []
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    frames.append(_request_rows(raw, encoder, f"{file}: line {number}"))
    if not frames:
        raise ValueError(f"{path}: no request logged yet")
    return pd.concat(frames, ignore_index=True)


def _request_rows(raw: str, encoder: Any, where: str) -> pd.DataFrame:
    try:
        line = json.loads(raw)
        if "csv" in line:
            return frame_from_csv(line["csv"], encoder, MAX_ROWS_READ)
        records, _ = rows_from_json(line["request"], encoder, MAX_ROWS_READ)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not a request log line ({type(exc).__name__}: {exc})") from exc
    except RequestError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return encoder.records_to_frame(records)
