"""The recurrent layers of the ONNX builder: ``SimpleRNN``/``LSTM``/``GRU`` (optionally
``Bidirectional``) as ONNX's native operators, a ``SimpleRNN`` unrolled or chosen by batch size,
and the skipping of the leading padding (``Padding``). ``onnx_builder``'s docstring has the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from pipeline.core.errors import ModelError
from pipeline.modeling.onnx_graph import (
    POOLING_OPS,
    RECURRENT_OPS,
    SKIPPED_LAYERS,
    Graph,
    Tensor,
    activation_name,
    as_float32,
)

# Activations inside ONNX RNN/LSTM/GRU that compute exactly what the Keras function computes.
RECURRENT_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}
# From this many rows the unrolled SimpleRNN beats ONNX Runtime's RNN kernel (measured on the default
# model's shape, 1 thread: 0.040 vs 0.043 ms at 4 rows, 0.034 vs 0.016 ms at 1 row).
UNROLL_FROM_BATCH = 4


# ----------------------------------------------------------------------------- recurrent layers
def _gate_order(units: int, order: list[int]) -> np.ndarray:
    return np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])


def recurrent_weights(layer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``W [gates*u, in]``, ``R [gates*u, u]`` and ``B [2*gates*u]`` for one direction."""
    kind = type(layer).__name__
    cell = layer.cell
    units = int(cell.units)
    kernel, recurrent = as_float32(cell.kernel), as_float32(cell.recurrent_kernel)
    gates = kernel.shape[1] // units
    if cell.use_bias:
        bias = as_float32(cell.bias)
    else:
        bias = np.zeros(
            (2, gates * units) if getattr(cell, "reset_after", False) else gates * units, "float32"
        )
    if kind == "LSTM":  # Keras i,f,c,o -> ONNX i,o,f,c
        order = _gate_order(units, [0, 3, 1, 2])
        kernel, recurrent, bias = kernel[:, order], recurrent[:, order], bias[order]
    if bias.ndim == 2:  # GRU reset_after: row 0 is the input bias, row 1 the recurrent bias
        w_bias, r_bias = bias[0], bias[1]
    else:
        w_bias, r_bias = bias, np.zeros_like(bias)
    return kernel.T, recurrent.T, np.concatenate([w_bias, r_bias])


def _recurrent_activations(layer: Any) -> list[str]:
    kind = type(layer).__name__
    names = [activation_name(layer.cell.activation)]
    if kind != "SimpleRNN":
        names.insert(0, activation_name(layer.cell.recurrent_activation))
    onnx_names = []
    for name in names:
        if name not in RECURRENT_ACTIVATIONS:
            raise ModelError(
                f"layer {layer.name!r}: activation {name!r} has no exact ONNX {RECURRENT_OPS[kind]} "
                f"equivalent; supported: {', '.join(RECURRENT_ACTIVATIONS)}"
            )
        onnx_names.append(RECURRENT_ACTIVATIONS[name])
    if kind == "LSTM":  # ONNX f (gates), g (cell input), h (cell output) = Keras rec, act, act
        onnx_names.append(onnx_names[1])
    return onnx_names


def _check_recurrent(layer: Any, *, backward: bool = False) -> None:
    kind = type(layer).__name__
    if kind not in RECURRENT_OPS:
        raise ModelError(f"layer {layer.name!r}: {kind} is not supported (SimpleRNN, LSTM or GRU expected)")
    for attr in ("return_state", "stateful"):
        if getattr(layer, attr, False):
            raise ModelError(f"layer {layer.name!r}: {attr}=True is not supported by the ONNX export")
    if bool(getattr(layer, "go_backwards", False)) != backward:
        raise ModelError(f"layer {layer.name!r}: go_backwards outside Bidirectional is not supported")


def recurrent_layer(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    if x.kind != "seq":
        raise ModelError(f"layer {layer.name!r}: a recurrent layer needs a sequence input (after Embedding)")
    if type(layer).__name__ == "Bidirectional":
        if layer.merge_mode != "concat":
            raise ModelError(
                f"layer {layer.name!r}: merge_mode {layer.merge_mode!r} (only 'concat' is supported)"
            )
        directions = [layer.forward_layer, layer.backward_layer]
        _check_recurrent(directions[0])
        _check_recurrent(directions[1], backward=True)
        if type(directions[0]) is not type(directions[1]) or directions[0].units != directions[1].units:
            raise ModelError(f"layer {layer.name!r}: forward and backward layers differ in type or units")
    else:
        directions = [layer]
        _check_recurrent(layer)
    inner = directions[0]
    weights = [recurrent_weights(d) for d in directions]
    w, r, b = (np.stack([wt[i] for wt in weights]) for i in range(3))
    if w.shape[2] != x.dim:
        raise ModelError(f"layer {layer.name!r}: expects {w.shape[2]} input features, gets {x.dim}")
    activations = [a for d in directions for a in _recurrent_activations(d)]

    if graph.simple_rnn == "unrolled" and can_unroll(layer, x):
        return _unrolled_simple_rnn(graph, inner, x, w[0], r[0], b[0], activations[0])
    return _native_recurrent(graph, layer, x, len(directions), w, r, b, activations)


def can_unroll(layer: Any, x: Tensor) -> bool:
    """A forward SimpleRNN over a sequence of fixed length: the steps can be written out."""
    return type(layer).__name__ == "SimpleRNN" and x.steps > 0


def by_batch_size(graph: Graph, name: str, tokens: str, large: Any, small: Any) -> Tensor:
    """``If`` the batch of ``tokens`` has ``UNROLL_FROM_BATCH`` rows or more, the ``large`` body's
    graph, else the ``small`` one's; both bodies read the graph's inputs and initializers."""
    batch = graph.add("Shape", [tokens], start=0, end=1)[0]
    threshold = graph.const("unroll_from_batch", np.array([UNROLL_FROM_BATCH], "int64"))
    cond = graph.add("Squeeze", [graph.add("GreaterOrEqual", [batch, threshold])[0]])[0]
    branches = []
    for label, build in (("unrolled", large), ("native", small)):
        branch = Graph(graph.opset, label, [], graph.initializers, graph._count, forecast=graph.forecast)
        out = build(branch)
        graph._count = branch._count
        value = helper.make_tensor_value_info(out.name, TensorProto.FLOAT, None)
        branches.append((helper.make_graph(branch.nodes, f"{name}_{label}", [], [value]), out))
    (then_graph, out), (else_graph, _) = branches
    (result,) = graph.add("If", [cond], hint=name, then_branch=then_graph, else_branch=else_graph)
    return Tensor(result, out.kind, out.dim, out.steps)


def _native_recurrent(
    graph: Graph,
    layer: Any,
    x: Tensor,
    dirs: int,
    w: np.ndarray,
    r: np.ndarray,
    b: np.ndarray,
    activations: list[str],
) -> Tensor:
    """ONNX's own ``RNN``/``LSTM``/``GRU`` operator for one (or a bidirectional) recurrent layer."""
    inner = layer.forward_layer if dirs == 2 else layer
    kind = type(inner).__name__
    units = int(inner.units)
    attrs: dict[str, Any] = {
        "hidden_size": units,
        "direction": "bidirectional" if dirs == 2 else "forward",
        "activations": activations,
    }
    if kind == "GRU":
        attrs["linear_before_reset"] = 1 if inner.cell.reset_after else 0
    inputs = [x.name, graph.const(f"{layer.name}_W", w), graph.const(f"{layer.name}_R", r)]
    inputs.append(graph.const(f"{layer.name}_B", b))
    if graph.padding is not None:  # start from the state the skipped padding steps would leave
        inputs.append("")  # sequence_lens
        inputs += [graph.padding.initial(graph, table) for table in graph.padding.states[layer.name]]
    op = RECURRENT_OPS[kind]
    if inner.return_sequences:
        (y,) = graph.add(op, inputs, hint=layer.name, **attrs)  # Y: [seq, dirs, batch, units]
        if dirs == 2:
            y = graph.add("Transpose", [y], perm=[0, 2, 1, 3])[0]
            y = graph.add("Reshape", [y, graph.const("shape_seq", np.array([0, 0, -1], "int64"))])[0]
        else:
            y = graph.add("Squeeze", [y, graph.const("axis1", np.array([1], "int64"))])[0]
        return Tensor(y, "seq", dirs * units, x.steps)
    _, y_h = graph.add(op, inputs, n_outputs=2, hint=layer.name, **attrs)  # Y_h: [dirs, batch, units]
    graph.nodes[-1].output[0] = ""  # Y is not needed: ONNX Runtime skips writing it
    if dirs == 2:
        y_h = graph.add("Transpose", [y_h], perm=[1, 0, 2])[0]
        y_h = graph.add("Reshape", [y_h, graph.const("shape_flat", np.array([0, -1], "int64"))])[0]
    else:
        y_h = graph.add("Squeeze", [y_h, graph.const("axis0", np.array([0], "int64"))])[0]
    return Tensor(y_h, "flat", dirs * units)


def _unrolled_simple_rnn(
    graph: Graph, layer: Any, x: Tensor, w: np.ndarray, r: np.ndarray, b: np.ndarray, activation: str
) -> Tensor:
    """``h_t = act(x_t W^T + h_{t-1} R^T + Wb + Rb)`` with ``h_0 = 0``, written step by step.

    The input projection of every step is one ``MatMul`` over ``[seq, batch, in]``; each step then
    adds its row of that to ``h_{t-1} R^T``. The steps are fixed by the model's input length.
    """
    units = r.shape[0]
    projected = graph.add("MatMul", [x.name, graph.const(f"{layer.name}_Wt", w.T)], hint=layer.name)[0]
    bias = b[:units] + b[units:]
    projected = graph.add("Add", [projected, graph.const(f"{layer.name}_bias", bias)])[0]
    recurrent = graph.const(f"{layer.name}_Rt", r.T)
    states: list[str] = []
    h = ""
    for t in range(x.steps):
        step = graph.add("Gather", [projected, graph.const("step", np.array(t, "int64"))], axis=0)[0]
        if h:  # h_0 = 0: the first step has no recurrent term
            step = graph.add("Add", [step, graph.add("MatMul", [h, recurrent])[0]])[0]
        h = graph.add(activation, [step])[0]
        states.append(h)
    if layer.return_sequences:
        axis0 = graph.const("axis0", np.array([0], "int64"))
        rows = [graph.add("Unsqueeze", [state, axis0])[0] for state in states]
        return Tensor(graph.add("Concat", rows, axis=0)[0], "seq", units, x.steps)
    return Tensor(h, "flat", units)


# ------------------------------------------------------------------------ leading padding
@dataclass
class Padding:
    """Skipping the leading padding that every row of a batch has (``skip_padding``).

    The encoder pre-pads with token 0 and the layers read the padding like any token; but from the
    zero start state, ``k`` padding steps always leave the same states, whatever the text. So the
    graph finds ``start``, the number of leading padding steps that all rows share, runs the
    recurrent layers only from there, starting each from the state ``start`` padding steps leave
    (a table row per ``k``, computed here once), and adds the skipped steps' share to the pooling.
    The probabilities are the same; a short text at batch 1 costs its own steps, not the padded length.
    """

    start: str  # int64 [1]
    batch: str  # int64 [1]
    steps: int  # the model's sequence length
    states: dict[str, list[np.ndarray]]  # layer name -> h (and c) after k padding steps, [steps, units]
    pooled: np.ndarray  # the last layer's outputs over the first k steps: max (-inf at 0) or sum

    def initial(self, graph: Graph, table: np.ndarray) -> str:
        """``initial_h``/``initial_c`` ``[1, batch, units]``: the table's row ``start`` for every row."""
        row = graph.add("Gather", [graph.const("state_after_padding", table), self.start], axis=0)[0]
        one = graph.const("one", np.array([1], "int64"))
        units = graph.const("units", np.array([table.shape[1]], "int64"))
        (shape,) = graph.add("Concat", [one, self.batch, units], axis=0)
        return graph.add("Expand", [row, shape])[0]


NUMPY_ACTIVATIONS = {
    "Tanh": np.tanh,
    "Relu": lambda v: np.maximum(v, 0.0),
    "Sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
}


def _padding_run(layer: Any, inputs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The ONNX recurrence of ``layer`` over ``inputs`` ``[steps, in]`` from the zero state, in
    float64: the outputs ``[steps, units]`` and the state tables (h, and c for an LSTM) whose row
    ``k`` is the state after ``k`` steps."""
    kind = type(layer).__name__
    w, r, b = recurrent_weights(layer)
    f, *rest = (NUMPY_ACTIVATIONS[a] for a in _recurrent_activations(layer))
    units = r.shape[1]
    w_b, r_b = b[: len(b) // 2].astype("float64"), b[len(b) // 2 :].astype("float64")
    xw = inputs @ w.T.astype("float64") + w_b  # every step's input projection
    h, c = np.zeros(units), np.zeros(units)
    hs, cs = [h], [c]
    for t in range(len(inputs)):
        hr = h @ r.T.astype("float64")
        if kind == "SimpleRNN":
            h = f(xw[t] + hr + r_b)
        elif kind == "LSTM":  # ONNX gates i, o, f, c
            g, act_h = rest
            z = xw[t] + hr + r_b
            i, o, fg, cc = (z[k * units : (k + 1) * units] for k in range(4))
            c = f(fg) * c + f(i) * g(cc)
            h = f(o) * act_h(c)
        else:  # GRU: z, r, h
            (g,) = rest
            u = slice(0, units), slice(units, 2 * units), slice(2 * units, 3 * units)
            z = f(xw[t][u[0]] + hr[u[0]] + r_b[u[0]])
            reset = f(xw[t][u[1]] + hr[u[1]] + r_b[u[1]])
            if layer.cell.reset_after:  # linear_before_reset = 1
                n = g(xw[t][u[2]] + reset * (hr[u[2]] + r_b[u[2]]))
            else:
                n = g(xw[t][u[2]] + (reset * h) @ r.T[:, u[2]].astype("float64") + r_b[u[2]])
            h = (1.0 - z) * n + z * h
        hs.append(h)
        cs.append(c)
    tables = [np.array(hs[:-1])] + ([np.array(cs[:-1])] if kind == "LSTM" else [])  # after 0..steps-1
    return np.array(hs[1:]), tables


def padding_tables(layers: list[Any], steps: int) -> tuple[dict[str, list[np.ndarray]], np.ndarray] | None:
    """The state tables of each recurrent layer and the pooling prefix of the last one, or None when
    the model is not Embedding -> forward recurrent layers -> optional pooling -> Dense layers.
    (``build_onnx`` asks only from ``SKIP_PADDING_FROM_STEPS`` steps.)"""
    kinds = [type(layer).__name__ for layer in layers if type(layer).__name__ not in SKIPPED_LAYERS]
    recurrent = [layer for layer in layers if type(layer).__name__ in RECURRENT_OPS]
    n = len(recurrent)
    tail = kinds[1 + n :]
    if (
        not n
        or kinds[0] != "Embedding"
        or kinds[1 : 1 + n] != [type(layer).__name__ for layer in recurrent]
        or any(k not in POOLING_OPS and k != "Dense" for k in tail)
    ):
        return None
    embedding = next(layer for layer in layers if type(layer).__name__ == "Embedding")
    x = np.repeat(
        as_float32(embedding.embeddings)[:1].astype("float64"), steps, axis=0
    )  # token 0, every step
    states: dict[str, list[np.ndarray]] = {}
    for layer in recurrent:
        x, tables = _padding_run(layer, x)
        states[layer.name] = [t.astype("float32") for t in tables]
    pooling = tail[0] if tail and tail[0] in POOLING_OPS else ""
    if pooling == "GlobalMaxPooling1D":
        prefix = np.maximum.accumulate(x[:-1], axis=0)
        pooled = np.concatenate([np.full((1, x.shape[1]), -np.inf), prefix])
    else:  # the mean's sum (unused without pooling)
        pooled = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x[:-1], axis=0)])
    return states, pooled.astype("float32")


def leading_padding(graph: Graph, tokens: str, steps: int, tables: tuple[dict, np.ndarray]) -> Padding:
    """``start``: the first step where some row has a token (0 when none has: nothing skipped)."""
    if graph.opset >= 18:
        column_max = graph.add(
            "ReduceMax", [tokens, graph.const("axis0", np.array([0], "int64"))], keepdims=0
        )[0]
    else:
        column_max = graph.add("ReduceMax", [tokens], axes=[0], keepdims=0)[0]  # [steps]
    has_token = graph.add("Min", [column_max, graph.const("one_token", np.array(1, "int32"))])[0]
    start = graph.add("ArgMax", [has_token], axis=0, keepdims=1)[0]  # the first 1, or 0
    batch = graph.add("Shape", [tokens], start=0, end=1)[0]
    return Padding(start, batch, steps, *tables)
