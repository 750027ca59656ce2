"""uvicorn's HTTP protocol for ``serve``, with JSON errors and bounds on slow, idle and surplus clients.

A request line and headers must arrive within ``serve.header_timeout_s`` and a body within
``serve.body_timeout_s`` (else 408 ``DEADLINE_EXCEEDED`` and a close; a connection that sent nothing
is closed without an answer), an idle keep-alive connection is closed after ``serve.idle_timeout_s``,
and a connection opened while ``serve.max_connections`` are open gets 503
``TEMPORARILY_UNAVAILABLE`` with ``Retry-After: 1``. A request that is not valid HTTP gets a JSON 400.
A request line and headers over ``serve.max_header_bytes``, or with more than ``serve.max_headers``
headers, get 431 ``REQUEST_HEADER_FIELDS_TOO_LARGE`` and a close, counted as the bytes arrive: a
30 MB header is refused after its first ``max_header_bytes``, never held whole. Warnings of malformed
and refused requests are rate-limited (:mod:`pipeline.serving.warnings_budget`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline.core.config import ServeConfig
from pipeline.serving.requests import JSON_TYPE, error_body
from pipeline.serving.warnings_budget import WarningBudget

OVERFLOW_HEADER_TIMEOUT_S = 1.0  # a connection past serve.max_connections waits this long at most
HEAD_END = b"\r\n\r\n"


class HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request past ``serve.max_headers``."""


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
    warnings = WarningBudget(logging.getLogger("uvicorn.error"))  # and with a budget of its own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = self.warnings  # type: ignore[assignment]  # uvicorn's warnings, rate-limited
        self.head_bytes = 0  # bytes of this request's line and headers so far
        self.head_count = 0  # its headers so far
        self.tail = b""  # the last bytes read, for a blank line split between two reads
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
        if not self.in_body and self._over_head_bytes(data):
            return
        self.tail = data[-3:]
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
        self.head_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_count += 1
        if self.head_count > self.limits.max_headers:
            self._refuse_head(f"more than {self.limits.max_headers} headers (serve.max_headers)")
            raise HeadersTooLarge  # stops the parser; uvicorn's 400 then finds the answer sent
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_headers, self.in_body = False, True
        self.head_bytes = 0
        self._disarm()  # the header clock; the body's starts if this read leaves it incomplete
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_body = False
        self._disarm()
        super().on_message_complete()

    # -- the size of a request line and headers
    def _over_head_bytes(self, data: bytes) -> bool:
        """Count the bytes of ``data`` that belong to a request's line and headers (up to the
        blank line that ends them, else all); past ``serve.max_header_bytes``, answer 431."""
        end = (self.tail + data).find(HEAD_END)
        self.head_bytes += len(data) if end < 0 else max(end + len(HEAD_END) - len(self.tail), 0)
        if self.head_bytes <= self.limits.max_header_bytes:
            return False
        limit = self.limits.max_header_bytes
        self._refuse_head(f"the request line and headers are over {limit} bytes (serve.max_header_bytes)")
        return True

    def _refuse_head(self, why: str) -> None:
        client = "{}:{}".format(*self.client) if self.client else "?"
        self.logger.warning("431: %s from %s", why, client)
        self.send_error(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", why)

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
        if self.transport.is_closing():  # answered already (a 431 from a parser callback)
            return
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
