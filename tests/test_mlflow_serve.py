"""The registered pyfunc under a real ``mlflow models serve`` answers as ``python -m pipeline serve``.

Both servers run as the user would start them, on one bundle whose neutral band (0.3) is not
params.yaml's (0.1): the MLflow server from a folder with no checkout in sight, ours from the
checkout. Each must follow the bundle. Slow (two servers start, MLflow's in several seconds), so it
runs in ``make test-e2e``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from test_timeseries_kind import rows
from test_timeseries_serving import forecaster_bundle
from tiny_models import REPO, sentiment_model_dir

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TEXTS = ["fine", "great movie", "awful plot", "zxqv plmokn"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path: Path) -> Iterator:
    """Start a command and yield its base URL once ``health`` answers; stop it afterwards."""
    started: list[subprocess.Popen] = []

    def start(command: list[str], cwd: Path, health: str) -> str:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": ""}
        log = open(tmp_path / f"server-{len(started)}.log", "wb")  # noqa: SIM115 - closed with it
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + health, process)
        return base

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def save_pyfunc(
    bundle: Path, into: Path, task: str = "sentiment", example: pd.DataFrame | None = None
) -> Path:
    """The bundle as ``register`` logs it (same model file, code, requirements and signature),
    saved to a folder instead of a run."""
    import mlflow

    from pipeline.stages.register import (
        PYFUNC_REQUIREMENTS,
        model_signature,
        quiet_mlflow_logging,
        serving_code,
    )

    quiet_mlflow_logging()

    (into / "code").mkdir()
    code = serving_code(into / "code")
    example = pd.DataFrame({"text": TEXTS[:2]}) if example is None else example
    target = into / "pyfunc"
    mlflow.pyfunc.save_model(
        path=str(target),
        python_model=str(code / "serving" / "pyfunc_model.py"),
        artifacts={"model_dir": str(bundle)},
        code_paths=[str(code)],
        pip_requirements=PYFUNC_REQUIREMENTS,
        input_example=example,
        signature=model_signature(task, bundle, example),
    )
    return target


def test_mlflow_models_serve_and_our_serve_answer_alike_with_the_bundles_band(tmp_path, server):
    """params.yaml says 0.1 and the bundle 0.3: both servers must answer with 0.3."""
    bundle = sentiment_model_dir(tmp_path / "checkout", neutral_band=0.3)
    elsewhere = tmp_path / "elsewhere"  # no params.yaml here or above
    elsewhere.mkdir()
    pyfunc = save_pyfunc(bundle, elsewhere)
    shutil.rmtree(tmp_path / "checkout")  # the saved model holds its own copy of the bundle

    mlflow_cli = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(pyfunc)]
    theirs = server([*mlflow_cli, "--env-manager", "local", "--host", "127.0.0.1"], elsewhere, "/ping")
    copied = pyfunc / "artifacts" / bundle.name  # MLflow keeps the folder's name
    ours_cli = [sys.executable, "-m", "pipeline", "serve", "sentiment", "--model", str(copied)]
    ours = server(ours_cli, REPO, "/health")

    mlflow_answers = post(theirs + "/invocations", {"inputs": TEXTS})["predictions"]
    our_answers = post(ours + "/invocations", {"instances": TEXTS})["predictions"]

    assert [a["label"] for a in mlflow_answers] == [a["label"] for a in our_answers]
    for theirs_row, ours_row in zip(mlflow_answers, our_answers, strict=True):
        assert theirs_row["probability"] == pytest.approx(ours_row["probability"], abs=1e-6)
    # "fine" scores 0.661: Positive at params.yaml's band 0.1, Neutral at the bundle's 0.3
    assert our_answers[0]["label"] == "Neutral"
    assert [a["label"] for a in our_answers[1:3]] == ["Positive", "Negative"]
    # the text with no known word is flagged by both
    assert mlflow_answers[3]["warning"] and our_answers[3]["warning"]


def test_mlflow_models_serve_forecasts_a_posted_history_as_our_serve_does(tmp_path, server):
    """A forecaster (issue 22) under ``mlflow models serve``: the posted history is one input,
    answered with the next steps' timestamps and values, as ``pipeline serve`` answers it; a history
    shorter than the model's lookback gets a 400 naming it, from both servers."""
    model_dir, _ = forecaster_bundle(tmp_path)
    history = rows(known=False).tail(30).reset_index(drop=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pyfunc = save_pyfunc(model_dir, elsewhere, "load", history)

    mlflow_cli = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(pyfunc)]
    theirs = server([*mlflow_cli, "--env-manager", "local", "--host", "127.0.0.1"], elsewhere, "/ping")
    ours = server(
        [sys.executable, "-m", "pipeline", "serve", "load", "--model", str(model_dir)], REPO, "/health"
    )

    records = json.loads(history.to_json(orient="records", date_format="iso"))
    mlflow_answer = post(theirs + "/invocations", {"dataframe_records": records})["predictions"]
    our_answer = post(ours + "/invocations", {"dataframe_records": records})["predictions"]
    assert len(our_answer) == 1 and len(our_answer[0]["values"]) == 6
    assert our_answer[0]["timestamps"] == [f"2024-01-11T{h:02d}:00:00" for h in range(6)]
    assert list(mlflow_answer[0]["timestamps"]) == our_answer[0]["timestamps"]
    assert list(mlflow_answer[0]["values"]) == pytest.approx(our_answer[0]["values"], abs=1e-6)

    for base in (theirs, ours):
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(base + "/invocations", {"dataframe_records": records[-10:]})
        assert refused.value.code == 400
        assert "10 steps of history" in refused.value.read().decode()
