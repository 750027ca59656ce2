"""ONNX Runtime inference on raw inputs: the core of predict, serve, bench and the MLflow pyfunc.

A model is a bundle (:mod:`pipeline.serving.bundle`): ``model.onnx``, ``encoder.json`` and
``manifest.json``, which also holds the output contract the answers follow. Raw rows are checked
per row first; valid rows are encoded and scored, invalid ones come back as :class:`RowError`
values. TensorFlow is never imported here, and nothing here reads params.yaml.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError, ModelError
from pipeline.encoders.base import Encoder, RowError
from pipeline.encoders.registry import encoder_from_dict
from pipeline.serving import bundle as bundles


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
# A batch for a graph that skips the padding all its rows share runs in chunks of this many rows
# of similar padding: each chunk then skips its own (R52 at 256 rows: every batch has a full story).
PADDING_CHUNK_ROWS = 32


@dataclass(frozen=True)
class ModelSource:
    """What a loaded model is: its URI and, for the MLflow registry, the version it resolved to.

    A local model directory has no registered name, version, alias or run: those are None.
    """

    uri: str
    registered_model: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None


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
        output: dict[str, Any] | None = None,
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
        # token ids (int32) or features (float32), as the graph declares: no need to know the kind
        self.input_dtype = np.int32 if "int" in self.session.get_inputs()[0].type else np.float32
        self.output: dict[str, Any] = dict(output or {})  # the bundle's output contract
        self.manifest: bundles.Manifest | None = None
        self.bundle: bundles.Bundle | None = None  # from_dir's: explain.json is read on first use
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
        self.skips_padding = meta.get("skips_padding") == "every batch"
        self.source = ModelSource(str(self.model_path.parent))  # Predictor.load names a registry model

    @cached_property
    def onnx_sha256(self) -> str:
        """The SHA-256 of the ONNX file this session runs (``onnx_sha256`` on a registered version)."""
        return hashlib.sha256(self.model_path.read_bytes()).hexdigest()

    @cached_property
    def explanation(self) -> dict[str, Any] | None:
        """The bundle's ``explain.json``: read on the first explained request, so that serving without
        explanations reads nothing more than before."""
        return self.bundle.explanation() if self.bundle is not None else None

    @property
    def kind(self) -> str:
        return self.encoder.kind

    @classmethod
    def from_dir(cls, model_dir: Path | str, threads: int = 1) -> Predictor:
        """The bundle in ``model_dir``, checked: file hashes, and the graph's input width."""
        found = bundles.read_bundle(model_dir)
        manifest = found.manifest
        predictor = cls(
            found.model_path,
            encoder_from_dict(found.encoder_data),
            threads,
            classes=found.encoder_data.get("classes"),
            output=manifest.output,
        )
        bundles.check_input_width(
            found, predictor.encoder.input_width, predictor.session.get_inputs()[0].shape
        )
        predictor.manifest, predictor.bundle = manifest, found
        predictor.task, predictor.arch = manifest.task, manifest.arch
        return predictor

    @classmethod
    def load(cls, uri: str, threads: int = 1) -> Predictor:
        """A local model directory, or an MLflow URI (``models:/churn@champion``, ``runs:/...``)."""
        if "://" not in uri and not uri.startswith("models:/") and not uri.startswith("runs:/"):
            return cls.from_dir(uri, threads)
        model_dir, source = resolve_model(uri)
        predictor = cls.from_dir(model_dir, threads)
        predictor.source = source
        return predictor

    def predict_encoded(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(n,)`` positive-class probabilities from a binary model (one output unit),
        ``(n, n_classes)`` class probabilities from a multi-class one."""
        x = np.ascontiguousarray(x, dtype=self.input_dtype)
        if self.skips_padding and len(x) > PADDING_CHUNK_ROWS:
            return self._by_padding(x)
        chunks = min(self.parallel, len(x) // MIN_CHUNK_ROWS)
        if chunks < 2:
            return self._run(x)
        return np.concatenate(list(self._map(self._run, np.array_split(x, chunks))))

    def _by_padding(self, x: np.ndarray) -> np.ndarray:
        """Rows sorted by their leading padding, run in chunks of ``PADDING_CHUNK_ROWS``, put back
        in order: a batch then costs about its texts' own steps, not its longest text's times rows."""
        padding = np.argmax(x != 0, axis=1)  # leading zeros (0 for a row of padding only)
        order = np.argsort(-padding, kind="stable")
        chunks = [
            np.ascontiguousarray(x[order[i : i + PADDING_CHUNK_ROWS]])
            for i in range(0, len(x), PADDING_CHUNK_ROWS)
        ]
        sorted_out = np.concatenate(list(self._map(self._run, chunks)))
        out = np.empty_like(sorted_out)
        out[order] = sorted_out
        return out

    def _map(self, fn: Any, chunks: list[np.ndarray]) -> Any:
        """``fn`` over the chunks, on ``parallel`` worker threads when there are several."""
        if self.parallel < 2 or len(chunks) < 2:
            return map(fn, chunks)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="ort")
        return self._pool.map(fn, chunks)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """``x`` is contiguous already: ``np.array_split`` of a C-ordered array along rows keeps it so."""
        out = np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float32)
        return out.reshape(-1) if out.ndim < 2 or out.shape[1] == 1 else out

    def score_frame(self, frame: pd.DataFrame) -> ScoreResult:
        frame = frame.reset_index(drop=True)
        if self.encoder.whole_request:
            return self._score_whole(lambda: self.encoder.transform(frame))
        errors = self.encoder.check(frame)
        valid = np.ones(len(frame), dtype=bool)
        valid[[e.row for e in errors]] = False
        good = np.flatnonzero(valid)  # all of them: the frame itself, no copy of its valid rows
        x = self.encoder.transform(frame if valid.all() else frame.iloc[good]) if len(good) else None
        return ScoreResult(
            self._score_rows(len(frame), good, x), errors, self._token_shares(len(frame), good, x)
        )

    def score_records(self, records: list[Any]) -> ScoreResult:
        """Score JSON records (dicts, or plain strings for text) without building a DataFrame:
        at serving's batch sizes pandas would cost far more than the model."""
        if self.encoder.whole_request:
            return self._score_whole(lambda: self.encoder.transform_records(records))
        errors = self.encoder.check_records(records)
        bad = {e.row for e in errors}
        good = [i for i in range(len(records)) if i not in bad]
        x = self.encoder.transform_records([records[i] for i in good]) if good else None
        return ScoreResult(
            self._score_rows(len(records), good, x), errors, self._token_shares(len(records), good, x)
        )

    def _score_whole(self, transform: Callable[[], np.ndarray]) -> ScoreResult:
        """A request whose rows are one input (a series' history): one answer, or the DataError its
        encoding raised (as the error of row 0: the request) and NaN. Encoded once: checking first
        would read the history twice (about 7 ms each for 30 hourly rows)."""
        try:
            x = transform()
        except DataError as exc:
            return ScoreResult(np.full((1, self.n_classes), np.nan), [RowError(0, str(exc))], None)
        return ScoreResult(self.predict_encoded(x), [], None)

    def _score_rows(self, n: int, good: Any, x: np.ndarray | None) -> np.ndarray:
        """Rows ``good`` scored from ``x``, NaN in the others: ``(n,)`` or ``(n, n_classes)``."""
        if x is None:
            return np.full((n,) if self.n_classes == 2 else (n, self.n_classes), np.nan)
        scored = self.predict_encoded(x)
        probabilities = np.full((n, *scored.shape[1:]), np.nan)
        probabilities[good] = scored
        return probabilities

    def _token_shares(self, n: int, good: Any, x: np.ndarray | None) -> np.ndarray | None:
        """Text: the share of known tokens in rows ``good``, NaN in the others; None for tables."""
        if not self.encoder.vocab_size:  # an encoder without a vocabulary: no tokens to count
            return None
        shares = np.full(n, np.nan)
        if x is not None:
            shares[good] = self.encoder.known_token_share(x)
        return shares


def output_classes(shape: list[Any]) -> int:
    """Number of classes from the ONNX output's declared shape: ``[batch, 1]`` (a positive-class
    probability) is 2; ``[batch, k]`` with k > 1 is k; an unknown width is taken as binary, and
    :meth:`Predictor._run` still shapes the answer from what the session returns."""
    width = shape[-1] if len(shape) >= 2 else 1
    return width if isinstance(width, int) and width > 1 else 2


def resolve_model(uri: str) -> tuple[Path, ModelSource]:
    """Download an MLflow model; return its directory (model.onnx + encoder.json) and what it is.

    ``models:/<name>@<alias>`` and ``models:/<name>/<version>`` are first resolved to a version,
    and exactly that version is downloaded, so the version reported is the one served even if
    the alias moves meanwhile.
    """
    import mlflow

    from pipeline.core.paths import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    source, download = ModelSource(uri), uri
    if uri.startswith("models:/"):
        source = registry_source(uri)
        if source.version is not None:
            download = f"models:/{source.registered_model}/{source.version}"
    elif uri.startswith("runs:/"):
        source = ModelSource(uri, run_id=uri.removeprefix("runs:/").split("/")[0] or None)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=download))
    except Exception as exc:  # MLflow raises several types for unknown names/aliases
        raise ModelError(f"cannot load {uri} from {tracking_uri()}: {exc}") from exc
    found = sorted(p.parent for p in local.rglob(bundles.MANIFEST_FILE))
    if not found:
        raise ModelError(f"{uri}: no model bundle ({bundles.MANIFEST_FILE}) among its artifacts")
    return found[0], source


def registry_source(uri: str) -> ModelSource:
    """The registered version a ``models:/`` URI names; a missing alias or model is a
    :class:`ModelError` that says what to do (promote, pick another alias, register)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipeline.core.paths import tracking_uri

    ref = uri.removeprefix("models:/")
    alias: str | None
    if "@" in ref:
        name, _, alias = ref.partition("@")
    else:
        (name, _, version), alias = ref.partition("/"), None
        if not version.isdigit():  # a stage or "latest": MLflow resolves it while downloading
            return ModelSource(uri, registered_model=name)
    client = mlflow.MlflowClient()
    try:
        if alias is not None:
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, version)
    except MlflowException as exc:  # the stores raise other codes than RESOURCE_DOES_NOT_EXIST
        message = missing_model_message(client, uri, name, alias)
        raise ModelError(message or f"cannot load {uri} from {tracking_uri()}: {exc}") from exc
    return ModelSource(uri, name, str(found.version), alias, found.run_id or None)


def missing_model_message(client: Any, uri: str, name: str, alias: str | None) -> str | None:
    """What to do when ``uri`` names no registered version; None when the registry does hold
    it (the lookup failed for another reason)."""
    from mlflow.exceptions import MlflowException

    from pipeline.core.paths import tracking_uri

    try:
        aliases = dict(client.get_registered_model(name).aliases)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            return None
        return (
            f"{uri}: no registered model {name!r} in {tracking_uri()}. Train and register one with "
            f"'make repro' (or 'python -m pipeline repro register@{name}'), or pass --model with a model "
            f"directory such as models/{name}/<arch>"
        )
    if alias is None:
        return f"{uri}: registered model {name!r} has no version {uri.rsplit('/', 1)[-1]}"
    if alias in aliases:
        return None
    held = ", ".join(f"{a} (version {v})" for a, v in sorted(aliases.items()))
    message = f"{uri}: registered model {name!r} has no alias {alias!r}"
    if alias == "champion" and "challenger" in aliases:
        return (
            f"{message}, only {held}: nothing has been promoted yet. Promote the challenger with "
            f"'python -m pipeline promote {name}', or use it as it is with "
            f"'--model models:/{name}@challenger'"
        )
    if aliases:
        return f"{message}; it has {held}: pass one with '--model models:/{name}@<alias>'"
    return f"{message} and no alias at all; run 'python -m pipeline register {name}' to set 'challenger'"


def check_model(predictor: Any, task: str, source: str) -> None:
    """Refuse a model of another task: its probabilities would be meaningless here. The bundle says
    which task it is; params.yaml is not read, so this holds outside a checkout too."""
    if predictor.task and predictor.task != task:
        raise ModelError(f"{source} is a {predictor.task!r} model, not a {task!r} one")
