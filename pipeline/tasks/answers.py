"""Serving-side pieces the kind modules share (their ``# --- serving side ---`` sections).

Light at import time, like the kind modules: NumPy and the answer formats are imported when called.
"""

from __future__ import annotations

from typing import Any


def class_columns(answers: list[dict[str, Any]], shares: Any = None) -> dict[str, Any]:
    """predict's columns for a multi-class model, from the rows' answers: ``label``,
    ``probability``, ``top`` and, for a text (``shares`` given), ``known_token_share`` and
    ``warning``; empty for invalid rows."""
    columns: dict[str, Any] = {
        "label": [a["label"] for a in answers],
        "probability": [a["probability"] for a in answers],
        "top": [
            "; ".join(f"{t['label']} {t['probability']:.3f}" for t in a["top"]) if a["top"] else ""
            for a in answers
        ],
    }
    if shares is not None:
        columns["known_token_share"] = shares.round(4)
        columns["warning"] = [a["warning"] or "" for a in answers]
    return columns


def texts_from_token_ids(encoder: Any, rows: Any) -> list[str]:
    """Texts that a text encoder encodes back to ``rows`` of token ids (the OOV token as "unk")."""
    words = [w if i > 1 else "unk" for i, w in enumerate(encoder.vocabulary)]
    return [" ".join(words[int(t)] for t in row if t != 0) or "unk" for row in rows]


def with_neutral_band(options: dict[str, Any], neutral_band: float) -> dict[str, Any]:
    """A request's ``options`` with the served neutral band unless the request gave its own."""
    out = dict(options)
    out["neutral_band"] = options.get("neutral_band", neutral_band)
    return out
