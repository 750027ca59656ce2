"""What every part of the ONNX builder (``onnx_builder``, ``onnx_recurrent``) writes with: the graph
being built, the value flowing through it, and the Keras layer types it knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

if TYPE_CHECKING:
    from pipeline.modeling.onnx_recurrent import Padding

RECURRENT_OPS = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
SKIPPED_LAYERS = {"Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout"}
POOLING_OPS = {"GlobalMaxPooling1D": "ReduceMax", "GlobalAveragePooling1D": "ReduceMean"}


def activation_name(fn: Any) -> str:
    """The Keras name of an activation function (``keras.activations.relu`` -> ``"relu"``)."""
    return str(getattr(fn, "__name__", fn)).lower()


def as_float32(variable: Any) -> np.ndarray:
    return np.asarray(variable, dtype=np.float32)


@dataclass
class Graph:
    """Nodes and initializers collected while walking the layers."""

    opset: int = 17
    simple_rnn: str = "native"  # inside a graph body: "unrolled" or "native"
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _count: int = 0
    padding: Padding | None = None  # set while the body skips the leading padding
    forecast: bool = False  # a forecaster's graph: a float window in, horizon values out

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
class Tensor:
    """The current value: ``ids`` int [batch, seq], ``seq`` float [seq, batch, dim], ``flat`` [batch, dim],
    ``window`` float [batch, steps, dim] (a forecaster's input).

    ``steps``: the sequence length when the model's input fixes it (0 when it is dynamic)."""

    name: str
    kind: str
    dim: int
    steps: int = 0
