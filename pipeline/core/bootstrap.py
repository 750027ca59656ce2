"""Seeded bootstrap intervals for test metrics, and paired differences between two models.

A resample draws n of the n test rows with replacement. Instead of copying rows, each resample is
a vector of how often every row was drawn (its weights), and every metric is computed from weighted
counts for a block of resamples at once: NumPy over a (resamples, rows) array, no Python loop over
resamples. A pair of models scored with the same weights gives a paired difference: the rows' shared
luck (an easy or a hard draw) cancels, which a comparison of two separate intervals cannot do.

The metrics are the ones of ``pipeline.core.metrics`` with the same definitions (ties grouped as
scikit-learn groups them); with every weight 1 they give exactly its figures (tests/test_bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.core.metrics import LANGUAGE_MODEL_METRIC_NAMES, higher_is_better
from pipeline.core.value_metrics import VALUE_METRIC_NAMES, value_samples

LANGUAGE_MODEL_ONLY = frozenset(LANGUAGE_MODEL_METRIC_NAMES) - {"accuracy"}
VALUE_ONLY = frozenset(VALUE_METRIC_NAMES)
NUMBER = "number"

# Resamples are drawn in blocks of about this many (resample, row) cells, so memory stays bounded
# (~16 MB a block) also for a 25,000-row test split.
BLOCK_CELLS = 2_000_000


def resample_weights(n_rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of ``(b, n_rows)`` draw counts, ``resamples`` rows in all; the same for the same seed."""
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_CELLS // max(n_rows, 1))
    done = 0
    while done < resamples:
        b = min(per_block, resamples - done)
        drawn = rng.integers(0, n_rows, size=(b, n_rows)) + (np.arange(b) * n_rows)[:, None]
        yield np.bincount(drawn.ravel(), minlength=b * n_rows).reshape(b, n_rows).astype("float64")
        done += b


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """``num / den``, ``empty`` where ``den`` is 0 (scikit-learn's ``zero_division``)."""
    out = np.full(np.shape(num), empty, dtype="float64")
    np.divide(num, den, out=out, where=den > 0)
    return out


def _score_groups(score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """The sort order of ``score`` and where each run of equal scores starts in it."""
    order = np.argsort(-score if descending else score, kind="mergesort")
    s = score[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def weighted_roc_auc(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC per row of ``weights``: the chance that a positive outranks a negative (ties: half);
    NaN where a resample holds one class only."""
    order, starts = _score_groups(score, descending=False)
    w, is_pos = weights[:, order], positive[order]
    pos = np.add.reduceat(w * is_pos, starts, axis=1)
    neg = np.add.reduceat(w * ~is_pos, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    return _ratio((pos * (below + 0.5 * neg)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1), np.nan)


def weighted_average_precision(positive: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision (PR AUC as scikit-learn computes it) per row of ``weights``."""
    order, starts = _score_groups(score, descending=True)
    w, is_pos = weights[:, order], positive[order]
    pos = np.add.reduceat(w * is_pos, starts, axis=1)
    neg = np.add.reduceat(w * ~is_pos, starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    n_pos = pos.sum(axis=1)
    ap = (pos * _ratio(tp, tp + fp)).sum(axis=1)
    n_neg = neg.sum(axis=1)
    return np.where((n_pos > 0) & (n_neg > 0), _ratio(ap, n_pos), np.nan)


def _binary_samples(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, only: str | None, threshold: float = 0.5
) -> dict:
    positive, predicted = y == 1, p >= threshold
    if only == "roc_auc":  # the gate of a paired comparison: skip the rest
        return {"roc_auc": weighted_roc_auc(positive, p, w)}
    tp = w @ (positive & predicted)
    fp = w @ (~positive & predicted)
    fn = w @ (positive & ~predicted)
    tn = w @ (~positive & ~predicted)
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": weighted_roc_auc(positive, p, w),
        "pr_auc": weighted_average_precision(positive, p, w),
    }


def _multiclass_samples(
    y: np.ndarray, proba: np.ndarray, w: np.ndarray, only: str | None, k: int = 5
) -> dict:
    n_classes = proba.shape[1]
    eye = np.eye(n_classes, dtype=bool)
    true, predicted = eye[y], eye[np.argmax(proba, axis=1)]
    tp, n_true, n_pred = w @ (true & predicted), w @ true, w @ predicted
    f1 = _ratio(2 * tp, n_true + n_pred)
    seen = (n_true + n_pred) > 0  # scikit-learn averages over the classes in y_true or y_pred
    top = min(k, n_classes)
    top_hit = (np.argsort(-proba, axis=1, kind="stable")[:, :top] == y[:, None]).any(axis=1)
    n = n_true.sum(axis=1)
    out = {
        "accuracy": tp.sum(axis=1) / n,
        "f1_macro": _ratio((f1 * seen).sum(axis=1), seen.sum(axis=1)),
        "f1_weighted": _ratio((f1 * n_true).sum(axis=1), n),
        "top_k_accuracy": (w @ top_hit) / n,
    }
    if only in (None, "roc_auc_ovr_macro"):  # one AUC per class: the costly one, skipped when not asked
        aucs = np.stack([weighted_roc_auc(y == c, proba[:, c], w) for c in range(n_classes)], axis=1)
        enough = np.isfinite(aucs).sum(axis=1) >= 2
        with np.errstate(invalid="ignore"):
            out["roc_auc_ovr_macro"] = np.where(
                enough, np.nanmean(np.where(enough[:, None], aucs, 0.0), axis=1), np.nan
            )
    return out


def _language_model_samples(y: np.ndarray, proba: np.ndarray, w: np.ndarray) -> dict:
    """The metrics of :func:`pipeline.core.metrics.language_model_metrics`, per resample."""
    true_p = proba[np.arange(len(y)), y]
    log_p = np.log(np.maximum(true_p, 1e-12))
    rank = (proba > true_p[:, None]).sum(axis=1)
    n = w.sum(axis=1)
    cross_entropy = -(w @ log_p) / n
    top1 = (w @ (rank < 1)) / n
    return {
        "perplexity": np.exp(cross_entropy),
        "cross_entropy": cross_entropy,
        "top1_accuracy": top1,
        "top5_accuracy": (w @ (rank < 5)) / n,
        "accuracy": top1,
    }


NEXT_TOKEN = "next_token"  # the metric family of a next-word model: perplexity and top-k accuracy
# a forecast's figures (MASE among them): [origins, horizon] grids, whole origins resampled
# (pipeline.core.forecast_metrics)
FORECAST = "forecast"


def family_of(names: Iterable[str]) -> str:
    """Whose metrics these names are: a language model's (perplexity, top-5...), a numeric
    target's (RMSE, MAE...) or a classifier's. The one rule for intervals and paired differences."""
    names = set(names)
    if LANGUAGE_MODEL_ONLY & names:
        return NEXT_TOKEN
    if "mase" in names:
        return FORECAST
    return NUMBER if VALUE_ONLY & names else "classification"


def metric_samples(
    y: np.ndarray,
    proba: np.ndarray,
    n_classes: int,
    weights: np.ndarray,
    only: str | None = None,
    family: str = "classification",
    mase_scale: float | None = None,
) -> dict:
    """Every metric of :func:`pipeline.core.metrics.classification_metrics` (at least ``only``), or of
    ``language_model_metrics`` for ``family=NEXT_TOKEN``, or a forecast's (``mase_scale``: MASE's
    denominator), one value per row of ``weights`` (how often each test row, or origin, was drawn)."""
    if family == NUMBER:  # targets in their units, not class indices
        return value_samples(y, proba, weights)
    if family == FORECAST:
        from pipeline.core.forecast_metrics import forecast_samples

        if mase_scale is None:
            raise ValueError("a forecast's figures need MASE's scale (encoder.json's forecast record)")
        return forecast_samples(y, proba, mase_scale, weights)
    y = np.asarray(y).astype(int).reshape(-1)
    proba = np.asarray(proba, dtype="float64")
    if family == NEXT_TOKEN:
        return _language_model_samples(y, proba, weights)
    if n_classes == 2:
        p = proba[:, 1] if proba.ndim == 2 else proba.reshape(-1)
        return _binary_samples(y, p, weights, only)
    return _multiclass_samples(y, proba, weights, only)


def bounds(values: np.ndarray, level: float) -> list[float]:
    """The percentile interval of bootstrap ``values`` at ``level`` (rounded to 6 places)."""
    return _bounds(values, level)


def _bounds(values: np.ndarray, level: float) -> list[float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return [round(float(low), 6), round(float(high), 6)]


def _all_samples(
    y: np.ndarray,
    scores: list[np.ndarray],
    n_classes: int,
    resamples: int,
    seed: int,
    only: str | None = None,
    family: str = "classification",
    mase_scale: float | None = None,
) -> list[dict[str, np.ndarray]]:
    """Each model's metric values (every metric, or at least ``only``) over the same resamples."""
    blocks: list[list[dict]] = [[] for _ in scores]
    for w in resample_weights(len(y), resamples, seed):
        for i, score in enumerate(scores):
            blocks[i].append(metric_samples(y, score, n_classes, w, only, family, mase_scale))
    return [{name: np.concatenate([b[name] for b in per]) for name in per[0]} for per in blocks]


def intervals(
    y: np.ndarray,
    proba: np.ndarray,
    n_classes: int,
    *,
    resamples: int,
    level: float,
    seed: int,
    family: str = "classification",
) -> dict[str, list[float]]:
    """A percentile bootstrap interval ``[low, high]`` for every test metric (seeded)."""
    (samples,) = _all_samples(y, [proba], n_classes, resamples, seed, family=family)
    return {name: _bounds(values, level) for name, values in samples.items()}


def with_test_intervals(
    metrics: dict[str, float],
    y: np.ndarray,
    proba: np.ndarray,
    n_classes: int,
    *,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, object]:
    """``metrics`` (a model's or a baseline's test figures) with the interval of each beside it."""
    if family_of(metrics) == FORECAST:
        return with_intervals(metrics, _forecast_cis(metrics, y, proba, resamples, level, seed))
    cis = intervals(
        y, proba, n_classes, resamples=resamples, level=level, seed=seed, family=family_of(metrics)
    )
    return with_intervals(metrics, cis)


def _forecast_cis(
    metrics: dict[str, float], y: np.ndarray, p: np.ndarray, resamples: int, level: float, seed: int
) -> dict[str, list[float]]:
    """A forecast's intervals over whole origins. MASE's scale is the one its figures were computed
    with (``mae / mase``): a positive constant, so MASE's interval is MAE's divided by it."""
    from pipeline.core.forecast_metrics import forecast_intervals

    return forecast_intervals(y, p, mase_scale_of(metrics) or 1.0, resamples, level, seed)


def mase_scale_of(metrics: Mapping[str, object]) -> float | None:
    """The scale a forecast's figures divided MAE by (``mae / mase``); None without MASE, 1.0 when
    there was no error (any scale then gives 0)."""
    mae, mase = metrics.get("mae"), metrics.get("mase")
    if not isinstance(mae, int | float) or not isinstance(mase, int | float):
        return None
    return float(mae) / float(mase) if mase > 0 and np.isfinite(mase) else 1.0


def with_intervals(metrics: dict[str, float], cis: dict[str, list[float]]) -> dict[str, object]:
    """``{"roc_auc": 0.85, "roc_auc_ci": [0.83, 0.87], ...}``: each interval beside its metric."""
    out: dict[str, object] = {}
    for name, value in metrics.items():
        out[name] = value
        if name in cis:
            out[f"{name}_ci"] = cis[name]
    return out


def interval_metrics(section: str, values: dict[str, object]) -> dict[str, float]:
    """``{"roc_auc_ci": [lo, hi]}`` -> ``{"test_roc_auc_ci_low": lo, "test_roc_auc_ci_high": hi}``:
    MLflow's flat metric names."""
    out = {}
    for key, value in values.items():
        if key.endswith("_ci") and isinstance(value, list) and len(value) == 2:
            out[f"{section}_{key}_low"], out[f"{section}_{key}_high"] = float(value[0]), float(value[1])
    return out


@dataclass(frozen=True)
class PairedDifference:
    """``metric`` of model a minus model b on the same test rows, with its bootstrap interval."""

    metric: str
    difference: float
    low: float
    high: float
    level: float
    resamples: int
    higher_is_better: bool = True  # perplexity: a negative difference means a is better

    @property
    def distinguishable(self) -> bool:
        """The interval leaves out zero."""
        return self.low > 0 or self.high < 0

    @property
    def improvement(self) -> tuple[float, float]:
        """The interval of how much better a is than b (positive: a is better), whatever the
        metric's direction."""
        return (self.low, self.high) if self.higher_is_better else (-self.high, -self.low)

    def words(self, a: str = "a", b: str = "b") -> str:
        interval = f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"
        low, high = self.improvement
        if low > 0:
            verdict = f"{a} is better; the {self.level:.0%} interval leaves out zero"
        elif high < 0:
            verdict = f"{b} is better; the {self.level:.0%} interval leaves out zero"
        else:
            verdict = f"not distinguishable from zero at {self.level:.0%}"
        return f"{self.metric} {a} - {b}: {interval} ({self.resamples} paired resamples): {verdict}"

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "difference": round(self.difference, 6),
            "ci": [round(self.low, 6), round(self.high, 6)],
            "level": self.level,
            "distinguishable": self.distinguishable,
        }


def paired_difference(
    y: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    n_classes: int,
    metric: str,
    *,
    resamples: int,
    level: float,
    seed: int,
    mase_scale: float | None = None,
) -> PairedDifference:
    """``metric`` of a minus b on all test rows, and the interval of that difference when both are
    scored on each of the same resamples (a forecast's: whole origins, ``mase_scale`` MASE's
    denominator as encode recorded it)."""
    if len(proba_a) != len(y) or len(proba_b) != len(y):
        raise ValueError(f"{len(y)} labels but {len(proba_a)} and {len(proba_b)} rows of scores")
    ones = np.ones((1, len(y)))
    family = FORECAST if mase_scale is not None else family_of([metric])
    a_all, b_all = (
        metric_samples(y, p, n_classes, ones, metric, family, mase_scale)[metric][0]
        for p in (proba_a, proba_b)
    )
    point = float(a_all - b_all)
    a, b = _all_samples(y, [proba_a, proba_b], n_classes, resamples, seed, metric, family, mase_scale)
    low, high = _bounds(a[metric] - b[metric], level)
    return PairedDifference(metric, point, low, high, level, resamples, higher_is_better(metric))
