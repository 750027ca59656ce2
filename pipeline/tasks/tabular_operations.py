"""A table's hooks for operating a promoted model: explanations (SHAP over the user's columns) and
the columns drift monitoring tests. Part of the tabular kind, re-exported by :mod:`pipeline.tasks.tabular`."""

from __future__ import annotations

from typing import Any


# --- explanations (pipeline/tasks/explanations.py) ---
def explanation_setup(train_rows: Any, seed: int) -> dict[str, Any]:
    """SHAP's background: a seeded sample of the encoded training rows, carried in the bundle."""
    from pipeline.tasks.explanations import background_sample

    return {"method": "shap", "seed": seed, "background": background_sample(train_rows(), seed)}


def explain(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[Any]:
    """Each row's columns by their SHAP values (masked as the user's columns, not encoded features)."""
    from pipeline.tasks.explanations import explain_table

    return explain_table(predictor, inputs, probabilities, top)


# ------------------------------------------------------------------------- drift monitoring
def drift_columns(encoder: Any) -> dict[str, str]:
    """A table's columns for ``monitor``: the numbers and the categories the encoder reads."""
    return {**dict.fromkeys(encoder.numeric, "number"), **dict.fromkeys(encoder.categorical, "category")}


def drift_tokens(encoder: Any, text: str) -> list[tuple[str, bool]]:
    """A table has no text: no tokens."""
    return []


# ------------------------------------------------------------------------- score's columns
def answer_columns(
    predictor: Any, probabilities: Any, shares: Any, inputs: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """score's columns: a binary classifier's as arrays (:func:`binary_table_columns`); a numeric
    target's and a multi-class model's from their answers, one per row."""
    import numpy as np

    from pipeline.tasks import answers as shapes
    from pipeline.tasks import tabular

    if "target" in predictor.output or np.ndim(probabilities) == 2:
        rows = tabular.answers(predictor, probabilities, shares, inputs, options)
        return tabular.predict_columns(rows, probabilities, shares)
    names = shapes.recorded_names(predictor.output, predictor.classes)
    return shapes.binary_table_columns(probabilities, predictor.classes, names)
