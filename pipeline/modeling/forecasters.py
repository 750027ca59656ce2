"""Keras forecasters of a series (``kind: timeseries``): a window in, the next ``horizon`` values out.

Every model reads the encoder's windows, float32 ``[batch, lookback, features]`` named ``window``:

* ``ann``: the window flattened, then Dense layers (:class:`~pipeline.core.config.AnnParams`);
* ``rnn``, ``lstm``, ``gru``: SimpleRNN/LSTM/GRU layers over the window's steps, the last state
  (:class:`~pipeline.core.timeseries_config.SeriesRecurrentParams`).

Then ``horizon`` linear units and a ``Rescaling`` by the training period's scale of the target, so
that the network, and its ONNX graph, answers in the target's units (as a table's value head does).
The loss is the mean squared error in those units (Adam's steps do not depend on the loss's scale,
and the head starts at the training mean). Only Keras' own layers and loss: the saved model loads
without custom objects, and the ONNX builder exports every one with native recurrent operators.
"""

from __future__ import annotations

from typing import Any

import keras

from pipeline.core.config import AnnParams
from pipeline.modeling.models import RECURRENT_LAYERS

WINDOW_INPUT = "window"
FORECAST_OUTPUT = "forecast"


def _dense_stack(x: Any, params: AnnParams) -> Any:
    regularizer = keras.regularizers.L2(params.l2) if params.l2 else None
    x = keras.layers.Flatten(name="flat_window")(x)
    for i, units in enumerate(params.hidden_units):
        x = keras.layers.Dense(
            units,
            activation=params.activation,
            kernel_initializer=params.initializer,
            kernel_regularizer=regularizer,
            name=f"dense_{i}",
        )(x)
        if params.dropout:
            x = keras.layers.Dropout(params.dropout, name=f"dropout_{i}")(x)
    return x


def _recurrent_stack(x: Any, arch: str, params: Any) -> Any:
    layer_cls = getattr(keras.layers, RECURRENT_LAYERS[arch])
    for i in range(params.layers):
        kwargs: dict[str, Any] = dict(
            units=params.units,
            activation=params.activation,
            kernel_initializer=params.initializer,
            dropout=params.dropout,
            recurrent_dropout=params.recurrent_dropout,
            return_sequences=i < params.layers - 1,
            name=f"{arch}_{i}",
        )
        if arch == "gru":
            kwargs["reset_after"] = True  # ONNX GRU with linear_before_reset=1
        x = layer_cls(**kwargs)(x)
    if params.dropout:
        x = keras.layers.Dropout(params.dropout, name="dropout_out")(x)
    return x


def build_forecaster(
    arch: str, params: Any, lookback: int, n_features: int, horizon: int, center: float, scale: float
) -> keras.Model:
    """The compiled forecaster; ``center`` and ``scale``: the training period's mean and standard
    deviation of the target (the encoder's ``scales[target]``)."""
    inputs = keras.Input(shape=(lookback, n_features), name=WINDOW_INPUT, dtype="float32")
    if arch == "ann":
        if not isinstance(params, AnnParams):
            raise ValueError(f"ann: expected AnnParams, got {type(params).__name__}")
        x = _dense_stack(inputs, params)
    elif arch in RECURRENT_LAYERS:
        x = _recurrent_stack(inputs, arch, params)
    else:
        raise ValueError(f"unknown forecaster {arch!r}; known: ann, {', '.join(RECURRENT_LAYERS)}")
    z = keras.layers.Dense(horizon, name="scaled_forecast")(x)
    outputs = keras.layers.Rescaling(float(scale), offset=float(center), name=FORECAST_OUTPUT)(z)
    model = keras.Model(inputs, outputs, name=arch)
    clipnorm = getattr(params, "clipnorm", None)
    optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate, clipnorm=clipnorm)
    model.compile(
        optimizer=optimizer,
        loss="mean_squared_error",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    return model
