"""The pure gates of ``promote``: not worse (or ahead by a minimum delta) on one figure, and a
paired bootstrap interval wholly above zero (``--require significant``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.core.bootstrap import PairedDifference


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    figures: Mapping[str, float] = field(default_factory=dict)  # what the record keeps beside the reason


def decide(
    challenger_score: float, champion_score: float | None, metric: str, min_delta: float | None = None
) -> Decision:
    """Pure gate: promote when there is no champion or the challenger is not worse (with
    ``min_delta``: ahead by more than it)."""
    if champion_score is None:
        return Decision(
            True, f"no champion yet; first promotion (challenger {metric} {challenger_score:.4f})"
        )
    from pipeline.core.metrics import higher_is_better

    if min_delta is not None:
        gain = challenger_score - champion_score
        if not higher_is_better(metric):
            gain = -gain
        verdict = ">" if gain > min_delta else "<="
        return Decision(
            gain > min_delta,
            f"challenger {metric} {challenger_score:.4f} vs champion's {champion_score:.4f}: "
            f"improvement {gain:+.4f} {verdict} min delta {min_delta:g}",
        )
    if higher_is_better(metric):
        if challenger_score >= champion_score:
            return Decision(
                True, f"challenger {metric} {challenger_score:.4f} >= champion's {champion_score:.4f}"
            )
        return Decision(
            False, f"challenger {metric} {challenger_score:.4f} < champion's {champion_score:.4f}"
        )
    if challenger_score <= champion_score:  # lower is better (perplexity)
        return Decision(
            True, f"challenger {metric} {challenger_score:.4f} <= champion's {champion_score:.4f}"
        )
    return Decision(False, f"challenger {metric} {challenger_score:.4f} > champion's {champion_score:.4f}")


def decide_paired(difference: PairedDifference, min_delta: float | None = None) -> Decision:
    """Pure gate of ``--require significant``: the interval of challenger - champion lies wholly
    above ``min_delta`` (0 when not given)."""
    bar = min_delta or 0.0
    interval = (
        f"{difference.metric} challenger - champion {difference.difference:+.4f}, "
        f"{difference.level:.0%} paired bootstrap interval [{difference.low:+.4f}, {difference.high:+.4f}] "
        f"over {difference.resamples} resamples of the same test rows"
    )
    low, high = difference.improvement  # positive: the challenger is better (perplexity: lower)
    if not difference.higher_is_better:
        interval += f"; improvement (lower is better) [{low:+.4f}, {high:+.4f}]"
    figures = {
        "difference": difference.difference,
        "difference_ci_low": difference.low,
        "difference_ci_high": difference.high,
        "ci_level": difference.level,
        "resamples": float(difference.resamples),
    }
    if low > bar:
        return Decision(True, f"{interval}: lower bound above {bar:g}", figures)
    return Decision(
        False, f"{interval}: lower bound not above {bar:g}, not a significant improvement", figures
    )
