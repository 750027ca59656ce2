"""export: convert a trained Keras model to ONNX and prove ONNX Runtime computes the same probabilities.

Converters: the churn ANN goes through tf2onnx (a ``tf.function`` with an input signature, the
route that works with Keras 3); the sentiment models go through :mod:`pipeline.modeling.onnx_builder`, which
emits ONNX's native RNN/LSTM/GRU operators where tf2onnx would emit a slow ``Loop``.

The exported graph is checked (``onnx.checker``), tagged with ``task``/``arch`` metadata (read by
:class:`pipeline.serving.inference.Predictor`) and scored by ONNX Runtime on the whole test split;
if any probability (every class's, for a multi-class model) differs from Keras by more than
``export.max_abs_diff`` the stage fails and writes nothing. Outputs: the model bundle
(:mod:`pipeline.serving.bundle`) ``models/<task>/<arch>/`` with ``model.onnx``, ``encoder.json`` (a
copy of the task's encoder) and ``manifest.json`` (the kind's output contract and input schema, a
forecaster's with the latest history the page starts from, hashes, headline metrics, library
versions), and ``metrics/<task>/<arch>.json`` (the evaluate stage's metrics plus
``onnx_parity_bound`` and ``onnx_operators``).

The measured parity, ``onnx_max_abs_diff``, is printed and logged to the model's MLflow training
run named in ``models/<task>/<arch>/run.json``, but the files that git and dvc.lock track record only
the bound it met: ONNX Runtime picks its kernels by the CPU's instruction set (AVX-512 or AVX2), so
the measured figure, a few float32 roundings, changes from one machine to another (1.5e-07 on one,
1.8e-07 on another, for the same model) where every other figure of the stage does not.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import ConfigError, params
from pipeline.core.errors import ModelError
from pipeline.core.io import atomic_path, read_json, write_json, write_metrics_json, write_text
from pipeline.serving.bundle import ENCODER_FILE, EXPLAIN_FILE, MODEL_FILE, write_manifest

CONVERTERS = ("auto", "builder", "tf2onnx")
SINGLE_ROW_CHECKS = 64  # test rows also checked one at a time: a batch of one takes other paths


@dataclass(frozen=True)
class ExportResult:
    model_path: Path
    max_abs_diff: float
    operators: list[str]
    size_bytes: int
    n_rows: int
    converter: str


# --------------------------------------------------------------------------- pure core
def tf2onnx_convert(model: Any, opset: int) -> Any:
    """tf2onnx via a ``tf.function``: ``from_keras`` breaks on Keras 3 models."""
    import tensorflow as tf
    import tf2onnx

    from pipeline.modeling.onnx_builder import CLASS_OUTPUT, FEATURES_INPUT, OUTPUT, TOKENS_INPUT

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = model.inputs[0]
    dtype = tf.as_dtype(str(spec.dtype))
    name = TOKENS_INPUT if dtype.is_integer else FEATURES_INPUT
    signature = (tf.TensorSpec((None, *spec.shape[1:]), dtype, name=name),)
    output = OUTPUT if model.outputs[0].shape[-1] == 1 else CLASS_OUTPUT  # same names as build_onnx

    @tf.function(input_signature=signature)
    def serve(x: Any) -> dict[str, Any]:
        return {output: model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
    return proto


def convert(
    model: Any,
    task: str,
    arch: str,
    *,
    opset: int,
    converter: str = "auto",
    simple_rnn: str = "unrolled",
    skip_padding: bool = True,
) -> tuple[Any, str]:
    """The checked ONNX model with its metadata, and the converter that produced it.

    ``auto``: tf2onnx for a network of Dense layers (falling back to our builder if tf2onnx
    fails), our builder for the recurrent models (native RNN/LSTM/GRU operators, whether they read
    token ids or a forecast's float window).
    """
    import onnx

    from pipeline.modeling.onnx_builder import build_onnx, skips_padding

    if converter not in CONVERTERS:
        raise ModelError(f"unknown converter {converter!r}: expected one of {', '.join(CONVERTERS)}")
    if converter == "auto":
        converter = _auto_converter(model)
        fallback = converter == "tf2onnx"
    else:
        fallback = False
    if converter == "tf2onnx":
        try:
            proto = tf2onnx_convert(model, opset)
        except Exception as exc:  # tf2onnx raises many types; the builder is the plan B
            if not fallback:
                raise ModelError(f"tf2onnx could not convert {task}/{arch}: {exc}") from exc
            print(f"export {task}/{arch}: tf2onnx failed ({exc}); using the ONNX builder instead")
            converter = "builder"
    if converter == "builder":
        proto = build_onnx(model, opset, simple_rnn=simple_rnn, skip_padding=skip_padding)
    versions = {name: _version(name) for name in ("keras", "tensorflow", "tf2onnx", "onnx")}
    onnx.helper.set_model_props(
        proto,
        {
            "task": task,
            "arch": arch,
            "converter": "pipeline.modeling.onnx_builder"
            if converter == "builder"
            else f"tf2onnx {versions['tf2onnx']}",
            "exported_by": "pipeline.stages.export",
            "keras_version": versions["keras"],
            "tensorflow_version": versions["tensorflow"],
            "onnx_version": versions["onnx"],
            # the Predictor then runs a big batch in chunks of rows with similar padding
            "skips_padding": "every batch" if skips_padding(proto) else "no",
        },
    )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError and shape inference errors
        raise ModelError(f"the ONNX graph for {task}/{arch} is invalid: {exc}") from exc
    return proto, converter


def _auto_converter(model: Any) -> str:
    """``builder`` for a model reading token ids or holding a recurrent layer, else ``tf2onnx``."""
    from pipeline.modeling.models import RECURRENT_LAYERS

    recurrent = set(RECURRENT_LAYERS.values())
    if "int" in str(model.inputs[0].dtype) or any(
        type(layer).__name__ in recurrent for layer in model.layers
    ):
        return "builder"
    return "tf2onnx"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def max_abs_diff(expected: np.ndarray, actual: np.ndarray) -> float:
    """Largest difference over every output: ``(n,)`` (or ``(n, 1)``) positive-class probabilities,
    ``(n, n_classes)`` class probabilities, or a numeric target's values. Absolute up to 1 and
    relative beyond (``|a - b| / max(1, |a|)``): the same as the absolute difference for
    probabilities, and float32's precision for a value in the hundreds. Infinite when the shapes
    differ or either side is not finite."""
    expected, actual = _probability_rows(expected), _probability_rows(actual)
    if expected.shape != actual.shape or not (np.isfinite(expected).all() and np.isfinite(actual).all()):
        return float("inf")
    if not expected.size:
        return 0.0
    return float(np.max(np.abs(expected - actual) / np.maximum(1.0, np.abs(expected))))


def _probability_rows(p: np.ndarray) -> np.ndarray:
    """float64 ``(n,)`` for one probability per row, ``(n, n_classes)`` for several."""
    p = np.asarray(p, "float64")
    return p.reshape(-1) if p.ndim < 2 or p.shape[-1] == 1 else p


def onnx_probabilities(predictor: Any, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    parts = [predictor.predict_encoded(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, "float32")


def single_rows(n: int, count: int = SINGLE_ROW_CHECKS) -> np.ndarray:
    """Up to ``count`` row indices spread over ``n`` rows, for parity one row at a time."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int))


# ----------------------------------------------------------------------------------- I/O
def _require(path: Path, hint: str) -> Path:
    if not path.exists():
        raise ModelError(f"{path}: not found; {hint}")
    return path


def load_test_split(task: str) -> tuple[np.ndarray, np.ndarray]:
    path = _require(
        paths.encoded_dir(task) / "test.npz", f"run 'python -m pipeline repro encode@{task}' first"
    )
    with np.load(path, allow_pickle=False) as npz:
        return npz["x"], npz["y"]


def load_train_x(task: str) -> np.ndarray:
    """The encoded training rows: a table's explanations take their background sample from them."""
    path = _require(
        paths.encoded_dir(task) / "train.npz", f"run 'python -m pipeline repro encode@{task}' first"
    )
    with np.load(path, allow_pickle=False) as npz:
        return npz["x"]


def _stage_inputs(task: str, arch: str) -> tuple[Path, Path, dict[str, Any], np.ndarray]:
    """The Keras model's and the encoder's paths, evaluate's metrics and the test rows, each checked."""
    model_dir = paths.model_dir(task, arch)
    keras_path = _require(
        model_dir / "model.keras", f"run 'python -m pipeline repro train@{task}-{arch}' first"
    )
    encoder_path = _require(
        paths.encoded_dir(task) / ENCODER_FILE, f"run 'python -m pipeline repro encode@{task}' first"
    )
    eval_path = _require(
        paths.eval_dir(task, arch) / "metrics.json",
        f"run 'python -m pipeline repro evaluate@{task}-{arch}' first",
    )
    evaluation = read_json(eval_path)
    if not isinstance(evaluation, dict) or "test" not in evaluation:
        raise ModelError(f"{eval_path}: expected a JSON object with a 'test' section")
    x, _ = load_test_split(task)
    if len(x) == 0:
        raise ModelError(
            f"{paths.encoded_dir(task) / 'test.npz'}: the test split is empty; parity needs rows"
        )
    return keras_path, encoder_path, evaluation, x


def _load_keras(keras_path: Path, x: np.ndarray, task: str) -> Any:
    """The trained model, which must read rows as wide as the encoded test rows."""
    from pipeline.modeling.models import keras  # sets TF's env before keras loads

    try:
        model = keras.saving.load_model(keras_path, compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors...
        raise ModelError(f"{keras_path}: cannot load the Keras model: {exc}") from exc
    expected_width = model.inputs[0].shape[1]
    if expected_width is not None and x.shape[1] != expected_width:
        raise ModelError(
            f"{paths.encoded_dir(task) / 'test.npz'}: rows have {x.shape[1]} columns but {keras_path} "
            f"expects {expected_width}; re-run train after encode"
        )
    return model


def export(
    task: str,
    arch: str,
    config: Any,
    *,
    opset: int,
    bound: float,
    converter: str = "auto",
    simple_rnn: str = "unrolled",
    skip_padding: bool = True,
    seed: int = 0,
) -> ExportResult:
    """Convert, check parity on the test split, log to MLflow, then write the bundle and metrics.

    Every check runs before anything is written; ``model.onnx`` is moved into place only after
    parity passed, so a failure leaves the previous export untouched.
    """
    model_dir = paths.model_dir(task, arch)
    keras_path, encoder_path, evaluation, x = _stage_inputs(task, arch)

    from pipeline.encoders.dataset import load_splits_frame
    from pipeline.encoders.registry import load_encoder
    from pipeline.modeling.models import predict_proba
    from pipeline.modeling.onnx_builder import operator_types
    from pipeline.serving.inference import Predictor

    encoder = load_encoder(encoder_path)
    model = _load_keras(keras_path, x, task)
    proto, used = convert(
        model, task, arch, opset=opset, converter=converter, simple_rnn=simple_rnn, skip_padding=skip_padding
    )
    operators = operator_types(proto)
    keras_p = predict_proba(model, x)
    out_path = model_dir / MODEL_FILE
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        predictor = Predictor(tmp, encoder, threads=0)
        onnx_p = onnx_probabilities(predictor, x)
        rows = single_rows(len(x))  # alone, a short text skips its padding (export.skip_padding)
        one_by_one = np.concatenate([predictor.predict_encoded(x[i : i + 1]) for i in rows])
        diff = max(max_abs_diff(keras_p, onnx_p), max_abs_diff(keras_p[rows], one_by_one))
        if not diff <= bound:
            raise ModelError(
                f"{out_path}: ONNX Runtime and Keras ({keras_path}) disagree by {diff:.3g} on the test split "
                f"(bound export.max_abs_diff = {bound:g}); nothing was written"
            )
        size = tmp.stat().st_size
        _log_to_mlflow(task, arch, model_dir / "run.json", diff, operators, size, used)
    write_text(model_dir / ENCODER_FILE, encoder_path.read_text(encoding="utf-8"))
    write_json(
        model_dir / EXPLAIN_FILE, tasks.kind_of(config).explanation_setup(lambda: load_train_x(task), seed)
    )
    measured = {**evaluation, "onnx_parity_bound": bound, "onnx_operators": operators}
    write_bundle_manifest(model_dir, task, arch, config, encoder, measured, lambda: load_splits_frame(task))
    write_metrics_json(paths.metrics_file(task, arch), measured)
    return ExportResult(out_path, diff, operators, size, len(x), used)


def write_bundle_manifest(
    model_dir: Path,
    task: str,
    arch: str,
    config: Any,
    encoder: Any,
    measured: dict[str, Any],
    rows: Callable[[], Any],
) -> None:
    """The bundle's manifest: the kind's output contract and input schema (with what the page starts
    from, which ``rows()``, encode's rows, may give), and the headline metrics (every plain number of
    the validation and test sections, and the ONNX parity's bound)."""
    kind = tasks.kind_of(config)
    classes = read_json(model_dir / ENCODER_FILE).get("classes") or [0, 1]  # encode wrote them there
    headline = {
        split: {k: v for k, v in measured.get(split, {}).items() if isinstance(v, int | float)}
        for split in ("val", "test")
    }
    try:  # learned classes are known only now: a name given to none of them is refused here
        output = kind.output_contract(config, list(classes), measured)
    except ValueError as exc:
        raise ConfigError(f"tasks.{task}.{exc}") from exc
    write_manifest(
        model_dir,
        task=task,
        kind=config.kind,
        arch=arch,
        output=output,
        input_spec=kind.input_spec(encoder, config) | kind.page_example(rows, config),
        metrics=headline | {"onnx_parity_bound": measured["onnx_parity_bound"]},
    )


def _log_to_mlflow(
    task: str, arch: str, run_file: Path, diff: float, operators: list[str], size: int, converter: str
) -> None:
    """Attach the parity to the training run (skipped when train wrote no run.json)."""
    if not run_file.exists():
        return
    run_id = read_json(run_file).get("run_id")
    if not run_id:
        raise ModelError(f"{run_file}: no 'run_id'")
    import mlflow

    from pipeline.core import tracking

    tracking.setup_experiment(task)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics({"onnx_max_abs_diff": diff, "onnx_size_bytes": float(size)})
            mlflow.set_tags({"onnx_operators": ",".join(operators), "onnx_converter": converter})
    except mlflow.exceptions.MlflowException as exc:
        raise ModelError(
            f"{run_file}: cannot log to MLflow run {run_id} at {paths.tracking_uri()}: {exc}"
        ) from exc


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline export", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("arch")
    parser.add_argument(
        "--converter",
        choices=CONVERTERS,
        default="auto",
        help="auto: tf2onnx for the churn ANN, the native-operator builder for recurrent models",
    )
    args = parser.parse_args(argv)
    p = params()
    p.model_params(args.task, args.arch)  # unknown task/arch fails here, before TensorFlow loads
    result = export(
        args.task,
        args.arch,
        p.task(args.task),
        opset=p.export.opset,
        bound=p.export.max_abs_diff,
        converter=args.converter,
        simple_rnn=p.export.simple_rnn,
        skip_padding=p.export.skip_padding,
        seed=p.seed,
    )
    print(
        f"export {args.task}/{args.arch}: {result.model_path} ({result.size_bytes / 1024:.1f} KiB, "
        f"{result.converter}), operators {', '.join(result.operators)}; "
        f"max |Keras - ONNX Runtime| = {result.max_abs_diff:.3g} over {result.n_rows} test rows "
        f"(bound {p.export.max_abs_diff:g})"
    )
    return 0
