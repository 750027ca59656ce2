"""The drift tests of ``monitor``: a batch against the reference split, column by column, and the
model's predictions on both (issue 24).

scipy's two-sample tests, chosen over Evidently (docs/monitoring.md): a number's values by
Kolmogorov-Smirnov (with the Wasserstein distance in reference standard deviations as the size of
the shift), a category's shares by a chi-square test of the 2 x K table of counts (a category the
reference never had counts as its own column, and is listed), a text's length and unknown-word
share by Kolmogorov-Smirnov and the shares of the reference's most frequent tokens by the
chi-square statistic with a p-value from whole-text permutations (a text's tokens are not
independent draws; a row's one category is). Each test drifts when its p-value is below
``monitor.p_value``. Pure functions: the
command (:mod:`pipeline.commands.monitor`) reads the files, scores the rows and writes the report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MISSING, OTHER = "(missing)", "(other)"
HISTOGRAM_BINS = 20


@dataclass
class DriftTest:
    column: str  # the input column, or "prediction"
    measure: str  # what is compared: values, category shares, length in tokens, ...
    test: str  # ks or chi2
    statistic: float
    p_value: float
    drifted: bool
    group: str = "feature"  # feature or prediction
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


# ------------------------------------------------------------------------------- numbers
def histogram(reference: np.ndarray, batch: np.ndarray) -> dict[str, list[float]]:
    """Both samples' shares in the same bins (1st to 99th percentile of both): the report's figure."""
    both = np.concatenate([reference, batch])
    low, high = np.percentile(both, [1, 99]) if len(both) else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)

    def shares(values: np.ndarray) -> list[float]:
        counts, _ = np.histogram(np.clip(values, low, high), edges)
        return [round(float(c) / max(1, len(values)), 5) for c in counts]

    return {"edges": [float(e) for e in edges], "reference": shares(reference), "batch": shares(batch)}


def number_test(column: str, reference: pd.Series, batch: pd.Series, p_value: float) -> DriftTest:
    """Two-sample Kolmogorov-Smirnov on the values (blank and unparsable cells left out, counted)."""
    from scipy import stats

    ref = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(float)
    new = pd.to_numeric(batch, errors="coerce").dropna().to_numpy(float)
    details: dict[str, Any] = {"blank_or_unparsable": int(len(batch) - len(new))}
    if len(ref) == 0 or len(new) == 0:
        return DriftTest(column, "values", "ks", 0.0, 1.0, False, details=details | {"note": "no values"})
    result = stats.ks_2samp(ref, new)
    scale = float(np.std(ref)) or 1.0
    details |= {
        "reference_mean": float(ref.mean()),
        "batch_mean": float(new.mean()),
        "wasserstein_in_std": _finite(stats.wasserstein_distance(ref, new) / scale),
        "histogram": histogram(ref, new),
    }
    p = _finite(result.pvalue)
    return DriftTest(column, "values", "ks", _finite(result.statistic), p, p < p_value, details=details)


# ---------------------------------------------------------------------------- categories
def category_key(value: Any) -> str:
    """A category as one string, read alike from CSV and Parquet (``1``, ``1.0`` and ``"1"``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or MISSING


def shares_test(
    column: str, measure: str, reference: Counter[str], batch: Counter[str], p_value: float
) -> DriftTest:
    """Chi-square on the 2 x K table of counts: do both samples share the same category shares?"""
    from scipy import stats

    keys = sorted(k for k in set(reference) | set(batch) if reference[k] + batch[k] > 0)
    n_ref, n_new = sum(reference.values()), sum(batch.values())
    table = np.array([[reference[k] for k in keys], [batch[k] for k in keys]], dtype=float)
    share = {k: {"reference": reference[k] / max(1, n_ref), "batch": batch[k] / max(1, n_new)} for k in keys}
    details: dict[str, Any] = {"shares": share}
    if len(keys) < 2 or n_ref == 0 or n_new == 0:
        return DriftTest(column, measure, "chi2", 0.0, 1.0, False, details=details)
    result = stats.chi2_contingency(table, correction=False)
    p = _finite(result.pvalue)
    return DriftTest(column, measure, "chi2", _finite(result.statistic), p, p < p_value, details=details)


def category_test(column: str, reference: pd.Series, batch: pd.Series, p_value: float) -> DriftTest:
    ref = Counter(category_key(v) for v in reference)
    new = Counter(category_key(v) for v in batch)
    result = shares_test(column, "category shares", ref, new, p_value)
    result.details["new_categories"] = {k: n for k, n in new.items() if k not in ref}
    return result


# ---------------------------------------------------------------------------------- texts
Tokenizer = Callable[[str], list[tuple[str, bool]]]
PERMUTATION_CHUNK = 256  # permutations scored per matrix product


@dataclass
class TextSettings:
    p_value: float  # a test below it drifts
    top_tokens: int  # the reference's most frequent tokens compared
    permutations: int  # of the top-tokens test
    seed: int  # of the permutations


def _text_profile(
    texts: pd.Series, tokens_of: Tokenizer
) -> tuple[np.ndarray, np.ndarray, list[Counter[str]]]:
    """Each text's length in tokens, share of unknown tokens and token counts."""
    lengths, unknown, counts = [], [], []
    for text in texts:
        tokens = tokens_of(text if isinstance(text, str) else "")
        lengths.append(len(tokens))
        unknown.append(sum(not known for _, known in tokens) / len(tokens) if tokens else 0.0)
        counts.append(Counter(token for token, _ in tokens))
    return np.array(lengths, float), np.array(unknown, float), counts


def token_matrix(counts: list[Counter[str]], kept: list[str]) -> np.ndarray:
    """Texts x (``kept`` tokens, then the rest pooled): each text's counts."""
    column = {token: j for j, token in enumerate(kept)}
    matrix = np.zeros((len(counts), len(kept) + 1))
    for i, text in enumerate(counts):
        for token, n in text.items():
            matrix[i, column.get(token, len(kept))] += n
    return matrix


def chi2_statistics(reference_sums: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """The chi-square statistic of each 2 x K table (a row of ``reference_sums``, and ``totals``
    less it), vectorised over the rows; columns that ``totals`` leaves empty are dropped."""
    ref = reference_sums[..., totals > 0]
    col = totals[totals > 0]
    new = col - ref
    n_ref, n_new = ref.sum(-1, keepdims=True), new.sum(-1, keepdims=True)
    grand = col.sum()
    expected_ref, expected_new = n_ref * col / grand, n_new * col / grand
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = (ref - expected_ref) ** 2 / expected_ref + (new - expected_new) ** 2 / expected_new
    return np.nan_to_num(cells).sum(-1)


def permutation_test(
    reference: np.ndarray, batch: np.ndarray, permutations: int, seed: int
) -> tuple[float, float]:
    """The top-tokens chi-square statistic and its p-value under whole-text permutations: which
    texts are the reference and which the batch is shuffled (seeded), so the tokens of one text
    move together. p = (1 + permuted statistics >= observed) / (1 + permutations)."""
    both = np.vstack([reference, batch]).astype(np.float32)
    totals = both.sum(0).astype(float)
    observed = float(chi2_statistics(reference.sum(0), totals))
    rng = np.random.default_rng(seed)
    membership = np.zeros(len(both), np.float32)
    membership[: len(reference)] = 1
    above = 0
    for start in range(0, permutations, PERMUTATION_CHUNK):
        rows = min(PERMUTATION_CHUNK, permutations - start)
        shuffled = rng.permuted(np.tile(membership, (rows, 1)), axis=1)
        null = chi2_statistics((shuffled @ both).astype(float), totals)
        above += int(np.sum(null >= observed * (1 - 1e-9)))
    return observed, (1 + above) / (1 + permutations)


def top_tokens_test(
    column: str,
    reference: list[Counter[str]],
    batch: list[Counter[str]],
    settings: TextSettings,
) -> DriftTest:
    """The shares of the reference's ``top_tokens`` most frequent tokens, the rest pooled: the
    chi-square statistic, its p-value by whole-text permutations (a text's tokens are not
    independent draws: a review about one film repeats its words)."""
    pooled = Counter[str]()
    for text in reference:
        pooled.update(text)
    kept = [token for token, _ in pooled.most_common(settings.top_tokens)]
    ref, new = token_matrix(reference, kept), token_matrix(batch, kept)
    names = [*kept, OTHER]
    n_ref, n_new = max(1.0, ref.sum()), max(1.0, new.sum())
    shares = {
        k: {"reference": ref[:, j].sum() / n_ref, "batch": new[:, j].sum() / n_new}
        for j, k in enumerate(names)
    }
    moved = sorted(shares.items(), key=lambda kv: -abs(kv[1]["batch"] - kv[1]["reference"]))
    details: dict[str, Any] = {"permutations": settings.permutations, "most_shifted": dict(moved[:10])}
    if not kept or len(ref) == 0 or len(new) == 0:
        return DriftTest(column, "top tokens", "chi2 permutation", 0.0, 1.0, False, details=details)
    statistic, p = permutation_test(ref, new, settings.permutations, settings.seed)
    drifted = p < settings.p_value
    return DriftTest(column, "top tokens", "chi2 permutation", statistic, p, drifted, details=details)


def text_tests(
    column: str, reference: pd.Series, batch: pd.Series, tokens_of: Tokenizer, settings: TextSettings
) -> list[DriftTest]:
    """Length, unknown-word share (both Kolmogorov-Smirnov) and the shares of the reference's
    top tokens (:func:`top_tokens_test`)."""
    ref_len, ref_unknown, ref_counts = _text_profile(reference, tokens_of)
    new_len, new_unknown, new_counts = _text_profile(batch, tokens_of)
    length = number_test(column, pd.Series(ref_len), pd.Series(new_len), settings.p_value)
    length.measure = "length in tokens"
    unknown = number_test(column, pd.Series(ref_unknown), pd.Series(new_unknown), settings.p_value)
    unknown.measure = "unknown-word share"
    return [length, unknown, top_tokens_test(column, ref_counts, new_counts, settings)]


# ---------------------------------------------------------------------------- predictions
def prediction_tests(reference: np.ndarray, batch: np.ndarray, p_value: float) -> list[DriftTest]:
    """The model's answers on both samples: a score per row (a binary model's probability, a
    numeric target's value) by Kolmogorov-Smirnov; a multi-class model's predicted classes by
    chi-square, and its top probability by Kolmogorov-Smirnov."""
    if reference.ndim == 1:
        ref, new = reference[~np.isnan(reference)], batch[~np.isnan(batch)]
        result = number_test("prediction", pd.Series(ref), pd.Series(new), p_value)
        result.measure, result.group = "score", "prediction"
        return [result]
    ref = reference[~np.isnan(reference).any(axis=1)]
    new = batch[~np.isnan(batch).any(axis=1)]
    classes = shares_test(
        "prediction",
        "predicted class",
        Counter(str(c) for c in ref.argmax(axis=1)),
        Counter(str(c) for c in new.argmax(axis=1)),
        p_value,
    )
    top = number_test("prediction", pd.Series(ref.max(axis=1)), pd.Series(new.max(axis=1)), p_value)
    top.measure = "top probability"
    for test in (classes, top):
        test.group = "prediction"
    return [classes, top]


# -------------------------------------------------------------------------------- verdict
@dataclass
class Verdict:
    drifted_share: float  # of the feature tests
    drifted_columns: list[str]
    predictions_drifted: bool
    drift: bool
    reasons: list[str]


def verdict(tests: list[DriftTest], max_drifted_share: float, predictions: bool) -> Verdict:
    """Drift when the share of drifted feature tests is above ``max_drifted_share``, or (with
    ``predictions``) when a test of the predictions drifted."""
    features = [t for t in tests if t.group == "feature"]
    share = sum(t.drifted for t in features) / len(features) if features else 0.0
    columns = list(dict.fromkeys(t.column for t in features if t.drifted))
    predicted = any(t.drifted for t in tests if t.group == "prediction")
    reasons = []
    if share > max_drifted_share:
        reasons.append(
            f"{share:.0%} of the feature tests drifted (monitor.max_drifted_share: "
            f"{max_drifted_share:g}): {', '.join(columns)}"
        )
    if predictions and predicted:
        reasons.append("the predictions' distribution shifted (monitor.predictions: true)")
    return Verdict(share, columns, predicted, bool(reasons), reasons)
