"""Task kinds: one module per kind, each answering the same questions (``contract.TaskKind``).

The stages, serving and the commands are generic: they ask ``kind_of(config)`` (training) or
``kind_named(name)`` (a bundle's kind) for what differs between a table, a text and a language model:
how to read the file, which expectations to check, which encoder to fit, which baselines to run, what
the bundle records, how an answer looks. Nothing outside these modules branches on a task's kind; a
new kind is one module here and one line in ``KINDS`` (docs/design.md).
"""

from __future__ import annotations

from typing import Any

from pipeline.tasks import language_model, tabular, text, timeseries
from pipeline.tasks.contract import TaskKind

# mypy checks each module against the contract here
KINDS: dict[str, TaskKind] = {
    "tabular": tabular,
    "text": text,
    "language_model": language_model,
    "timeseries": timeseries,
}


def kind_of(config: Any) -> TaskKind:
    """The module of ``config.kind`` (``tabular``, ``text``, ``language_model`` or ``timeseries``)."""
    return KINDS[config.kind]


def kind_named(name: str) -> TaskKind:
    """The module of the kind called ``name``: what a model bundle or an encoder records."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task kind {name!r}; known: {', '.join(KINDS)}") from None
