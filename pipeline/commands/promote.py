"""promote: move alias ``champion`` to the ``challenger`` if it is not worse; ``--rollback`` undoes it.

The gate is the test ROC AUC stored on each model version (tag ``test_roc_auc``): the challenger is
promoted when it is not below the current champion's (not above, for a metric where lower is better:
a language model's perplexity); a first promotion is always allowed. Every
move is remembered in the registered model's tag ``champion_history`` (a JSON list of versions), so
``--rollback`` returns ``champion`` to the version it held before. Exit codes: 0 promoted / rolled
back / nothing to do, 3 not promoted (the challenger is worse), 1 an error.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import ModelError

CHALLENGER, CHAMPION, HISTORY = "challenger", "champion", "champion_history"
NOT_PROMOTED = 3


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(challenger_score: float, champion_score: float | None, metric: str) -> Decision:
    """Pure gate: promote when there is no champion or the challenger is not worse."""
    if champion_score is None:
        return Decision(
            True, f"no champion yet; first promotion (challenger {metric} {challenger_score:.4f})"
        )
    from pipeline.core.metrics import higher_is_better

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


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _score(version: Any, metric: str) -> float:
    try:
        return float(version.tags[metric])
    except (KeyError, ValueError) as exc:
        raise ModelError(f"model version {version.version} has no numeric tag {metric!r}") from exc


def _history(client: Any, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return [str(v) for v in json.loads(tags.get(HISTORY, "[]"))]


def promote(task: str, metric: str | None = None) -> tuple[bool, str]:
    """``metric``: the version tag compared; default ``test_<gate metric>`` as register tagged it."""
    from pipeline.core import tracking

    client = tracking.mlflow_client()
    challenger = _alias_version(client, task, CHALLENGER)
    if challenger is None:
        raise ModelError(
            f"registered model {task!r} has no {CHALLENGER!r} alias; run 'dvc repro register@{task}'"
        )
    metric = metric or f"test_{challenger.tags.get('gate_metric', 'roc_auc')}"
    champion = _alias_version(client, task, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger.version):
        return True, f"version {challenger.version} is already {CHAMPION}; nothing to do"
    decision = decide(_score(challenger, metric), _score(champion, metric) if champion else None, metric)
    if not decision.promote:
        return False, f"not promoted: {decision.reason}; {CHAMPION} stays at version {champion.version}"
    history = _history(client, task)
    if champion is not None and (not history or history[-1] != str(champion.version)):
        history.append(str(champion.version))
    history.append(str(challenger.version))
    client.set_registered_model_alias(task, CHAMPION, str(challenger.version))
    client.set_registered_model_tag(task, HISTORY, json.dumps(history))
    arch = challenger.tags.get("arch", "?")
    before = f"version {champion.version}" if champion else "none"
    return (
        True,
        f"promoted version {challenger.version} ({arch}) to {CHAMPION} (was {before}): {decision.reason}",
    )


def rollback(task: str) -> str:
    from pipeline.core import tracking

    client = tracking.mlflow_client()
    champion = _alias_version(client, task, CHAMPION)
    if champion is None:
        raise ModelError(f"registered model {task!r} has no {CHAMPION!r}; nothing to roll back")
    current = str(champion.version)
    recorded = _history(client, task)
    history = list(recorded)
    while history and history[-1] == current:
        history.pop()
    if not history:
        if recorded:  # e.g. ["2"] right after the first promotion: version 2 is all there was
            raise ModelError(
                f"{task}: no earlier {CHAMPION} to roll back to: version {current} is the first "
                f"{CHAMPION} 'promote' recorded ({HISTORY} {json.dumps(recorded)})"
            )
        raise ModelError(
            f"{task}: no earlier {CHAMPION} to roll back to: 'promote' has recorded none "
            f"(version {current} was made {CHAMPION} by other means; set the alias in MLflow instead)"
        )
    previous = history[-1]
    client.set_registered_model_alias(task, CHAMPION, previous)
    client.set_registered_model_tag(task, HISTORY, json.dumps(history))
    return f"rolled back {CHAMPION} from version {champion.version} to version {previous}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline promote",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task")
    parser.add_argument(
        "--rollback", action="store_true", help=f"move {CHAMPION} back to its previous version"
    )
    parser.add_argument(
        "--metric",
        help="model-version tag compared (default test_<the task's gate metric>: test_roc_auc for "
        "binary tasks, test_f1_macro for multi-class ones, or tasks.<task>.promote.metric)",
    )
    args = parser.parse_args(argv)
    from pipeline.core.config import params

    params().task(args.task)
    if args.rollback:
        print(rollback(args.task))
        return 0
    promoted, message = promote(args.task, args.metric)
    print(message)
    return 0 if promoted else NOT_PROMOTED
