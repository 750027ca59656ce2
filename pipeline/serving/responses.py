"""The one shape of a prediction, shared by ``predict``, ``serve`` and the registered MLflow pyfunc.

So that ``python -m pipeline serve`` and ``mlflow models serve`` answer a client identically:

* churn: ``{"probability": p, "prediction": 0 | 1}`` (1 when ``p >= 0.5``);
* sentiment: ``{"probability": p, "label": "Positive" | "Negative" | "Neutral"}``, Neutral when
  ``|p - 0.5| < neutral_band`` (``tasks.<task>.predict.neutral_band`` in params.yaml).

A NaN probability (an invalid row) gives ``None`` for every field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

THRESHOLD = 0.5
POSITIVE, NEGATIVE, NEUTRAL = "Positive", "Negative", "Neutral"
DEFAULT_NEUTRAL_BAND = 0.1  # PredictConfig's default, used when no params.yaml can be read
TEXT_TASKS = {"sentiment", "text"}  # a task name or an encoder kind


def default_neutral_band(task: str) -> float:
    """``tasks.<task>.predict.neutral_band`` from params.yaml, or the default outside a checkout."""
    try:
        from pipeline.core.config import params

        return float(params().task(task).predict.neutral_band)
    except Exception:  # no params.yaml here (e.g. inside ``mlflow models serve``): the default
        return DEFAULT_NEUTRAL_BAND


def check_neutral_band(band: Any) -> float:
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 <= band < THRESHOLD:
        raise ValueError(f"neutral_band must be a number in [0, 0.5), got {band!r}")
    return float(band)


def sentiment_label(probability: float, neutral_band: float) -> str:
    # rounded so that the decimal edges hold (0.6 - 0.5 is 0.0999... in binary): p = 0.5 + band is not Neutral
    if round(abs(probability - THRESHOLD), 9) < neutral_band:
        return NEUTRAL
    return POSITIVE if probability >= THRESHOLD else NEGATIVE


def churn_prediction(probability: float) -> int:
    return int(probability >= THRESHOLD)


def format_predictions(
    task: str, probabilities: Iterable[float], neutral_band: float | None = None
) -> list[dict[str, Any]]:
    """One JSON-ready dict per probability (see the module docstring)."""
    text = task in TEXT_TASKS
    band = check_neutral_band(default_neutral_band(task) if neutral_band is None else neutral_band)
    out: list[dict[str, Any]] = []
    for p in probabilities:
        value = float(p)
        if math.isnan(value):
            out.append({"probability": None, "label" if text else "prediction": None})
        elif text:
            out.append({"probability": value, "label": sentiment_label(value, band)})
        else:
            out.append({"probability": value, "prediction": churn_prediction(value)})
    return out
