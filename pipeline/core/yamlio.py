"""params.yaml as DVC reads and writes it: YAML 1.2 through ruamel.yaml, DVC's own YAML library.

Two things follow, and both bit users when our loader spoke PyYAML's YAML 1.1:

- ``dvc exp run -S`` rewrites params.yaml as YAML 1.2, which leaves ``No`` and ``Yes`` unquoted
  (in YAML 1.2 they are strings; in 1.1 they are booleans). Reading params with the same rules as
  DVC means the file DVC wrote means what it meant before.
- DVC records each params value in ``dvc.lock`` through ruamel's round-trip representer, which
  writes some floats back one digit off (``1.329291894316217e-05`` becomes ``...216e-05``). Such
  a value never equals its lock entry, so every stage that reads it reruns on every ``dvc repro``.
  :func:`round_trip_drift` finds them, so that loading params can refuse them by key.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

LONG_NUMBER = re.compile(r"\d[\d.]{14,}")


class YamlSyntaxError(ValueError):
    """The text is not YAML; the message says where (ruamel's line and column)."""


def load_yaml(text: str) -> Any:
    """``text`` read with YAML 1.2's rules, as DVC reads params files (ruamel's safe loader)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise YamlSyntaxError(str(exc)) from exc


def round_trip_drift(text: str) -> list[tuple[str, Any, Any]]:
    """Every value of ``text`` that DVC's round trip changes: ``(key path, value, written back)``.

    The trip is the one ``dvc.lock`` takes: the round-trip loader, its dumper, then a plain load.
    """
    if not LONG_NUMBER.search(text):  # the drift needs 16 or more digits; the full trip costs ~0.2 s
        return []
    from ruamel.yaml import YAML

    buffer = io.StringIO()
    YAML().dump(YAML(typ="rt").load(text), buffer)
    return list(_differences(load_yaml(text), load_yaml(buffer.getvalue()), []))


def _differences(before: Any, after: Any, where: list[str]) -> Any:
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            yield from _differences(value, after.get(key), [*where, str(key)])
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (value, back) in enumerate(zip(before, after, strict=True)):
            yield from _differences(value, back, [*where, str(index)])
    elif before != after and not _both_nan(before, after):
        yield ".".join(where), before, after


def _both_nan(before: Any, after: Any) -> bool:
    return isinstance(before, float) and isinstance(after, float) and math.isnan(before) and math.isnan(after)


def lock_safe(value: float) -> float:
    """``value`` itself when ``dvc.lock`` records it unchanged, else the nearest float with fewer
    digits that it does (a tuned value from Optuna carries 17)."""
    for digits in (17, 15, 12, 8, 6, 4):
        candidate = float(f"{value:.{digits}g}")
        if not round_trip_drift(f"v: {candidate!r}\n"):
            return candidate
    return meaningful(value)


def meaningful(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits: what a tuned setting means, and a float that
    DVC's round trip keeps (see :func:`round_trip_drift`)."""
    return float(f"{value:.{digits}g}")
