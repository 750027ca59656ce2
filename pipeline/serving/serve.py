"""serve: an HTTP scoring server that speaks MLflow's protocol, on ONNX Runtime alone.

    python -m pipeline serve churn                      # models:/churn@champion
    python -m pipeline serve sentiment --model models/sentiment/lstm --port 8080

A client cannot tell it from ``mlflow models serve -m models:/<task>@champion``:

* ``POST /invocations`` with ``Content-Type: application/json`` and exactly one of
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
  ``{"dataframe_records": [{...}, ...]}``, ``{"instances": [...]}`` or ``{"inputs": [...]}``
  (a list of records, of value lists in the encoder's column order, of texts, or a dict of
  columns), optionally with ``"params": {"neutral_band": 0.2}`` (sentiment) or ``{"top_k": 5,
  "generate": 10, "temperature": 0.8, "seed": 1}`` (a next-word model); or ``text/csv``.
  The answer is ``{"predictions": [...]}`` with one item per row, exactly what the registered
  pyfunc returns (:mod:`pipeline.serving.responses`): churn ``{"probability": p, "prediction": 0|1}``,
  sentiment ``{"probability": p, "label": "Positive"|"Negative"|"Neutral", "known_token_share": s,
  "warning": null|"..."}`` (Neutral with a warning when no word of the text is known), a
  multi-class model ``{"label": class, "probability": p, "top": [...]}``, a next-word model the
  same plus ``"unknown_words"``, ``"known_token_share"``, ``"warning"`` and, with ``generate``,
  ``"generated"``.
* ``GET /``: a page to try the model in a browser (:mod:`pipeline.serving.page`), which calls
  ``/invocations`` itself.
* ``GET /health`` and ``GET /ping``: 200 ``{"status": "ok", "task", "arch", "model",
  "registered_model", "model_version", "alias", "run_id", "onnx_sha256"}``: what is served, the
  registry version an alias resolved to at start-up (null for a local model directory) and the
  SHA-256 of the ONNX file loaded; ``GET /version``: the same plus package and ONNX Runtime versions.

Errors are JSON, ``{"error_code": "BAD_REQUEST", "message": "...", "errors": [{"row": i, "column":
..., "message": ...}, ...]}``, never a crash: 400 for invalid JSON, an unknown or ambiguous format,
a missing field, a wrong type, an invalid row, or a request that is not valid HTTP; 411 without a
Content-Length (or chunked body); 413 for a body over ``serve.max_body_bytes`` or more than
``serve.max_rows`` rows; 415 for another content type; 404/405 for other paths and methods; 500
(``INTERNAL_ERROR``) only for a fault of the server itself. Rows are numbered as everywhere in the
pipeline (:mod:`pipeline.core.rows`): ``row`` counts the request's rows from 1 (the first row,
record, instance or text is row 1); for a CSV body it is the data row (counted from 1 under the
header, a blank line being a row too) and ``line`` is its line in the body (the header is line 1).

Slow and idle clients are bounded (:class:`JsonErrorProtocol`): a request line and headers must
arrive within ``serve.header_timeout_s`` and a body within ``serve.body_timeout_s`` (else 408
``DEADLINE_EXCEEDED`` and a close; a connection that sent nothing is closed without an answer), an
idle keep-alive connection is closed after ``serve.idle_timeout_s``, and a connection opened while
``serve.max_connections`` are open gets 503 ``TEMPORARILY_UNAVAILABLE`` with ``Retry-After: 1``.

Policy: a request with any invalid row is refused whole (400) and every bad row is listed. This is
what ``mlflow models serve`` does (the pyfunc raises on bad input), so a client sees the same
all-or-nothing behaviour from both, and never has to match partial results to rows.

Design: uvicorn (the ASGI server under ``mlflow models serve``) with its C parts, ``uvloop`` and
``httptools``, running a plain ASGI callable (no web framework: five routes) around one ONNX
Runtime session loaded once (``serve.ort_threads`` intra-op threads, ``--threads`` overrides).
One event loop and no thread per connection: a single-row request costs about 0.2 ms of one core,
most of it our JSON checks, so 8 concurrent clients stay within a few milliseconds at p99 on
2 cores (``reports/bench.md``). A body over 16 KiB is a big batch: big batches are scored one at
a time, on the event loop, :data:`CHUNK_ROWS` rows at a time, and the loop serves the small
requests that came meanwhile between two chunks (about 0.3 ms of work each for churn rows). A
worker thread would starve them instead: it holds the GIL for its Python work (row checks,
encoding), and the loop waits up to the interpreter's 5 ms switch interval for it at every turn.
One worker-thread call per chunk avoids that, but its GIL hand-offs make a 1000-row churn batch 2-3
times slower (``bench``'s mixed-load row, README "Benchmark").
TensorFlow is never imported, and MLflow only to resolve a ``models:/``/``runs:/`` URI.
SIGTERM or SIGINT stop accepting connections, let in-flight requests finish (up to 30 s, answered
with ``Connection: close``), close idle keep-alive connections and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline.core.config import ServeConfig
from pipeline.core.errors import PipelineError
from pipeline.core.rows import csv_header, header_problem, scan_rows
from pipeline.encoders.base import RowError
from pipeline.encoders.text import TextEncoder
from pipeline.serving.inference import ScoreResult

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPE, CSV_TYPE = "application/json", "text/csv"
DRAIN_LIMIT = 16 * 1024 * 1024  # an oversized body up to this size is discarded, the connection kept
OFFLOAD_BYTES = 16 * 1024  # bodies past this are big batches: one at a time, in chunks (below)
CHUNK_ROWS = 64  # a big batch is scored this many rows at a time, the loop serving others between
SHUTDOWN_GRACE_S = 30.0
OVERFLOW_HEADER_TIMEOUT_S = 1.0  # a connection past serve.max_connections waits this long at most


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and per-row details."""

    def __init__(
        self, status: int, message: str, errors: list[RowError] | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.close = close  # end the connection after answering

    def body(self) -> dict[str, Any]:
        return error_body(self.message, [e.as_dict() for e in self.errors])


def error_body(message: str, errors: list[dict[str, Any]] | None = None, code: str = "BAD_REQUEST") -> dict:
    return {"error_code": code, "message": message, "errors": errors or []}


# ------------------------------------------------------------------------ parsing (pure)
def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def rows_from_json(doc: Any, encoder: Any, max_rows: int) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The rows of an MLflow JSON payload as dicts, plus structural errors of single rows.

    Raises :class:`RequestError` when the payload as a whole is unusable.
    """
    if not isinstance(doc, dict):
        raise RequestError(
            400, f"the body must be a JSON object with one of {', '.join(FORMATS)}; got {_kind(doc)}"
        )
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = ", ".join(map(str, doc)) or "none"
        raise RequestError(
            400, f"the body must hold exactly one of {', '.join(FORMATS)}; found keys: {found}"
        )
    fmt = keys[0]
    value = doc[fmt]
    text_column = encoder.text_column if isinstance(encoder, TextEncoder) else None
    columns = [text_column] if text_column else list(encoder.input_columns)

    if fmt == "dataframe_split":
        if not isinstance(value, dict):
            raise RequestError(
                400, f"dataframe_split must be an object with 'columns' and 'data'; got {_kind(value)}"
            )
        for name in ("columns", "data"):
            if name not in value:
                raise RequestError(400, f"dataframe_split is missing the field {name!r}")
        names, data = value["columns"], value["data"]
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise RequestError(400, "dataframe_split.columns must be a list of column names (strings)")
        if len(set(names)) != len(names):
            raise RequestError(400, f"dataframe_split.columns: {header_problem(names)}")
        if not isinstance(data, list):
            raise RequestError(400, f"dataframe_split.data must be a list of rows; got {_kind(data)}")
        _check_count(len(data), max_rows)
        rows, errors = [], []
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(names):
                got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
                errors.append(
                    RowError(i, f"expected a list of {len(names)} values (one per column), got {got}")
                )
                rows.append({})
            else:
                rows.append(dict(zip(names, row, strict=True)))
        return rows, errors

    if fmt == "dataframe_records":
        if not isinstance(value, list):
            raise RequestError(400, f"dataframe_records must be a list of objects; got {_kind(value)}")
        _check_count(len(value), max_rows)
        rows, errors = [], []
        for i, row in enumerate(value):
            if isinstance(row, dict):
                rows.append(row)
            else:
                errors.append(
                    RowError(i, f"expected an object mapping column names to values, got {_kind(row)}")
                )
                rows.append({})
        return rows, errors

    # instances / inputs: a list of rows, a dict of columns, or (text) a single string
    if isinstance(value, str) and text_column:
        value = [value]
    if isinstance(value, dict):
        lengths = {len(v) if isinstance(v, list) else None for v in value.values()}
        if lengths == {None}:  # one row given as {column: value}
            value = [value]
        elif None in lengths or len(lengths) != 1:
            raise RequestError(400, f"{fmt} as an object must map every column to a list of the same length")
        else:
            n = lengths.pop() if lengths else 0
            _check_count(n, max_rows)
            return [{k: v[i] for k, v in value.items()} for i in range(n)], []
    if not isinstance(value, list):
        raise RequestError(400, f"{fmt} must be a list of rows or an object of columns; got {_kind(value)}")
    _check_count(len(value), max_rows)
    rows, errors = [], []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            rows.append(item)
        elif text_column and not isinstance(item, list):
            rows.append({text_column: item})  # the encoder reports non-strings as wrong types
        elif isinstance(item, list) and len(item) == len(columns):
            rows.append(dict(zip(columns, item, strict=True)))
        else:
            expected = (
                "a text or an object"
                if text_column
                else (f"an object or a list of {len(columns)} values in the order {', '.join(columns)}")
            )
            got = f"a list of {len(item)} values" if isinstance(item, list) else _kind(item)
            errors.append(RowError(i, f"expected {expected}, got {got}"))
            rows.append({})
    return rows, errors


def _check_count(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise RequestError(413, f"{n} rows in one request; at most {max_rows} (serve.max_rows)")


def frame_from_csv(text: str, encoder: Any, max_rows: int) -> pd.DataFrame:
    """The rows of a CSV body. A blank line is a row (refused as empty), so that no later row
    number shifts; blank lines at the end are not rows."""
    is_text = isinstance(encoder, TextEncoder)
    text = text.rstrip("\r\n") + "\n"
    problem = header_problem(csv_header(text))  # before pandas renames a second 'Age' to 'Age.1'
    if problem:
        raise RequestError(400, f"the CSV body: {problem}")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str if is_text else None,
            keep_default_na=not is_text,
            skip_blank_lines=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise RequestError(400, "the CSV body is empty; expected a header line and rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise RequestError(400, f"the body is not a readable CSV: {exc}") from exc
    _check_count(len(frame), max_rows)
    return frame


def _csv_lines(errors: list[RowError], text: str, n_rows: int) -> list[RowError]:
    """The errors of a CSV body with the body line of each row (computed only when there are errors)."""
    rows = scan_rows(text.rstrip("\r\n") + "\n", keep_blank=True, expected=n_rows)
    if rows is None:
        return errors
    return [RowError(e.row, e.message, e.column, rows.line(e.row)) for e in errors]


def parse_params(doc: Any, predictor: Any) -> dict[str, Any]:
    """MLflow's optional ``params``, as the model's kind takes them: ``neutral_band`` (a classifier);
    ``top_k``, ``generate``, ``temperature`` and ``seed`` (a language model)."""
    from pipeline.serving.responses import check_request_params

    if not isinstance(doc, dict) or doc.get("params") is None:
        return {}
    params = doc["params"]
    if not isinstance(params, dict):
        raise RequestError(400, f"params must be an object; got {_kind(params)}")
    try:
        return check_request_params(predictor, params)
    except ValueError as exc:
        message = str(exc)
        raise RequestError(400, message if message.startswith("unknown") else f"params.{message}") from exc


@functools.lru_cache(maxsize=64)  # clients send the same header on every request
def content_type_of(header: str | None) -> str:
    """The media type, checked like MLflow: only UTF-8, no other parameters."""
    if not header:
        return JSON_TYPE  # curl-style clients that send none get JSON
    mime, *rest = (part.strip() for part in header.split(";"))
    extra = {}
    for part in rest:
        key, _, value = part.partition("=")
        extra[key.strip().lower()] = value.strip().strip('"').lower()
    if extra.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise RequestError(415, f"only UTF-8 bodies are supported; got charset {extra['charset']}")
    if set(extra) - {"charset"}:
        raise RequestError(
            415, f"unsupported content type parameters: {', '.join(sorted(set(extra) - {'charset'}))}"
        )
    mime = mime.lower()
    if mime not in (JSON_TYPE, CSV_TYPE):
        raise RequestError(415, f"content type {mime!r} is not supported; use {JSON_TYPE} or {CSV_TYPE}")
    return mime


# ----------------------------------------------------------------------- the service
@dataclass
class ScoringService:
    """Everything a request needs: the predictor, its limits, and what /health reports."""

    predictor: Any
    model_uri: str
    neutral_band: float | None = None  # None: the bundle's (a binary text model's output contract)
    max_rows: int = 1_000
    max_body_bytes: int = 1_048_576
    max_generate: int | None = None  # None: the bundle's most generated words per request
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        overrides = {"neutral_band": self.neutral_band, "max_generate": self.max_generate}
        for key, value in overrides.items():  # only where the bundle's contract has the setting
            if value is not None and key in self.predictor.output:
                self.predictor.output = self.predictor.output | {key: value}
        source = self.predictor.source  # what Predictor.load resolved the URI to
        self.identity = {  # computed once: /health answers without touching the disk
            "registered_model": source.registered_model,
            "model_version": source.version,
            "alias": source.alias,
            "run_id": source.run_id,
            "onnx_sha256": self.predictor.onnx_sha256,
        }

    @property
    def task(self) -> str:
        return self.predictor.task or self.predictor.kind

    @functools.cached_property
    def page(self) -> bytes:
        """The HTML page of ``GET /``, filled once from the model's encoder."""
        from pipeline.serving.page import page_config, render_page

        band = self.predictor.output.get("neutral_band")
        return render_page(page_config(self.predictor, self.identity, band))

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "task": self.predictor.task,
            "arch": self.predictor.arch,
            "model": self.model_uri,
            **self.identity,
        }

    def version(self) -> dict[str, Any]:
        import importlib.metadata

        import onnxruntime

        try:
            version = importlib.metadata.version("dl-pipeline")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return {
            "version": version,
            "onnxruntime": onnxruntime.__version__,
            "python": sys.version.split()[0],
            **self.health(),
        }

    def invocations(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        """Score one request; raises :class:`RequestError` for anything the client must fix."""
        batch = self.parse(body, content_type)
        n = len(batch.index)
        return self.answer(batch, [(0, batch.score(0, n))] if n else [])

    async def invocations_in_chunks(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        """:meth:`invocations` for a big batch: :data:`CHUNK_ROWS` rows at a time, giving the event
        loop a turn between chunks to serve the small requests that came meanwhile."""
        batch = self.parse(body, content_type)
        n, results = len(batch.index), []
        for lo in range(0, n, CHUNK_ROWS):
            if lo:
                await asyncio.sleep(0)
            results.append((lo, batch.score(lo, min(lo + CHUNK_ROWS, n))))
        return self.answer(batch, results)

    def parse(self, body: bytes, content_type: str | None) -> Batch:
        """The request's rows, ready to score, and its structural errors."""
        mime = content_type_of(content_type)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(400, f"the body is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
        encoder = self.predictor.encoder
        if mime == CSV_TYPE:
            frame = frame_from_csv(text, encoder, self.max_rows)
            n = len(frame)
            return Batch(
                n,
                list(range(n)),
                lambda lo, hi: self.predictor.score_frame(frame.iloc[lo:hi]),
                csv_text=text,
                inputs=frame,
            )
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
        options = parse_params(doc, self.predictor)
        rows, errors = rows_from_json(doc, encoder, self.max_rows)
        bad = {e.row for e in errors}
        index = [i for i in range(len(rows)) if i not in bad]
        valid = [rows[i] for i in index]
        return Batch(
            len(rows),
            index,
            lambda lo, hi: self.predictor.score_records(valid[lo:hi]),
            errors,
            options,
            inputs=valid,
        )

    def answer(self, batch: Batch, results: list[tuple[int, ScoreResult]]) -> dict[str, Any]:
        """The predictions from the scored chunks ``(first valid row, result)``; or the 400 that
        lists every invalid row."""
        from pipeline.serving.responses import answer_rows

        if batch.n_rows == 0:
            return {"predictions": []}
        errors = list(batch.errors)
        for lo, result in results:  # chunk rows -> request rows
            errors += [RowError(batch.index[lo + e.row], e.message, e.column) for e in result.errors]
        if errors or not batch.index:
            if batch.csv_text is not None:
                errors = _csv_lines(errors, batch.csv_text, batch.n_rows)
            errors.sort(key=lambda e: e.row)
            n_bad = len({e.row for e in errors})
            message = f"{n_bad} of {batch.n_rows} rows are invalid; nothing was scored (fix or drop them)"
            raise RequestError(400, message, errors)
        if len(results) == 1:  # one chunk: its results are the batch's (the usual request)
            probabilities, shares = results[0][1].probabilities, results[0][1].known_token_share
        else:  # (n,) or (n, n_classes) probabilities, and text's known-token shares, chunk by chunk
            probabilities = np.concatenate([r.probabilities for _, r in results])
            has_shares = results[0][1].known_token_share is not None
            shares = np.concatenate([r.known_token_share for _, r in results]) if has_shares else None
        answers = answer_rows(self.predictor, probabilities, shares, batch.inputs, batch.options)
        return {"predictions": answers}


@dataclass
class Batch:
    """A parsed request: ``score(lo, hi)`` scores its valid rows ``lo`` to ``hi``; ``index`` maps
    each valid row to its position in the request."""

    n_rows: int
    index: list[int]
    score: Callable[[int, int], ScoreResult]
    errors: list[RowError] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    csv_text: str | None = None  # a CSV body: to give each invalid row its line
    inputs: Any = None  # the valid rows (records, or a CSV's DataFrame): a language model reads their texts


# -------------------------------------------------------------------------- HTTP layer
class ScoringApp:
    """The ASGI application: routes, body limits and JSON errors around a :class:`ScoringService`."""

    def __init__(self, service: ScoringService) -> None:
        self.service = service
        self.big_batches = asyncio.Semaphore(1)  # one big batch scored at a time; the rest wait

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        if scope["method"] == "GET" and not scope["path"].strip("/"):
            await self._send_page(send)
            return
        close = False
        try:
            status, payload = await self._route(scope, receive)
        except RequestError as exc:
            status, payload, close = exc.status, exc.body(), exc.close
        except ClientGone:
            return
        except Exception as exc:  # a fault of ours: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            message = f"internal error: {type(exc).__name__}: {exc}"
            status, payload, close = 500, error_body(message, code="INTERNAL_ERROR"), True
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers = [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(data)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _send_page(self, send: Any) -> None:
        from pipeline.serving.page import CONTENT_SECURITY_POLICY

        data = self.service.page
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"cache-control", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _route(self, scope: dict[str, Any], receive: Any) -> tuple[int, dict[str, Any]]:
        path = scope["path"].rstrip("/") or "/"
        method = scope["method"]
        routes = {"/": "GET", "/health": "GET", "/ping": "GET", "/version": "GET", "/invocations": "POST"}
        if path not in routes:
            return 404, error_body(
                f"no endpoint {path}; try POST /invocations, GET /health or GET / (a page to try the model)",
                code="NOT_FOUND",
            )
        if method != routes[path]:
            return 405, error_body(f"{path} accepts {routes[path]} only, not {method}")
        if path == "/version":
            return 200, self.service.version()
        if path in ("/health", "/ping"):
            return 200, self.service.health()
        headers = dict(scope["headers"])
        body = await read_body(headers, receive, self.service.max_body_bytes)
        content_type = headers[b"content-type"].decode("latin-1") if b"content-type" in headers else None
        if len(body) > OFFLOAD_BYTES:  # a big batch: see the module docstring
            async with self.big_batches:
                return 200, await self.service.invocations_in_chunks(body, content_type)
        return 200, self.service.invocations(body, content_type)


class ClientGone(Exception):
    """The client disconnected before its request was complete: nobody to answer."""


async def read_body(headers: dict[bytes, bytes], receive: Any, limit: int) -> bytes:
    """The request body, refused with 411 without a length and 413 past ``limit`` bytes."""
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    if b"content-length" not in headers and not chunked:
        raise RequestError(411, "a Content-Length header is required", close=True)
    if not chunked:  # the HTTP parser has already refused a Content-Length that is not a number
        length = int(headers[b"content-length"])
        if length > limit:  # refused before reading; the server discards the body it then receives
            message = f"the body has {length} bytes; at most {limit} (serve.max_body_bytes)"
            raise RequestError(413, message, close=length > DRAIN_LIMIT)
    parts, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise RequestError(413, f"the body is over {limit} bytes (serve.max_body_bytes)", close=True)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


class JsonErrorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with JSON errors and bounds on slow, idle and surplus clients.

    uvicorn 0.54 arms its keep-alive timer only after a response, so on its own it holds a
    connection that sends nothing, half its headers or half its body for ever. Here each
    connection runs one timer at a time:

    * from its opening, or a request's first byte, until the headers are in:
      ``header_timeout_s``; if part of a request came, the answer is a 408, else the connection
      is closed quietly (it was idle);
    * from the headers until the body is in: ``body_timeout_s``; a 408 if the application has
      not answered yet (it is waiting for the body), else a close;
    * between requests, uvicorn's keep-alive timer: ``idle_timeout_s``, then a quiet close.

    A timer that fires while uvicorn itself has paused reading (pipelined requests, a body the
    application has not consumed yet), or while the previous request's answer is not out yet,
    starts again: that wait is the server's, not the client's.
    A connection opened while ``max_connections`` are open gets a 503 (with ``Retry-After``) as
    soon as its request headers are in, and at most :data:`OVERFLOW_HEADER_TIMEOUT_S` to send
    them, so that surplus connections cannot pile up. Every one of these answers carries
    ``Connection: close`` and the connection is then closed.
    """

    limits: ServeConfig = ServeConfig()  # make_server subclasses this with the served settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = self.limits.header_timeout_s
        self.in_headers = False  # part of a request line or headers has come, not all
        self.in_body = False  # a request's headers have come, not all of its body
        # Armed only when a read leaves a request incomplete (and when a connection opens, since
        # a client may send nothing): the usual request, which arrives whole in one read, costs
        # no timer at all.
        self.read_timer: asyncio.TimerHandle | None = None

    # -- timers
    def _arm(self, timeout_s: float) -> None:
        self.read_timer = self.loop.call_later(timeout_s, self._expired)

    def _disarm(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _expired(self) -> None:
        self.read_timer = None
        if self.transport.is_closing():
            return
        behind = self.flow.read_paused or (  # uvicorn stopped reading, or, between requests,
            not self.in_body and self.cycle is not None and not self.cycle.response_complete
        )  # the previous answer is not out yet: the wait is the server's, start again
        if behind:
            self._arm(self.limits.body_timeout_s if self.in_body else self.header_timeout_s)
        elif self.in_body:
            self._body_timeout()
        else:
            self._header_timeout()

    def _header_timeout(self) -> None:
        if self.in_headers:
            self.send_error(
                408,
                "DEADLINE_EXCEEDED",
                f"the request line and headers did not arrive within {self.header_timeout_s:g} s "
                "(serve.header_timeout_s)",
            )
        else:  # not a byte of a request: an idle connection, closed without an answer
            self.transport.close()

    def _body_timeout(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the application's receive() returns http.disconnect
            cycle.message_event.set()
            self.send_error(
                408,
                "DEADLINE_EXCEEDED",
                f"the request body did not arrive within {self.limits.body_timeout_s:g} s "
                "(serve.body_timeout_s)",
            )
        else:  # answered already without reading the whole body (e.g. a 413)
            self.transport.close()

    # -- uvicorn's hooks
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = refuse_overloaded
            self.header_timeout_s = min(self.header_timeout_s, OVERFLOW_HEADER_TIMEOUT_S)
        self._arm(self.header_timeout_s)  # from the opening: the client may send nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # cancels the keep-alive timer, feeds the parser
        if self.read_timer is not None or self.transport.is_closing():
            return  # a clock runs already (a deadline counts from the first byte, not the last)
        if self.in_body:  # this read left a body incomplete
            self._arm(self.limits.body_timeout_s)
        elif self.in_headers or (
            self.timeout_keep_alive_task is None and (self.cycle is None or self.cycle.response_complete)
        ):  # headers incomplete; or bytes that begin no request (blank lines) after an answer
            self._arm(self.header_timeout_s)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_headers = True

    def on_headers_complete(self) -> None:
        self.in_headers, self.in_body = False, True
        self._disarm()  # the header clock; the body's starts if this read leaves it incomplete
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_body = False
        self._disarm()
        super().on_message_complete()

    # -- answers the application never sees
    def send_error(self, status: int, code: str, message: str) -> None:
        data = json.dumps(error_body(message, code=code)).encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: {JSON_TYPE}\r\n"
            f"content-length: {len(data)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + data)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self.send_error(400, "BAD_REQUEST", f"malformed HTTP request: {msg}")


async def refuse_overloaded(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The application of a connection opened past ``serve.max_connections``."""
    data = json.dumps(
        error_body(
            "too many open connections (serve.max_connections); retry shortly",
            code="TEMPORARILY_UNAVAILABLE",
        )
    ).encode("utf-8")
    headers = [
        (b"content-type", JSON_TYPE.encode()),
        (b"content-length", str(len(data)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": data})


@dataclass
class Listener:
    """A uvicorn server and the socket it serves, bound before it starts (so port 0 is known)."""

    server: uvicorn.Server
    sock: socket.socket

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        """Serve from a background thread (tests, notebooks); :meth:`stop` ends it."""
        thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self.server.should_exit = True
        thread.join(10)


def make_server(
    service: ScoringService,
    host: str,
    port: int,
    access_log: bool = False,
    grace_s: float = SHUTDOWN_GRACE_S,
    limits: ServeConfig | None = None,
) -> Listener:
    """A server for ``service`` with the timeouts and connection cap of ``limits`` (``serve.*``)."""
    limits = limits or ServeConfig()
    sock = socket.create_server((host, port), backlog=1024)
    protocol = type("ServeProtocol", (JsonErrorProtocol,), {"limits": limits})
    config = uvicorn.Config(
        ScoringApp(service),
        loop="uvloop",
        http=protocol,
        lifespan="off",
        access_log=access_log,
        log_level="info" if access_log else "warning",
        timeout_keep_alive=limits.idle_timeout_s,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=int(grace_s),
        server_header=False,
    )
    return Listener(uvicorn.Server(config), sock)


def run_until_signalled(listener: Listener) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight requests and close.

    uvicorn catches the signal, drains, and then raises it again for the handler that was in
    place before; a no-op one turns that into a clean exit 0.
    """
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        listener.server.run(sockets=[listener.sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("serve: stopped", file=sys.stderr, flush=True)
    return 0


# --------------------------------------------------------------------------------- CLI
def serve_settings() -> ServeConfig:
    """serve.* (the server's limits) from params.yaml, or the defaults outside a checkout; what the
    model answers comes from its bundle."""
    from pipeline.core.config import params
    from pipeline.core.paths import project_root

    if not (project_root() / "params.yaml").is_file():
        return ServeConfig()
    return params().serve


def with_overrides(settings: ServeConfig, **overrides: Any) -> ServeConfig:
    """``settings`` with the command-line values that were given, checked like params.yaml's."""
    from pydantic import ValidationError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return ServeConfig.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        flags = "; ".join(
            f"--{str(e['loc'][0]).removesuffix('_s').replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise PipelineError(flags) from exc


FD_RESERVE = 64  # descriptors beyond the connections: the model, logs, the listening socket...


def raise_fd_limit(max_connections: int) -> int:
    """Make room for ``max_connections`` open sockets under the soft file-descriptor limit,
    raising it up to the hard limit if needed; refuse settings the process could not honour
    (the server would fail, /health included, when out of descriptors). Returns the limit."""
    import resource

    needed = max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise PipelineError(
                f"serve.max_connections={max_connections} needs {needed} file descriptors, but this "
                f"process may open at most {hard} (ulimit -Hn): lower serve.max_connections "
                f"(--max-connections) or raise the limit"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return soft


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline serve",
        description=(
            "HTTP server speaking MLflow's scoring protocol (POST /invocations), on ONNX Runtime; "
            "GET / is a page to try the model in a browser."
        ),
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    parser.add_argument("--host", help="interface to listen on (default: serve.host)")
    parser.add_argument("--port", type=int, help="port (default: serve.port; 0 picks a free one)")
    parser.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads (default: serve.ort_threads)"
    )
    parser.add_argument(
        "--neutral-band", type=float, help="sentiment: default the model bundle's (its predict.neutral_band)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    limits = parser.add_argument_group(
        "slow and idle clients", "answered 408, 503 or closed; defaults: serve.* in params.yaml"
    )
    limits.add_argument(
        "--header-timeout", type=float, metavar="S", help="seconds for a request line and headers"
    )
    limits.add_argument(
        "--body-timeout", type=float, metavar="S", help="seconds for a body once its headers are in"
    )
    limits.add_argument(
        "--idle-timeout", type=float, metavar="S", help="seconds an idle keep-alive connection stays"
    )
    limits.add_argument("--max-connections", type=int, metavar="N", help="open connections served at once")
    args = parser.parse_args(argv)

    from pipeline.serving.inference import Predictor, check_model
    from pipeline.tasks.answers import check_neutral_band

    settings = serve_settings()
    try:
        band = None if args.neutral_band is None else check_neutral_band(args.neutral_band)
    except ValueError as exc:
        raise PipelineError(f"--neutral-band: {exc}") from exc
    settings = with_overrides(
        settings,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        idle_timeout_s=args.idle_timeout,
        max_connections=args.max_connections,
    )
    raise_fd_limit(settings.max_connections)
    uri = args.model or f"models:/{args.task}@champion"
    threads = settings.ort_threads if args.threads is None else args.threads
    predictor = Predictor.load(uri, threads=threads)
    check_model(predictor, args.task, uri)
    service = ScoringService(predictor, uri, band, settings.max_rows, settings.max_body_bytes)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    try:
        listener = make_server(service, host, port, args.access_log, limits=settings)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    print(
        f"serve {args.task}/{predictor.arch or '?'} ({uri}) on {listener.url} "
        f"(POST /invocations, GET /health; try it in a browser at {listener.url}/); "
        "Ctrl-C or SIGTERM stops",
        flush=True,
    )
    return run_until_signalled(listener)
