"""What a behavioural check (``tasks.<task>.behaviour``) reads of a model, for the kinds that answer a
class or a number: the kind modules' ``behaviour_input`` and ``behaviour_answers`` hooks call these.

An answer is compared by its class (invariance, minimum functionality: the class's name or value) and
by its score (direction): a class's probability, or a numeric target's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.tasks.answers import recorded_names


@dataclass(frozen=True)
class BehaviourAnswer:
    shown: str  # the answer as a report shows it: a class's name, "Neutral", or the value
    spellings: frozenset[str] = frozenset()  # what ``expect`` may say for it, lower-cased
    scores: dict[str, float] = field(default_factory=dict)  # a class's name or value -> probability
    default_score: float | None = None  # a two-class model's positive class, or a number's value

    def score(self, of_class: Any = None) -> float:
        """The probability of ``of_class`` (default: the positive class), or the value; KeyError
        naming the classes when there is no such class or no default."""
        if of_class is None:
            if self.default_score is None:
                raise KeyError(f"name the class whose probability is compared: one of {sorted(self.scores)}")
            return self.default_score
        key = str(of_class).lower()
        if key not in self.scores:
            known = sorted(self.scores) or ["none: the model answers a number"]
            raise KeyError(f"unknown class {of_class!r}; expected one of {known}")
        return self.scores[key]


def table_input(given: Any, change: Any) -> dict[str, Any]:
    """A table's check input: the row ``given``, with the columns ``change`` alters."""
    if not isinstance(given, dict) or not (change is None or isinstance(change, dict)):
        raise ValueError(
            "a table's check takes rows: input as {column: value, ...} and changed as the columns it alters"
        )
    return {**given, **(change or {})}


def text_input(given: Any, change: Any) -> str:
    """A text's check input: the text ``given``, or the text ``change`` when there is one."""
    if not isinstance(given, str) or not (change is None or isinstance(change, str)):
        raise ValueError("a text task's check takes texts: input and changed each a string")
    return given if change is None else change


def scored(
    predictor: Any, records: list[Any], answers: Callable[..., list[dict[str, Any]]]
) -> list[BehaviourAnswer]:
    """``records`` scored by ``predictor`` (ONNX Runtime), answered by the kind's ``answers``;
    ValueError with the encoder's message for a record it refuses."""
    result = predictor.score_records(records)
    if result.errors:
        raise ValueError("; ".join(f"input {e.row + 1}: {e.message}" for e in result.errors))
    rows = answers(predictor, result.probabilities, result.known_token_share, records, {})
    probabilities = np.asarray(result.probabilities, dtype="float64")
    names = recorded_names(predictor.output, predictor.classes)
    return [_answer(answer, probabilities[i], predictor.classes, names) for i, answer in enumerate(rows)]


def _answer(answer: dict[str, Any], row: Any, classes: list[Any], names: list[str] | None) -> BehaviourAnswer:
    if "value" in answer:  # a numeric target: the value is the score
        value = float(answer["value"])
        return BehaviourAnswer(f"{value:.4g}", frozenset({f"{value:.4g}"}), {}, value)
    per_class = [1.0 - float(row), float(row)] if np.ndim(row) == 0 else [float(p) for p in row]
    scores: dict[str, float] = {}
    for i, (value, probability) in enumerate(zip(classes, per_class, strict=True)):
        scores[str(value).lower()] = probability
        if names:
            scores[names[i].lower()] = probability
    said = [answer.get(key) for key in ("class_name", "label", "prediction")]
    spellings = frozenset(str(s).lower() for s in said if s is not None)
    shown = next((str(s) for s in said if s is not None), "no answer")
    positive = per_class[1] if np.ndim(row) == 0 and not math.isnan(per_class[1]) else None
    return BehaviourAnswer(shown, spellings, scores, positive)
