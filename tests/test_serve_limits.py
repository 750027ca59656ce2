"""serve's bounds on bytes: header caps answered 431 as they arrive, a rate-limited log, and a
clear message for a port that is in use. Loopback only, a bounded number of clients."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from tiny_models import churn_model_dir

from pipeline.core.config import ServeConfig
from pipeline.core.errors import PipelineError
from pipeline.serving.app import Listener, make_server
from pipeline.serving.inference import Predictor
from pipeline.serving.service import ScoringService
from pipeline.serving.warnings_budget import WarningBudget

LIMITS = ServeConfig(max_header_bytes=4_096, max_headers=20, header_timeout_s=5)
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return churn_model_dir(tmp_path_factory.mktemp("limits"))


@pytest.fixture(scope="module")
def server(model_dir) -> Iterator[Listener]:
    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir), 0.1)
    listener = make_server(service, "127.0.0.1", 0, limits=LIMITS)
    thread = listener.start_in_thread()
    yield listener
    listener.stop(thread)


def exchange(server: Listener, parts: list[bytes], wait_after: int | None = None) -> tuple[bytes, int]:
    """Send ``parts`` (stopping if the server closes; with ``wait_after``, read the reply after
    that many parts before sending the rest), read until the server closes; the reply and the
    bytes that went out before it came."""
    sent = 0
    with socket.create_connection(server.sock.getsockname()[:2], timeout=5) as sock:
        reply = b""
        try:
            for i, part in enumerate(parts):
                if i == wait_after:
                    reply = sock.recv(65536)  # the answer comes without the rest of the request
                    break
                sock.sendall(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    return reply, sent


def status_and_error(reply: bytes) -> tuple[str, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    assert b"connection: close" in head.lower(), head
    return head.split(b"\r\n")[0].decode(), json.loads(body)


def assert_431(reply: bytes, setting: str) -> None:
    status, error = status_and_error(reply)
    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert set(error) == {"error_code", "message", "errors"} and error["errors"] == []
    assert error["error_code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE" and setting in error["message"]


def health(server: Listener) -> bytes:
    reply, _ = exchange(server, [HEALTH + b"Connection: close\r\n\r\n"])
    return reply.split(b"\r\n")[0]


def test_a_header_line_over_the_cap_is_refused_431_as_it_arrives_and_the_server_goes_on(server):
    # 2 MB of one header, in 8 KiB writes: answered after the first writes, before the rest
    parts = [HEALTH + b"X-Big: "] + [b"a" * 8_192] * 256 + [b"\r\n\r\n"]
    reply, sent = exchange(server, parts, wait_after=2)
    assert_431(reply, "serve.max_header_bytes")
    assert sent < 10_000
    assert health(server) == b"HTTP/1.1 200 OK"


def test_a_long_request_line_counts_too(server):
    reply, _ = exchange(server, [b"GET /health?" + b"q" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert_431(reply, "serve.max_header_bytes")


def test_more_headers_than_the_cap_are_refused_431(server):
    within = HEALTH + b"".join(b"X-%d: 1\r\n" % i for i in range(18)) + b"Connection: close\r\n\r\n"
    assert exchange(server, [within])[0].startswith(b"HTTP/1.1 200 ")  # 20 headers: the cap
    many = HEALTH + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n"  # small in bytes
    assert len(many) < LIMITS.max_header_bytes
    assert_431(exchange(server, [many])[0], "serve.max_headers")
    assert health(server) == b"HTTP/1.1 200 OK"


def test_a_request_with_a_body_counts_only_its_head(server):
    body = json.dumps({"instances": [{"x": "y" * 100}] * 60}).encode()  # 8 KB: over the head cap
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    request = head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    reply, _ = exchange(server, [request])  # one write: head and body may come in one read
    assert reply.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"  # refused by its rows, not its size


def test_keep_alive_requests_each_get_their_own_header_budget(server):
    one = HEALTH + b"X-Pad: " + b"p" * 3_000 + b"\r\n\r\n"  # 3 KB each, 4 KB cap
    reply, _ = exchange(server, [one] * 3 + [HEALTH + b"Connection: close\r\n\r\n"])
    assert reply.count(b"HTTP/1.1 200 OK") == 4


def test_warnings_are_rate_limited_then_counted():
    records: list[str] = []
    logger = logging.getLogger("test.warnings_budget")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    now = [0.0]
    budget = WarningBudget(logger, per_interval=3, interval_s=10, clock=lambda: now[0])
    for i in range(1000):
        budget.warning("bad request %d", i)
    assert records == ["bad request 0", "bad request 1", "bad request 2"]
    assert budget.level == logger.level  # every other attribute is the logger's
    now[0] = 10.5  # the next interval: the count first, then warnings again
    budget.warning("bad request late")
    assert records[3].startswith("suppressed 997 warnings in the last 10.5 s")
    assert records[4:] == ["bad request late"]
    now[0] = 21
    budget.flush()
    assert len(records) == 5  # nothing suppressed: no count line


def test_a_flood_of_malformed_requests_writes_a_bounded_log(model_dir):
    from pipeline.serving.warnings_budget import WARNINGS_PER_INTERVAL

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir), 0.1)
    listener = make_server(service, "127.0.0.1", 0, limits=LIMITS)
    thread = listener.start_in_thread()
    logging.getLogger("uvicorn.error").addHandler(handler)  # after uvicorn configured its logging
    try:
        for i in range(40):  # malformed, too many bytes, too many headers in turn
            bad = [b"BREW / HTTP/1.1\r\n\r\n", HEALTH + b"X: " + b"a" * 5_000, HEALTH + b"X: 1\r\n" * 30]
            assert exchange(listener, [bad[i % 3] + b"\r\n\r\n"])[0].startswith(b"HTTP/1.1 4")
        assert health(listener) == b"HTTP/1.1 200 OK"
    finally:
        listener.stop(thread)
        logging.getLogger("uvicorn.error").removeHandler(handler)
    assert len(records) == WARNINGS_PER_INTERVAL  # not 40 or more: the rest are counted


def test_a_port_in_use_says_to_pass_port(model_dir, capsys):
    from pipeline.__main__ import main
    from pipeline.commands.serve import listen

    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir), 0.1)
    first = make_server(service, "127.0.0.1", 0)  # bound: the port is in use
    try:
        port = first.sock.getsockname()[1]
        with pytest.raises(PipelineError, match=rf"port {port} is already in use.*--port N") as caught:
            listen(service, "127.0.0.1", port, False, ServeConfig())
        assert "--port 0" in str(caught.value)
        # the command: a non-zero exit and the same advice, not a traceback
        argv = ["serve", "churn", "--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: cannot listen on") and "--port N" in err and "Traceback" not in err
    finally:
        first.sock.close()


def test_starting_a_server_closes_no_other_log_handler_and_logs_to_the_current_stderr(
    model_dir, tmp_path, capsys
):
    """uvicorn's own logging set-up closed every handler in the process; absl's then closed the
    stream it held, a test run's captured stderr, and every later test failed."""
    handler = logging.FileHandler(tmp_path / "embedding_app.log")
    logging.getLogger("test.embedding_app").addHandler(handler)
    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir), 0.1)
    try:
        listener = make_server(service, "127.0.0.1", 0, access_log=True, limits=LIMITS)
        thread = listener.start_in_thread()
        assert health(listener) == b"HTTP/1.1 200 OK"
        listener.stop(thread)
        assert handler.stream is not None and not handler.stream.closed
    finally:
        logging.getLogger("test.embedding_app").removeHandler(handler)
        handler.close()
    assert '"GET /health HTTP/1.1" 200' in capsys.readouterr().err  # --access-log: one line a request
