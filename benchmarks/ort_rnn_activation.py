"""Why the exporter unrolls the SimpleRNN: ONNX Runtime's CPU ``RNN`` kernel is slow at batch 256.

Times one ONNX ``RNN`` node (the operator ``export.simple_rnn: native`` exports a SimpleRNN to) on
the default sentiment model's shape with ``Tanh`` (the model's), the exact rewrite
``tanh(z) = 2*sigmoid(2z) - 1`` as a ``Sigmoid`` RNN (it keeps the native operator), and ``Relu``
and ``Softsign`` for scale (other functions); then the same tanh recurrence unrolled into
``MatMul``/``Add``/``Tanh`` nodes (what the default ``export.simple_rnn: unrolled`` emits). Prints how far
the rewrite and the unrolled graph are from the ``Tanh`` node.

    python benchmarks/ort_rnn_activation.py [--batch 256] [--steps 48] [--units 32]

Needs only numpy, onnx and onnxruntime; prints a table, writes nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def rnn_graph(
    activation: str, w: np.ndarray, r: np.ndarray, b: np.ndarray, initial: float
) -> onnx.ModelProto:
    """One forward ``RNN`` node, input [steps, batch, features], initial hidden state ``initial``."""
    units = r.shape[0]
    inits = [
        numpy_helper.from_array(w[None], "W"),
        numpy_helper.from_array(r[None], "R"),
        numpy_helper.from_array(np.concatenate([b, np.zeros_like(b)])[None], "B"),
        numpy_helper.from_array(np.full((1, 1, units), initial, np.float32), "h0_row"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([2], np.int64), "two"),
        numpy_helper.from_array(np.array([units], np.int64), "units"),
    ]
    nodes = [
        helper.make_node("Shape", ["X"], ["x_shape"]),
        helper.make_node("Slice", ["x_shape", "one", "two"], ["batch"]),
        helper.make_node("Concat", ["one", "batch", "units"], ["h0_shape"], axis=0),
        helper.make_node("Expand", ["h0_row", "h0_shape"], ["h0"]),
        helper.make_node(
            "RNN", ["X", "W", "R", "B", "", "h0"], ["Y"], hidden_size=units, activations=[activation]
        ),
    ]
    return _model(nodes, inits, w.shape[1])


def unrolled_graph(steps: int, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> onnx.ModelProto:
    """The same tanh recurrence as one ``MatMul``/``Add``/``Tanh`` chain per step (no ``RNN``/``Loop``)."""
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(w.T), "Wt"),
        numpy_helper.from_array(np.ascontiguousarray(r.T), "Rt"),
        numpy_helper.from_array(b, "b"),
    ]
    # All steps' input projections in one MatMul, then one slice per step.
    nodes = [helper.make_node("MatMul", ["X", "Wt"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["xwb"])]
    outputs = [f"xs{t}" for t in range(steps)]
    nodes.append(helper.make_node("Split", ["xwb"], outputs, axis=0, num_outputs=steps))
    h = ""
    for t in range(steps):
        z = outputs[t]
        if h:
            nodes.append(helper.make_node("MatMul", [h, "Rt"], [f"hr{t}"]))
            nodes.append(helper.make_node("Add", [z, f"hr{t}"], [f"z{t}"]))
            z = f"z{t}"
        nodes.append(helper.make_node("Tanh", [z], [f"h{t}"]))
        h = f"h{t}"
    nodes.append(helper.make_node("Identity", [h], ["Y"]))
    return _model(nodes, inits, w.shape[1])


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], features: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "rnn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["steps", "batch", features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def time_ms(sess: ort.InferenceSession, x: np.ndarray, seconds: float = 1.0) -> float:
    """Median milliseconds per call over about ``seconds`` after a warm-up."""
    for _ in range(5):
        sess.run(None, {"X": x})
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        sess.run(None, {"X": x})
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--features", type=int, default=32, help="embedding width")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (args.units, args.features)).astype(np.float32)
    r = rng.normal(0, 0.3, (args.units, args.units)).astype(np.float32)
    b = rng.normal(0, 0.1, args.units).astype(np.float32)
    x = rng.normal(0, 1, (args.steps, args.batch, args.features)).astype(np.float32)

    # tanh(z) = 2*sigmoid(2z) - 1: with g = (h + 1) / 2 the recurrence becomes g' = sigmoid(W'x + R'g + b').
    sessions = {
        "RNN Tanh": session(rnn_graph("Tanh", w, r, b, initial=0.0)),
        "RNN Sigmoid (tanh rewrite)": session(
            rnn_graph("Sigmoid", 2 * w, 4 * r, 2 * (b - r.sum(axis=1)), initial=0.5)
        ),
        "RNN Relu": session(rnn_graph("Relu", w, r, b, initial=0.0)),
        "RNN Softsign": session(rnn_graph("Softsign", w, r, b, initial=0.0)),
        "unrolled MatMul/Add/Tanh": session(unrolled_graph(args.steps, w, r, b)),
    }
    y_tanh = sessions["RNN Tanh"].run(None, {"X": x})[0]
    y_sigmoid = 2 * sessions["RNN Sigmoid (tanh rewrite)"].run(None, {"X": x})[0] - 1
    y_unrolled = sessions["unrolled MatMul/Add/Tanh"].run(None, {"X": x})[0]

    print(
        f"ONNX Runtime {ort.__version__}, 1 intra-op thread, batch {args.batch}, {args.steps} steps, "
        f"{args.units} units, {args.features} features"
    )
    print(
        f"max |tanh - sigmoid rewrite| {np.abs(y_tanh - y_sigmoid).max():.2e}, "
        f"max |RNN - unrolled| (last step) {np.abs(y_tanh[-1, 0] - y_unrolled).max():.2e}"
    )
    print(f"{'graph':<28}{'ms/call':>10}{'rows/s':>12}")
    for name, sess in sessions.items():
        ms = time_ms(sess, x)
        print(f"{name:<28}{ms:>10.3f}{args.batch / ms * 1e3:>12,.0f}")


if __name__ == "__main__":
    main()
