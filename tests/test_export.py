"""ONNX export: native RNN/LSTM/GRU operators, parity with Keras, the export stage's files and failures.

Real Keras models (tiny, random non-trivial weights), real tf2onnx, real ONNX Runtime, a real
MLflow SQLite store. The full recurrent matrix (3 architectures x 1/2 layers x uni/bidirectional
x tanh/relu) runs with ``-m slow``; the default run covers each dimension at least once per
architecture.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from pipeline.core.config import AnnParams, RecurrentParams, params  # noqa: E402
from pipeline.core.errors import ModelError  # noqa: E402
from pipeline.core.io import read_json, write_json  # noqa: E402
from pipeline.encoders.base import OOV, PAD  # noqa: E402
from pipeline.encoders.text import TextEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOUND = 1e-5
VOCAB, SEQ = 30, 10
NATIVE = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

DEFAULT = {
    ("rnn", 1, False, "tanh"),
    ("rnn", 2, True, "relu"),
    ("lstm", 1, True, "relu"),
    ("lstm", 2, False, "tanh"),
    ("gru", 1, False, "relu"),
    ("gru", 2, True, "tanh"),
}
MATRIX = [
    pytest.param(*combo, marks=() if combo in DEFAULT else pytest.mark.slow, id="-".join(map(str, combo)))
    for combo in itertools.product(["rnn", "lstm", "gru"], [1, 2], [False, True], ["tanh", "relu"])
]


def recurrent_model(
    arch: str,
    layers: int = 1,
    bidirectional: bool = False,
    activation: str = "tanh",
    seed=0,
    pooling: str = "last",
    n_classes: int = 2,
):
    from pipeline.modeling.models import build_model

    config = RecurrentParams(
        embedding_dim=5,
        units=4,
        layers=layers,
        bidirectional=bidirectional,
        activation=activation,
        dropout=0.2,
        pooling=pooling,
    )
    model = build_model(arch, config, vocab_size=VOCAB, sequence_length=SEQ, n_classes=n_classes)
    return randomize(model, seed, token_batch(16, seed + 100))


def randomize(model, seed: int, x: np.ndarray):
    """Random non-zero weights and biases everywhere, then an output layer rescaled so that the logits
    on ``x`` spread over about +-3: a wrong gate, bias or direction mapping then moves probabilities
    by far more than the parity bound instead of vanishing in a saturated or constant sigmoid
    (or softmax: each class's logit is centred on its own mean)."""
    import keras

    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    features = np.asarray(keras.Model(model.inputs[0], model.layers[-2].output)(x, training=False))
    kernel = model.layers[-1].get_weights()[0]
    logits = features @ kernel
    scale = 1.5 / max(float(logits.std()), 1e-6)
    if kernel.shape[1] == 1:
        bias = np.array([-float(logits.mean()) * scale], "float32")
    else:
        bias = (-logits.mean(axis=0) * scale).astype("float32")
    model.layers[-1].set_weights([kernel * scale, bias])
    return model


def token_batch(n: int, seed: int = 1) -> np.ndarray:
    """Random tokens, pre-padded with zeros as the encoder does: row 0 is all padding, row i has
    ``SEQ - 2 i`` leading zeros, the last rows none."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(n, SEQ)).astype("int32")
    for i in range(n):
        x[i, : max(SEQ - 2 * i, 0)] = 0
    return x


def keras_probability(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False), dtype="float32")


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("arch", "layers", "bidirectional", "activation"), MATRIX)
def test_recurrent_model_exports_native_operator_with_parity(arch, layers, bidirectional, activation):
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    model = recurrent_model(arch, layers, bidirectional, activation)
    proto = build_onnx(model, opset=params().export.opset, simple_rnn="native")
    ops = operator_types(proto)
    assert NATIVE[arch] in ops
    assert not {"Loop", "Scan"} & set(ops)
    assert sum(n.op_type == NATIVE[arch] for n in proto.graph.node) == layers

    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("tokens", "probability")
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert inp.type.tensor_type.shape.dim[0].dim_param  # dynamic batch

    sess = session(proto)
    x = token_batch(7)
    expected = keras_probability(model, x)
    assert expected.std() > 0.05, "outputs too uniform for the parity check to mean anything"
    got = sess.run(None, {"tokens": x})[0]
    assert got.shape == (7, 1)
    assert np.abs(got - expected).max() <= BOUND
    single = sess.run(None, {"tokens": x[3:4]})[0]
    assert single.shape == (1, 1)
    assert np.abs(single - expected[3:4]).max() <= BOUND


@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize(("arch", "bidirectional"), [("rnn", False), ("lstm", True), ("gru", False)])
def test_pooled_recurrent_model_exports_with_parity(arch, bidirectional, pooling):
    """Max/mean over time of every step's output, as a reduction after the native operator."""
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    model = recurrent_model(arch, bidirectional=bidirectional, pooling=pooling, seed=5)
    proto = build_onnx(model, opset=params().export.opset, simple_rnn="native")
    ops = operator_types(proto)
    assert NATIVE[arch] in ops and {"max": {"ReduceMax"}, "mean": {"ReduceMean", "ReduceSum"}}[pooling] & set(
        ops
    )
    assert not {"Loop", "Scan"} & set(ops)
    x = token_batch(7)
    expected = keras_probability(model, x)
    assert expected.std() > 0.05, "outputs too uniform for the parity check to mean anything"
    sess = session(proto)
    assert np.abs(sess.run(None, {"tokens": x})[0] - expected).max() <= BOUND
    for i in range(len(x)):  # one row at a time
        assert np.abs(sess.run(None, {"tokens": x[i : i + 1]})[0] - expected[i : i + 1]).max() <= BOUND
    # opset 18 moved the reduction axes from an attribute to an input
    got18 = session(build_onnx(model, opset=18, simple_rnn="native")).run(None, {"tokens": x})[0]
    assert np.abs(got18 - expected).max() <= BOUND


@pytest.mark.parametrize(
    ("layers", "bidirectional", "pooling", "n_classes"),
    [(1, False, "last", 2), (2, False, "last", 2), (1, False, "mean", 4), (2, True, "last", 2)],
)
def test_simple_rnn_is_unrolled_with_parity(layers, bidirectional, pooling, n_classes):
    """The SimpleRNN unrolled into MatMul/Add/Tanh steps instead of ONNX Runtime's slow RNN kernel, and
    the default If on the batch size between the two: the same probabilities at batch 1 and 7; a
    Bidirectional layer keeps the native operator."""
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    model = recurrent_model("rnn", layers, bidirectional, pooling=pooling, seed=11, n_classes=n_classes)
    proto = build_onnx(model, opset=params().export.opset, simple_rnn="unrolled")
    ops = operator_types(proto)
    assert not {"Loop", "Scan"} & set(ops)
    if bidirectional:
        assert "RNN" in ops
    else:
        assert "RNN" not in ops
        assert sum(n.op_type == "Tanh" for n in proto.graph.node) == layers * SEQ
    x = token_batch(7)
    expected = keras_probability(model, x)
    assert expected.std() > 0.05, "outputs too uniform for the parity check to mean anything"
    by_batch = build_onnx(model, opset=params().export.opset)  # the default: If on the batch size
    assert not {"Loop", "Scan"} & set(operator_types(by_batch))
    if not bidirectional:
        assert "If" in operator_types(by_batch)
    for graph in (proto, by_batch):  # batch 7 takes the unrolled branch, batch 1 the native RNN
        sess = session(graph)
        assert np.abs(sess.run(None, {"tokens": x})[0] - expected).max() <= BOUND
        assert np.abs(sess.run(None, {"tokens": x[4:5]})[0] - expected[4:5]).max() <= BOUND


@pytest.mark.parametrize(
    ("arch", "layers", "pooling", "n_classes"),
    [("rnn", 2, "max", 2), ("lstm", 2, "last", 4), ("gru", 1, "mean", 2), ("gru", 2, "max", 4)],
)
def test_leading_padding_is_skipped_with_the_same_probabilities(
    arch, layers, pooling, n_classes, monkeypatch
):
    """The graph runs the recurrent layers only from the first step where some row has a token,
    starting from the states the skipped padding leaves: every row alone, a batch mixing short and
    long rows, and rows of padding only, give Keras' probabilities; a Bidirectional model (whose
    backward direction ends in the padding) and a language model's short window keep every step."""
    from pipeline.modeling import onnx_builder
    from pipeline.modeling.models import build_model
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    window = build_model(arch, RecurrentParams(embedding_dim=5, units=4), vocab_size=VOCAB, sequence_length=8)
    assert "ArgMax" not in operator_types(build_onnx(window))  # too short to pay for the extra nodes
    monkeypatch.setattr(onnx_builder, "SKIP_PADDING_FROM_STEPS", SEQ)  # the tests' short sequences too
    model = recurrent_model(arch, layers, pooling=pooling, seed=3, n_classes=n_classes)
    skipping = build_onnx(model, opset=params().export.opset, simple_rnn="native")
    full = build_onnx(model, opset=params().export.opset, simple_rnn="native", skip_padding=False)
    assert "ArgMax" in operator_types(skipping) and "ArgMax" not in operator_types(full)
    x = token_batch(6)
    expected = keras_probability(model, x)
    assert expected.std() > 0.05, "outputs too uniform for the parity check to mean anything"
    sessions = [session(skipping), session(full)]
    for batch in [x[i : i + 1] for i in range(len(x))] + [x[2:4], x, np.zeros((3, SEQ), "int32")]:
        want = keras_probability(model, batch)
        for sess in sessions:
            assert np.abs(sess.run(None, {"tokens": batch})[0] - want).max() <= BOUND
    by_batch_rnn = build_onnx(recurrent_model("rnn", 1, pooling=pooling, seed=3), opset=params().export.opset)
    assert "ArgMax" in operator_types(by_batch_rnn)  # the native branch, below 4 rows, skips too
    bidirectional = build_onnx(recurrent_model(arch, 1, True, seed=3), opset=params().export.opset)
    assert "ArgMax" not in operator_types(bidirectional)


def test_predictor_runs_a_big_batch_in_chunks_of_similar_padding(tmp_path, monkeypatch):
    """A batch for a padding-skipping graph runs as chunks of rows sorted by their padding, so each
    chunk skips its own; the probabilities come back in the batch's order, equal to Keras'."""
    from pipeline.modeling import onnx_builder
    from pipeline.modeling.onnx_builder import build_onnx, skips_padding
    from pipeline.serving import inference
    from pipeline.stages.export import convert

    monkeypatch.setattr(onnx_builder, "SKIP_PADDING_FROM_STEPS", SEQ)
    model = recurrent_model("gru", 1, pooling="max", seed=3)
    assert not skips_padding(build_onnx(recurrent_model("rnn", seed=3)))  # only its small-batch branch does
    proto, _ = convert(model, "topics", "gru", opset=params().export.opset)  # records skips_padding
    assert skips_padding(proto)
    (tmp_path / "model.onnx").write_bytes(proto.SerializeToString())
    rng = np.random.default_rng(8)
    x = rng.integers(1, VOCAB, size=(70, SEQ)).astype("int32")
    for row, pad in zip(x, rng.integers(0, SEQ + 1, size=len(x)), strict=True):
        row[:pad] = 0
    predictor = inference.Predictor(tmp_path / "model.onnx", TextEncoder([PAD, OOV], SEQ), parallel=2)
    run, chunks = predictor._run, []
    predictor._run = lambda chunk: chunks.append(chunk) or run(chunk)
    got = predictor.predict_encoded(x)
    assert np.abs(got - keras_probability(model, x)[:, 0]).max() <= BOUND
    assert [len(c) for c in chunks] == [32, 32, 6]
    leading = [np.argmax(c != 0, axis=1) for c in chunks]
    assert leading[0].min() >= leading[1].max() >= leading[2].min()  # most padding first


def test_unknown_simple_rnn_mode_is_refused():
    from pipeline.modeling.onnx_builder import build_onnx

    with pytest.raises(ModelError, match="simple_rnn 'loop'"):
        build_onnx(recurrent_model("rnn"), simple_rnn="loop")


@pytest.mark.parametrize(
    ("arch", "layers", "bidirectional", "pooling"),
    [("rnn", 1, False, "last"), ("lstm", 1, True, "max"), ("gru", 2, False, "last")],
)
def test_multiclass_recurrent_model_exports_softmax_with_parity(arch, layers, bidirectional, pooling):
    """A 4-topic classifier: the native operator, then Softmax, every class's probability as in Keras."""
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    model = recurrent_model(arch, layers, bidirectional, pooling=pooling, seed=7, n_classes=4)
    proto = build_onnx(model, opset=params().export.opset, simple_rnn="native")
    ops = operator_types(proto)
    assert {NATIVE[arch], "Softmax"} <= set(ops)
    assert not {"Loop", "Scan"} & set(ops)
    assert sum(n.op_type == NATIVE[arch] for n in proto.graph.node) == layers
    (softmax,) = [n for n in proto.graph.node if n.op_type == "Softmax"]
    assert onnx.helper.get_attribute_value(softmax.attribute[0]) == -1  # over the classes
    (out,) = proto.graph.output
    assert out.name == "probabilities"
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 4]

    x = token_batch(7)
    expected = keras_probability(model, x)
    assert expected.shape == (7, 4) and expected.std() > 0.05
    assert len(set(expected.argmax(axis=1))) > 1, "every row predicts the same class"
    sess = session(proto)
    got = sess.run(None, {"tokens": x})[0]
    assert got.shape == (7, 4)
    assert np.abs(got - expected).max() <= BOUND
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-6)
    single = sess.run(None, {"tokens": x[2:3]})[0]
    assert single.shape == (1, 4) and np.abs(single - expected[2:3]).max() <= BOUND


def test_builder_refuses_what_it_cannot_reproduce():
    from pipeline.modeling.onnx_builder import build_onnx

    model = recurrent_model("gru", activation="softsign")
    with pytest.raises(ModelError, match=r"gru_0.*softsign"):
        build_onnx(model)


def test_builder_refuses_several_outputs_that_are_not_probabilities():
    """Four linear outputs are scores, not class probabilities: refused rather than served as such."""
    import keras

    from pipeline.modeling.onnx_builder import build_onnx

    inputs = keras.Input(shape=(SEQ,), name="tokens", dtype="int32")
    x = keras.layers.Embedding(VOCAB, 3)(inputs)
    x = keras.layers.GRU(2)(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="scores")(x))
    with pytest.raises(ModelError, match="softmax activation over the classes"):
        build_onnx(model)


def ann_model(seed: int = 0, n_classes: int = 2):
    from pipeline.modeling.models import build_model

    config = AnnParams(hidden_units=[8, 4], dropout=0.3)
    model = build_model("ann", config, n_features=6, n_classes=n_classes)
    return randomize(model, seed, np.random.default_rng(seed + 100).normal(size=(16, 6)).astype("float32"))


@pytest.mark.parametrize("converter", ["tf2onnx", "builder"])
def test_churn_ann_exports_with_parity(converter):
    from pipeline.stages.export import convert

    model = ann_model()
    proto, used = convert(model, "churn", "ann", opset=params().export.opset, converter=converter)
    assert used == converter
    meta = {p.key: p.value for p in proto.metadata_props}
    assert (meta["task"], meta["arch"]) == ("churn", "ann")
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["probability"]
    x = np.random.default_rng(2).normal(0, 1.5, size=(9, 6)).astype("float32")
    expected = keras_probability(model, x)
    assert expected.std() > 0.05
    sess = session(proto)
    for batch in (x, x[:1]):
        got = sess.run(None, {"features": batch})[0]
        assert got.shape == (len(batch), 1)
        assert np.abs(got - expected[: len(batch)]).max() <= BOUND


@pytest.mark.parametrize("converter", ["tf2onnx", "builder"])
def test_multiclass_ann_exports_softmax_with_parity(converter):
    from pipeline.modeling.onnx_builder import operator_types
    from pipeline.stages.export import convert

    model = ann_model(seed=1, n_classes=3)
    proto, used = convert(model, "topics", "ann", opset=params().export.opset, converter=converter)
    assert used == converter and "Softmax" in operator_types(proto)
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    x = np.random.default_rng(2).normal(0, 1.5, size=(9, 6)).astype("float32")
    expected = keras_probability(model, x)
    assert expected.shape == (9, 3) and len(set(expected.argmax(axis=1))) > 1
    sess = session(proto)
    for batch in (x, x[:1]):
        got = sess.run(None, {"features": batch})[0]
        assert got.shape == (len(batch), 3)
        assert np.abs(got - expected[: len(batch)]).max() <= BOUND


def test_max_abs_diff_compares_every_class_probability():
    from pipeline.stages.export import max_abs_diff

    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert max_abs_diff(p, p + np.array([[0, 0, 1e-3], [0, 0, 0]])) == pytest.approx(1e-3)
    assert max_abs_diff(p[:, 0], p[:, :1]) == 0.0  # binary: (n,) against ORT's (n, 1)
    assert max_abs_diff(p, p.reshape(-1)) == float("inf")  # same numbers, wrong shape
    assert max_abs_diff(p, p[:, :2]) == float("inf")


# ------------------------------------------------------------------------- the export stage
@pytest.fixture(scope="module")
def saved_gru(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    recurrent_model("gru", layers=1, bidirectional=True, seed=3).save(path)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch, saved_gru) -> Path:
    """A repo-shaped folder with what export reads: encoded test split, encoder, Keras model, eval metrics."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    params.cache_clear()
    words = [f"w{i}" for i in range(VOCAB - 2)]
    encoder = TextEncoder([PAD, OOV, *words], SEQ)
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice([*words, "unseen"], size=rng.integers(1, 15))) for _ in range(40)]
    encoded = tmp_path / "data" / "encoded" / "sentiment"
    encoded.mkdir(parents=True)
    np.savez(
        encoded / "test.npz", x=encoder.transform_texts(texts), y=rng.integers(0, 2, 40).astype("float32")
    )
    write_json(encoded / "encoder.json", encoder.to_dict())
    model_dir = tmp_path / "models" / "sentiment" / "gru"
    model_dir.mkdir(parents=True)
    shutil.copy(saved_gru, model_dir / "model.keras")
    write_json(
        tmp_path / "reports" / "eval" / "sentiment" / "gru" / "metrics.json",
        {"val": {"accuracy": 0.61, "roc_auc": 0.66}, "test": {"accuracy": 0.6, "roc_auc": 0.65}},
    )
    yield tmp_path
    params.cache_clear()


def test_export_stage_writes_self_contained_model_and_logs_parity(project, capsys):
    import mlflow

    from pipeline.core import tracking
    from pipeline.serving.inference import Predictor
    from pipeline.stages.export import main

    tracking.setup_experiment("sentiment")
    with mlflow.start_run() as run:
        pass
    model_dir = project / "models" / "sentiment" / "gru"
    write_json(model_dir / "run.json", {"run_id": run.info.run_id, "task": "sentiment", "arch": "gru"})

    assert main(["sentiment", "gru"]) == 0

    printed = capsys.readouterr().out
    assert "GRU" in printed and "max |Keras - ONNX Runtime|" in printed and "KiB" in printed
    metrics = read_json(project / "metrics" / "sentiment" / "gru.json")
    assert metrics["test"] == {"accuracy": 0.6, "roc_auc": 0.65} and "val" in metrics
    assert metrics["onnx_parity_bound"] == BOUND  # the measured value is in MLflow only (machine-bound)
    assert "GRU" in metrics["onnx_operators"] and "Loop" not in metrics["onnx_operators"]
    assert metrics["onnx_operators"] == sorted(metrics["onnx_operators"])
    logged = tracking.mlflow_client().get_run(run.info.run_id).data.metrics
    assert 0 <= logged["onnx_max_abs_diff"] <= BOUND

    predictor = Predictor.from_dir(model_dir)  # the bundle: model.onnx, encoder.json, manifest.json
    assert (predictor.task, predictor.arch) == ("sentiment", "gru")
    assert not predictor.skips_padding  # recorded by export: a Bidirectional GRU reads every step
    result = predictor.score_records(["w1 w2 w3 not here", ""])
    assert 0 <= result.probabilities[0] <= 1 and np.isnan(result.probabilities[1])
    assert [e.row for e in result.errors] == [1]


def test_parity_failure_raises_and_keeps_previous_export(project, monkeypatch):
    from pipeline.modeling import onnx_builder
    from pipeline.stages import export as export_module

    model_dir = project / "models" / "sentiment" / "gru"
    assert export_module.main(["sentiment", "gru"]) == 0  # no run.json: MLflow logging is skipped
    assert not (project / "mlflow.db").exists()
    kept = [model_dir / "model.onnx", model_dir / "manifest.json", project / "metrics/sentiment/gru.json"]
    before = {p: p.read_bytes() for p in kept}

    real = onnx_builder.build_onnx

    def off_by_a_bias(model, opset=17, **options):
        proto = real(model, opset, **options)
        (bias,) = [t for t in proto.graph.initializer if t.name.startswith("probability_bias")]
        bias.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(bias) + 0.05, bias.name))
        return proto

    monkeypatch.setattr(onnx_builder, "build_onnx", off_by_a_bias)
    with pytest.raises(ModelError, match=r"model\.onnx.*disagree by .*bound"):
        export_module.main(["sentiment", "gru"])
    assert {p: p.read_bytes() for p in before} == before
    names = ["encoder.json", "explain.json", "manifest.json", "model.keras", "model.onnx"]
    assert sorted(p.name for p in model_dir.iterdir()) == names


def test_export_without_evaluation_fails_before_writing(project):
    from pipeline.stages.export import main

    (project / "reports" / "eval" / "sentiment" / "gru" / "metrics.json").unlink()
    expected = r"metrics\.json: not found; run 'python -m pipeline repro evaluate@sentiment-gru'"
    with pytest.raises(ModelError, match=expected):
        main(["sentiment", "gru"])
    assert not (project / "models" / "sentiment" / "gru" / "model.onnx").exists()
    assert not (project / "metrics").exists()


TOPICS = ["grain", "crude", "trade"]


@pytest.fixture
def topics_project(tmp_path, monkeypatch) -> Path:
    """A 3-class tabular task ready for export: a 6-feature encoder that records its classes."""
    from pipeline.encoders.tabular import TabularEncoder

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    params.cache_clear()
    stats = {"mean": 0.0, "std": 1.0, "min": -10.0, "max": 10.0}
    encoder = TabularEncoder({f"x{i}": dict(stats) for i in range(6)}, {})
    encoded = tmp_path / "data" / "encoded" / "topics"
    encoded.mkdir(parents=True)
    rng = np.random.default_rng(5)
    np.savez(encoded / "test.npz", x=rng.normal(0, 1.5, (30, 6)).astype("float32"), y=rng.integers(0, 3, 30))
    np.savez(encoded / "train.npz", x=rng.normal(0, 1.5, (80, 6)).astype("float32"), y=rng.integers(0, 3, 80))
    write_json(encoded / "encoder.json", {**encoder.to_dict(), "classes": TOPICS})
    model_dir = tmp_path / "models" / "topics" / "ann"
    model_dir.mkdir(parents=True)
    ann_model(seed=1, n_classes=3).save(model_dir / "model.keras")
    write_json(
        tmp_path / "reports" / "eval" / "topics" / "ann" / "metrics.json",
        {"val": {"accuracy": 0.5, "f1_macro": 0.4}, "test": {"accuracy": 0.5, "f1_macro": 0.4}},
    )
    yield tmp_path
    params.cache_clear()


def test_export_stage_checks_every_class_and_serves_class_probabilities(topics_project):
    """The stage's parity covers all 3 columns; the exported directory answers (n, 3) per row."""
    from pipeline.serving.inference import Predictor
    from pipeline.stages.export import export

    churn = params().task("churn")  # a 3-class table named topics: the tabular kind's bundle
    # churn's names are for 0/1; these classes are learned (from encoder.json), so export checks them
    display = churn.display.model_copy(update={"classes": {"crude": "crude oil"}, "columns": {"x0": "first"}})
    tabular = churn.model_copy(update={"display": display})
    result = export("topics", "ann", tabular, opset=params().export.opset, bound=BOUND)

    assert result.converter == "tf2onnx" and result.n_rows == 30
    metrics = read_json(topics_project / "metrics" / "topics" / "ann.json")
    assert set(metrics) == {"val", "test", "onnx_parity_bound", "onnx_operators"}
    assert 0 <= result.max_abs_diff <= BOUND and "Softmax" in metrics["onnx_operators"]
    # the bundle explains on its own: SHAP's background, 50 seeded training rows, hashed in the manifest
    explain = read_json(topics_project / "models" / "topics" / "ann" / "explain.json")
    train = np.load(topics_project / "data" / "encoded" / "topics" / "train.npz")["x"]
    assert explain["method"] == "shap" and np.asarray(explain["background"]).shape == (50, 6)
    assert all(any(np.array_equal(np.float32(row), t) for t in train) for row in explain["background"])
    manifest = read_json(topics_project / "models" / "topics" / "ann" / "manifest.json")
    assert "explain.json" in manifest["files"]

    model_dir = topics_project / "models" / "topics" / "ann"
    assert read_json(model_dir / "encoder.json")["classes"] == TOPICS
    predictor = Predictor.from_dir(model_dir)
    assert predictor.n_classes == 3
    row = {f"x{i}": 0.5 * i for i in range(6)}
    result = predictor.score_records([row, {**row, "x2": "many"}, row])
    assert result.probabilities.shape == (3, 3)
    assert np.allclose(result.probabilities[[0, 2]].sum(axis=1), 1.0, atol=1e-6)
    assert np.isnan(result.probabilities[1]).all() and result.valid.tolist() == [True, False, True]
    assert [e.row for e in result.errors] == [1]
    refused = predictor.score_records([{**row, "x0": None}])  # nothing valid: still one row of 3
    assert refused.probabilities.shape == (1, 3) and refused.valid.tolist() == [False]
    manifest = read_json(model_dir / "manifest.json")
    assert manifest["output"]["class_names"] == ["grain", "crude oil", "trade"]
    assert manifest["input"]["column_labels"] == {"x0": "first"}
