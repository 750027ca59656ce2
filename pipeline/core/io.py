"""Small file helpers: every write is atomic, so a failed stage never leaves half a file.

dvc.yaml marks every output ``persist``, so DVC no longer deletes a stage's outputs before running
it; these helpers replace them only once the new ones are whole. A stage that fails therefore
leaves what it had built before.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; it replaces ``path`` whole on success,
    so no file of an earlier run is left behind in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    old = tmp.with_name(tmp.name + ".old")
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700; outputs are ordinary folders
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


# The significant digits of a figure in a tracked metrics file. NumPy's exp and log (AVX-512 or
# AVX2 code, picked per CPU) can move a metric's last bit from one machine to another; 12 digits
# keep every figure that means something and drop that noise, so a rebuild elsewhere leaves
# git and dvc.lock unchanged.
METRIC_DIGITS = 12


def write_metrics_json(path: Path, data: Any) -> None:
    """``write_json`` for a tracked metrics file: every float to ``METRIC_DIGITS`` significant digits."""
    write_json(path, rounded_floats(json.loads(json.dumps(data, default=_jsonable)), METRIC_DIGITS))


def rounded_floats(data: Any, digits: int) -> Any:
    """``data`` (plain JSON values) with every finite float to ``digits`` significant digits."""
    if isinstance(data, float):
        return float(f"{data:.{digits}g}") if data == data and abs(data) != float("inf") else data
    if isinstance(data, dict):
        return {key: rounded_floats(value, digits) for key, value in data.items()}
    if isinstance(data, list):
        return [rounded_floats(value, digits) for value in data]
    return data


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def read_yaml(path: Path) -> Any:
    """A YAML file read as DVC reads params files (YAML 1.2; see yamlio)."""
    from pipeline.core.yamlio import load_yaml

    return load_yaml(Path(path).read_text(encoding="utf-8"))


def save_array(path: Path, array: Any) -> None:
    """One NumPy array as ``.npy`` (never pickled)."""
    import numpy as np

    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def load_array(path: Path) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
