"""The page to try a served model in a browser: ``GET /`` on ``python -m pipeline serve <task>``.

``page.html`` (beside this file, shipped as package data) is one static template with inline CSS and
JavaScript and no external asset, so that it works offline. The server fills it once, at start-up,
with what the served model's encoder says about its input (its kind, its columns and their values,
its classes) and what its manifest records (the classes' names, the columns' labels), and the page
then calls ``POST /invocations`` with ``fetch()`` like any other client.

What the page shows is chosen by :func:`page_mode` from the encoder's kind and the number of classes
alone, and asked of the kind module (``pipeline.tasks.<kind>``: ``page_mode``, ``page_fields``), so
that a task of an existing kind needs nothing here, and a new kind only its module's answers.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib.resources import files
from typing import Any

from pipeline.tasks import kind_named
from pipeline.tasks.answers import recorded_names

TEMPLATE = "page.html"
CONFIG_MARK = "__PAGE_CONFIG__"
TITLE_MARK = "__PAGE_TITLE__"
MAX_LISTED_CLASSES = 200  # a language model's "classes" are its vocabulary: not sent to the page
# The browser itself refuses anything but this server: no CDN, no other origin, even by mistake.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)


def page_mode(kind: str, n_classes: int) -> str:
    """``form`` (a table's fields), ``binary_text`` (Positive/Negative/Neutral), ``classes_text``
    (the top classes) or ``next_word`` (as-you-type suggestions): the kind module's answer."""
    return kind_named(kind).page_mode(n_classes)


def page_config(predictor: Any, identity: dict[str, Any], neutral_band: float) -> dict[str, Any]:
    """What the page needs to know about the served model (JSON-ready); the widget's own fields
    (a table's columns, or the text column) come from the kind module's ``page_fields``."""
    encoder = predictor.encoder
    kind = str(getattr(encoder, "kind", ""))
    classes = [c.item() if hasattr(c, "item") else c for c in predictor.classes]
    listed = len(classes) <= MAX_LISTED_CLASSES
    # the bundle's names (a language model records none: its classes are its vocabulary)
    names = recorded_names(getattr(predictor, "output", {}), classes) if listed else None
    manifest = getattr(predictor, "manifest", None)
    output = getattr(predictor, "output", None) or {}
    config: dict[str, Any] = {
        "task": predictor.task or kind,
        "arch": predictor.arch,
        "kind": kind,
        "mode": page_mode(kind, len(classes)),
        "n_classes": len(classes),
        "classes": classes if listed else None,
        "class_names": names,
        # whether the names say more than the classes' values (the page then shows the names)
        "named": names is not None and names != [str(c) for c in classes],
        "neutral_band": neutral_band,
        # what a numeric target's answer is in (its name, units and interval level), from the bundle
        "output": {k: output.get(k) for k in ("target", "units", "interval_level")},
        "model": {k: identity.get(k) for k in ("registered_model", "model_version", "alias")},
    }
    config.update(kind_named(kind).page_fields(encoder, manifest.input if manifest is not None else {}))
    return config


@cache
def template() -> str:
    return files("pipeline.serving").joinpath(TEMPLATE).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` or ``<!--`` can end it early."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(config: dict[str, Any]) -> bytes:
    title = f"{config['task']} ({config['arch']})" if config.get("arch") else str(config["task"])
    page = template().replace(TITLE_MARK, html.escape(title)).replace(CONFIG_MARK, script_json(config))
    return page.encode("utf-8")
