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
``Dense`` layers; then, for a numeric target, the value head's ``Rescaling`` and ``Activation``
layers (:mod:`pipeline.modeling.value_head`). ``Dropout`` is skipped (inference). Anything else
raises :class:`ModelError` naming the layer, instead of exporting a graph that computes something
different.

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
* ``Rescaling``: ``Mul`` by its scale + ``Add`` of its offset; ``Activation``: the activation's op
  (``exponential``: ``Exp``).
* Leading padding (``skip_padding``, on by default from ``SKIP_PADDING_FROM_STEPS`` steps; not for a
  ``Bidirectional`` model, whose backward direction reads the padding last, nor in the unrolled
  branch): ``start``, the first step where some row of the batch has a token, from
  ``ReduceMax``/``Min``/``ArgMax`` over the tokens; the tokens ``Slice``d from there; each native
  recurrent operator's ``initial_h`` (and ``initial_c``) the state that ``start`` padding steps
  leave from zero, a ``Gather`` from a table computed here with the operator's own equations;
  pooling ``Max``/``Add``s the skipped steps' share. Exact, and a short text at batch 1 costs its
  own steps rather than the padded length (``Padding``).

Output: a binary model ends in one sigmoid unit and gives ``probability`` ``[batch, 1]``; a
multi-class model ends in a softmax ``Dense`` and gives ``probabilities`` ``[batch, n_classes]``;
a numeric target's model gives its value, in the target's units, as ``probability`` ``[batch, 1]``
(the name every one-output model's graph uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
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
from pipeline.modeling.onnx_recurrent import (
    by_batch_size,
    can_unroll,
    leading_padding,
    padding_tables,
    recurrent_layer,
)

TOKENS_INPUT = "tokens"
FEATURES_INPUT = "features"
WINDOW_INPUT = "window"  # a forecaster's float [batch, lookback, features]
FORECAST_OUTPUT = "forecast"  # its [batch, horizon] values, in the target's units
BASELINE_LAYERS = (
    "baseline_window",
    "baseline",
    "baseline_units",
)  # a forecaster's baseline branch (forecasters.py)
OUTPUT = "probability"  # binary: [batch, 1], the positive-class probability
CLASS_OUTPUT = "probabilities"  # multi-class: [batch, n_classes], every class's probability
SIMPLE_RNN_MODES = ("by_batch", "unrolled", "native")
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


# ------------------------------------------------------------------------ other layers
def _pooling(graph: Graph, layer: Any, x: Tensor) -> Tensor:
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
    return Tensor(out, "flat", x.dim)


def _embedding(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    if x.kind != "ids":
        raise ModelError(f"layer {layer.name!r}: Embedding must read the integer token input")
    table = as_float32(layer.embeddings)
    tokens, steps = x.name, x.steps
    if graph.padding is not None:  # only the steps after the padding that every row has
        end = graph.const("end", np.array([steps], "int64"))
        tokens = graph.add(
            "Slice", [tokens, graph.padding.start, end, graph.const("axis1", np.array([1], "int64"))]
        )[0]
        steps = 0
    time_major = graph.add("Transpose", [tokens], perm=[1, 0])[0]  # ints are cheaper to move than floats
    out = graph.add("Gather", [graph.const(f"{layer.name}_table", table), time_major], axis=0)[0]
    return Tensor(out, "seq", int(table.shape[1]), steps)


def _activation(graph: Graph, name: str, x: str, where: str) -> str:
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


def _dense(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    if x.kind != "flat":
        raise ModelError(
            f"layer {layer.name!r}: Dense must follow a flat input or the last recurrent layer "
            "(return_sequences=False)"
        )
    kernel = as_float32(layer.kernel)
    if kernel.shape[0] != x.dim:
        raise ModelError(f"layer {layer.name!r}: expects {kernel.shape[0]} inputs, gets {x.dim}")
    out = graph.add("MatMul", [x.name, graph.const(f"{layer.name}_kernel", kernel)])[0]
    if layer.use_bias:
        out = graph.add("Add", [out, graph.const(f"{layer.name}_bias", as_float32(layer.bias))])[0]
    out = _activation(graph, activation_name(layer.activation), out, layer.name)
    return Tensor(out, "flat", int(kernel.shape[1]))


def _rescaling(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    """``x * scale + offset``, in float32 as Keras computes it (a value head's inverse transform)."""
    if x.kind != "flat":
        raise ModelError(f"layer {layer.name!r}: Rescaling must follow a Dense layer")
    scale = graph.const(f"{layer.name}_scale", as_float32(layer.scale))
    offset = graph.const(f"{layer.name}_offset", as_float32(layer.offset))
    out = graph.add("Add", [graph.add("Mul", [x.name, scale])[0], offset])[0]
    return Tensor(out, "flat", x.dim)


def _activation_layer(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    """An ``Activation`` layer after a Dense one (a value head's ``exponential``)."""
    if x.kind != "flat":
        raise ModelError(f"layer {layer.name!r}: Activation must follow a Dense layer")
    out = _activation(graph, activation_name(layer.activation), x.name, layer.name)
    if out == x.name:  # linear: still one node, so that the graph's last node gives the output
        out = graph.add("Identity", [x.name])[0]
    return Tensor(out, "flat", x.dim)


# --------------------------------------------------------------------------------- model
def _layer_chain(model: Any) -> tuple[list[Any], list[Any]]:
    """The model's layers in order, checking that each one reads the previous one's output; and a
    forecaster's baseline branch (``Flatten``, ``Dense``, ``Rescaling``: see ``forecasters``),
    empty when it has none, whose values the ``Add`` output layer sums with the chain's."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model {model.name!r}: exactly one input and one output expected")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    branch = [layer for layer in layers if layer.name in BASELINE_LAYERS]
    end = model.outputs[0]
    if branch:
        if [layer.name for layer in branch] != list(BASELINE_LAYERS) or type(layers[-1]).__name__ != "Add":
            raise ModelError(
                f"model {model.name!r}: a baseline branch is Flatten, Dense, Rescaling, then Add"
            )
        if branch[0].input is not model.inputs[0] or layers[-1].input[1] is not branch[2].output:
            raise ModelError(f"model {model.name!r}: the baseline must read the window and feed the Add")
        layers = [layer for layer in layers[:-1] if layer not in branch]
        end = model.layers[-1].input[0]
    previous = model.inputs[0]
    for layer in layers:
        if layer.input is not previous:
            raise ModelError(f"model {model.name!r}: layer {layer.name!r} does not read the previous layer")
        previous = layer.output
    if previous is not end:
        raise ModelError(f"model {model.name!r}: the last layer is not the model's output")
    return layers, branch


def _body(graph: Graph, model_name: str, layers: list[Any], x: Tensor, tables: tuple | None) -> Tensor:
    """The layers' nodes from the input ``x`` to the output; ``tables``: skip the leading padding."""
    if tables is not None:
        graph.padding = leading_padding(graph, x.name, x.steps, tables)
    for layer in layers:
        layer_type = type(layer).__name__
        if layer_type in SKIPPED_LAYERS:
            continue
        if layer_type == "Embedding":
            x = _embedding(graph, layer, x)
        elif layer_type in RECURRENT_OPS or layer_type == "Bidirectional":
            x = recurrent_layer(graph, layer, _time_major(graph, x))
        elif layer_type == "Flatten":
            x = _flatten(graph, layer, x)
        elif layer_type == "Rescaling":
            x = _rescaling(graph, layer, x)
        elif layer_type in POOLING_OPS:
            x = _pooling(graph, layer, x)
        elif layer_type == "Dense":
            x = _dense(graph, layer, x)
        elif layer_type == "Activation":
            x = _activation_layer(graph, layer, x)
        else:
            raise ModelError(f"layer {layer.name!r}: {layer_type} is not supported by the ONNX builder")
    ends_in_dense = x.kind == "flat" and graph.nodes and graph.nodes[-1].output[0] == x.name
    if graph.forecast:  # a forecaster ends in horizon linear units, rescaled to the target's units
        if not ends_in_dense or type(layers[-1]).__name__ != "Rescaling":
            raise ModelError(f"model {model_name!r}: a forecaster must end in Dense units and a Rescaling")
        return x
    if not ends_in_dense or (x.dim != 1 and graph.nodes[-1].op_type != "Softmax"):
        raise ModelError(
            f"model {model_name!r}: must end in a Dense layer with one unit (and a numeric target's "
            "Rescaling/Activation), or a Dense layer with softmax activation over the classes"
        )
    return x


def _time_major(graph: Graph, x: Tensor) -> Tensor:
    """A forecaster's window ``[batch, steps, features]`` as the ``[steps, batch, features]`` sequence
    the recurrent operators read; any other value as it is."""
    if x.kind != "window":
        return x
    return Tensor(graph.add("Transpose", [x.name], perm=[1, 0, 2])[0], "seq", x.dim, x.steps)


def _flatten(graph: Graph, layer: Any, x: Tensor) -> Tensor:
    if x.kind != "window":
        raise ModelError(f"layer {layer.name!r}: Flatten is supported on a forecaster's window only")
    return Tensor(graph.add("Flatten", [x.name], axis=1)[0], "flat", x.dim * x.steps)


def _input(model: Any) -> tuple[Tensor, int, int | str]:
    """The model's input as the first value, its ONNX element type and its second dimension."""
    spec = model.inputs[0]
    shape = list(spec.shape)
    dtype = str(spec.dtype)
    if len(shape) == 3 and "float" in dtype and shape[1] and shape[2]:  # a forecaster's window
        return Tensor(WINDOW_INPUT, "window", int(shape[2]), int(shape[1])), TensorProto.FLOAT, int(shape[1])
    if len(shape) != 2:
        raise ModelError(f"model {model.name!r}: input of shape {tuple(shape)}; [batch, n] expected")
    if "int" in dtype:
        name, elem, kind = TOKENS_INPUT, TensorProto.INT32, "ids"
        if dtype != "int32":
            raise ModelError(f"model {model.name!r}: token input is {dtype}; int32 expected")
    else:
        name, elem, kind = FEATURES_INPUT, TensorProto.FLOAT, "flat"
    second = shape[1] if shape[1] is not None else ("sequence" if kind == "ids" else "features")
    return Tensor(name, kind, int(shape[1] or 0), int(shape[1] or 0) if kind == "ids" else 0), elem, second


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
    layers, branch = _layer_chain(model)
    x, elem, second = _input(model)
    skips = skip_padding and x.kind == "ids" and x.steps >= SKIP_PADDING_FROM_STEPS
    tables = padding_tables(layers, x.steps) if skips else None
    unrollable = x.steps > 0 and any(can_unroll(layer, x) for layer in layers)
    graph = Graph(opset=opset, simple_rnn="unrolled" if simple_rnn == "unrolled" else "native")
    graph.forecast = x.kind == "window"
    model_name = str(model.name)
    if simple_rnn == "by_batch" and unrollable:  # the written-out steps need every step: no skipping
        out = by_batch_size(
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
    if branch:  # the chain's output plus the baseline branch's (read from the window), as a last node
        base = _rescaling(graph, branch[2], _dense(graph, branch[1], _flatten(graph, branch[0], x)))
        out = Tensor(graph.add("Add", [out.name, base.name])[0], "flat", out.dim)
    output = FORECAST_OUTPUT if graph.forecast else OUTPUT if out.dim == 1 else CLASS_OUTPUT
    graph.nodes[-1].output[0] = output
    dims = ["batch", second, x.dim] if graph.forecast else ["batch", second]
    onnx_graph = helper.make_graph(
        graph.nodes,
        str(model.name),
        [helper.make_tensor_value_info(x.name, elem, dims)],
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
