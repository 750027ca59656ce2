"""Task kinds: one module per kind, each answering the same small set of questions (see ``base``).

The stages are generic: they ask ``kind_of(config)`` for what differs between a table and a text
(how to read the file, which expectations to check, which encoder to fit, which baselines to run).
Nothing outside these modules branches on a task's kind.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pipeline.tasks import language_model, tabular, text

KINDS: dict[str, ModuleType] = {"tabular": tabular, "text": text, "language_model": language_model}


def kind_of(config: Any) -> ModuleType:
    """The module of ``config.kind`` (``tabular``, ``text`` or ``language_model``)."""
    return KINDS[config.kind]


def kind_named(name: str) -> ModuleType:
    """The module of the kind called ``name``: what a model bundle or an encoder records."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task kind {name!r}; known: {', '.join(KINDS)}") from None
