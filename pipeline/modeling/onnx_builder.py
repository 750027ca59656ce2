"""Our own small Keras -> ONNX exporter for exactly the layers ``pipeline.modeling.models`` builds.

Why it exists: tf2onnx 1.17 turns Keras 3 ``SimpleRNN`` and ``GRU`` layers into an ONNX ``Loop``
over a per-step subgraph, which ONNX Runtime runs about 9x slower than its native ``LSTM`` kernel.
Writing the graph directly with ``onnx.helper`` from the trained layers' weights gives every
architecture ONNX's native ``RNN``/``LSTM``/``GRU`` operator (no ``Loop``, no ``Scan``), so the
three sentiment models serve at comparable speed. It also converts the churn ANN (a Dense stack),
as a fallback for when tf2onnx, the primary path for that model, fails.

Supported: one int input -> ``Embedding`` -> ``SimpleRNN``/``LSTM``/``GRU`` layers (optionally
``Bidirectional`` with ``merge_mode="concat"``) -> optional ``GlobalMaxPooling1D`` or
``GlobalAveragePooling1D`` -> ``Dense`` layers; or one float input ->
``Dense`` layers. ``Dropout`` is skipped (inference). Anything else raises :class:`ModelError`
naming the layer, instead of exporting a graph that computes something different.

Mapping (Keras -> ONNX, time-major ``[seq, batch, features]`` between recurrent layers):

* ``Embedding``: ``Transpose`` the int tokens to ``[seq, batch]``, then ``Gather`` rows of the table.
* ``SimpleRNN``: by default (``simple_rnn="by_batch"``) an ``If`` on the batch size around the whole
  graph: from ``UNROLL_FROM_BATCH`` rows the recurrence unrolled into one ``MatMul``/``Add`` over
  every step's input, then per step ``Gather`` + ``MatMul`` + ``Add`` + the activation (ONNX
  Runtime's CPU ``RNN`` kernel is ~35x slower than that at batch 256 with ``Tanh``,
  ``benchmarks/ort_rnn_activation.py``); below it the native ``RNN``, which is faster for one or two
  rows. Still no ``Loop`` or ``Scan``. ``unrolled`` or ``native`` keep one of the two. Unrolling
  needs a fixed sequence length and a forward layer; otherwise ``RNN``.
  ``LSTM``: ``LSTM`` (Keras gate order i,f,c,o -> ONNX i,o,f,c);
  ``GRU``: ``GRU`` (same z,r,h order; ``reset_after=True`` -> ``linear_before_reset=1`` with the
  input and recurrent biases as ``Wb`` and ``Rb``). ONNX wants ``W = kernel.T`` and
  ``R = recurrent_kernel.T``; a Keras layer's single bias goes into ``Wb`` with ``Rb = 0``.
* ``Bidirectional``: ``direction="bidirectional"``, weights stacked ``[forward, backward]``.
* A recurrent layer that returns sequences feeds ``Y`` reshaped to ``[seq, batch, dirs*units]``;
  the last one feeds ``Y_h`` reshaped to ``[batch, dirs*units]`` (forward then backward, like
  Keras' concat).
* ``GlobalMaxPooling1D``/``GlobalAveragePooling1D``: ``ReduceMax``/``ReduceMean`` over the time axis.
* ``Dense``: ``MatMul`` + ``Add`` + its activation; ``softmax`` is ``Softmax(axis=-1)``.
* Leading padding (``skip_padding``, on by default from ``SKIP_PADDING_FROM_STEPS`` steps; not for a
  ``Bidirectional`` model, whose backward direction reads the padding last, nor in the unrolled
  branch): ``start``, the first step where some row of the batch has a token, from
  ``ReduceMax``/``Min``/``ArgMax`` over the tokens; the tokens ``Slice``d from there; each native
  recurrent operator's ``initial_h`` (and ``initial_c``) the state that ``start`` padding steps
  leave from zero, a ``Gather`` from a table computed here with the operator's own equations;
  pooling ``Max``/``Add``s the skipped steps' share. Exact, and a short text at batch 1 costs its
  own steps rather than the padded length (``_Padding``).

Output: a binary model ends in one sigmoid unit and gives ``probability`` ``[batch, 1]``; a
multi-class model ends in a softmax ``Dense`` and gives ``probabilities`` ``[batch, n_classes]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pipeline.core.errors import ModelError

TOKENS_INPUT = "tokens"
FEATURES_INPUT = "features"
OUTPUT = "probability"  # binary: [batch, 1], the positive-class probability
CLASS_OUTPUT = "probabilities"  # multi-class: [batch, n_classes], every class's probability
RECURRENT_OPS = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
SKIPPED_LAYERS = {"Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout"}

# Activations inside ONNX RNN/LSTM/GRU that compute exactly what the Keras function computes.
RECURRENT_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}
SIMPLE_RNN_MODES = ("by_batch", "unrolled", "native")
# From this many rows the unrolled SimpleRNN beats ONNX Runtime's RNN kernel (measured on the default
# model's shape, 1 thread: 0.040 vs 0.043 ms at 4 rows, 0.034 vs 0.016 ms at 1 row).
UNROLL_FROM_BATCH = 4
# Skipping padding costs ~4 us of extra nodes per call: worth it from this many steps (R52's 200: -60%
# at batch 1), not for a language model's window of 8, which is rarely padded.
SKIP_PADDING_FROM_STEPS = 16
# Dense activations: ONNX op(s) per Keras activation name ("linear" adds nothing).
DENSE_ACTIVATIONS = {
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "exponential",
    "silu",
    "swish",
    "softmax",
}


def activation_name(fn: Any) -> str:
    """The Keras name of an activation function (``keras.activations.relu`` -> ``"relu"``)."""
    return str(getattr(fn, "__name__", fn)).lower()


def _array(variable: Any) -> np.ndarray:
    return np.asarray(variable, dtype=np.float32)


@dataclass
class _Graph:
    """Nodes and initializers collected while walking the layers."""

    opset: int = 17
    simple_rnn: str = "native"  # inside a graph body: "unrolled" or "native"
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _count: int = 0
    padding: _Padding | None = None  # set while the body skips the leading padding

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        array = value if value.ndim == 0 else np.ascontiguousarray(value)  # that makes scalars 1-d
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def add(self, op: str, inputs: list[str], n_outputs: int = 1, hint: str = "", **attrs: Any) -> list[str]:
        base = self.name(hint or op.lower())
        outputs = [f"{base}_out{i}" if n_outputs > 1 else base for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=base, **attrs))
        return outputs


@dataclass
class _Tensor:
    """The current value: ``ids`` int [batch, seq], ``seq`` float [seq, batch, dim], ``flat`` [batch, dim].

    ``steps``: the sequence length when the model's input fixes it (0 when it is dynamic)."""

    name: str
    kind: str
    dim: int
    steps: int = 0


# ----------------------------------------------------------------------------- recurrent layers
def _gate_order(units: int, order: list[int]) -> np.ndarray:
    return np.concatenate([np.arange(g * units, (g + 1) * units) for g in order])


def recurrent_weights(layer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``W [gates*u, in]``, ``R [gates*u, u]`` and ``B [2*gates*u]`` for one direction."""
    kind = type(layer).__name__
    cell = layer.cell
    units = int(cell.units)
    kernel, recurrent = _array(cell.kernel), _array(cell.recurrent_kernel)
    gates = kernel.shape[1] // units
    if cell.use_bias:
        bias = _array(cell.bias)
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


def _recurrent(graph: _Graph, layer: Any, x: _Tensor) -> _Tensor:
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

    if graph.simple_rnn == "unrolled" and _unrollable(layer, x):
        return _unrolled_simple_rnn(graph, inner, x, w[0], r[0], b[0], activations[0])
    return _native_recurrent(graph, layer, x, len(directions), w, r, b, activations)


def _unrollable(layer: Any, x: _Tensor) -> bool:
    """A forward SimpleRNN over a sequence of fixed length: the steps can be written out."""
    return type(layer).__name__ == "SimpleRNN" and x.steps > 0


def _by_batch_size(graph: _Graph, name: str, tokens: str, large: Any, small: Any) -> _Tensor:
    """``If`` the batch of ``tokens`` has ``UNROLL_FROM_BATCH`` rows or more, the ``large`` body's
    graph, else the ``small`` one's; both bodies read the graph's inputs and initializers."""
    batch = graph.add("Shape", [tokens], start=0, end=1)[0]
    threshold = graph.const("unroll_from_batch", np.array([UNROLL_FROM_BATCH], "int64"))
    cond = graph.add("Squeeze", [graph.add("GreaterOrEqual", [batch, threshold])[0]])[0]
    branches = []
    for label, build in (("unrolled", large), ("native", small)):
        branch = _Graph(graph.opset, label, [], graph.initializers, graph._count)
        out = build(branch)
        graph._count = branch._count
        value = helper.make_tensor_value_info(out.name, TensorProto.FLOAT, None)
        branches.append((helper.make_graph(branch.nodes, f"{name}_{label}", [], [value]), out))
    (then_graph, out), (else_graph, _) = branches
    (result,) = graph.add("If", [cond], hint=name, then_branch=then_graph, else_branch=else_graph)
    return _Tensor(result, out.kind, out.dim, out.steps)


def _native_recurrent(
    graph: _Graph,
    layer: Any,
    x: _Tensor,
    dirs: int,
    w: np.ndarray,
    r: np.ndarray,
    b: np.ndarray,
    activations: list[str],
) -> _Tensor:
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
        return _Tensor(y, "seq", dirs * units, x.steps)
    _, y_h = graph.add(op, inputs, n_outputs=2, hint=layer.name, **attrs)  # Y_h: [dirs, batch, units]
    graph.nodes[-1].output[0] = ""  # Y is not needed: ONNX Runtime skips writing it
    if dirs == 2:
        y_h = graph.add("Transpose", [y_h], perm=[1, 0, 2])[0]
        y_h = graph.add("Reshape", [y_h, graph.const("shape_flat", np.array([0, -1], "int64"))])[0]
    else:
        y_h = graph.add("Squeeze", [y_h, graph.const("axis0", np.array([0], "int64"))])[0]
    return _Tensor(y_h, "flat", dirs * units)


def _unrolled_simple_rnn(
    graph: _Graph, layer: Any, x: _Tensor, w: np.ndarray, r: np.ndarray, b: np.ndarray, activation: str
) -> _Tensor:
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
        return _Tensor(graph.add("Concat", rows, axis=0)[0], "seq", units, x.steps)
    return _Tensor(h, "flat", units)


# ------------------------------------------------------------------------ leading padding
@dataclass
class _Padding:
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

    def initial(self, graph: _Graph, table: np.ndarray) -> str:
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


def _padding_tables(layers: list[Any], steps: int) -> tuple[dict[str, list[np.ndarray]], np.ndarray] | None:
    """The state tables of each recurrent layer and the pooling prefix of the last one, or None when
    the model is not Embedding -> forward recurrent layers -> optional pooling -> Dense layers."""
    kinds = [type(layer).__name__ for layer in layers if type(layer).__name__ not in SKIPPED_LAYERS]
    recurrent = [layer for layer in layers if type(layer).__name__ in RECURRENT_OPS]
    n = len(recurrent)
    tail = kinds[1 + n :]
    if (
        steps < SKIP_PADDING_FROM_STEPS
        or not n
        or kinds[0] != "Embedding"
        or kinds[1 : 1 + n] != [type(layer).__name__ for layer in recurrent]
        or any(k not in POOLING_OPS and k != "Dense" for k in tail)
    ):
        return None
    embedding = next(layer for layer in layers if type(layer).__name__ == "Embedding")
    x = np.repeat(_array(embedding.embeddings)[:1].astype("float64"), steps, axis=0)  # token 0, every step
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


def _skip_padding(graph: _Graph, tokens: str, steps: int, tables: tuple[dict, np.ndarray]) -> _Padding:
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
    return _Padding(start, batch, steps, *tables)


# ------------------------------------------------------------------------ other layers
POOLING_OPS = {"GlobalMaxPooling1D": "ReduceMax", "GlobalAveragePooling1D": "ReduceMean"}


def _pooling(graph: _Graph, layer: Any, x: _Tensor) -> _Tensor:
    """Max or mean over time: a reduction over axis 0 of the time-major sequence."""
    if x.kind != "seq":
        raise ModelError(f"layer {layer.name!r}: pooling over time needs a sequence (return_sequences=True)")
    if getattr(layer, "data_format", "channels_last") != "channels_last" or getattr(layer, "keepdims", False):
        raise ModelError(f"layer {layer.name!r}: only channels_last without keepdims is supported")
    op = POOLING_OPS[type(layer).__name__]
    padding = graph.padding
    if padding is not None and op == "ReduceMean":  # the sum over the steps run, then over all steps
        op = "ReduceSum"
    if graph.opset >= 18 or op == "ReduceSum":  # axes became an input in opset 18 (13 for ReduceSum)
        out = graph.add(op, [x.name, graph.const("axis0", np.array([0], "int64"))], keepdims=0)[0]
    else:
        out = graph.add(op, [x.name], axes=[0], keepdims=0)[0]
    if padding is not None:
        table = graph.const("skipped_pooled", padding.pooled)
        (skipped,) = graph.add("Gather", [table, padding.start], axis=0)
        if op == "ReduceMax":
            out = graph.add("Max", [out, skipped])[0]
        else:
            total = graph.add("Add", [out, skipped])[0]
            out = graph.add("Div", [total, graph.const("steps", np.array(padding.steps, "float32"))])[0]
    return _Tensor(out, "flat", x.dim)


def _embedding(graph: _Graph, layer: Any, x: _Tensor) -> _Tensor:
    if x.kind != "ids":
        raise ModelError(f"layer {layer.name!r}: Embedding must read the integer token input")
    table = _array(layer.embeddings)
    tokens, steps = x.name, x.steps
    if graph.padding is not None:  # only the steps after the padding that every row has
        end = graph.const("end", np.array([steps], "int64"))
        tokens = graph.add(
            "Slice", [tokens, graph.padding.start, end, graph.const("axis1", np.array([1], "int64"))]
        )[0]
        steps = 0
    time_major = graph.add("Transpose", [tokens], perm=[1, 0])[0]  # ints are cheaper to move than floats
    out = graph.add("Gather", [graph.const(f"{layer.name}_table", table), time_major], axis=0)[0]
    return _Tensor(out, "seq", int(table.shape[1]), steps)


def _activation(graph: _Graph, name: str, x: str, where: str) -> str:
    if name == "linear":
        return x
    ops = {
        "relu": "Relu",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "selu": "Selu",
        "softplus": "Softplus",
        "softsign": "Softsign",
        "exponential": "Exp",
    }
    if name in ops:
        return graph.add(ops[name], [x])[0]
    if name == "elu":  # keras.activations.elu(alpha=1.0)
        return graph.add("Elu", [x], alpha=1.0)[0]
    if name in ("silu", "swish"):
        return graph.add("Mul", [x, graph.add("Sigmoid", [x])[0]])[0]
    if name == "softmax":  # keras.activations.softmax(axis=-1) on a [batch, dim] tensor
        return graph.add("Softmax", [x], axis=-1)[0]
    raise ModelError(
        f"layer {where!r}: activation {name!r} is not supported; "
        f"supported: {', '.join(sorted(DENSE_ACTIVATIONS))}"
    )


def _dense(graph: _Graph, layer: Any, x: _Tensor) -> _Tensor:
    if x.kind != "flat":
        raise ModelError(
            f"layer {layer.name!r}: Dense must follow a flat input or the last recurrent layer "
            "(return_sequences=False)"
        )
    kernel = _array(layer.kernel)
    if kernel.shape[0] != x.dim:
        raise ModelError(f"layer {layer.name!r}: expects {kernel.shape[0]} inputs, gets {x.dim}")
    out = graph.add("MatMul", [x.name, graph.const(f"{layer.name}_kernel", kernel)])[0]
    if layer.use_bias:
        out = graph.add("Add", [out, graph.const(f"{layer.name}_bias", _array(layer.bias))])[0]
    out = _activation(graph, activation_name(layer.activation), out, layer.name)
    return _Tensor(out, "flat", int(kernel.shape[1]))


# --------------------------------------------------------------------------------- model
def _layer_chain(model: Any) -> list[Any]:
    """The model's layers in order, checking that each one reads the previous one's output."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model {model.name!r}: exactly one input and one output expected")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    previous = model.inputs[0]
    for layer in layers:
        if layer.input is not previous:
            raise ModelError(f"model {model.name!r}: layer {layer.name!r} does not read the previous layer")
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ModelError(f"model {model.name!r}: the last layer is not the model's output")
    return layers


def _body(graph: _Graph, model_name: str, layers: list[Any], x: _Tensor, tables: tuple | None) -> _Tensor:
    """The layers' nodes from the input ``x`` to the output; ``tables``: skip the leading padding."""
    if tables is not None:
        graph.padding = _skip_padding(graph, x.name, x.steps, tables)
    for layer in layers:
        layer_type = type(layer).__name__
        if layer_type in SKIPPED_LAYERS:
            continue
        if layer_type == "Embedding":
            x = _embedding(graph, layer, x)
        elif layer_type in RECURRENT_OPS or layer_type == "Bidirectional":
            x = _recurrent(graph, layer, x)
        elif layer_type in POOLING_OPS:
            x = _pooling(graph, layer, x)
        elif layer_type == "Dense":
            x = _dense(graph, layer, x)
        else:
            raise ModelError(f"layer {layer.name!r}: {layer_type} is not supported by the ONNX builder")
    ends_in_dense = x.kind == "flat" and graph.nodes and graph.nodes[-1].output[0] == x.name
    if not ends_in_dense or (x.dim != 1 and graph.nodes[-1].op_type != "Softmax"):
        raise ModelError(
            f"model {model_name!r}: must end in a Dense layer with one unit, "
            "or a Dense layer with softmax activation over the classes"
        )
    return x


def build_onnx(
    model: Any, opset: int = 17, simple_rnn: str = "by_batch", skip_padding: bool = True
) -> onnx.ModelProto:
    """An ONNX model computing ``model`` (a trained Keras model built by ``pipeline.modeling.models``).

    Input ``tokens`` (int32 ``[batch, seq]``) for text models or ``features`` (float32
    ``[batch, n]``) for tabular ones; output ``probability`` (float32 ``[batch, 1]``) for a model
    ending in one unit, or ``probabilities`` (float32 ``[batch, n_classes]``) for one ending in a
    softmax over ``n_classes`` units; the batch dimension is dynamic. ``simple_rnn``: ``by_batch``,
    ``unrolled`` or ``native``; ``skip_padding``: run the recurrent layers only from the first step
    where some row has a token, when the model allows it (see the module docstring).
    """
    if simple_rnn not in SIMPLE_RNN_MODES:
        raise ModelError(f"simple_rnn {simple_rnn!r}: expected one of {', '.join(SIMPLE_RNN_MODES)}")
    if opset < 15:
        raise ModelError(f"opset {opset}: the ONNX builder needs opset 15 or newer")
    layers = _layer_chain(model)
    spec = model.inputs[0]
    shape = list(spec.shape)
    dtype = str(spec.dtype)
    if len(shape) != 2:
        raise ModelError(f"model {model.name!r}: input of shape {tuple(shape)}; [batch, n] expected")
    if "int" in dtype:
        name, elem, kind = TOKENS_INPUT, TensorProto.INT32, "ids"
        if dtype != "int32":
            raise ModelError(f"model {model.name!r}: token input is {dtype}; int32 expected")
    else:
        name, elem, kind = FEATURES_INPUT, TensorProto.FLOAT, "flat"
    second = shape[1] if shape[1] is not None else ("sequence" if kind == "ids" else "features")
    x = _Tensor(name, kind, int(shape[1] or 0), int(shape[1] or 0) if kind == "ids" else 0)
    tables = _padding_tables(layers, x.steps) if skip_padding and kind == "ids" else None
    unrollable = x.steps > 0 and any(_unrollable(layer, x) for layer in layers)
    graph = _Graph(opset=opset, simple_rnn="unrolled" if simple_rnn == "unrolled" else "native")
    model_name = str(model.name)
    if simple_rnn == "by_batch" and unrollable:  # the written-out steps need every step: no skipping
        out = _by_batch_size(
            graph,
            model_name,
            x.name,
            lambda g: _body(g, model_name, layers, x, None),
            lambda g: _body(g, model_name, layers, x, tables),
        )
    else:
        out = _body(
            graph, model_name, layers, x, None if graph.simple_rnn == "unrolled" and unrollable else tables
        )
    output = OUTPUT if out.dim == 1 else CLASS_OUTPUT
    graph.nodes[-1].output[0] = output
    onnx_graph = helper.make_graph(
        graph.nodes,
        str(model.name),
        [helper.make_tensor_value_info(name, elem, ["batch", second])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", out.dim])],
        initializer=graph.initializers,
    )
    opset_ids = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        onnx_graph,
        opset_imports=opset_ids,
        producer_name="pipeline.modeling.onnx_builder",
        producer_version="1",
        ir_version=helper.find_min_ir_version_for(opset_ids),
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def operator_types(proto: onnx.ModelProto) -> list[str]:
    """Sorted op types of the main graph and every subgraph (a ``Loop`` body shows up too)."""
    found: set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(proto.graph)
    return sorted(found)


def skips_padding(proto: onnx.ModelProto) -> bool:
    """Whether the graph skips the leading padding at every batch size (the SimpleRNN's ``If``
    does only in its small-batch branch): its main graph finds the first step with a token."""
    return any(node.op_type == "ArgMax" for node in proto.graph.node)
