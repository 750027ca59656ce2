"""serve: big batches and small requests together (issue 25, "small requests are not starved").

A body over ``OFFLOAD_BYTES`` is scored in the server's big-batch worker process. What a client
relies on, checked without timing: a small request is answered while a big batch is being scored
(the worker is stopped with SIGSTOP to hold the big batch in flight for as long as the test needs),
big and small requests in flight together all get the answers a single request would, and a worker
that dies costs only its own request. How long small requests wait is ``bench``'s mixed-load row.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from test_serve import Client, expected
from tiny_models import churn_model_dir, churn_rows

from pipeline.serving.app import OFFLOAD_BYTES, Listener, make_server
from pipeline.serving.inference import Predictor
from pipeline.serving.service import ScoringService


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Listener, Path]]:
    directory = churn_model_dir(tmp_path_factory.mktemp("fair"))
    server = make_server(ScoringService(Predictor.from_dir(directory), str(directory), 0.1), "127.0.0.1", 0)
    thread = server.start_in_thread()
    server.app.worker.start()  # as serve does at start-up
    yield server, directory
    server.stop(thread)


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(rows.to_json(orient="records"))


def big_body(rows: pd.DataFrame) -> str:
    body = json.dumps({"dataframe_records": records(rows)})
    assert len(body) > OFFLOAD_BYTES  # the big-batch path
    return body


def in_flight(server: Listener) -> None:
    """Wait until a big batch has been handed to the worker (it holds the app's big-batch slot)."""
    deadline = time.monotonic() + 30
    while not server.app.big_batches.locked():
        assert time.monotonic() < deadline, "the big batch never reached the worker"
        time.sleep(0.01)


def test_a_small_request_is_answered_while_a_big_batch_is_being_scored(churn):
    server, directory = churn
    big_rows, small_rows = churn_rows(600, seed=1), churn_rows(3, seed=2)
    pid = server.app.worker.pid
    assert pid is not None and pid != os.getpid()
    answers: dict[str, Any] = {}
    os.kill(pid, signal.SIGSTOP)  # the big batch stays in the worker until SIGCONT
    try:
        big = threading.Thread(target=lambda: answers.update(big=Client(server).post(big_body(big_rows))))
        big.start()
        in_flight(server)
        client = Client(server)
        for _ in range(5):  # the event loop answers small requests meanwhile
            status, data = client.post({"dataframe_records": records(small_rows)})
            assert (status, data["predictions"]) == (200, expected(directory, small_rows))
        assert client.request("GET", "/health")[0] == 200
        assert big.is_alive() and "big" not in answers  # the big batch is still being scored
    finally:
        os.kill(pid, signal.SIGCONT)
    big.join(60)
    assert answers["big"] == (200, {"predictions": expected(directory, big_rows)})


def test_big_and_small_requests_in_flight_together_get_their_own_answers(churn):
    server, directory = churn
    bigs = [churn_rows(300 + 50 * i, seed=10 + i) for i in range(3)]
    smalls = [churn_rows(1 + i % 3, seed=20 + i) for i in range(24)]

    def post(rows: pd.DataFrame) -> tuple[int, Any]:
        body = big_body(rows) if len(rows) > 100 else {"dataframe_records": records(rows)}
        return Client(server).post(body)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(post, [*bigs, *smalls]))
    for rows, answer in zip([*bigs, *smalls], got, strict=True):
        assert answer == (200, {"predictions": expected(directory, rows)})


def test_a_big_batch_keeps_the_limits_and_the_row_numbers(churn):
    server, _ = churn
    rows = records(churn_rows(300, seed=4))
    rows[250]["Age"] = "old"
    status, data = Client(server).post({"dataframe_records": rows})
    assert status == 400 and data["error_code"] == "BAD_REQUEST"
    assert [(e["row"], e["column"]) for e in data["errors"]] == [(251, "Age")]
    status, data = Client(server).post({"dataframe_records": records(churn_rows(1001))})  # serve.max_rows
    assert status == 413 and "at most 1000" in data["message"]
    status, data = Client(server).post(big_body(churn_rows(200))[:-1])  # cut short: not JSON
    assert status == 400 and "not valid JSON" in data["message"]


def test_a_worker_that_dies_fails_its_request_only(churn):
    server, directory = churn
    rows = churn_rows(300, seed=5)
    answers: dict[str, Any] = {}
    pid = server.app.worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # hold the batch in the worker, then kill it there
    big = threading.Thread(target=lambda: answers.update(big=Client(server).post(big_body(rows))))
    big.start()
    in_flight(server)
    os.kill(pid, signal.SIGKILL)
    big.join(60)
    status, data = answers["big"]
    assert status == 500 and data["error_code"] == "INTERNAL_ERROR" and "worker" in data["message"]
    assert Client(server).post(big_body(rows)) == (200, {"predictions": expected(directory, rows)})
    assert server.app.worker.pid not in (None, pid)  # a new worker
