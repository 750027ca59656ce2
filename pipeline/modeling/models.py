"""Keras model builders and the one training loop that ``tune`` and ``train`` share.

TensorFlow is imported here and in the stages that need it, never by the CLI,
validation, predict or serving.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipeline.core.config import AnnParams, RecurrentParams
from pipeline.encoders.dataset import Dataset
from pipeline.modeling import buckets
from pipeline.modeling.value_head import compile_for_value, value_head

RECURRENT_LAYERS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds plus deterministic ops: same params, same metrics."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def output_head(n_classes: int) -> keras.layers.Dense:
    """The last layer: one sigmoid unit named ``probability`` for 2 classes (the positive-class
    probability), ``n_classes`` softmax units named ``probabilities`` for more."""
    if n_classes < 2:
        raise ValueError(f"n_classes = {n_classes}: a classifier needs at least 2 classes")
    if n_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", name="probability")
    return keras.layers.Dense(n_classes, activation="softmax", name="probabilities")


def build_ann(
    params: AnnParams, n_features: int, n_classes: int = 2, target: dict[str, Any] | None = None
) -> keras.Model:
    """Dense layers; the head answers classes, or a number when ``target`` (encoder.json's) is given."""
    regularizer = keras.regularizers.L2(params.l2) if params.l2 else None
    inputs = keras.Input(shape=(n_features,), name="features", dtype="float32")
    x = inputs
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
    outputs = value_head(x, target) if target else output_head(n_classes)(x)
    return keras.Model(inputs, outputs, name="ann")


def build_recurrent(
    arch: str,
    params: RecurrentParams,
    vocab_size: int,
    sequence_length: int,
    n_classes: int = 2,
    embedding_table: np.ndarray | None = None,
    target: dict[str, Any] | None = None,
) -> keras.Model:
    """Embedding -> ``layers`` recurrent layers (optionally bidirectional) -> pooling -> :func:`output_head`,
    or the value head when ``target`` (encoder.json's) is given.

    No masking: sequences are pre-padded with index 0 and the recurrent layers read
    the padding like any token, exactly as the exported ONNX RNN/LSTM/GRU operators do.
    ``embedding_table`` (word2vec vectors, vocab_size x embedding_dim) replaces the random start of
    the Embedding; ``params.embedding.trainable`` false freezes it.
    """
    layer_cls = getattr(keras.layers, RECURRENT_LAYERS[arch])
    inputs = keras.Input(shape=(sequence_length,), name="tokens", dtype="int32")
    embedding = keras.layers.Embedding(
        vocab_size, params.embedding_dim, trainable=params.embedding.trainable, name="embedding"
    )
    x = embedding(inputs)
    if embedding_table is not None:
        embedding.set_weights([embedding_table])
    for i in range(params.layers):
        kwargs: dict[str, Any] = dict(
            units=params.units,
            activation=params.activation,
            kernel_initializer=params.initializer,
            dropout=params.dropout,
            recurrent_dropout=params.recurrent_dropout,
            return_sequences=i < params.layers - 1 or params.pooling != "last",
            name=f"{arch}_{i}",
        )
        if arch == "gru":
            kwargs["reset_after"] = True  # ONNX GRU with linear_before_reset=1
        layer = layer_cls(**kwargs)
        if params.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        x = layer(x)
    if params.pooling == "max":
        x = keras.layers.GlobalMaxPooling1D(name="max_over_time")(x)
    elif params.pooling == "mean":
        x = keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x)
    if params.dropout:
        x = keras.layers.Dropout(params.dropout, name="dropout_out")(x)
    outputs = value_head(x, target) if target else output_head(n_classes)(x)
    return keras.Model(inputs, outputs, name=arch)


def build_model(
    arch: str,
    params: AnnParams | RecurrentParams,
    *,
    n_features: int = 0,
    vocab_size: int = 0,
    sequence_length: int = 0,
    n_classes: int = 2,
    embedding_table: np.ndarray | None = None,
    target: dict[str, Any] | None = None,
) -> keras.Model:
    """The compiled model: binary cross-entropy with accuracy and AUC for 2 classes; sparse
    categorical cross-entropy (integer class labels) with accuracy for more; for a numeric
    ``target``, its loss (:mod:`pipeline.modeling.value_head`)."""
    if isinstance(params, AnnParams):
        model = build_ann(params, n_features, n_classes, target)
        optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate)
    else:
        model = build_recurrent(arch, params, vocab_size, sequence_length, n_classes, embedding_table, target)
        optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate, clipnorm=params.clipnorm)
    if target:
        compile_for_value(model, optimizer, target)
    elif n_classes == 2:
        model.compile(
            optimizer=optimizer,
            loss="binary_crossentropy",
            metrics=["accuracy", keras.metrics.AUC(name="auc")],
        )
    else:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_for(
    arch: str,
    params: AnnParams | RecurrentParams,
    data: Dataset,
    embedding_table: np.ndarray | None = None,
) -> keras.Model:
    """Build from the shapes of the encoded data (and a text model's word2vec table, if any); a
    forecast's windows ``[n, lookback, features]`` give a forecaster of ``data.horizon`` outputs."""
    if data.horizon:
        return _forecaster_for(arch, params, data)
    if isinstance(params, AnnParams):
        return build_model(
            arch, params, n_features=data.train.x.shape[1], n_classes=data.n_classes, target=data.target
        )
    return build_model(
        arch,
        params,
        vocab_size=data.vocab_size,
        sequence_length=data.train.x.shape[1],
        n_classes=data.n_classes,
        embedding_table=embedding_table,
        target=data.target,
    )


def _forecaster_for(arch: str, params: Any, data: Dataset) -> keras.Model:
    from pipeline.modeling.forecasters import build_forecaster

    target = data.target or {}
    _, lookback, width = data.train.x.shape
    return build_forecaster(
        arch,
        params,
        lookback,
        width,
        data.horizon,
        float(target["center"]),
        float(target["scale"]),
        relative_to=str(target.get("relative_to", "none")),
        season_length=int(target.get("season_length", 1)),
        residual=(float(target.get("residual_center", 0.0)), float(target.get("residual_scale", 1.0))),
        baseline_trainable=bool(target.get("baseline_trainable", False)),
        data=data,
    )


class EpochClock(keras.callbacks.Callback):
    """Each epoch's wall time and logged values, kept in ``epochs`` (``seconds`` plus the logs) and
    handed to ``on_epoch(epoch, seconds, values)`` when given: the one timer that the train stage's
    log, ``bench --train`` and benchmarks/train_steps.py share."""

    def __init__(self, on_epoch: Callable[[int, float, dict[str, float]], None] | None = None) -> None:
        super().__init__()
        self.on_epoch, self.epochs = on_epoch, []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self._started
        values = {k: float(v) for k, v in (logs or {}).items()}
        self.epochs.append({"seconds": seconds, **values})
        if self.on_epoch is not None:
            self.on_epoch(epoch, seconds, values)


def class_weights(
    params: AnnParams | RecurrentParams, y: np.ndarray, n_classes: int = 2
) -> dict[int, float] | None:
    """``balanced``: each class weighted by the inverse of its frequency in ``y``, scaled so that
    the mean weight over the rows of ``y`` is 1 (``n / (classes present * count)``). A class
    absent from ``y`` gets 1.0: it is never trained on, but Keras wants a weight for every index."""
    if n_classes < 2 or params.class_weight == "none":  # a number has no classes to weigh
        return None
    if n_classes == 2:  # the same expression as before multi-class support: same weights, same models
        positives = float(y.mean())
        return {0: 0.5 / (1 - positives), 1: 0.5 / positives}
    counts = np.bincount(np.asarray(y).astype(int).reshape(-1), minlength=n_classes)
    present = int((counts > 0).sum())
    return {c: float(len(y) / (present * n)) if n else 1.0 for c, n in enumerate(counts)}


def fit(
    model: keras.Model,
    params: AnnParams | RecurrentParams,
    data: Dataset,
    *,
    epochs: int | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int = 0,
) -> keras.callbacks.History:
    """Fit with early stopping on validation loss, restoring the best weights.

    A text model's training batches are length-bucketed when its ``bucketing`` allows and pays
    (:mod:`pipeline.modeling.buckets`), shuffled from a seed drawn from NumPy's global generator,
    which :func:`seed_everything` seeded; the validation split is read whole, as at inference."""
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=params.patience, restore_best_weights=True
    )
    weights = class_weights(params, data.train.y, data.n_classes)
    common: dict[str, Any] = dict(
        validation_data=(data.val.x, data.val.y),
        epochs=epochs or params.epochs,
        callbacks=[stop, *(callbacks or [])],
        verbose=verbose,
    )
    train = bucketed_training(params, data, weights)
    if train is not None:
        return model.fit(train, validation_batch_size=params.batch_size, shuffle=False, **common)
    return model.fit(
        data.train.x,
        data.train.y,
        batch_size=params.batch_size,
        shuffle=True,
        class_weight=weights,
        **common,
    )


def bucketed_training(
    params: AnnParams | RecurrentParams, data: Dataset, weights: dict[int, float] | None
) -> Any:
    """The length-bucketed training batches (a ``tf.data.Dataset``), or ``None`` for the plain ones:
    not a text model, bucketing off, or too little padding to skip."""
    if not isinstance(params, RecurrentParams) or not params.bucketing.enabled or data.horizon:
        return None
    setting = params.bucketing
    plan = buckets.plan_for(data.train.x, params.batch_size, setting.buckets, setting.min_saving)
    if plan is None:
        return None
    seed = int(np.random.randint(2**31 - 1))
    return buckets.bucketed_dataset(
        plan, data.train.x, data.train.y, buckets.sample_weights(weights, data.train.y), seed
    )


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """float32 probabilities: the positive class's as a flat ``(n,)`` array for a binary model
    (one output unit), every class's as ``(n, n_classes)`` for a multi-class one."""
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype="float32")
    return out.reshape(-1) if out.shape[-1] == 1 else out


def save_reproducibly(model: keras.Model, path: Path) -> None:
    """``model.save``, then the same archive without save-time stamps.

    Keras stamps ``metadata.json`` with the save date, the weights' zip entry with the clock and
    ``config.json`` with the memory addresses of objects that layers share (``shared_object_id``),
    so the same weights would give a new file, a new dvc.lock and a dirty git tree on every rebuild.
    The entries are rewritten in order with a fixed date, no ``date_saved`` and the shared objects
    numbered in order of appearance (Keras only matches the ids with each other on load).
    """
    tmp = path.with_name(f".{path.name}.tmp.keras")
    stable = path.with_name(f".{path.name}.stable.tmp")
    model.save(tmp)
    try:
        with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(stable, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "metadata.json":
                    meta = json.loads(data)
                    meta.pop("date_saved", None)
                    data = json.dumps(meta).encode()
                elif info.filename == "config.json":
                    data = json.dumps(_renumber_shared_objects(json.loads(data))).encode()
                entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                entry.compress_type = info.compress_type
                entry.external_attr = info.external_attr
                dst.writestr(entry, data)
        stable.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        stable.unlink(missing_ok=True)


def _renumber_shared_objects(config: Any) -> Any:
    """``config`` with every ``shared_object_id`` replaced by 1, 2, ... in order of appearance."""
    numbers: dict[Any, int] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "shared_object_id":
                    out[key] = numbers.setdefault(value, len(numbers) + 1)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(config)
