"""The head of a network with a numeric target: one linear unit, then the inverse of the target's
transform, so that the network answers in the target's units (and so does its ONNX graph).

``target`` is encoder.json's record (:class:`pipeline.encoders.labels.NumericTarget`): the
network's unit ``z`` becomes ``z * scale + center``; ``log1p`` then applies ``expm1``, and the
``poisson`` loss ``exp``, which keeps the output positive. Only Keras' own layers, so the saved
model loads without custom objects and tf2onnx converts it (Mul, Add, Exp, Sub).
"""

from __future__ import annotations

from typing import Any

import keras

LOSSES = {"mse": "mean_squared_error", "huber": "huber", "poisson": "poisson"}


def value_head(x: Any, target: dict[str, Any]) -> Any:
    """The output ``value``: one unit in the target's units, from the last hidden layer ``x``."""
    z = keras.layers.Dense(1, name="unit")(x)
    if target["loss"] == "poisson":
        z = keras.layers.Rescaling(1.0, offset=target["center"], name="log_mean")(z)
        return keras.layers.Activation("exponential", name="value")(z)
    scale, center = float(target["scale"]), float(target["center"])
    if target["transform"] != "log1p":
        return keras.layers.Rescaling(scale, offset=center, name="value")(z)
    z = keras.layers.Rescaling(scale, offset=center, name="log1p_value")(z)
    z = keras.layers.Activation("exponential", name="exp")(z)
    return keras.layers.Rescaling(1.0, offset=-1.0, name="value")(z)


def compile_for_value(model: keras.Model, optimizer: Any, target: dict[str, Any]) -> None:
    """The loss the target names, in the target's units, with RMSE and MAE shown per epoch."""
    model.compile(
        optimizer=optimizer,
        loss=LOSSES[target["loss"]],
        metrics=[
            keras.metrics.RootMeanSquaredError(name="rmse"),
            keras.metrics.MeanAbsoluteError(name="mae"),
        ],
    )
