"""ONNX Runtime inference on raw inputs: the core of predict, serve, bench and the MLflow pyfunc.

A model directory holds ``model.onnx`` (with ``task`` and ``arch`` in its metadata) and
``encoder.json``. Raw rows are checked per row first; valid rows are encoded and scored,
invalid ones come back as :class:`RowError` values. TensorFlow is never imported here.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import ConfigError, params
from pipeline.core.errors import ModelError
from pipeline.encoders.preprocess import Encoder, RowError, TextEncoder, load_encoder

MODEL_FILE = "model.onnx"
ENCODER_FILE = "encoder.json"


def session_options(threads: int = 1) -> Any:
    """Options chosen for CPU serving.

    * one intra-op thread: these models are small, so at batch 1 thread hand-offs cost
      more than they save, and concurrent requests already use the other cores;
    * sequential execution and every graph optimisation (constant folding, fusions).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


@dataclass
class ScoreResult:
    # float64, NaN where the row was invalid: (n,) positive-class probabilities for a binary
    # model, (n, n_classes) class probabilities for a multi-class one
    probabilities: np.ndarray
    errors: list[RowError]
    known_token_share: np.ndarray | None = None  # text: share of known tokens per row (NaN: invalid)

    @property
    def valid(self) -> np.ndarray:
        """One flag per row."""
        missing = np.isnan(self.probabilities)
        return ~(missing.any(axis=1) if missing.ndim == 2 else missing)


MIN_CHUNK_ROWS = 32  # a batch is split for parallel runs only into chunks at least this large


class Predictor:
    """One ONNX Runtime session and the encoder that turns raw inputs into its input.

    ``parallel`` > 1 splits a large batch into that many chunks run at once on worker threads
    (ONNX Runtime releases the GIL). ORT's CPU ``GRU`` and ``RNN`` kernels run a batch on one
    core whatever the intra-op thread count, so this is how they use a second core; it pays
    for the recurrent models only (the churn ANN scores 256 rows in ~30 µs, less than a
    thread hand-off).
    """

    def __init__(
        self,
        model_path: Path,
        encoder: Encoder,
        threads: int = 1,
        parallel: int = 1,
        classes: list[Any] | None = None,
    ) -> None:
        import onnxruntime as ort

        if not Path(model_path).is_file():
            raise ModelError(f"{model_path}: ONNX model not found")
        self.model_path = Path(model_path)
        self.encoder = encoder
        self.session = ort.InferenceSession(
            str(model_path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.parallel = max(1, parallel)
        self._pool: ThreadPoolExecutor | None = None
        self.n_classes = output_classes(self.session.get_outputs()[0].shape)
        # the class names encode recorded (index i is output i); binary models default to 0/1
        self.classes = list(classes) if classes is not None else list(range(max(self.n_classes, 2)))
        if len(self.classes) != max(self.n_classes, 2):
            raise ModelError(
                f"{model_path}: the model has {self.n_classes} outputs but its encoder names "
                f"{len(self.classes)} classes"
            )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.task = meta.get("task", "")
        self.arch = meta.get("arch", "")

    @property
    def kind(self) -> str:
        return self.encoder.kind

    @classmethod
    def from_dir(cls, model_dir: Path | str, threads: int = 1) -> Predictor:
        model_dir = Path(model_dir)
        encoder_file = model_dir / ENCODER_FILE
        classes = (
            json.loads(encoder_file.read_text(encoding="utf-8")).get("classes")
            if encoder_file.is_file()
            else None
        )
        return cls(model_dir / MODEL_FILE, load_encoder(encoder_file), threads, classes=classes)

    @classmethod
    def load(cls, uri: str, threads: int = 1) -> Predictor:
        """A local model directory, or an MLflow URI (``models:/churn@champion``, ``runs:/...``)."""
        if "://" not in uri and not uri.startswith("models:/") and not uri.startswith("runs:/"):
            return cls.from_dir(uri, threads)
        return cls.from_dir(resolve_model_dir(uri), threads)

    def predict_encoded(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(n,)`` positive-class probabilities from a binary model (one output unit),
        ``(n, n_classes)`` class probabilities from a multi-class one."""
        dtype = np.int32 if isinstance(self.encoder, TextEncoder) else np.float32
        x = np.ascontiguousarray(x, dtype=dtype)
        chunks = min(self.parallel, len(x) // MIN_CHUNK_ROWS)
        if chunks < 2:
            return self._run(x)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="ort")
        return np.concatenate(list(self._pool.map(self._run, np.array_split(x, chunks))))

    def _run(self, x: np.ndarray) -> np.ndarray:
        """``x`` is contiguous already: ``np.array_split`` of a C-ordered array along rows keeps it so."""
        out = np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float32)
        return out.reshape(-1) if out.ndim < 2 or out.shape[1] == 1 else out

    def score_frame(self, frame: pd.DataFrame) -> ScoreResult:
        frame = frame.reset_index(drop=True)
        errors = self.encoder.check(frame)
        bad = {e.row for e in errors}
        good = [i for i in range(len(frame)) if i not in bad]
        x = self.encoder.transform(frame.iloc[good]) if good else None
        return ScoreResult(
            self._score_rows(len(frame), good, x), errors, self._token_shares(len(frame), good, x)
        )

    def score_records(self, records: list[Any]) -> ScoreResult:
        """Score JSON records (dicts, or plain strings for text) without building a DataFrame:
        at serving's batch sizes pandas would cost far more than the model."""
        errors = self.encoder.check_records(records)
        bad = {e.row for e in errors}
        good = [i for i in range(len(records)) if i not in bad]
        x = self.encoder.transform_records([records[i] for i in good]) if good else None
        return ScoreResult(
            self._score_rows(len(records), good, x), errors, self._token_shares(len(records), good, x)
        )

    def _score_rows(self, n: int, good: list[int], x: np.ndarray | None) -> np.ndarray:
        """Rows ``good`` scored from ``x``, NaN in the others: ``(n,)`` or ``(n, n_classes)``."""
        if x is None:
            return np.full((n,) if self.n_classes == 2 else (n, self.n_classes), np.nan)
        scored = self.predict_encoded(x)
        probabilities = np.full((n, *scored.shape[1:]), np.nan)
        probabilities[good] = scored
        return probabilities

    def _token_shares(self, n: int, good: list[int], x: np.ndarray | None) -> np.ndarray | None:
        """Text: the share of known tokens in rows ``good``, NaN in the others; None for tables."""
        if not isinstance(self.encoder, TextEncoder):
            return None
        shares = np.full(n, np.nan)
        if x is not None:
            shares[good] = TextEncoder.known_token_share(x)
        return shares


def output_classes(shape: list[Any]) -> int:
    """Number of classes from the ONNX output's declared shape: ``[batch, 1]`` (a positive-class
    probability) is 2; ``[batch, k]`` with k > 1 is k; an unknown width is taken as binary, and
    :meth:`Predictor._run` still shapes the answer from what the session returns."""
    width = shape[-1] if len(shape) >= 2 else 1
    return width if isinstance(width, int) and width > 1 else 2


def resolve_model_dir(uri: str) -> Path:
    """Download an MLflow model and return the directory that holds model.onnx and encoder.json."""
    import mlflow

    from pipeline.core.paths import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:  # MLflow raises several types for unknown names/aliases
        raise ModelError(f"cannot load {uri} from {tracking_uri()}: {exc}") from exc
    found = sorted(p.parent for p in local.rglob(MODEL_FILE) if (p.parent / ENCODER_FILE).exists())
    if not found:
        raise ModelError(f"{uri}: no {MODEL_FILE} with {ENCODER_FILE} among its artifacts")
    return found[0]


def check_model(predictor: Any, task: str, source: str) -> None:
    """Refuse a model of another task: its probabilities would be meaningless here."""
    if predictor.task and predictor.task != task:
        raise ModelError(f"{source} is a {predictor.task!r} model, not a {task!r} one")
    try:
        kind = params().task(task).kind
    except ConfigError:  # outside a checkout (no params.yaml): the model's own task name must do
        return
    if predictor.kind != kind:
        raise ModelError(f"{source} expects {predictor.kind} input; task {task!r} needs {kind} input")
