"""The HTTP side of ``serve``: an ASGI application on uvicorn, speaking MLflow's scoring protocol.

A client cannot tell it from ``mlflow models serve -m models:/<task>@champion``:

* ``POST /invocations``: a scoring request (:mod:`pipeline.serving.requests`), answered
  ``{"predictions": [...]}`` with one item per row (:mod:`pipeline.serving.service`).
* ``GET /``: a page to try the model in a browser (:mod:`pipeline.serving.page`), which calls
  ``/invocations`` itself.
* ``GET /health`` and ``GET /ping``: 200 ``{"status": "ok", "task", "arch", "model",
  "registered_model", "model_version", "alias", "run_id", "onnx_sha256"}``: what is served, the
  registry version an alias resolved to at start-up (null for a local model directory) and the
  SHA-256 of the ONNX file loaded; ``GET /version``: the same plus package and ONNX Runtime versions.

Errors are JSON, never a crash: those of :mod:`pipeline.serving.requests`; 400 for a request that is
not valid HTTP; 411 without a Content-Length (or chunked body); 413 for a body over
``serve.max_body_bytes``; 431 for a request line and headers over ``serve.max_header_bytes`` or with
more than ``serve.max_headers`` headers; 404/405 for other paths and methods; 500
(``INTERNAL_ERROR``) only for a fault of the server itself. Slow, idle, oversized and surplus
clients are bounded by :class:`pipeline.serving.protocol.JsonErrorProtocol`.

Design: uvicorn (the ASGI server under ``mlflow models serve``) with its C parts, ``uvloop`` and
``httptools``, running a plain ASGI callable (no web framework: five routes) around one ONNX
Runtime session loaded once (``serve.ort_threads`` intra-op threads, ``--threads`` overrides).
One event loop and no thread per connection: a single-row request costs about 0.2 ms of one core,
most of it our JSON checks, so 8 concurrent clients stay within a few milliseconds at p99 on
2 cores (``reports/bench.md``). A body over 16 KiB is a big batch: the loop hands its bytes to a
worker process of lower CPU priority (:mod:`pipeline.serving.big_batches`), one big batch at a
time, and goes on serving the small requests while it is scored. A request with ``"explain"`` goes
there too, so that explaining never holds the loop that answers everyone else.
TensorFlow is never imported, and MLflow only to resolve a ``models:/``/``runs:/`` URI.
SIGTERM or SIGINT stop accepting connections, let in-flight requests finish (up to 30 s, answered
with ``Connection: close``), close idle keep-alive connections and exit 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import uvicorn

from pipeline.core.config import ServeConfig
from pipeline.serving.big_batches import BigBatchWorker, encode
from pipeline.serving.protocol import JsonErrorProtocol
from pipeline.serving.requests import JSON_TYPE, RequestError, error_body
from pipeline.serving.service import ScoringService
from pipeline.serving.warnings_budget import WarningBudget

DRAIN_LIMIT = 16 * 1024 * 1024  # an oversized body up to this size is discarded, the connection kept
OFFLOAD_BYTES = 16 * 1024  # bodies past this are big batches: one at a time, in the worker process
EXPLAIN_KEY = b'"explain"'  # a request asking for explanations: scored in the worker process too
SHUTDOWN_GRACE_S = 30.0


class ScoringApp:
    """The ASGI application: routes, body limits and JSON errors around a :class:`ScoringService`."""

    def __init__(self, service: ScoringService) -> None:
        self.service = service
        self.big_batches = asyncio.Semaphore(1)  # one big batch scored at a time; the rest wait
        self.worker = BigBatchWorker(service)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        if scope["method"] == "GET" and not scope["path"].strip("/"):
            await self._send_page(send)
            return
        close = False
        try:
            status, payload = await self._route(scope, receive)
            if isinstance(payload, tuple):  # a big batch's answer, encoded by the worker
                payload, close = payload
        except RequestError as exc:
            status, payload, close = exc.status, exc.body(), exc.close
        except ClientGone:
            return
        except Exception as exc:  # a fault of ours: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            message = f"internal error: {type(exc).__name__}: {exc}"
            status, payload, close = 500, error_body(message, code="INTERNAL_ERROR"), True
        data = payload if isinstance(payload, bytes) else encode(payload)
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

    async def _route(self, scope: dict[str, Any], receive: Any) -> tuple[int, Any]:
        """The status and the answer: a dict, or from the worker ``(JSON bytes, close)``."""
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
        # a big batch, or an explained request (~25 ms a row, and shap's import on the first): see the
        # module docstring. A "explain" key in a small body is found in ~1 µs; a text holding the word
        # in quotes is escaped (\"explain\"), so it does not match
        if len(body) > OFFLOAD_BYTES or EXPLAIN_KEY in body:
            async with self.big_batches:
                status, data, close = await self.worker.invocations(body, content_type)
            if status == 200 and self.service.request_log is not None:
                self.service.request_log.write(body, content_type, json.loads(data))
            return status, (data, close)
        answer = self.service.invocations(body, content_type)
        if self.service.request_log is not None:  # serve --log-requests
            self.service.request_log.write(body, content_type, answer)
        return 200, answer


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


@dataclass
class Listener:
    """A uvicorn server and the socket it serves, bound before it starts (so port 0 is known)."""

    server: uvicorn.Server
    sock: socket.socket
    app: ScoringApp

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
        self.app.worker.close()


class CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record comes, not the one at start-up."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_server_logging() -> None:
    """uvicorn's loggers with uvicorn's formats, set up once and touching no other logger.

    uvicorn's own set-up (``logging.config.dictConfig``) first closes every handler in the process:
    an embedding program's files, or absl's handler, which then closes the stream it held (a test
    run's captured stderr, seen as every later test failing with "I/O operation on closed file").
    """
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    formats = {
        "uvicorn": DefaultFormatter("%(levelprefix)s %(message)s"),
        "uvicorn.access": AccessFormatter(
            '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
        ),
    }
    for name, formatter in formats.items():
        logger = logging.getLogger(name)
        if not any(isinstance(handler, CurrentStderr) for handler in logger.handlers):
            handler = CurrentStderr()
            handler.setFormatter(formatter)
            logger.addHandler(handler)
            logger.propagate = False


def make_server(
    service: ScoringService,
    host: str,
    port: int,
    access_log: bool = False,
    grace_s: float = SHUTDOWN_GRACE_S,
    limits: ServeConfig | None = None,
) -> Listener:
    """A server for ``service`` with the timeouts, header caps and connection cap of ``limits``
    (``serve.*``)."""
    limits = limits or ServeConfig()
    sock = socket.create_server((host, port), backlog=1024)
    budget = WarningBudget(logging.getLogger("uvicorn.error"))  # this server's warnings a minute
    protocol = type("ServeProtocol", (JsonErrorProtocol,), {"limits": limits, "warnings": budget})
    app = ScoringApp(service)
    configure_server_logging()
    config = uvicorn.Config(
        app,
        log_config=None,  # configure_server_logging's instead
        loop="uvloop",
        http=protocol,
        lifespan="off",
        access_log=access_log,
        log_level="info" if access_log else "warning",
        timeout_keep_alive=limits.idle_timeout_s,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=int(grace_s),
        server_header=False,
    )
    return Listener(uvicorn.Server(config), sock, app)


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
        listener.app.worker.close()  # after the drain: in-flight big batches are answered
    print("serve: stopped", file=sys.stderr, flush=True)
    return 0
