"""A text's hooks for operating a promoted model: explanations (leaving each word out) and the
tokens drift monitoring counts. Part of the text kind, re-exported by :mod:`pipeline.tasks.text`."""

from __future__ import annotations

from typing import Any


# --- explanations (pipeline/tasks/explanations.py) ---
def explanation_setup(train_rows: Any, seed: int) -> dict[str, Any]:
    """Leaving words out needs no background: the text is its own reference."""
    return {"method": "leave one word out"}


def explain(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[Any]:
    """Each text's words by how much leaving each out changes the answered class's probability."""
    from pipeline.tasks.explanations import explain_text

    return explain_text(predictor, inputs, probabilities, top)


# ------------------------------------------------------------------------- drift monitoring
def drift_columns(encoder: Any) -> dict[str, str]:
    """A text task's one column for ``monitor``: the text."""
    return {str(encoder.text_column): "text"}


def drift_tokens(encoder: Any, text: str) -> list[tuple[str, bool]]:
    """The text's tokens as the encoder splits them, each with whether it is in the vocabulary
    (the others are read as the out-of-vocabulary token)."""
    from pipeline.encoders.base import tokenize

    tokens = tokenize(text, encoder.lowercase)
    ids = encoder.encode_one(text)  # one id per token; 1 is the out-of-vocabulary token
    return [(token, token_id > 1) for token, token_id in zip(tokens, ids, strict=True)]


# ------------------------------------------------------------------------- score's columns
def answer_columns(
    predictor: Any, probabilities: Any, shares: Any, inputs: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """score's columns: a binary classifier's as arrays (:func:`sentiment_columns`); a numeric
    target's and a multi-class model's from their answers, one per row."""
    import numpy as np

    from pipeline.tasks import answers as shapes
    from pipeline.tasks import text

    output = predictor.output
    if "target" in output or np.ndim(probabilities) == 2:
        rows = text.answers(predictor, probabilities, shares, inputs, options)
        return text.predict_columns(rows, probabilities, shares)
    band = options.get("neutral_band", output.get("neutral_band", shapes.DEFAULT_NEUTRAL_BAND))
    names = shapes.recorded_names(output, predictor.classes)
    return shapes.sentiment_columns(probabilities, shares, band, names)
