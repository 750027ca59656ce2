"""Behavioural checks (``tasks.<task>.behaviour``) run on an exported bundle with ONNX Runtime.

register runs them on every version it registers, records the outcome on the version (tag
``behaviour_checks``, artifact ``behaviour/behaviour_v<version>.json``) and on its model card;
``promote --require behaviour`` refuses a challenger that failed one. What a check's input becomes
as a request, and what its answer and score are, the task's kind module says (``behaviour_input``,
``behaviour_answers``): a row or a text; a class's probability or a numeric target's value.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.behaviour_config import BehaviourConfig, DirectionCheck, InvarianceCheck, MinimumCheck
from pipeline.core.config import ConfigError

Check = InvarianceCheck | DirectionCheck | MinimumCheck
DIRECTION_TESTS = {
    "lower": lambda before, after: after < before,
    "higher": lambda before, after: after > before,
    "not higher": lambda before, after: after <= before,
    "not lower": lambda before, after: after >= before,
}


def run_checks(task: str, behaviour: BehaviourConfig, kind: Any, predictor: Any) -> list[dict[str, Any]]:
    """One JSON-ready result per declared check, in params.yaml's order; ConfigError naming the
    check's key when its input does not fit the model (a column the table lacks, a row for a text)."""
    results = []
    for key, check in behaviour.keyed():
        try:
            results.append({"key": key, **_run(check, kind, predictor)})
        except (ValueError, KeyError) as exc:
            problem = exc.args[0] if exc.args else exc
            raise ConfigError(
                f"params.yaml tasks.{task}.behaviour.{key} ({check.name!r}): {problem}"
            ) from exc
    return results


def _run(check: Check, kind: Any, predictor: Any) -> dict[str, Any]:
    changed = getattr(check, "changed", None)
    records = [kind.behaviour_input(check.input, None)]
    if changed is not None:
        records.append(kind.behaviour_input(check.input, changed))
    answers = kind.behaviour_answers(predictor, records)
    shown = [a.shown for a in answers]
    result: dict[str, Any] = {
        "name": check.name,
        "input": check.input,
        "changed": changed,
        "inputs": records,  # the requests as scored
        "answers": shown,
    }
    if isinstance(check, InvarianceCheck):
        passed = shown[0] == shown[1]
        result |= {"check": "invariance", "expected": f"the same answer ({shown[0]})"}
    elif isinstance(check, DirectionCheck):
        scores = [a.score(check.of_class) for a in answers]
        passed = DIRECTION_TESTS[check.expect](scores[0], scores[1])
        of = f"P({check.of_class})" if check.of_class is not None else "the score"
        result |= {"check": "direction", "expected": f"{of} {check.expect}", "scores": scores}
    else:
        passed = str(check.expect).lower() in answers[0].spellings
        result |= {"check": "minimum", "expected": str(check.expect)}
    return result | {"passed": bool(passed)}


def summary(results: list[dict[str, Any]]) -> str:
    """``passed 5 of 5``, or ``failed 1 of 5: <names>`` (the version's tag ``behaviour_checks``)."""
    failed = [r["name"] for r in results if not r["passed"]]
    if not failed:
        return f"passed {len(results)} of {len(results)}"
    return f"failed {len(failed)} of {len(results)}: {', '.join(failed)}"[:5000]


def describe(result: dict[str, Any]) -> str:
    """One check's outcome in words: the inputs, the answers (and scores), what was expected."""
    answers = " -> ".join(
        f"{answer} ({score:.4g})" if score is not None else answer
        for answer, score in zip(result["answers"], result.get("scores") or [None] * 2, strict=False)
    )
    verdict = "passed" if result["passed"] else "FAILED"
    return (
        f"{result['check']} {result['name']!r} {verdict}: answered {answers}; expected {result['expected']}"
    )
