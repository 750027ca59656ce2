"""Keras forecasters of a series (``kind: timeseries``): a window in, the next ``horizon`` values out.

Every model reads the encoder's windows, float32 ``[batch, lookback, features]`` named ``window``:

* ``ann``: the window flattened, then Dense layers (:class:`~pipeline.core.config.AnnParams`);
* ``rnn``, ``lstm``, ``gru``: SimpleRNN/LSTM/GRU layers over the window's steps, the last state
  (:class:`~pipeline.core.timeseries_config.SeriesRecurrentParams`).

Then ``horizon`` linear units and a ``Rescaling`` by the training period's scale of the target, so
that the network, and its ONNX graph, answers in the target's units (as a table's value head does).
A forecaster ``relative_to`` a baseline (``encode.relative_to``: ``last``, ``seasonal``) predicts the
target less that baseline, scaled by the residual's own mean and standard deviation, and adds the
baseline back: a fixed ``Dense`` (``baseline``, not trained unless ``baseline_trainable``) reads each
forecast step's baseline value from the flattened window (``baseline_window``), a ``Rescaling``
(``baseline_units``) puts it in the target's units, and an ``Add`` (``forecast``) sums the two;
its head starts at zero, so that the untrained network is the baseline forecast.
The loss is the mean squared error in those units (Adam's steps do not depend on the loss's scale,
and the head starts at the training mean). Only Keras' own layers and loss: the saved model loads
without custom objects, and the ONNX builder exports every one with native recurrent operators.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from pipeline.core.config import AnnParams
from pipeline.core.timeseries_config import baseline_rows, linear_baseline
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


def _baseline(inputs: Any, fixed: tuple[Any, Any], unit: float, trainable: bool) -> Any:
    """Each forecast step's baseline in the target's units: the ``fixed`` (kernel, bias) linear map
    of the flattened window, by a Dense in units of ``unit`` (the residual's scale) and a Rescaling
    by it; fixed, or ``trainable`` from that start."""
    kernel, bias = fixed
    flat = keras.layers.Flatten(name="baseline_window")(inputs)
    dense = keras.layers.Dense(int(kernel.shape[1]), name="baseline", trainable=trainable)
    out = dense(flat)
    dense.set_weights([(kernel / unit).astype("float32"), (bias / unit).astype("float32")])
    return keras.layers.Rescaling(unit, name="baseline_units")(out)


def baseline_map(
    relative_to: str, shape: tuple[int, int, int], season_length: int, target: tuple[float, float], data: Any
) -> tuple[Any, Any] | None:
    """The baseline as a linear map of the flattened window ``shape`` ``(lookback, features,
    horizon)``: a pick of the target's rows (unscaled by ``target``), or the ridge regression of
    ``data``'s training windows (``linear``); None when the network predicts the target itself."""
    lookback, n_features, horizon = shape
    if relative_to == "linear":
        return linear_baseline(data.train.x, data.train.y)
    rows = baseline_rows(relative_to, lookback, horizon, season_length)
    if not rows:
        return None
    kernel = np.zeros((lookback * n_features, horizon), "float64")
    kernel[np.asarray(rows) * n_features, np.arange(horizon)] = target[1]
    return kernel, np.full(horizon, target[0], "float64")


def build_forecaster(
    arch: str,
    params: Any,
    lookback: int,
    n_features: int,
    horizon: int,
    center: float,
    scale: float,
    relative_to: str = "none",
    season_length: int = 1,
    residual: tuple[float, float] = (0.0, 1.0),
    baseline_trainable: bool = False,
    data: Any = None,
) -> keras.Model:
    """The compiled forecaster; ``center`` and ``scale``: the training period's mean and standard
    deviation of the target (the encoder's ``scales[target]``); ``relative_to`` a baseline, the
    network predicts the target less it, whose mean and standard deviation are ``residual``, and
    with ``baseline_trainable`` the baseline's linear map of the window learns too; ``data``: the
    Dataset whose training windows a ``linear`` baseline is fitted on."""
    inputs = keras.Input(shape=(lookback, n_features), name=WINDOW_INPUT, dtype="float32")
    if arch == "ann":
        if not isinstance(params, AnnParams):
            raise ValueError(f"ann: expected AnnParams, got {type(params).__name__}")
        x = _dense_stack(inputs, params)
    elif arch in RECURRENT_LAYERS:
        x = _recurrent_stack(inputs, arch, params)
    else:
        raise ValueError(f"unknown forecaster {arch!r}; known: ann, {', '.join(RECURRENT_LAYERS)}")
    fixed = baseline_map(relative_to, (lookback, n_features, horizon), season_length, (center, scale), data)
    if fixed is None:
        z = keras.layers.Dense(horizon, name="scaled_forecast")(x)
        outputs = keras.layers.Rescaling(float(scale), offset=float(center), name=FORECAST_OUTPUT)(z)
    else:
        z = keras.layers.Dense(horizon, kernel_initializer="zeros", name="scaled_forecast")(x)
        change = keras.layers.Rescaling(float(residual[1]), offset=float(residual[0]), name="change")(z)
        base = _baseline(inputs, fixed, float(residual[1]), baseline_trainable)
        outputs = keras.layers.Add(name=FORECAST_OUTPUT)([change, base])
    model = keras.Model(inputs, outputs, name=arch)
    clipnorm = getattr(params, "clipnorm", None)
    optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate, clipnorm=clipnorm)
    model.compile(
        optimizer=optimizer,
        loss="mean_squared_error",
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    return model
