"""bench: timing helpers, and a tiny end-to-end run on a real Keras model and its ONNX twin.

The ONNX graph is written with onnx.helper from the Keras weights (no export-stage code), so
parity is real. The whole file runs in about 15 s (TensorFlow's import included).
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tiny_models import REPO, churn_encoder, churn_rows, finish_bundle, text_encoder

from pipeline.commands import bench, bench_report, bench_server
from pipeline.commands.bench_backends import accuracy
from pipeline.core.errors import ModelError
from pipeline.core.io import write_json


# --------------------------------------------------------------------------- helpers
def test_time_calls_stops_at_repeats_or_duration():
    calls = []
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    batches = bench.batches_of(x, 2)

    p50, p99, rows_per_s, n = bench.time_calls(calls.append, batches, duration_s=60, repeats=7, warmup=2)
    assert n == 7 and len(calls) == 9  # 2 warm-up + 7 timed
    assert [c[0, 0] for c in calls[2:]] == [0, 4, 8, 0, 4, 8, 0]  # the timed calls cycle through the batches
    assert 0 < p50 <= p99 and rows_per_s > 0

    start = time.perf_counter()
    *_, n = bench.time_calls(lambda _: time.sleep(0.01), batches, duration_s=0.05, repeats=10_000, warmup=0)
    assert 3 <= n < 10 and time.perf_counter() - start < 1


def test_summarize_percentiles_and_throughput():
    p50, p99, rows_per_s = bench.summarize([1_000_000] * 99 + [101_000_000], batch=32)
    assert p50 == pytest.approx(1.0) and p99 == pytest.approx(2.0, rel=1e-6)  # interpolated
    assert rows_per_s == pytest.approx(32 * 100 / 0.2)


def test_tile_repeats_short_splits():
    x = np.arange(6).reshape(3, 2)
    assert bench_server.tile(x, 5)[:, 0].tolist() == [0, 2, 4, 0, 2]
    assert bench_server.tile(x, 5).flags["C_CONTIGUOUS"]


def test_timed_batches_differ_spread_over_the_split_and_wrap_around():
    x = np.arange(10).reshape(5, 2)
    assert [b[:, 0].tolist() for b in bench.batches_of(x, 2)] == [[0, 2], [2, 4], [6, 8]]
    assert [b[:, 0].tolist() for b in bench.batches_of(x, 1, count=2)] == [[0], [4]]  # rows 0 and 2
    assert len(bench.batches_of(x, 256)) == 1 and bench.batches_of(x, 256)[0].flags["C_CONTIGUOUS"]


def test_parity_helpers_keep_one_column_per_class():
    """A multi-class model's (topics, nextword) probabilities stay (n, classes), scored by argmax."""
    three = bench.batched(lambda x: np.tile([[0.1, 0.7, 0.2]], (len(x), 1)), np.zeros((2500, 1)), size=1024)
    assert three.shape == (2500, 3) and accuracy(three, np.ones(2500)) == 1.0
    binary = bench.batched(lambda x: np.full((len(x), 1), 0.8), np.zeros((5, 1)))
    assert binary.shape == (5,) and accuracy(binary, np.array([1, 1, 0, 1, 1])) == 0.8


def test_a_numeric_targets_parity_is_relative_and_scored_by_rmse():
    """Bikers in the hundreds: float32's rounding is not a parity failure, and accuracy means nothing."""
    from pipeline.commands.bench_backends import quality
    from pipeline.stages.export import max_abs_diff as relative_diff

    values = np.array([250.0, 0.5, 12.0])
    assert relative_diff(values, values + np.array([2.5e-5, 1e-8, 0])) == pytest.approx(1e-7)
    assert relative_diff(values, values + np.array([0, 1e-3, 0])) == pytest.approx(1e-3)  # absolute below 1
    assert quality(values, np.array([254.0, 0.5, 9.0]), numeric=True) == (
        "rmse",
        pytest.approx(np.sqrt(25 / 3)),
    )
    assert quality(np.array([0.8, 0.2]), np.array([1, 1]), numeric=False) == ("accuracy", 0.5)
    forecasts, actual = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 6.0]])
    assert quality(forecasts.reshape(-1), actual, numeric=True) == ("rmse", pytest.approx(1.0))  # [n, H]


def test_raw_inputs_encode_back_to_the_test_rows():
    tabular = churn_encoder()
    x = tabular.transform(churn_rows(5))
    raw = bench_server.raw_inputs(tabular, x, 5)
    import pandas as pd

    frame = pd.DataFrame(raw)
    assert tabular.check(frame) == []
    np.testing.assert_allclose(tabular.transform(frame), x, atol=1e-4)

    text = text_encoder()
    ids = text.transform_texts(["a great movie", "xyz awful plot plot"])
    assert np.array_equal(text.transform_texts(bench_server.raw_inputs(text, ids, 2)), ids)


def test_speedups_compare_onnx_with_keras():
    rows = [
        bench_report.Row("m", "onnxruntime", 1, 0.1, 0.2, 10_000, 5),
        bench_report.Row("m", "keras_predict", 1, 50.0, 60.0, 20, 5),
        bench_report.Row("m", "onnxruntime", 256, 1.0, 2.0, 256_000, 5),
        bench_report.Row("m", "keras_function", 256, 2.0, 3.0, 128_000, 5),
    ]
    (entry,) = bench_report.speedups(rows)
    assert entry == {
        "model": "m",
        "vs_keras_predict_batch1": pytest.approx(500),
        "vs_keras_function_batch256": 2,
    }


def test_missing_model_files_are_named(tmp_path, monkeypatch):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "churn" / "ann").mkdir(parents=True)
    (tmp_path / "models" / "churn" / "ann" / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match=r"missing model\.keras, encoder\.json"):
        bench.find_models(["churn/ann"])
    with pytest.raises(ModelError, match="no model directory"):
        bench.find_models(None)
    with pytest.raises(ModelError, match="not <task>/<arch>"):
        bench.find_models(["churn"])


# ------------------------------------------------------------------------ end to end
def dense_onnx(model, path: Path) -> None:
    """The Keras Dense stack as MatMul + Add + activation nodes, with the trained weights."""
    nodes, inits, current = [], [], "features"
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    for i, layer in enumerate(dense):
        kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
        inits += [numpy_helper.from_array(kernel, f"W{i}"), numpy_helper.from_array(bias, f"B{i}")]
        nodes += [helper.make_node("MatMul", [current, f"W{i}"], [f"m{i}"])]
        nodes += [helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"])]
        activation = layer.get_config()["activation"]
        current = "probability" if i == len(dense) - 1 else f"h{i}"
        op = {"relu": "Relu", "sigmoid": "Sigmoid"}[activation]
        nodes.append(helper.make_node(op, [f"a{i}"], [current]))
    width = dense[0].get_weights()[0].shape[0]
    graph = helper.make_graph(
        nodes,
        "ann",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(proto, {"task": "churn", "arch": "ann"})
    onnx.checker.check_model(proto)
    path.write_bytes(proto.SerializeToString())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with one trained-shape churn model and its encoded test split."""
    pytest.importorskip("tensorflow")
    from pipeline.core.config import AnnParams
    from pipeline.modeling.models import build_model, seed_everything

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    seed_everything(0)
    encoder = churn_encoder()
    x = encoder.transform(churn_rows(40))
    model_dir = tmp_path / "models" / "churn" / "ann"
    model_dir.mkdir(parents=True)
    model = build_model("ann", AnnParams(hidden_units=[8]), n_features=x.shape[1])
    model.save(model_dir / "model.keras")
    dense_onnx(model, model_dir / "model.onnx")
    write_json(model_dir / "encoder.json", encoder.to_dict())
    finish_bundle(model_dir, "churn", "ann", encoder)
    encoded = tmp_path / "data" / "encoded" / "churn"
    encoded.mkdir(parents=True)
    np.savez(encoded / "test.npz", x=x, y=(np.arange(len(x)) % 2).astype(np.float32))
    return tmp_path


def read_reports(project: Path) -> tuple[list[dict], dict, str]:
    reports = project / "reports"
    rows = json.loads((reports / "bench.json").read_text())
    extra = json.loads((reports / "bench_extra.json").read_text())
    return rows, extra, (reports / "bench.md").read_text()


def test_tiny_bench_times_every_backend_and_batch(project, capsys):
    args = ["--models", "churn/ann", "--repeats", "4", "--duration", "0.01", "--no-server"]
    assert bench.main(args) == 0

    rows, extra, markdown = read_reports(project)
    assert isinstance(rows, list)
    assert {(r["backend"], r["batch"]) for r in rows} == set(itertools.product(bench.BACKENDS, bench.BATCHES))
    for r in rows:
        assert r["model"] == "churn/ann" and 3 <= r["calls"] <= 4
        assert 0 < r["p50_ms"] <= r["p99_ms"] and r["rows_per_s"] > 0
    notes = {(r["backend"], r["batch"]): r["note"] for r in rows}
    assert notes[("keras_function", 1)].split()[0] in ("tf.function", "predict_on_batch")
    assert notes[("onnxruntime", 256)].startswith(("threads=1 (faster than threads=2", "threads=2 (faster"))
    (model,) = extra["models"]
    assert model["parity"]["max_abs_diff"] < 1e-5 and model["parity"]["rows"] == 40
    assert model["parity"]["metric"] == "accuracy" and model["parity"]["keras"] == model["parity"]["onnx"]
    assert "server" not in model and "int8" not in model
    assert "| churn/ann |" in markdown and "Speed-up" in markdown
    assert "| keras_predict | 256 |" in capsys.readouterr().out


def test_bench_with_server_and_int8(project):
    args = ["--models", "churn/ann", "--repeats", "4", "--duration", "0.01", "--int8"]
    args += ["--backends", "onnxruntime", "--server-requests", "20", "--server-duration", "2"]
    assert bench.main(args) == 0

    rows, extra, markdown = read_reports(project)
    backends = {r["backend"] for r in rows}
    assert backends == {"onnxruntime", "onnxruntime_int8", "server_8_clients", "server_8_clients_mixed"}
    (server_row,) = [r for r in rows if r["backend"] == "server_8_clients"]
    assert server_row["calls"] >= 8 and server_row["rows_per_s"] > 0 and "rss=" in server_row["note"]
    (mixed_row,) = [r for r in rows if r["backend"] == "server_8_clients_mixed"]
    assert mixed_row["calls"] >= 8 and "streaming 1000-row batches" in mixed_row["note"]
    model = extra["models"][0]
    assert model["server"]["failed"] == 0 and model["server"]["exit_code_after_sigterm"] == 0
    mixed = model["server"]["mixed"]  # the single-row clients while a ninth streams 1000-row batches
    assert mixed["failed"] == 0 and mixed["batches"] >= 1 and mixed["batches_failed"] == 0
    assert mixed["batch_rows"] == 1000 and "Mixed load" in markdown
    assert model["server"]["tensorflow_loaded"] is False and model["server"]["rss_after_mib"] > 0
    assert (project / "models" / "churn" / "ann" / "model.int8.onnx").is_file()
    assert abs(model["int8"]["change"]) <= 0.1 and "int8" in markdown
