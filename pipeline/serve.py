"""serve: an HTTP scoring server that speaks MLflow's protocol, on ONNX Runtime alone.

    python -m pipeline serve churn                      # models:/churn@champion
    python -m pipeline serve sentiment --model models/sentiment/lstm --port 8080

A client cannot tell it from ``mlflow models serve -m models:/<task>@champion``:

* ``POST /invocations`` with ``Content-Type: application/json`` and exactly one of
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
  ``{"dataframe_records": [{...}, ...]}``, ``{"instances": [...]}`` or ``{"inputs": [...]}``
  (a list of records, of value lists in the encoder's column order, of texts, or a dict of
  columns), optionally with ``"params": {"neutral_band": 0.2}`` (sentiment); or ``text/csv``.
  The answer is ``{"predictions": [...]}`` with one item per row, exactly what the registered
  pyfunc returns (:mod:`pipeline.responses`): churn ``{"probability": p, "prediction": 0|1}``,
  sentiment ``{"probability": p, "label": "Positive"|"Negative"|"Neutral"}``.
* ``GET /health`` and ``GET /ping``: 200 ``{"status": "ok", "task", "arch", "model"}``;
  ``GET /version``: the package and ONNX Runtime versions.

Errors are JSON, ``{"error_code": "BAD_REQUEST", "message": "...", "errors": [{"row": i, "column":
..., "message": ...}, ...]}``, never a crash: 400 for invalid JSON, an unknown or ambiguous format,
a missing field, a wrong type, an invalid row; 411 without a Content-Length; 413 for a body over
``serve.max_body_bytes`` or more than ``serve.max_rows`` rows; 415 for another content type; 404/405
for other paths and methods; 500 (``INTERNAL_ERROR``) only for a fault of the server itself.
``row`` is the 0-based position of the row in the request.

Policy: a request with any invalid row is refused whole (400) and every bad row is listed. This is
what ``mlflow models serve`` does (the pyfunc raises on bad input), so a client sees the same
all-or-nothing behaviour from both, and never has to match partial results to rows.

Design: the standard library's ``ThreadingHTTPServer`` (a daemon thread per connection, HTTP/1.1
keep-alive) around one ONNX Runtime session loaded once (``serve.ort_threads`` intra-op threads,
``--threads`` overrides). ORT releases the GIL while it computes, so concurrent requests overlap.
TensorFlow is never imported, and MLflow only to resolve a ``models:/``/``runs:/`` URI.
SIGTERM or SIGINT stop accepting connections, let in-flight requests finish (up to 30 s), close
the socket and exit 0.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

from pipeline.config import TASKS, ServeConfig
from pipeline.errors import PipelineError
from pipeline.preprocess import RowError, TextEncoder

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPE, CSV_TYPE = "application/json", "text/csv"
DRAIN_LIMIT = 16 * 1024 * 1024  # read and drop an oversized body up to this size to answer cleanly
SHUTDOWN_GRACE_S = 30.0
IDLE_TIMEOUT_S = 60.0  # an idle keep-alive connection is closed after this


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and per-row details."""

    def __init__(self, status: int, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

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
            raise RequestError(400, "dataframe_split.columns has duplicate names")
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
    is_text = isinstance(encoder, TextEncoder)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str if is_text else None, keep_default_na=not is_text)
    except pd.errors.EmptyDataError as exc:
        raise RequestError(400, "the CSV body is empty; expected a header line and rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise RequestError(400, f"the body is not a readable CSV: {exc}") from exc
    _check_count(len(frame), max_rows)
    return frame


def parse_params(doc: Any) -> dict[str, Any]:
    """MLflow's optional ``params``: here only ``neutral_band`` (sentiment)."""
    from pipeline.responses import check_neutral_band

    if not isinstance(doc, dict) or doc.get("params") is None:
        return {}
    params = doc["params"]
    if not isinstance(params, dict):
        raise RequestError(400, f"params must be an object; got {_kind(params)}")
    unknown = sorted(set(params) - {"neutral_band"})
    if unknown:
        raise RequestError(400, f"unknown param(s) {', '.join(unknown)}; supported: neutral_band")
    try:
        return (
            {"neutral_band": check_neutral_band(params["neutral_band"])} if "neutral_band" in params else {}
        )
    except ValueError as exc:
        raise RequestError(400, f"params.{exc}") from exc


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
    neutral_band: float
    max_rows: int = 1_000
    max_body_bytes: int = 1_048_576
    started: float = field(default_factory=time.time)

    @property
    def task(self) -> str:
        return self.predictor.task or self.predictor.kind

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "task": self.predictor.task,
            "arch": self.predictor.arch,
            "model": self.model_uri,
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
        from pipeline.responses import format_predictions

        mime = content_type_of(content_type)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(400, f"the body is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
        encoder = self.predictor.encoder
        options: dict[str, Any] = {}
        errors: list[RowError] = []
        if mime == CSV_TYPE:
            frame = frame_from_csv(text, encoder, self.max_rows)
            index, n_rows = list(range(len(frame))), len(frame)
        else:
            try:
                doc = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
            options = parse_params(doc)
            rows, errors = rows_from_json(doc, encoder, self.max_rows)
            bad = {e.row for e in errors}
            index, n_rows = [i for i in range(len(rows)) if i not in bad], len(rows)
            frame = None
        if n_rows == 0:
            return {"predictions": []}
        if frame is None:
            valid_rows = [rows[i] for i in index]
            result = self.predictor.score_records(valid_rows) if valid_rows else None
        else:
            result = self.predictor.score_frame(frame) if len(frame) else None
        if result is not None:  # encoder rows -> request rows
            errors += [RowError(index[e.row], e.message, e.column) for e in result.errors]
        if errors or result is None:
            errors.sort(key=lambda e: e.row)
            n_bad = len({e.row for e in errors})
            raise RequestError(
                400, f"{n_bad} of {n_rows} rows are invalid; nothing was scored (fix or drop them)", errors
            )
        band = options.get("neutral_band", self.neutral_band)
        return {"predictions": format_predictions(self.task, result.probabilities, band)}


# -------------------------------------------------------------------------- HTTP layer
class ScoringServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up the shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: ScoringService, access_log: bool = False) -> None:
        super().__init__(address, ScoringHandler)
        self.service = service
        self.access_log = access_log
        self.draining = False
        self._active = 0
        self._idle = threading.Condition()

    def request_started(self) -> None:
        with self._idle:
            self._active += 1

    def request_finished(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled; False if some still are after ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ScoringHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "pipeline-serve"
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: ScoringServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        self.server.request_started()
        try:
            status, payload = self._route(method)
        except RequestError as exc:
            status, payload = exc.status, exc.body()
        except Exception as exc:  # a fault of ours: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            status, payload = (
                500,
                error_body(f"internal error: {type(exc).__name__}: {exc}", code="INTERNAL_ERROR"),
            )
            self.close_connection = True
        try:
            self._send(status, payload)
        finally:
            self.server.request_finished()

    def _route(self, method: str) -> tuple[int, dict[str, Any]]:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        service = self.server.service
        routes = {"/health": "GET", "/ping": "GET", "/version": "GET", "/invocations": "POST"}
        if path not in routes:
            self._discard_body()
            return 404, error_body(
                f"no endpoint {path}; try POST /invocations or GET /health", code="NOT_FOUND"
            )
        if method != routes[path]:
            self._discard_body()
            return 405, error_body(f"{path} accepts {routes[path]} only, not {method}")
        if path == "/version":
            return 200, service.version()
        if path in ("/health", "/ping"):
            return 200, service.health()
        body = self._read_body(service.max_body_bytes)
        return 200, service.invocations(body, self.headers.get("Content-Type"))

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise RequestError(411, "a Content-Length header is required")
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError
        except ValueError as exc:
            self.close_connection = True
            raise RequestError(400, f"invalid Content-Length {length_header!r}") from exc
        if length > limit:
            if length <= DRAIN_LIMIT:
                self._drain(length)
            else:
                self.close_connection = True
            raise RequestError(413, f"the body has {length} bytes; at most {limit} (serve.max_body_bytes)")
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                self.close_connection = True
                raise RequestError(400, "malformed chunked body") from exc
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise RequestError(413, f"the body is over {limit} bytes (serve.max_body_bytes)")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 < length <= DRAIN_LIMIT:
            self._drain(length)
        elif length:
            self.close_connection = True

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if self.server.draining:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's own errors (malformed request line, unsupported method) as JSON too."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unparsable request line: still send a status line
            self.request_version = "HTTP/1.0"
        text = message or self.responses.get(code, ("error",))[0]
        self._send(code, error_body(text, code="INTERNAL_ERROR" if code == 500 else "BAD_REQUEST"))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            super().log_message(format, *args)


def make_server(service: ScoringService, host: str, port: int, access_log: bool = False) -> ScoringServer:
    return ScoringServer((host, port), service, access_log)


def run_until_signalled(server: ScoringServer, grace_s: float = SHUTDOWN_GRACE_S) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight requests and close."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=server.serve_forever, name="serve", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():
                break
    finally:
        server.draining = True
        server.shutdown()
        finished = server.wait_idle(grace_s)
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(
        "serve: stopped" + ("" if finished else f" (requests still running after {grace_s:g} s were cut)"),
        file=sys.stderr,
        flush=True,
    )
    return 0


# --------------------------------------------------------------------------------- CLI
def serve_settings() -> tuple[ServeConfig, float]:
    """serve.* and the neutral band from params.yaml, or the defaults outside a checkout."""
    from pipeline.config import params
    from pipeline.paths import project_root
    from pipeline.responses import DEFAULT_NEUTRAL_BAND

    if not (project_root() / "params.yaml").is_file():
        return ServeConfig(), DEFAULT_NEUTRAL_BAND
    p = params()
    return p.serve, p.sentiment.predict.neutral_band


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline serve",
        description="HTTP server speaking MLflow's scoring protocol (POST /invocations), on ONNX Runtime.",
    )
    parser.add_argument("task", choices=TASKS)
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    parser.add_argument("--host", help="interface to listen on (default: serve.host)")
    parser.add_argument("--port", type=int, help="port (default: serve.port; 0 picks a free one)")
    parser.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads (default: serve.ort_threads)"
    )
    parser.add_argument(
        "--neutral-band", type=float, help="sentiment: default sentiment.predict.neutral_band"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    from pipeline.inference import Predictor
    from pipeline.predict import check_model
    from pipeline.responses import check_neutral_band

    settings, band = serve_settings()
    try:
        band = check_neutral_band(band if args.neutral_band is None else args.neutral_band)
    except ValueError as exc:
        raise PipelineError(f"--neutral-band: {exc}") from exc
    uri = args.model or f"models:/{args.task}@champion"
    threads = settings.ort_threads if args.threads is None else args.threads
    predictor = Predictor.load(uri, threads=threads)
    check_model(predictor, args.task, uri)
    service = ScoringService(predictor, uri, band, settings.max_rows, settings.max_body_bytes)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    try:
        server = make_server(service, host, port, args.access_log)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    print(
        f"serve {args.task}/{predictor.arch or '?'} ({uri}) on {server.url} "
        f"(POST /invocations, GET /health); Ctrl-C or SIGTERM stops",
        flush=True,
    )
    return run_until_signalled(server)
