"""The model bundle: ``models/<task>/<arch>/`` as a folder that describes itself.

A bundle holds ``model.onnx``, ``encoder.json`` and ``manifest.json``. The manifest says what the
model is (kind, task, architecture), what it answers (the output contract: classes, positive class,
threshold, neutral band, top-k, generation limits), what it reads (the input schema, its dtype and
width), the sha256 of each file, the headline metrics and the versions of the libraries that built
it. Whatever serves a model (``predict``, ``serve``, ``bench``, the page, the registered pyfunc) reads
only the bundle, so a model answers the same wherever it is started: no ``params.yaml`` is read.

This module alone writes, reads and checks a bundle. Reading checks each file's hash and, once the
ONNX session is open (:func:`check_input_width`), that the graph's input width is the encoder's.
It imports neither TensorFlow nor ONNX: the pyfunc's environment has only ONNX Runtime.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import ModelError

MODEL_FILE = "model.onnx"
ENCODER_FILE = "encoder.json"
MANIFEST_FILE = "manifest.json"
# how the model's answers are explained (a table's SHAP background sample); older bundles lack it
EXPLAIN_FILE = "explain.json"
FORMAT = 1  # the manifest's layout; a reader refuses a newer one
# the distributions that built a model; TensorFlow is whichever of its builds is installed
BUILT_WITH = ("tensorflow-cpu|tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` holds; ``files`` maps each file of the bundle to its sha256."""

    task: str
    kind: str
    arch: str
    output: dict[str, Any]
    input: dict[str, Any]
    files: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Path) -> Manifest:
        if not isinstance(data, dict):
            raise ModelError(f"{where}: expected a JSON object")
        if int(data.get("format", 0)) > FORMAT:
            raise ModelError(
                f"{where}: manifest format {data['format']} is newer than this code reads ({FORMAT}); "
                "update the pipeline package"
            )
        needed = ("task", "kind", "arch", "output", "input", "files")
        missing = [key for key in needed if key not in data]
        if missing:
            raise ModelError(f"{where}: missing key(s) {', '.join(missing)}; re-run the export stage")
        known = {k: data[k] for k in (*needed, "metrics", "versions", "format") if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: its folder, manifest and encoder settings (with the task's ``classes``)."""

    directory: Path
    manifest: Manifest
    encoder_data: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    def explanation(self) -> dict[str, Any] | None:
        """``explain.json`` (read when a request asks for an explanation), or None if the bundle has none."""
        if EXPLAIN_FILE not in self.manifest.files:
            return None
        data = _read_json(self.directory / EXPLAIN_FILE)
        if not isinstance(data, dict):
            raise ModelError(f"{self.directory / EXPLAIN_FILE}: expected a JSON object")
        return data


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def library_versions() -> dict[str, str]:
    """The versions of the libraries that built a model (``unknown`` for one not installed), and
    Python's minor version (a patch release changes no model, and the manifest is a tracked file)."""
    versions = {"python": ".".join(platform.python_version_tuple()[:2])}
    for names in BUILT_WITH:
        versions[names.split("|")[-1]] = next(filter(None, map(_installed, names.split("|"))), "unknown")
    return versions


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_manifest(
    directory: Path,
    *,
    task: str,
    kind: str,
    arch: str,
    output: dict[str, Any],
    input_spec: dict[str, Any],
    metrics: dict[str, Any],
) -> Manifest:
    """Write ``manifest.json`` for the model and encoder files already in ``directory``; last, so
    that a bundle with a manifest is whole."""
    from pipeline.core.io import write_json

    names = [MODEL_FILE, ENCODER_FILE, *([EXPLAIN_FILE] if (directory / EXPLAIN_FILE).is_file() else [])]
    files = {name: sha256_file(directory / name) for name in names}
    manifest = Manifest(task, kind, arch, output, input_spec, files, metrics, library_versions())
    write_json(directory / MANIFEST_FILE, asdict(manifest))
    return manifest


def read_bundle(directory: Path | str) -> Bundle:
    """The bundle in ``directory``, its files checked against the manifest's hashes."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        if not directory.is_dir():
            raise ModelError(f"{directory}: model folder not found")
        raise ModelError(
            f"{manifest_path}: not found; a model folder needs {MODEL_FILE}, {ENCODER_FILE} and "
            f"{MANIFEST_FILE}, which the export stage writes (python -m pipeline repro export@<task>-<arch>)"
        )
    manifest = Manifest.from_dict(_read_json(manifest_path), manifest_path)
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"{path}: not found, but {manifest_path} lists it")
        if sha256_file(path) != expected:
            raise ModelError(
                f"{path}: its sha256 differs from the one {manifest_path} records; the bundle was "
                "changed after export (re-run the export stage)"
            )
    return Bundle(directory, manifest, _read_json(directory / ENCODER_FILE))


def check_input_width(bundle: Bundle, encoder_width: int, onnx_shape: list[Any]) -> None:
    """The encoder's rows, the manifest's input and the ONNX graph's input are equally wide: a row's
    values, all its dimensions beyond the batch together (a forecaster's ``[lookback, features]``)."""
    width = bundle.manifest.input.get("width")
    dims = list(onnx_shape[1:])
    graph_width = math.prod(dims) if dims and all(isinstance(d, int) for d in dims) else None
    encoder_file = bundle.directory / ENCODER_FILE
    if isinstance(width, int) and width != encoder_width:
        raise ModelError(
            f"{encoder_file}: the encoder makes rows of {encoder_width} values but "
            f"{bundle.directory / MANIFEST_FILE} records an input of {width}; re-run export"
        )
    if isinstance(graph_width, int) and graph_width != encoder_width:
        raise ModelError(
            f"{bundle.model_path}: the ONNX input takes rows of {graph_width} values but the encoder "
            f"({encoder_file}) makes rows of {encoder_width}; re-run export"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
