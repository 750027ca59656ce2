"""The encoder registry: encoder.json's ``kind`` to its encoder class, and encoder.json in and out.

A new kind of encoder is a subclass of :class:`~pipeline.encoders.base.Encoder` and one line in
:data:`ENCODERS`; nothing here branches on the kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import DataError, ModelError
from pipeline.encoders.base import Encoder
from pipeline.encoders.language_model import LanguageModelEncoder
from pipeline.encoders.tabular import TabularEncoder
from pipeline.encoders.text import TextEncoder
from pipeline.encoders.timeseries import WindowEncoder

ENCODERS: dict[str, type[Encoder]] = {
    "tabular": TabularEncoder,
    "text": TextEncoder,
    "language_model": LanguageModelEncoder,
    "timeseries": WindowEncoder,  # its kind module is not in pipeline.tasks.KINDS yet (issue 22)
}


def encoder_from_dict(data: dict[str, Any]) -> Encoder:
    kind = data.get("kind")
    encoder_class = ENCODERS.get(kind) if isinstance(kind, str) else None
    if encoder_class is None:
        raise ModelError(f"unknown encoder kind {kind!r}")
    return encoder_class.from_dict(data)


def save_encoder(encoder: Encoder, path: Path) -> None:
    from pipeline.core.io import write_json

    write_json(path, encoder.to_dict())


def read_encoder_json(path: Path) -> dict[str, Any]:
    """encoder.json as written: the encoder's settings and, beside them, the task's ``classes``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: encoder file not found") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc


def load_encoder(path: Path) -> Encoder:
    return encoder_from_dict(read_encoder_json(path))
