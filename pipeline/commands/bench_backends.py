"""bench's backends: ONNX Runtime and every way of running the Keras model, as ``x -> array``
callables; the int8 quantisation; and the parity helpers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.encoders.base import Encoder

Fn = Callable[[np.ndarray], Any]


def onnx_runner(model_path: Path, encoder: Encoder, threads: int, parallel: int = 1) -> Fn:
    from pipeline.serving.inference import Predictor

    return Predictor(model_path, encoder, threads=threads, parallel=parallel).predict_encoded


def keras_runners(model: Any, sample: np.ndarray, workdir: Path) -> dict[str, dict[str, Fn]]:
    """Every Keras path, by backend; ``keras_function`` has two candidates."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *sample.shape[1:]), tf.as_dtype(sample.dtype), name="x")

    @tf.function(jit_compile=False, reduce_retracing=True, input_signature=[spec])
    def compiled(x: Any) -> Any:
        return model(x, training=False)

    export_dir = workdir / "savedmodel"
    model.export(str(export_dir), format="tf_saved_model", verbose=False)
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1].keys()

    def saved(x: np.ndarray) -> np.ndarray:
        out = signature(**{input_name: tf.constant(x)})
        return next(iter(out.values())).numpy()

    return {
        "keras_predict": {"": lambda x: model.predict(x, batch_size=len(x), verbose=0)},
        "keras_call": {"": lambda x: np.asarray(model(x, training=False))},
        "keras_function": {
            "tf.function": lambda x: compiled(x).numpy(),
            "predict_on_batch": lambda x: np.asarray(model.predict_on_batch(x)),
        },
        "tf_savedmodel": {"": saved},
    }


def quantize(model_path: Path, out_path: Path) -> Path:
    """Dynamic int8 quantisation (weights int8, activations quantised on the fly)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process and its notes on int inputs
    try:
        with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
            tmp_path = Path(tmp) / out_path.name
            quantize_dynamic(model_path, tmp_path, weight_type=QuantType.QInt8)
            os.replace(tmp_path, out_path)
    finally:
        root.setLevel(level)
    return out_path


def batched(fn: Fn, x: np.ndarray, size: int = 1024) -> np.ndarray:
    """``(n,)`` positive-class probabilities, or ``(n, n_classes)`` for a multi-class model."""
    parts = [
        np.asarray(fn(x[i : i + size]), dtype=np.float64).reshape(min(size, len(x) - i), -1)
        for i in range(0, len(x), size)
    ]
    out = np.concatenate(parts) if parts else np.zeros((0, 1))
    return out[:, 0] if out.shape[1] == 1 else out


def quality(p: np.ndarray, y: np.ndarray, numeric: bool) -> tuple[str, float]:
    """The figure parity and int8 compare: a numeric target's RMSE (over every value: a forecast's
    ``[n, horizon]`` too), else the accuracy."""
    if not numeric:
        return "accuracy", accuracy(p, y)
    if not len(y):
        return "rmse", float("nan")
    errors = np.asarray(p, "float64").reshape(-1) - np.asarray(y, "float64").reshape(-1)
    return "rmse", float(np.sqrt(np.mean(errors**2)))


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Thresholded at 0.5 for one probability per row, the most probable class for several; NaN for
    labels that are not one per row (a forecast's ``[n, horizon]`` values have no accuracy)."""
    if not len(y) or np.ndim(y) > 1:
        return float("nan")
    if p.ndim == 2:
        return float(np.mean(np.argmax(p, axis=1) == y))
    return float(np.mean((p >= 0.5) == (y >= 0.5)))


# ------------------------------------------------------------------------ one model
