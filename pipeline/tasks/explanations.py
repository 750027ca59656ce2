"""Explanations of single answers: which columns of a row (SHAP) or which words of a text (left out)
moved the model's output, computed on the ONNX Runtime session the answer came from.

Tables: SHAP values from the ``shap`` library's permutation explainer, masked at the level of the
user's columns, not of the encoded features: a column is "absent" when all its encoded features (a
category's one-hot group) come together from a background row, so a contribution is the column's,
and no one-hot feature is ever half switched. The background is a seeded sample of the training
split, encoded, that export writes into the bundle (``explain.json``). The values add up, with the
base value (the mean output over the background), to the model's output on the row: exactly, since
each permutation's differences telescope.

Texts: each distinct word left out (every occurrence), the text scored again, and the change in the
probability of the class answered: positive, the word pushed towards that class.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

BACKGROUND_ROWS = 50  # background rows a table's bundle carries: each explained row costs ~12k model rows
TOP_CONTRIBUTIONS = 5  # contributions (columns or words) an answer lists, the largest first
# coalitions per row (shap's default is 500): 11 antithetic permutation pairs for churn's 10 columns,
# ~35 ms a row with 50 background rows; on 30 churn test rows the largest error against 10,000 was
# 0.005 (p90) of a probability, where the top column's contribution is ~0.16 (benchmarks/explanations.py)
MAX_EVALS = 250
SEED = 0  # the permutations' seed: the same row is explained the same way every time


def column_features(encoder: Any) -> list[np.ndarray]:
    """The positions of each input column's encoded features, in ``input_columns`` order: one for
    a number, the one-hot group of a category (one column for two values): what is masked together."""
    widths = [1] * len(encoder.numeric) + [
        1 if len(values) == 2 else len(values) for values in encoder.categorical.values()
    ]
    starts = np.cumsum([0, *widths])
    return [np.arange(start, start + width) for start, width in zip(starts[:-1], widths, strict=True)]


def not_supported(kind: str, why: str) -> ValueError:
    return ValueError(f"explanations are not supported for {kind} models: {why}")


def background_sample(x_train: np.ndarray, seed: int, rows: int = BACKGROUND_ROWS) -> list[list[float]]:
    """A seeded sample of the encoded training rows, as JSON-ready lists (float32 values round-trip)."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(x_train), size=min(rows, len(x_train)), replace=False))
    return np.asarray(x_train[chosen], dtype=np.float32).tolist()


def _import_shap() -> Any:
    """``shap``, with Numba's JIT off unless the user set it: compiling shap's maskers costs ~20 s on
    the first explained request of a process, while running them as Python costs ~10 ms a row. Numba
    reads the setting again when it compiles, so it is set only if Numba is not loaded yet."""
    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
    import shap

    return shap


def warm_up(predictor: Any) -> list[str]:
    """Import what explaining this bundle's rows will need, ahead of its first explained request
    (shap, for a bundle with a table's background sample); the modules imported."""
    if not (predictor.explanation or {}).get("background"):
        return []
    _import_shap()
    return ["shap"]


def column_contributions(
    output: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    background: np.ndarray,
    groups: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SHAP values of ``output`` (encoded rows -> one number per row) per column, for each of the
    encoded ``rows``: ``(base values (n,), contributions (n, columns), outputs (n,))``.

    shap sees each column as a row number: 0..n-1 the explained rows, n.. the background's. The model
    function gathers each column's features from the row its number names, so masking a column
    swaps its whole feature group at once, and no raw value is encoded again.
    """
    shap = _import_shap()
    n, columns = len(rows), len(groups)
    stacked = np.vstack([rows, background]).astype(np.float32)

    def model(ids: np.ndarray) -> np.ndarray:
        ids = ids.astype(np.intp)
        x = np.empty((len(ids), stacked.shape[1]), dtype=np.float32)
        for j, features in enumerate(groups):
            x[:, features] = stacked[ids[:, j][:, None], features]
        return output(x)

    background_ids = np.repeat(np.arange(n, n + len(background))[:, None], columns, axis=1)
    masker = shap.maskers.Independent(background_ids, max_samples=len(background))
    explainer = shap.explainers.Permutation(model, masker, seed=SEED)
    explained = np.repeat(np.arange(n)[:, None], columns, axis=1)
    result = explainer(explained, max_evals=max(MAX_EVALS, 2 * columns + 1), silent=True)
    outputs = output(rows.astype(np.float32))
    return np.asarray(result.base_values).reshape(n), np.asarray(result.values).reshape(n, columns), outputs


def top_contributions(
    names: list[str], values: list[Any], contributions: np.ndarray, top: int
) -> list[dict[str, Any]]:
    """The ``top`` largest contributions by size: ``{"column", "value", "contribution"}``."""
    order = np.argsort(-np.abs(contributions), kind="stable")[:top]
    return [
        {"column": names[j], "value": values[j], "contribution": round(float(contributions[j]), 6)}
        for j in order
    ]


def explained_output(probabilities: np.ndarray, row: int) -> tuple[Callable[[np.ndarray], Any], str]:
    """What a row's explanation explains, from the model's output on it: a binary model's positive-class
    probability (the answer's ``probability``), a multi-class model's answered class's probability,
    or the one output of a numeric model; as a function of the model's raw output, and its name."""
    if np.ndim(probabilities) == 2:
        answered = int(np.argmax(probabilities[row]))
        return (lambda raw: raw[:, answered]), f"probability of class {answered}"
    return (lambda raw: raw.reshape(-1)), "output"


def leave_one_out(
    score: Callable[[list[list[int]]], np.ndarray],
    words: list[str],
    ids: list[int],
    answered: Callable[[np.ndarray], np.ndarray],
    top: int,
) -> tuple[float, list[dict[str, Any]]]:
    """The text's output and its ``top`` words by the change that leaving each one out (all its
    occurrences) makes: ``{"word", "change"}``, change = output with the word - output without it."""
    distinct = list(dict.fromkeys(words))
    variants = [ids] + [[i for w, i in zip(words, ids, strict=True) if w != word] for word in distinct]
    outputs = answered(score(variants))
    changes = outputs[0] - outputs[1:]
    order = np.argsort(-np.abs(changes), kind="stable")[:top]
    return float(outputs[0]), [{"word": distinct[j], "change": round(float(changes[j]), 6)} for j in order]


def _rows(inputs: Any) -> list[Any]:
    """The scored inputs as records: a DataFrame's rows as dicts, JSON records as they came."""
    import pandas as pd

    return inputs.to_dict("records") if isinstance(inputs, pd.DataFrame) else list(inputs)


def _plain(value: Any) -> Any:
    """A cell as JSON writes it (numpy scalars as Python ones, NaN as null)."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and np.isnan(value) else value


def _invalid(probabilities: Any, row: int) -> bool:
    return bool(np.isnan(np.asarray(probabilities[row], dtype="float64")).any())


def explain_table(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[dict[str, Any] | None]:
    """Each scored row's explanation (None for an invalid row): what it explains, the base value, the
    output, the ``top`` columns' contributions and the sum of the others'."""
    background = (predictor.explanation or {}).get("background")
    if not background:
        raise ValueError(
            f"{predictor.source.uri}: this bundle carries no background sample to explain with "
            "(explain.json); re-run its export stage"
        )
    encoder = predictor.encoder
    background_rows = np.asarray(background, dtype=np.float32)
    groups, names = column_features(encoder), encoder.input_columns
    numeric_target = "target" in predictor.output
    explanations: list[dict[str, Any] | None] = []
    for i, record in enumerate(_rows(inputs)):
        if _invalid(probabilities, i):
            explanations.append(None)
            continue
        answered, explains = explained_output(probabilities, i)

        def model(x: np.ndarray, answered: Callable[[Any], np.ndarray] = answered) -> np.ndarray:
            return answered(predictor.predict_encoded(x))

        base, values, outputs = column_contributions(
            model,
            encoder.transform_records([record]),
            background_rows,
            groups,
        )
        if numeric_target:
            explains = "the network's output, before the target's inverse transform"
        elif explains == "output":
            explains = "probability"
        listed = top_contributions(names, [_plain(record[c]) for c in names], values[0], top)
        explanations.append(
            {
                "method": "shap permutation, columns masked from a training sample",
                "explains": explains,
                "base_value": round(float(base[0]), 6),
                "output": round(float(outputs[0]), 6),
                "top": listed,
                "others": round(float(values[0].sum() - sum(c["contribution"] for c in listed)), 6),
            }
        )
    return explanations


def explain_text(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[dict[str, Any] | None]:
    """Each scored text's ``top`` words by leaving each out (None for an invalid text)."""
    from pipeline.encoders.base import tokenize

    encoder = predictor.encoder
    explanations: list[dict[str, Any] | None] = []
    for i, item in enumerate(_rows(inputs)):
        if _invalid(probabilities, i):
            explanations.append(None)
            continue
        text = str(item.get(encoder.text_column) if isinstance(item, dict) else item)
        output, explains = _answered_class(predictor, np.asarray(probabilities[i], dtype="float64"))
        value, words = leave_one_out(
            lambda variants: np.asarray(predictor.predict_encoded(encoder.pad(variants)), dtype="float64"),
            tokenize(text, encoder.lowercase),
            encoder.encode_one(text),
            output,
            top,
        )
        explanations.append(
            {
                "method": "leave one word out",
                "explains": explains,
                "output": round(value, 6),
                "top": words,
            }
        )
    return explanations


def _answered_class(predictor: Any, row: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """What leaving a word out changes: the probability of the class answered (a binary model's
    positive class at p >= 0.5, else the negative one), or a numeric model's output."""
    if "target" in predictor.output:
        return (lambda raw: raw.reshape(-1)), "the network's output, before the target's inverse transform"
    if row.ndim == 0:
        positive = float(row) >= 0.5
        name = f"probability of {predictor.classes[int(positive)]}"
        return (lambda raw: raw if positive else 1.0 - raw), name
    index = int(np.argmax(row))
    return (lambda raw: raw[:, index]), f"probability of {predictor.classes[index]}"


def global_importance(predictor: Any, rows: np.ndarray) -> dict[str, float] | None:
    """Mean |SHAP value| per column over encoded ``rows`` (a seeded sample of the test split), the
    largest first; None for a bundle without a background (a kind explained otherwise, or none)."""
    background = (predictor.explanation or {}).get("background")
    if not background or not len(rows):
        return None
    rows = np.asarray(rows, dtype=np.float32)
    raw = predictor.predict_encoded(rows)
    answered = np.argmax(raw, axis=1) if raw.ndim == 2 else np.zeros(len(rows), dtype=int)
    sizes = np.zeros((len(rows), len(predictor.encoder.input_columns)))
    for label in np.unique(answered):  # one explainer per answered class: one output each
        chosen = answered == label
        output, _ = explained_output(raw[chosen], 0)

        def model(x: np.ndarray, output: Callable[[Any], np.ndarray] = output) -> np.ndarray:
            return output(predictor.predict_encoded(x))

        _, values, _ = column_contributions(
            model,
            rows[chosen],
            np.asarray(background, dtype=np.float32),
            column_features(predictor.encoder),
        )
        sizes[chosen] = np.abs(values)
    means = sizes.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    return {predictor.encoder.input_columns[j]: round(float(means[j]), 6) for j in order}
