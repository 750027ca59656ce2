"""The graphs `benchmarks/ort_rnn_activation.py` times must compute what the exported SimpleRNN does,
or its figures would compare different functions."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ort_rnn_activation.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("ort_rnn_activation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigmoid_rewrite_and_unrolled_graph_match_the_tanh_rnn(script):
    rng = np.random.default_rng(1)
    steps, batch, features, units = 7, 5, 4, 3
    w = rng.normal(0, 0.5, (units, features)).astype(np.float32)
    r = rng.normal(0, 0.5, (units, units)).astype(np.float32)
    b = rng.normal(0, 0.2, units).astype(np.float32)
    x = rng.normal(0, 1, (steps, batch, features)).astype(np.float32)

    expected = np.zeros((batch, units), np.float32)
    for t in range(steps):
        expected = np.tanh(x[t] @ w.T + expected @ r.T + b)

    tanh = script.session(script.rnn_graph("Tanh", w, r, b, initial=0.0)).run(None, {"X": x})[0]
    rewrite = script.session(script.rnn_graph("Sigmoid", 2 * w, 4 * r, 2 * (b - r.sum(axis=1)), initial=0.5))
    unrolled = script.session(script.unrolled_graph(steps, w, r, b)).run(None, {"X": x})[0]

    np.testing.assert_allclose(tanh[-1, 0], expected, atol=1e-5)
    np.testing.assert_allclose(2 * rewrite.run(None, {"X": x})[0][-1, 0] - 1, expected, atol=1e-5)
    np.testing.assert_allclose(unrolled[0], expected, atol=1e-5)  # [1, batch, units]: one step


def test_stalled_clients_script_sees_every_stall_closed_and_health_answer(tmp_path):
    import subprocess
    import sys

    from tiny_models import REPO, churn_model_dir

    model = churn_model_dir(tmp_path)
    script = SCRIPT.parent / "stalled_clients.py"
    cmd = [sys.executable, str(script), "--model", str(model), "--connections", "25", "--timeout", "0.5"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line}
    assert [lines[k][2] for k in ("silent", "half-headers", "half-body", "idle-keep-alive")] == [
        "nothing",
        "408",
        "408",
        "200",
    ]
    assert all(lines[k][-1] == "0" for k in ("silent", "half-headers", "half-body", "blank-lines"))
    assert ", 0 not 200," in done.stdout


def test_page_round_trip_script_times_answers_shown_in_the_browser(tmp_path):
    import subprocess
    import sys

    from tiny_models import REPO, sentiment_model_dir

    from pipeline.commands.browser import find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium: install Debian's `chromium` (.ci/run does) or set $CHROMIUM")
    pytest.importorskip("playwright.sync_api")
    script = SCRIPT.parent / "page_round_trip.py"
    model = sentiment_model_dir(tmp_path)
    cmd = [
        sys.executable,
        str(script),
        "sentiment",
        "--model",
        str(model),
        "--requests",
        "6",
        "--warmup",
        "2",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=90)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "sentiment (binary_text)" in done.stdout and "6 answers after 2 warm-up" in done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("in the page", "seen by"))]
    assert len(rows) == 2 and all(row[-1] == "(n=6)" for row in rows)
    median, p95, worst = (float(x) for x in rows[0][-4:-1])
    assert 0 < median <= p95 <= worst


def test_train_steps_rows_are_left_padded_like_the_encoders():
    """benchmarks/train_steps.py times bucketing on rows shaped as the text encoder writes them."""
    path = SCRIPT.parent / "train_steps.py"
    spec = importlib.util.spec_from_file_location("train_steps", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from pipeline.modeling.buckets import text_lengths

    data = module.imdb_like(300, 120)
    lengths = text_lengths(data.train.x)
    assert data.train.x.shape == (300, 120) and lengths.min() >= 10 and lengths.max() == 120
    assert all(
        (row[: 120 - n] == 0).all() and (row[120 - n :] > 1).all()
        for row, n in zip(data.train.x, lengths, strict=True)
    )
