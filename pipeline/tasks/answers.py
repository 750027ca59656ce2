"""The shapes of an answer, which each kind module's ``answers`` puts together (the contract:
``pipeline.tasks.contract.TaskKind``).

So that ``python -m pipeline serve``, ``predict`` and ``mlflow models serve`` answer a client
identically:

* a binary table (churn): ``{"probability": p, "prediction": 0 | 1}`` (1 when ``p >= threshold``),
  plus ``"label"`` (the class's name) when the classes have names other than 0/1;
* a multi-class model (any kind): ``{"label": name, "probability": p, "top": [{"label", "probability"},
  ...]}`` with the ``top_k`` most likely classes (text adds ``known_token_share`` and ``warning``);
* binary text (sentiment): ``{"probability": p, "label": "Positive" | "Negative" | "Neutral",
  "known_token_share": s, "warning": None | "..."}``: Neutral when ``|p - 0.5| < neutral_band`` (the
  bundle's, from ``tasks.<task>.predict.neutral_band`` at export, or the request's); ``s`` is the
  share of the text's tokens that are in the model's vocabulary (of those the model reads). With no
  known token (``s == 0``: "zxqv plmokn" or only emoji) the model's probability says nothing about
  the text, so the label is Neutral and ``warning`` says why; ``p`` is still the model's output;
* a language model: the next words (:func:`next_word_answers`).

A classifier's answer also carries ``class_name``: the name the bundle records for the answered
class (``tasks.<task>.display.classes`` at export; the class's value for a bundle that records
none), also in each ``top`` item; a Neutral sentiment answer names no class (``None``).

A NaN probability (an invalid row) gives ``None`` for every field. Nothing here reads params.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

THRESHOLD = 0.5
POSITIVE, NEGATIVE, NEUTRAL = "Positive", "Negative", "Neutral"
NO_KNOWN_WORD = (
    "no word of this text is in the model's vocabulary: its probability means nothing, "
    "so the label is Neutral"
)
NO_KNOWN_WORD_CLASSES = (
    "no word of this text is in the model's vocabulary: the classes' probabilities say nothing about it"
)
TOP_K = 5  # classes listed per multi-class answer
DEFAULT_NEUTRAL_BAND = 0.1  # PredictConfig's default, for a bundle that records none


def class_names(classes: Sequence[Any], named: dict[Any, str] | None = None) -> list[str]:
    """One name per class, in the classes' order: ``named`` (a class -> its name, as params.yaml's
    ``display.classes`` writes it; keys compared as text) or the class's value. Raises ValueError for a
    name given to no class (classes learned from the data are only known at export)."""
    given = {str(key): str(name).strip() for key, name in (named or {}).items()}
    values = [str(_plain(c)) for c in classes]
    unknown = sorted(set(given) - set(values))
    if unknown:
        verb = "is not a class" if len(unknown) == 1 else "are not classes"
        raise ValueError(
            f"display.classes: {', '.join(map(repr, unknown))} {verb} of this model "
            f"(its classes: {', '.join(values[:20])}{' ...' if len(values) > 20 else ''})"
        )
    return [given.get(value, value) for value in values]


def recorded_names(output: dict[str, Any], classes: Sequence[Any]) -> list[str]:
    """The class names a bundle's output contract records, or the classes' values for a bundle
    exported before it recorded names (or recording another number of them)."""
    names = output.get("class_names")
    if isinstance(names, list) and len(names) == len(classes) and all(isinstance(n, str) for n in names):
        return names
    return class_names(classes)


def check_neutral_band(band: Any) -> float:
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 <= band < THRESHOLD:
        raise ValueError(f"neutral_band must be a number in [0, 0.5), got {band!r}")
    return float(band)


def sentiment_label(probability: float, neutral_band: float) -> str:
    return str(sentiment_labels(np.array([probability]), neutral_band)[0])


def sentiment_labels(probabilities: Any, neutral_band: float) -> np.ndarray:
    """Positive, Negative or Neutral per probability (an object array), the rule of a row's answer
    and of score's columns alike: Neutral when ``|p - 0.5| < neutral_band``, the distance rounded to 9
    decimals so that the decimal edges hold (0.6 - 0.5 is 0.0999... in binary): p = 0.5 + band is
    not Neutral."""
    scores = np.asarray(probabilities, dtype="float64").reshape(-1)
    distance = np.abs(scores - THRESHOLD)
    neutral = np.round(distance, 9) < neutral_band
    for i in np.flatnonzero(np.abs(distance - neutral_band) < 1e-6).tolist():  # Python's exact round
        neutral[i] = round(float(distance[i]), 9) < neutral_band  # at the edge, where numpy's may differ
    labels = np.where(scores >= THRESHOLD, POSITIVE, NEGATIVE).astype(object)
    labels[neutral] = NEUTRAL
    return labels


def churn_prediction(probability: float) -> int:
    return int(probability >= THRESHOLD)


def classifier_answers(
    probabilities: Any,
    classes: Sequence[Any] | None = None,
    *,
    neutral_band: float | None = None,
    known_shares: Sequence[float | None] | None = None,
    top_k: int = TOP_K,
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready dict per row of a classifier (see the module docstring).

    ``probabilities`` are ``(n,)`` positive-class probabilities of a binary model or ``(n, k)`` class
    probabilities; ``classes`` name the classes (index i is output i). A binary model's answer is a
    table's (``prediction``) without ``neutral_band``, a text's (Positive/Negative/Neutral) with it.
    ``known_shares`` (text): the share of known tokens per row; without it a text's answer has no
    ``known_token_share``. ``names`` (one per class, see :func:`recorded_names`): each answer gains
    ``class_name``.
    """
    scores = np.asarray(probabilities, dtype="float64")
    shares = [None] * len(scores) if known_shares is None else list(known_shares)
    if scores.ndim == 2:
        values = list(classes) if classes is not None else list(range(scores.shape[1]))
        return [
            _class_answer(row, values, share, top_k, names) for row, share in zip(scores, shares, strict=True)
        ]
    if neutral_band is None:
        answers = [_binary_table_answer(float(p), classes) for p in scores]
    else:
        labels = sentiment_labels(scores, check_neutral_band(neutral_band))
        answers = [
            _sentiment_answer(float(p), share, label)
            for p, share, label in zip(scores, shares, labels, strict=True)
        ]
    if names is None:
        return answers
    return [
        _with_class_name(a, _binary_name(a, float(p), names)) for a, p in zip(answers, scores, strict=True)
    ]


def _with_class_name(answer: dict[str, Any], name: str | None) -> dict[str, Any]:
    """``answer`` with ``class_name`` just after its ``label`` (or its ``prediction``)."""
    after = "label" if "label" in answer else "prediction"
    out: dict[str, Any] = {}
    for key, value in answer.items():
        out[key] = value
        if key == after:
            out["class_name"] = name
    return out


def _binary_name(answer: dict[str, Any], probability: float, names: Sequence[str]) -> str | None:
    """The name of a binary answer's class: none for an invalid row or a Neutral sentiment."""
    if math.isnan(probability) or answer.get("label") == NEUTRAL:
        return None
    return names[churn_prediction(probability)]


def _sentiment_answer(value: float, share: float | None, label: str) -> dict[str, Any]:
    """``label``: :func:`sentiment_labels`'; with no known word (a share of 0) Neutral, and a warning."""
    if math.isnan(value):
        item: dict[str, Any] = {"probability": None, "label": None}
        return item | ({"known_token_share": None, "warning": None} if share is not None else {})
    if share is None:
        return {"probability": value, "label": label}
    warning = NO_KNOWN_WORD if float(share) == 0 else None
    label = NEUTRAL if warning else label
    return {
        "probability": value,
        "label": label,
        "known_token_share": round(float(share), 4),
        "warning": warning,
    }


def _binary_table_answer(value: float, classes: Sequence[Any] | None) -> dict[str, Any]:
    """``probability`` of the positive class and ``prediction`` 0/1; ``label`` too when the classes
    have names (``{"No", "Yes"}``) rather than 0/1."""
    if math.isnan(value):
        answer: dict[str, Any] = {"probability": None, "prediction": None}
        return answer | ({"label": None} if _named(classes) else {})
    prediction = churn_prediction(value)
    answer = {"probability": value, "prediction": prediction}
    return answer | ({"label": classes[prediction]} if classes is not None and _named(classes) else {})


def _named(classes: Sequence[Any] | None) -> bool:
    return classes is not None and [str(c) for c in classes] != ["0", "1"]


def _class_answer(
    row: np.ndarray, classes: list[Any], share: float | None, top_k: int, names: Sequence[str] | None
) -> dict[str, Any]:
    """The most likely class, its probability, and the ``top_k`` classes with theirs (all of them
    when there are no more than ``top_k``); with ``names``, each with its ``class_name``."""
    if np.isnan(row).any():
        answer: dict[str, Any] = {"label": None, "probability": None, "top": None}
        answer = answer if names is None else _with_class_name(answer, None)
    else:
        order = np.argsort(-row, kind="stable")[: min(top_k, len(row))]
        top = [{"label": _plain(classes[i]), "probability": float(row[i])} for i in order]
        if names is not None:
            top = [_with_class_name(item, names[i]) for item, i in zip(top, order, strict=True)]
        answer = {"label": top[0]["label"], "probability": top[0]["probability"], "top": top}
        answer = answer if names is None else _with_class_name(answer, top[0]["class_name"])
    if share is not None:
        known = None if answer["label"] is None else round(float(share), 4)
        warning = NO_KNOWN_WORD_CLASSES if known == 0 else None
        answer |= {"known_token_share": known, "warning": warning}
    return answer


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------ a request's params
CLASSIFIER_PARAMS = ("neutral_band",)
LANGUAGE_MODEL_PARAMS = ("top_k", "generate", "temperature", "seed")
DEFAULT_MAX_GENERATE = 200  # LanguageModelPredictConfig's default


def check_params(
    given: dict[str, Any], supported: Sequence[str], max_generate: int = DEFAULT_MAX_GENERATE
) -> dict[str, Any]:
    """A request's ``params`` checked against the ones its kind ``supported``: ``neutral_band``
    for a classifier, ``top_k``, ``generate``, ``temperature`` and ``seed`` for a language model.
    Raises ValueError naming the parameter."""
    unknown = sorted(set(given) - set(supported))
    if unknown:
        raise ValueError(f"unknown param(s) {', '.join(unknown)}; supported: {', '.join(supported)}")
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name == "neutral_band":
            out[name] = check_neutral_band(value)
        elif name == "temperature":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise ValueError(f"temperature must be a number in [0, 100] (0: greedy), got {value!r}")
            out[name] = float(value)
        elif name == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"seed must be a non-negative integer or null, got {value!r}")
            out[name] = value
        else:
            low, high = (1, 1000) if name == "top_k" else (0, max_generate)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
            out[name] = value
    return out


# ------------------------------------------------------------------ next-word (language model)
NO_TOKEN_NEXT = "the text has no word the model reads: the next words are its guess for a text's start"
NO_KNOWN_WORD_NEXT = "no word of this text is in the model's vocabulary: the next words are a guess"


def next_word_answers(
    encoder: Any,
    texts: Sequence[str],
    probabilities: Any,
    predict: Any = None,
    *,
    top_k: int = TOP_K,
    generate: int = 0,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """One answer per text from a language model: the most probable next word, the ``top_k``
    (padding and the OOV token left out), the words of the text the vocabulary lacks (read as the
    OOV token), their complement's share, and with ``generate`` the continuation (``predict``:
    windows to probabilities)."""
    from pipeline.encoders.language_model import continue_text, next_word_ranking

    out: list[dict[str, Any]] = []
    for text, row in zip(texts, np.asarray(probabilities, dtype="float64"), strict=True):
        if np.isnan(row).any():
            out.append({"label": None, "probability": None, "top": None, "unknown_words": None,
                        "known_token_share": None, "warning": None})  # fmt: skip
            continue
        tokens = encoder.tokens(text)
        unknown = encoder.unknown_words(tokens)
        missing = set(unknown)
        share = sum(t not in missing for t in tokens) / len(tokens) if tokens else 0.0
        top = [
            {"label": encoder.vocabulary[i], "probability": float(row[i])}
            for i in next_word_ranking(row, top_k)
        ]
        warning = NO_TOKEN_NEXT if not tokens else NO_KNOWN_WORD_NEXT if share == 0 else None
        answer: dict[str, Any] = {
            "label": top[0]["label"],
            "probability": top[0]["probability"],
            "top": top,
            "unknown_words": unknown,
            "known_token_share": round(share, 4),
            "warning": warning,
        }
        if generate:
            words = continue_text(encoder, predict, text, generate, temperature=temperature, seed=seed)
            answer["generated"] = " ".join(words)
        out.append(answer)
    return out


# ------------------------------------------------------------------ predict's and bench's pieces
def class_columns(answers: list[dict[str, Any]], shares: Any = None) -> dict[str, Any]:
    """predict's columns for a multi-class model, from the rows' answers: ``label``, ``class_name``,
    ``probability``, ``top`` (the classes by name) and, for a text (``shares`` given),
    ``known_token_share`` and ``warning``; empty for invalid rows."""
    columns: dict[str, Any] = {
        "label": [a["label"] for a in answers],
        "class_name": [a.get("class_name") for a in answers],
        "probability": [a["probability"] for a in answers],
        "top": [
            "; ".join(f"{t.get('class_name', t['label'])} {t['probability']:.3f}" for t in a["top"])
            if a["top"]
            else ""
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


# ------------------------------------------------------------------ score's columns, an array each
def binary_table_columns(probabilities: Any, classes: Sequence[Any] | None, names: Sequence[str]) -> dict:
    """A binary table's ``predict_columns`` of its answers, a column at a time (score's chunks):
    ``probability``, ``prediction`` 0/1 (int64; Int64 with a gap where a probability is NaN) and
    ``class_name`` as :func:`_binary_name` gives it (also None for a class named Neutral)."""
    scores = np.asarray(probabilities, dtype="float64")
    nan = np.isnan(scores)
    prediction = (scores >= THRESHOLD).astype(np.int64)
    named = [
        None if _named(classes) and classes is not None and classes[k] == NEUTRAL else names[k]
        for k in (0, 1)
    ]
    # taken from the two names as pandas' text (Arrow) array: 65,536 Python strings for pandas to
    # convert back cost more than the model
    class_name = pd.array(named, dtype="str").take(np.where(nan, -1, prediction), allow_fill=True)
    return {
        "probability": probabilities,
        "prediction": pd.arrays.IntegerArray(prediction, nan) if nan.any() else prediction,
        "class_name": class_name,
    }


def sentiment_columns(probabilities: Any, shares: Any, band: float, names: Sequence[str]) -> dict:
    """A binary text's ``predict_columns`` of its answers, a column at a time: ``probability``,
    ``label`` (:func:`sentiment_labels`', Neutral without a known word), ``class_name``,
    ``known_token_share``, ``warning``."""
    scores = np.asarray(probabilities, dtype="float64")
    known = np.asarray(shares, dtype="float64")
    band = check_neutral_band(band)
    unknown = known == 0  # no known word: Neutral, with a warning
    label = sentiment_labels(scores, band)
    label[unknown] = NEUTRAL
    class_name = np.array(names[:2], dtype=object)[(scores >= THRESHOLD).astype(np.int64)]
    class_name[label == NEUTRAL] = None
    nan = np.isnan(scores)
    label[nan], class_name[nan] = None, None
    return {
        "probability": probabilities,
        "label": label,
        "class_name": class_name,
        "known_token_share": known.round(4),
        "warning": np.where(unknown & ~nan, NO_KNOWN_WORD, "").astype(object),
    }
