"""The one shape of a prediction, shared by ``predict``, ``serve`` and the registered MLflow pyfunc.

So that ``python -m pipeline serve`` and ``mlflow models serve`` answer a client identically:

* churn: ``{"probability": p, "prediction": 0 | 1}`` (1 when ``p >= 0.5``);
* sentiment: ``{"probability": p, "label": "Positive" | "Negative" | "Neutral",
  "known_token_share": s, "warning": None | "..."}``: Neutral when ``|p - 0.5| < neutral_band``
  (``tasks.<task>.predict.neutral_band`` in params.yaml); ``s`` is the share of the text's tokens that
  are in the model's vocabulary (of those the model reads). With no known token (``s == 0``:
  "zxqv plmokn" or only emoji) the model's probability says nothing about the text, so the label is
  Neutral and ``warning`` says why; ``p`` is still the model's output.

A NaN probability (an invalid row) gives ``None`` for every field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

THRESHOLD = 0.5
POSITIVE, NEGATIVE, NEUTRAL = "Positive", "Negative", "Neutral"
NO_KNOWN_WORD = (
    "no word of this text is in the model's vocabulary: its probability means nothing, "
    "so the label is Neutral"
)
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


def sentiment_outcome(probability: float, known_share: float, neutral_band: float) -> tuple[str, str | None]:
    """The label, and a warning when no token of the text is known (then the label is Neutral)."""
    if known_share == 0:
        return NEUTRAL, NO_KNOWN_WORD
    return sentiment_label(probability, neutral_band), None


def churn_prediction(probability: float) -> int:
    return int(probability >= THRESHOLD)


def format_predictions(
    task: str,
    probabilities: Iterable[float],
    neutral_band: float | None = None,
    known_shares: Iterable[float] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready dict per probability (see the module docstring).

    ``known_shares`` (text): the share of known tokens per row, as :class:`ScoreResult` gives it;
    without it a text's answer has only ``probability`` and ``label``.
    """
    text = task in TEXT_TASKS
    band = check_neutral_band(default_neutral_band(task) if neutral_band is None else neutral_band)
    probabilities = list(probabilities)
    shares = [None] * len(probabilities) if known_shares is None else list(known_shares)
    out: list[dict[str, Any]] = []
    for p, share in zip(probabilities, shares, strict=True):
        value = float(p)
        if not text:
            prediction = None if math.isnan(value) else churn_prediction(value)
            out.append({"probability": None if math.isnan(value) else value, "prediction": prediction})
            continue
        if math.isnan(value):
            item: dict[str, Any] = {"probability": None, "label": None}
            if share is not None:
                item |= {"known_token_share": None, "warning": None}
        elif share is None:
            item = {"probability": value, "label": sentiment_label(value, band)}
        else:
            label, warning = sentiment_outcome(value, float(share), band)
            item = {"probability": value, "label": label, "known_token_share": round(float(share), 4)}
            item["warning"] = warning
        out.append(item)
    return out
