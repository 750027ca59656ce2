"""The base of every params.yaml section (a frozen pydantic model that forbids unknown keys) and
the refusal of YAML booleans where a label is meant. ``pipeline.core.config`` re-exports them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------ YAML booleans
# params.yaml is read with YAML 1.2's rules, as DVC reads and rewrites it (pipeline/core/yamlio.py):
# an unquoted No, Yes, on or off is a string, but an unquoted true or false is a boolean, and pydantic
# would then quietly turn it into 0/1 or refuse it far from the cause. A label value or a list of
# categories never means a boolean: refuse one at load time and say how to write it.
YAML_BOOLEAN = "yaml_boolean"


def yaml_boolean_message(value: Any, sources: list[str] | None = None) -> str:
    """What to tell the user about ``value`` (a label or a list of them) holding booleans.

    ``sources`` are the scalars as written in the YAML file, to suggest quoting exactly those;
    without them a boolean is suggested back as "true" or "false".
    """
    items = value if isinstance(value, list) else [value]
    written = sources if sources is not None and len(sources) == len(items) else [None] * len(items)
    quoted = [
        (text or str(item).lower()) if isinstance(item, bool) else item
        for item, text in zip(items, written, strict=True)
    ]
    hint = "(an unquoted true or false)"
    if not isinstance(value, list):
        return f"{json.dumps(value)} is a YAML boolean {hint}; quote it: {json.dumps(quoted[0])}"
    verb = "are" if all(isinstance(item, bool) for item in items) else "holds"
    shown, suggested = json.dumps(items, ensure_ascii=False), json.dumps(quoted, ensure_ascii=False)
    return f"{shown} {verb} YAML booleans {hint}; quote them: {suggested}"


def refuse_yaml_booleans(value: Any) -> Any:
    """A before-validator for a label value or a list of them: a boolean is an error (see above)."""
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, bool) for item in items):
        raise PydanticCustomError(YAML_BOOLEAN, "{message}", {"message": yaml_boolean_message(value)})
    return value


# A class or category value as params.yaml may write it, and a list of them: strings or integers.
LabelValue = Annotated[str | int, BeforeValidator(refuse_yaml_booleans)]
LabelValues = Annotated[list[str | int], BeforeValidator(refuse_yaml_booleans)]
