"""serve: MLflow's scoring protocol over real HTTP on 127.0.0.1, on real ONNX Runtime.

Most tests run the server in a thread of the test process (fast); one starts
``python -m pipeline serve`` as a subprocess for the start-up line, the absence of TensorFlow
in the process, its memory, and a real SIGTERM shutdown that lets an in-flight request finish.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from conftest import edit_params
from tiny_models import REPO, churn_encoder, churn_model_dir, churn_rows, sentiment_model_dir

from pipeline.commands.loadgen import Stalls
from pipeline.commands.serve import FD_RESERVE, raise_fd_limit
from pipeline.core.config import ServeConfig
from pipeline.core.errors import PipelineError
from pipeline.serving.app import Listener, make_server
from pipeline.serving.inference import Predictor
from pipeline.serving.responses import answer_rows
from pipeline.serving.service import ScoringService

SPREAD = 64  # rows apart, in a big batch, of the errors a test plants
FEATURES = churn_encoder().input_columns  # the order of value lists in "instances"


class Client:
    """One keep-alive connection; returns (status, parsed JSON body, headers)."""

    def __init__(self, server: Listener | str) -> None:
        url = server if isinstance(server, str) else server.url
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json"):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw), response

    def post(self, body: Any, content_type: str = "application/json"):
        status, data, _ = self.request("POST", "/invocations", body, content_type)
        return status, data


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve")
    return {"churn": churn_model_dir(root), "sentiment": sentiment_model_dir(root)}


def start(service: ScoringService) -> tuple[Listener, threading.Thread]:
    server = make_server(service, "127.0.0.1", 0)
    return server, server.start_in_thread()


@pytest.fixture(scope="module")
def servers(model_dirs) -> Iterator[dict[str, Listener]]:
    running = {}
    for task, directory in model_dirs.items():
        service = ScoringService(
            Predictor.from_dir(directory), str(directory), 0.1, max_rows=50, max_body_bytes=20_000
        )
        running[task] = start(service)
    yield {task: server for task, (server, _) in running.items()}
    for server, thread in running.values():
        server.stop(thread)


def expected(directory: Path, frame: pd.DataFrame, band: float = 0.1) -> list[dict]:
    predictor = Predictor.from_dir(directory)
    result = predictor.score_frame(frame)
    assert not result.errors
    options = {"neutral_band": band} if "neutral_band" in predictor.output else {}
    return answer_rows(predictor, result.probabilities, result.known_token_share, frame, options)


# ------------------------------------------------------------------------------ formats
def test_every_payload_format_gives_the_predictors_answer(servers, model_dirs):
    rows = churn_rows(4)
    features = rows[FEATURES]
    want = expected(model_dirs["churn"], rows)
    client = Client(servers["churn"])
    payloads = {
        "split": {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))},
        "records": {"dataframe_records": json.loads(rows.to_json(orient="records"))},
        "instances-records": {"instances": json.loads(features.to_json(orient="records"))},
        "instances-lists": {"instances": features.to_numpy().tolist()},
        "inputs-columns": {"inputs": {c: features[c].tolist() for c in features}},
    }
    for name, payload in payloads.items():
        assert client.post(payload) == (200, {"predictions": want}), name
    assert client.post(rows.to_csv(index=False), "text/csv") == (200, {"predictions": want})
    assert client.post({"dataframe_records": []}) == (200, {"predictions": []})
    assert {p["prediction"] for p in want} <= {0, 1}


def test_the_served_answer_names_the_class_and_keeps_its_old_fields(servers):
    """A client reading ``prediction`` still reads 0/1; ``class_name`` says what it means (churn's
    display.classes in params.yaml, recorded in the bundle at export)."""
    status, body = Client(servers["churn"]).post(
        {"dataframe_records": json.loads(churn_rows(8).to_json(orient="records"))}
    )
    assert status == 200
    for answer in body["predictions"]:
        assert set(answer) == {"probability", "prediction", "class_name"}
        assert answer["prediction"] == int(answer["probability"] >= 0.5)
        assert answer["class_name"] == {0: "stays", 1: "leaves"}[answer["prediction"]]

    status, body = Client(servers["sentiment"]).post(
        {"instances": ["a great movie", "awful awful plot", "the movie"]}
    )
    assert status == 200
    named = [(a["label"], a["class_name"]) for a in body["predictions"]]
    assert named == [("Positive", "positive"), ("Negative", "negative"), ("Neutral", None)]


def test_sentiment_formats_labels_and_neutral_band_param(servers, model_dirs):
    texts = ["a great movie", "awful awful plot", "the movie", "fine"]
    want = expected(model_dirs["sentiment"], pd.DataFrame({"text": texts}))
    client = Client(servers["sentiment"])

    assert [p["label"] for p in want] == ["Positive", "Negative", "Neutral", "Positive"]
    assert client.post({"instances": texts}) == (200, {"predictions": want})
    assert client.post({"inputs": {"text": texts}}) == (200, {"predictions": want})
    assert client.post({"dataframe_records": [{"text": t} for t in texts]}) == (200, {"predictions": want})
    assert client.post({"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}})[1] == {
        "predictions": want
    }
    assert client.post({"inputs": "a great movie"}) == (200, {"predictions": want[:1]})
    status, body = client.post({"instances": ["fine"], "params": {"neutral_band": 0.2}})
    assert (status, body["predictions"][0]["label"]) == (200, "Neutral")
    assert client.post({"instances": ["fine"], "params": {"neutral_band": 0.7}})[0] == 400


def test_health_ping_version_and_keep_alive(servers, model_dirs):
    client = Client(servers["churn"])
    status, body, _ = client.request("GET", "/health")
    sha256 = hashlib.sha256((model_dirs["churn"] / "model.onnx").read_bytes()).hexdigest()
    assert (status, body) == (
        200,
        {
            "status": "ok",
            "task": "churn",
            "arch": "ann",
            "model": str(model_dirs["churn"]),
            # a local directory is in no registry: what only the registry knows is null
            "registered_model": None,
            "model_version": None,
            "alias": None,
            "run_id": None,
            "onnx_sha256": sha256,
        },
    )
    sock = client.conn.sock
    assert client.request("GET", "/ping")[0] == 200
    status, body, _ = client.request("GET", "/version")
    assert status == 200 and body["onnxruntime"] and body["task"] == "churn"
    assert client.conn.sock is sock  # the same TCP connection served all three


# ------------------------------------------------------------------------------- errors
BAD_ROWS = churn_rows(4).astype(object)
BAD_ROWS.loc[1, "Age"] = "forty"
BAD_ROWS.loc[3, "Geography"] = "Atlantis"
BAD_ROWS.loc[3, "Tenure"] = None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"rows": []}, "exactly one of"),
        ({"instances": [], "inputs": []}, "exactly one of"),
        ({"dataframe_split": {"columns": ["Age"]}}, "missing the field 'data'"),
        ({"dataframe_split": {"columns": "Age", "data": []}}, "list of column names"),
        ({"dataframe_records": {"Age": 3}}, "must be a list of objects"),
        ({"inputs": {"Age": [1, 2], "Tenure": [1]}}, "same length"),
        ({"instances": [], "params": {"threshold": 0.3}}, "unknown param(s) threshold"),
    ],
    ids=["json", "list", "no-format", "two-formats", "no-data", "columns", "records-type", "ragged", "param"],
)
def test_malformed_requests_get_400_json(servers, body, message):
    status, data = Client(servers["churn"]).post(body)
    assert status == 400
    assert data["error_code"] == "BAD_REQUEST" and message in data["message"]


def test_invalid_rows_refuse_the_request_and_list_every_bad_row(servers):
    status, data = Client(servers["churn"]).post(
        {"dataframe_records": json.loads(BAD_ROWS.to_json(orient="records"))}
    )

    assert status == 400 and data["message"].startswith("2 of 4 rows are invalid")
    found = {(e["row"], e.get("column")) for e in data["errors"]}
    assert found == {(2, "Age"), (4, "Geography"), (4, "Tenure")}  # rows count from 1
    assert all(e["message"] for e in data["errors"])


def test_structural_and_value_errors_are_reported_together(servers):
    rows = churn_rows(3)[FEATURES].to_numpy().tolist()
    rows[0] = rows[0][:-1]  # one value short
    rows[2][FEATURES.index("Geography")] = "Atlantis"
    status, data = Client(servers["churn"]).post({"instances": rows})

    assert status == 400
    assert [(e["row"], e.get("column")) for e in data["errors"]] == [(1, None), (3, "Geography")]
    assert f"list of {len(FEATURES)} values" in data["errors"][0]["message"]


def test_missing_column_marks_every_row(servers):
    records = json.loads(churn_rows(2).drop(columns=["Gender"]).to_json(orient="records"))
    status, data = Client(servers["churn"]).post({"dataframe_records": records})

    assert status == 400
    assert [e["row"] for e in data["errors"]] == [1, 2]
    assert "missing column(s) Gender" in data["errors"][0]["message"]


def test_sentiment_wrong_types_and_empty_texts(servers):
    status, data = Client(servers["sentiment"]).post({"instances": ["good", "", 42, None, {"review": "x"}]})

    assert status == 400
    messages = {e["row"]: e["message"] for e in data["errors"]}
    assert set(messages) == {2, 3, 4, 5}
    assert "empty" in messages[2] and "got int" in messages[3] and "got null" in messages[4]
    assert "missing column 'text'" in messages[5]  # a record without "text"


def test_limits_and_protocol_errors(servers):
    client = Client(servers["sentiment"])  # max_rows 50, max_body_bytes 20 000
    status, data = client.post({"instances": ["good"] * 51})
    assert status == 413 and "serve.max_rows" in data["message"]
    status, data = client.post({"instances": ["good " * 5000]})
    assert status == 413 and "serve.max_body_bytes" in data["message"]
    assert client.post({"instances": ["good"]})[0] == 200  # the connection still works after a 413
    status, data = client.post("good", "text/plain")
    assert status == 415 and data["error_code"] == "BAD_REQUEST"
    assert client.post({"instances": ["good"]}, "application/json; charset=latin-1")[0] == 415
    assert client.post("text\ngood\n", "text/csv")[0] == 200
    assert client.request("GET", "/nothing")[0] == 404
    assert client.request("GET", "/invocations")[0] == 405
    assert client.post(b"\xff\xfe{}")[0] == 400


def test_a_large_body_is_scored_as_a_big_batch_with_the_same_answer(servers, model_dirs):
    from pipeline.serving.app import OFFLOAD_BYTES

    texts = [f"review {i}: " + "a wonderful film, but the ending was awful " * 9 for i in range(45)]
    body = json.dumps({"instances": texts})
    assert OFFLOAD_BYTES < len(body) < 20_000  # past the offload size, within this server's limit
    status, data = Client(servers["sentiment"]).post(body)
    assert status == 200
    assert data["predictions"] == expected(model_dirs["sentiment"], pd.DataFrame({"text": texts}))


def raw_exchange(server: Listener, request: bytes) -> str:
    with socket.create_connection(server.sock.getsockname()[:2], timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply.decode()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", "411"),
        (b"GET /health HTTP/1.x\r\n\r\n", "400"),
        (b"BREW /invocations HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
    ],
    ids=["no-content-length", "bad-version", "unknown-method"],
)
def test_protocol_errors_are_json_too(servers, request_bytes, status):
    reply = raw_exchange(servers["churn"], request_bytes)
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}") or head.startswith(f"HTTP/1.0 {status}")
    assert (
        "content-type: application/json" in head.lower() and json.loads(body)["error_code"] == "BAD_REQUEST"
    )
    assert Client(servers["churn"]).request("GET", "/health")[0] == 200  # and the server goes on


def test_an_internal_fault_is_a_500_and_the_server_keeps_serving(model_dirs):
    predictor = Predictor.from_dir(model_dirs["churn"])
    server, thread = start(ScoringService(predictor, "x", 0.1))
    real = predictor.score_records
    calls = []

    def broken(records):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        return real(records)

    predictor.score_records = broken  # type: ignore[method-assign]
    try:
        payload = {"dataframe_records": json.loads(churn_rows(1).to_json(orient="records"))}
        status, data = Client(server).post(payload)
        assert status == 500 and data["error_code"] == "INTERNAL_ERROR" and "disk on fire" in data["message"]
        assert Client(server).post(payload)[0] == 200
    finally:
        server.stop(thread)


def test_a_big_batch_in_the_worker_process_has_the_same_answer_and_row_numbers(model_dirs):
    from pipeline.serving.app import OFFLOAD_BYTES

    directory = model_dirs["churn"]
    server, thread = start(ScoringService(Predictor.from_dir(directory), str(directory), 0.1))
    rows = churn_rows(4 * SPREAD + 5, seed=3)
    records = json.loads(rows.to_json(orient="records"))
    body, csv = json.dumps({"dataframe_records": records}), rows.to_csv(index=False)
    assert min(len(body), len(csv)) > OFFLOAD_BYTES  # both go to the big-batch worker
    try:
        client = Client(server)
        want = {"predictions": expected(directory, rows)}
        assert client.post(body) == (200, want)
        assert client.post(csv, "text/csv") == (200, want)

        # a structural error shifts the valid rows: a later value error must still be reported
        # at its position in the request
        records[SPREAD - 3] = [1, 2]
        records[2 * SPREAD + 7]["Age"] = "old"
        status, data = client.post({"dataframe_records": records})
        assert status == 400 and data["message"].startswith(f"2 of {len(records)} rows are invalid")
        assert [(e["row"], e.get("column")) for e in data["errors"]] == [  # rows count from 1
            (SPREAD - 3 + 1, None),
            (2 * SPREAD + 7 + 1, "Age"),
        ]
    finally:
        server.stop(thread)


# ----------------------------------------------------------------- slow and idle clients
TIMEOUT_S = 0.6
POST = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
STALLED = {  # what a client sends before it stalls, and how the server's answer starts
    "silent": (b"", b""),  # nothing: closed without an answer
    "half-headers": (POST + b"Content-Le", b"HTTP/1.1 408 "),
    "half-body": (POST + b'Content-Length: 100\r\n\r\n{"instances": [', b"HTTP/1.1 408 "),
    "idle-keep-alive": (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 "),
    "refused-then-stalled": (POST + b"Content-Length: 50000\r\n\r\n{", b"HTTP/1.1 413 "),
}
TRICKLED = {  # a byte every 0.1 s: the header deadline counts from the start, not the last byte
    "trickled-headers": (b"GET /health HTTP/1.1\r\nX-Slow: ", b"a", b"HTTP/1.1 408 "),
    # after an answer, blank lines (which begin no request) must not keep the connection open
    "blank-lines": (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n", b"HTTP/1.1 200 "),
}


def health_status(server: Listener) -> int:
    client = Client(server)
    try:
        return client.request("GET", "/health")[0]
    finally:
        client.conn.close()


def test_stalled_and_idle_clients_are_closed_in_time_while_health_answers(model_dirs):
    directory = model_dirs["churn"]
    service = ScoringService(Predictor.from_dir(directory), str(directory), 0.1, max_body_bytes=20_000)
    limits = ServeConfig(header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, idle_timeout_s=TIMEOUT_S)
    server = make_server(service, "127.0.0.1", 0, limits=limits)
    thread = server.start_in_thread()
    stalls, health = Stalls(), []
    kinds = [(k, data, b"") for k, (data, _) in STALLED.items()] * 12
    kinds += [(k, data, drip) for k, (data, drip, _) in TRICKLED.items()] * 3
    try:
        for kind, data, drip in kinds:
            stalls.open(server.sock.getsockname()[:2], kind, data, drip)
        # /health on a new connection every turn while the stalls wait for their timers
        stalls.watch(time.monotonic() + TIMEOUT_S + 5, lambda: health.append(health_status(server)))
        clients = stalls.clients

        expect = {k: reply for k, (_, reply) in STALLED.items()}
        expect |= {k: reply for k, (_, _, reply) in TRICKLED.items()}
        for client in clients:
            assert client.closed_after is not None, f"{client.kind}: still open"
            # closed by its own timer: not before the deadline, and soon after it
            assert 0.8 * TIMEOUT_S <= client.closed_after <= TIMEOUT_S + 1.5, client.kind
            assert client.reply.startswith(expect[client.kind]), (client.kind, client.reply[:80])
            if expect[client.kind].startswith(b"HTTP/1.1 408"):
                head, _, body = client.reply.partition(b"\r\n\r\n")
                assert b"connection: close" in head.lower()
                assert json.loads(body)["error_code"] == "DEADLINE_EXCEEDED", client.kind
        assert len(health) >= 10 and set(health) == {200}  # /health answered throughout
        assert health_status(server) == 200
        connections = server.server.server_state.connections
        deadline = time.monotonic() + 2  # the server sees the last /health client leave
        while connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not connections  # nothing left open
    finally:
        stalls.close()
        server.stop(thread)


def test_connections_past_the_cap_get_a_503_and_surplus_ones_are_closed_soon(model_dirs):
    from pipeline.serving.protocol import OVERFLOW_HEADER_TIMEOUT_S

    directory = model_dirs["churn"]
    service = ScoringService(Predictor.from_dir(directory), str(directory), 0.1)
    server = make_server(service, "127.0.0.1", 0, limits=ServeConfig(max_connections=3, header_timeout_s=10))
    thread = server.start_in_thread()
    address = server.sock.getsockname()[:2]
    held = [socket.create_connection(address, timeout=5) for _ in range(3)]
    try:
        assert health_status(server) == 503  # the 4th connection
        reply = raw_exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = reply.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 503")
        assert "retry-after: 1" in head.lower() and "connection: close" in head.lower()
        assert json.loads(body)["error_code"] == "TEMPORARILY_UNAVAILABLE"

        # a surplus connection that sends nothing is dropped after a second, not header_timeout_s
        start = time.monotonic()
        with socket.create_connection(address, timeout=5) as silent:
            assert silent.recv(100) == b""
        assert time.monotonic() - start < OVERFLOW_HEADER_TIMEOUT_S + 1.5

        held.pop().close()  # one connection leaves: newcomers are served again
        deadline = time.monotonic() + 5
        while (status := health_status(server)) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
    finally:
        for sock in held:
            sock.close()
        server.stop(thread)


def test_limit_settings_are_checked_and_the_fd_limit_makes_room(tmp_path):
    import resource

    # no model there: were a bad setting let through, the command fails fast, not serves
    args = ["serve", "churn", "--model", str(tmp_path / "missing"), "--port", "0"]
    flags = ("--header-timeout", "--body-timeout", "--idle-timeout", "--max-connections")
    for flag in (*flags, "--max-header-bytes", "--max-headers"):
        with pytest.raises(PipelineError, match=f"{flag}: Input should be greater than"):
            cli_raising([*args, flag, "0"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_fd_limit(10) == soft  # already enough room: unchanged
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(PipelineError, match=r"ulimit -Hn"):
            raise_fd_limit(hard - FD_RESERVE + 1)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


def cli_raising(argv: list[str]) -> None:
    """``python -m pipeline serve`` in this process, raising its error instead of printing it."""
    from pipeline.commands import serve

    serve.main(argv[1:])


# ------------------------------------------------------------------------- subprocess
def test_cli_server_process_no_tensorflow_and_graceful_sigterm(model_dirs, tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    edit_params(tmp_path / "params.yaml", serve={"header_timeout_s": 0.5})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "serve",
        "churn",
        "--model",
        str(model_dirs["churn"]),
        "--port",
        "0",
        "--idle-timeout",
        "0.5",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()  # printed (and flushed) once the socket listens
        assert " on http://127.0.0.1:" in line, proc.stderr.read() if proc.poll() is not None else line
        url = line.split(" on ")[1].split()[0]
        client = Client(url)
        assert client.request("GET", "/health")[1]["task"] == "churn"
        payload = json.dumps({"dataframe_records": json.loads(churn_rows(3).to_json(orient="records"))})
        assert client.post(payload)[0] == 200
        host, port = url.removeprefix("http://").split(":")

        # serve.header_timeout_s from params.yaml, --idle-timeout from the command line
        opened = time.monotonic()
        with socket.create_connection((host, int(port)), timeout=10) as silent:
            assert silent.recv(1) == b""
        assert 0.4 <= time.monotonic() - opened < 3
        assert client.conn.sock.recv(1) == b""  # the keep-alive connection, idle since the POST

        psutil = pytest.importorskip("psutil")
        children = psutil.Process(proc.pid).children()  # the big-batch worker, started with serve
        (worker,) = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
        for pid in (proc.pid, worker.pid):
            maps = Path(f"/proc/{pid}/maps")
            if maps.exists():
                mapped = maps.read_text()
                assert "onnxruntime" in mapped  # the check can see native libraries...
                assert "tensorflow" not in mapped  # ...and TensorFlow's are not there
        rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
        print(f"server RSS {rss_mb:.0f} MiB, worker {worker.memory_info().rss / 2**20:.0f} MiB")
        assert rss_mb < 400

        # an in-flight request: headers and half the body sent before SIGTERM
        body = payload.encode()
        sock = socket.create_connection((host, int(port)), timeout=10)
        head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:10])
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None  # waiting for the in-flight request
        sock.sendall(body[10:])
        reply = b""
        while b'"predictions"' not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 200") and b"connection: close" in reply.lower()
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stderr.read()
        assert not worker.is_running()  # stopped with the server
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serving_imports_neither_tensorflow_nor_mlflow_for_a_directory(model_dirs, tmp_path):
    body = json.dumps({"dataframe_records": json.loads(churn_rows(2).to_json(orient="records"))})
    code = (
        "import sys\n"
        "from pipeline.serving import app  # noqa: F401  (the HTTP side too)\n"
        "from pipeline.serving.service import ScoringService\n"
        "from pipeline.serving.inference import Predictor\n"
        "from pipeline.serving.inference import check_model\n"
        f"predictor = Predictor.load({str(model_dirs['churn'])!r})\n"
        "check_model(predictor, 'churn', 'x')\n"
        "service = ScoringService(predictor, 'x', 0.1)\n"
        f"assert len(service.invocations({body!r}.encode(), 'application/json')['predictions']) == 2\n"
        "names = ('tensorflow', 'keras', 'mlflow', 'great_expectations', 'sklearn')\n"
        "print('HEAVY', sorted(m for m in names if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
