"""Forecasters of a series (pipeline/modeling/forecasters.py): each architecture learns a tiny
seasonal series, answers in the target's units, and exports to ONNX with native recurrent operators
and parity within 1e-5 at batch 1 and in a big batch (real Keras, the real builder and tf2onnx, real
ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

from pipeline.core.config import AnnParams  # noqa: E402
from pipeline.core.timeseries_config import SeriesRecurrentParams  # noqa: E402

BOUND = 1e-5
L, F, H = 12, 3, 4
NATIVE = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def windows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a noisy cycle of 12 steps around 500 (scaled inputs, targets in units)."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 12, n)
    steps = start[:, None] + np.arange(L + H)[None, :]
    wave = np.sin(2 * np.pi * steps / 12) + rng.normal(0, 0.05, steps.shape)
    x = np.stack([wave[:, :L], np.cos(2 * np.pi * steps[:, :L] / 12), rng.normal(0, 1, (n, L))], axis=2)
    return x.astype("float32"), (500 + 50 * wave[:, L:]).astype("float32")


def model(arch: str, layers: int = 1, seed: int = 0):
    from pipeline.modeling.forecasters import build_forecaster
    from pipeline.modeling.models import seed_everything

    seed_everything(seed)
    params = (
        AnnParams(hidden_units=[16], learning_rate=0.01)
        if arch == "ann"
        else SeriesRecurrentParams(units=8, layers=layers, learning_rate=0.01)
    )
    return build_forecaster(arch, params, L, F, H, center=500.0, scale=50.0)


@pytest.mark.parametrize("arch", ["ann", "rnn", "lstm", "gru"])
def test_each_forecaster_learns_a_cycle_in_the_target_s_units(arch: str) -> None:
    x, y = windows(256)
    net = model(arch)
    assert net.input.shape[1:] == (L, F) and net.output.shape[1:] == (H,)
    before = float(np.abs(np.asarray(net(x)) - y).mean())
    net.fit(x, y, epochs=12, batch_size=32, verbose=0)
    predicted = np.asarray(net(x))
    after = float(np.abs(predicted - y).mean())
    assert after < 12 < before and abs(float(predicted.mean()) - 500) < 20, (before, after)


def onnx_answers_within_bound(net, proto) -> list[np.ndarray]:
    """The ONNX graph's answers to one forecast and to a batch big enough for the SimpleRNN's
    unrolled graph, each checked within BOUND (relative) of the Keras model's."""
    x, _ = windows(300, seed=2)
    answers = []
    for batch in (x[:1], x):
        expected = np.asarray(net(batch, training=False))
        got = run_onnx(proto, batch)
        assert np.max(np.abs(expected - got) / np.maximum(1, np.abs(expected))) <= BOUND
        answers.append(got)
    return answers


def run_onnx(proto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return session.run(["forecast"], {name: x})[0]


def trained(arch: str, layers: int = 1):
    net = model(arch, layers)
    rng = np.random.default_rng(1)  # weights away from their start, as training leaves them
    net.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in net.get_weights()])
    return net


@pytest.mark.parametrize(("arch", "layers"), [("ann", 1), ("rnn", 1), ("lstm", 2), ("gru", 1)])
def test_the_builder_exports_native_operators_with_parity(arch: str, layers: int) -> None:
    from pipeline.modeling.onnx_builder import build_onnx, operator_types

    net = trained(arch, layers)
    proto = build_onnx(net)
    ops = operator_types(proto)
    assert "Loop" not in ops and "Scan" not in ops
    if arch != "ann":
        assert NATIVE[arch] in ops
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [
        "batch",
        L,
        F,
    ]
    one, batch = onnx_answers_within_bound(net, proto)
    assert one.shape == (1, H) and batch.shape == (300, H)


def test_tf2onnx_exports_the_ann_with_parity() -> None:
    from pipeline.stages.export import tf2onnx_convert

    net = trained("ann")
    x, _ = windows(50, seed=3)
    expected = np.asarray(net(x, training=False))
    session = ort.InferenceSession(tf2onnx_convert(net, 17).SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.max(np.abs(expected - got) / np.maximum(1, np.abs(expected))) <= BOUND


def test_an_unknown_architecture_is_refused() -> None:
    from pipeline.modeling.forecasters import build_forecaster

    with pytest.raises(ValueError, match="unknown forecaster 'tcn'"):
        build_forecaster("tcn", SeriesRecurrentParams(), L, F, H, 0.0, 1.0)


def relative(arch: str, relative_to: str, season: int = 12, trainable: bool = False):
    from pipeline.modeling.forecasters import build_forecaster
    from pipeline.modeling.models import seed_everything

    seed_everything(0)
    params = (
        AnnParams(hidden_units=[16], learning_rate=0.01)
        if arch == "ann"
        else SeriesRecurrentParams(units=8, learning_rate=0.01)
    )
    return build_forecaster(
        arch,
        params,
        L,
        F,
        H,
        500.0,
        50.0,
        relative_to=relative_to,
        season_length=season,
        residual=(0.0, 5.0),
        baseline_trainable=trainable,
    )


@pytest.mark.parametrize(("relative_to", "rows"), [("last", [L - 1] * H), ("seasonal", list(range(H)))])
def test_untrained_relative_forecaster_answers_the_baseline_in_the_target_s_units(
    relative_to: str, rows: list[int]
) -> None:
    x, _ = windows(20)
    net = relative("gru", relative_to)
    expected = 500 + 50 * x[:, rows, 0]  # the target of those window rows, unscaled
    assert np.allclose(np.asarray(net(x, training=False)), expected, atol=1e-3)


def test_seasonal_rows_repeat_the_last_season_beyond_one() -> None:
    from pipeline.core.timeseries_config import SeriesEncodeConfig, baseline_rows

    assert baseline_rows("seasonal", 10, 5, 2) == [8, 9, 8, 9, 8]
    assert baseline_rows("none", 10, 5, 2) == []
    with pytest.raises(ValueError, match="lookback 4 must be at least season_length 6"):
        SeriesEncodeConfig(lookback=4, horizon=2, season_length=6, relative_to="seasonal")
    with pytest.raises(ValueError, match="baseline_trainable: only with relative_to"):
        SeriesEncodeConfig(lookback=4, season_length=2, baseline_trainable=True)


@pytest.mark.parametrize("arch", ["ann", "rnn", "gru"])
def test_a_seasonal_relative_forecaster_learns_and_exports_with_parity(arch: str) -> None:
    from pipeline.modeling.onnx_builder import build_onnx

    x, y = windows(256)
    net = relative(arch, "seasonal")
    baseline = net.get_layer("baseline").get_weights()
    net.fit(x, y, epochs=8, batch_size=32, verbose=0)
    # the baseline is fixed; the network learns the change from it
    assert all(
        np.array_equal(a, b) for a, b in zip(baseline, net.get_layer("baseline").get_weights(), strict=True)
    )
    after = float(np.abs(np.asarray(net(x)) - y).mean())
    seasonal = float(np.abs(500 + 50 * x[:, :H, 0] - y).mean())
    assert after < seasonal, (after, seasonal)
    for got in onnx_answers_within_bound(net, build_onnx(net)):
        assert abs(float(got.mean()) - 500) < 40  # in the target's units


def test_relative_to_linear_starts_at_the_ridge_fit_and_exports_with_parity() -> None:
    from types import SimpleNamespace

    from pipeline.core.timeseries_config import linear_baseline
    from pipeline.modeling.forecasters import build_forecaster
    from pipeline.modeling.onnx_builder import build_onnx

    x, y = windows(256)
    data = SimpleNamespace(train=SimpleNamespace(x=x, y=y))
    kernel, bias = linear_baseline(x, y)
    ridge = x.reshape(len(x), -1).astype("float64") @ kernel + bias
    assert np.abs(ridge - y).mean() < np.abs(y.mean(axis=0) - y).mean() / 5  # the fit explains the cycle
    params = SeriesRecurrentParams(units=8, learning_rate=0.01)
    net = build_forecaster(
        "gru", params, L, F, H, 500.0, 50.0, relative_to="linear", residual=(0, 2), data=data
    )
    assert np.allclose(np.asarray(net(x, training=False)), ridge, atol=1e-2)  # untrained: the ridge fit
    rng = np.random.default_rng(1)  # trained weights, away from the zero head; the baseline fixed
    for layer in net.layers:
        if layer.name != "baseline":
            layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in layer.get_weights()])
    onnx_answers_within_bound(net, build_onnx(net))
