"""promote: move alias ``champion`` to the ``challenger`` if it is not worse; ``--rollback`` undoes it.

The gate is the test ROC AUC stored on each model version (tag ``test_roc_auc``): the challenger is
promoted when it is not below the current champion's (not above, for a metric where lower is better:
a language model's perplexity); a first promotion is always allowed.
Stricter gates for a noisy test split: ``--min-delta X`` promotes only a challenger ahead by more
than X; ``--require significant`` scores both versions on the same bootstrap resamples of the same
test rows (the scores register logged to each version's run) and promotes only when the whole
interval of the improvement lies above zero (above X with ``--min-delta``). It refuses when the two
versions were not evaluated on the same test rows, and prints the interval it decided on.
``--require behaviour`` (alone or beside the others) also asks that the challenger passed every
behavioural check register ran on it (tag ``behaviour_checks``, from ``tasks.<task>.behaviour``).
Every move is remembered in the registered model's tag ``champion_history`` (a JSON list of
versions), so ``--rollback`` returns ``champion`` to the version it held before. After either, the
champion is written to ``reports/registry/<task>.champion.json`` (version, architecture, run): the
file a ``score@<task>`` stage depends on, so that DVC reruns it when the champion changes. Exit
codes: 0 promoted / rolled back / nothing to do, 3 not promoted (the challenger is worse or failed
a check), 1 an error.

Each promotion, refusal and rollback, and a promote that finds its challenger already champion, is
recorded in MLflow (experiment ``<task>-promotions``, one run per event: who, when, from which
version to which, the gate's figures and the reason; an alias move that fails is recorded as
failed); ``--history`` prints that record, newest first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from pipeline.commands import promotion_record
from pipeline.commands.promotion_gate import Decision, decide, decide_paired
from pipeline.commands.promotion_record import PROMOTED, REFUSED, ROLLED_BACK, UNCHANGED, PromotionEvent
from pipeline.core.bootstrap import PairedDifference, paired_difference
from pipeline.core.errors import ModelError

CHALLENGER, CHAMPION, HISTORY = "challenger", "champion", "champion_history"
NOT_PROMOTED = 3


def _test_rows(client: Any, version: Any) -> tuple[np.ndarray, np.ndarray]:
    """The test scores and labels register logged to the version's run."""
    import tempfile
    from pathlib import Path

    import mlflow

    from pipeline.core.io import load_array
    from pipeline.core.tracking import EVAL_ARTIFACTS

    run_id = version.tags.get("run_id") or version.run_id
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        try:
            folder = Path(
                mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=EVAL_ARTIFACTS, dst_path=tmp)
            )
            return load_array(folder / "test_scores.npy"), load_array(folder / "test_labels.npy")
        except (OSError, ValueError, mlflow.exceptions.MlflowException) as exc:
            raise ModelError(
                f"version {version.version}: no test scores in its run {run_id} ({EVAL_ARTIFACTS}/"
                f"test_scores.npy); register it again with this pipeline to compare it on the test rows"
            ) from exc


def paired_gate(client: Any, task: str, challenger: Any, champion: Any, metric: str) -> PairedDifference:
    """Challenger minus champion on the same bootstrap resamples of the same test rows; refuses
    versions evaluated on different test rows."""
    from pipeline.core.config import params

    rows = {v.version: v.tags.get("test_rows_sha256") for v in (challenger, champion)}
    if None in rows.values() or len(set(rows.values())) != 1:
        shown = ", ".join(f"version {v} {h[:12] if h else 'not recorded'}" for v, h in rows.items())
        raise ModelError(
            f"{task}: --require significant needs both versions evaluated on the same test rows, but their "
            f"test-row fingerprints (tag test_rows_sha256) differ: {shown}. Compare them on one split "
            f"(re-evaluate the champion's model on today's split) or promote without --require significant"
        )
    scores, labels = _test_rows(client, challenger)
    champion_scores, champion_labels = _test_rows(client, champion)
    if labels.shape != champion_labels.shape or not np.array_equal(labels, champion_labels):
        raise ModelError(
            f"{task}: versions {challenger.version} and {champion.version} logged different test labels; "
            "they were not scored on the same test rows"
        )
    from pipeline.encoders.dataset import recorded_mase_scale

    settings, seed = params().evaluate, params().seed
    n_classes = 2 if scores.ndim == 1 else scores.shape[1]
    return paired_difference(
        labels,
        scores,
        champion_scores,
        n_classes,
        metric.removeprefix("test_"),
        resamples=settings.bootstrap_resamples,
        level=settings.ci_level,
        seed=seed,
        # a forecast's MASE: the scale of this checkout's encode, whose test rows the fingerprints matched
        mase_scale=recorded_mase_scale(task),
    )


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


BEHAVIOUR_TAG = "behaviour_checks"  # register: "passed 7 of 7" or "failed 1 of 7: <names>"


def behaviour_gate(challenger: Any) -> Decision:
    """``--require behaviour``: the challenger passed every behavioural check register ran on it."""
    outcome = challenger.tags.get(BEHAVIOUR_TAG)
    if outcome is None:
        return Decision(
            False,
            f"version {challenger.version} has no behavioural checks recorded (tag {BEHAVIOUR_TAG}); "
            "declare tasks.<task>.behaviour in params.yaml and register again",
        )
    return Decision(outcome.startswith("passed"), f"behavioural checks {outcome}")


def _gate(
    client: Any,
    task: str,
    challenger: Any,
    champion: Any,
    metric: str,
    min_delta: float | None,
    require: set[str],
) -> Decision:
    """The metric gate (not-worse, or significant), then the behavioural one when asked for."""
    if "significant" in require and champion is not None:
        decision = decide_paired(paired_gate(client, task, challenger, champion, metric), min_delta)
    else:
        decision = decide(
            _score(challenger, metric), _score(champion, metric) if champion else None, metric, min_delta
        )
    if "behaviour" in require:
        behaviour = behaviour_gate(challenger)
        decision = Decision(
            decision.promote and behaviour.promote, f"{decision.reason}; {behaviour.reason}", decision.figures
        )
    return decision


def promote(
    task: str,
    metric: str | None = None,
    min_delta: float | None = None,
    require: Sequence[str] = ("not-worse",),
    by: str | None = None,
) -> tuple[bool, str]:
    """``metric``: the version tag compared; default ``test_<gate metric>`` as register tagged it.
    ``require``: ``not-worse`` (today's gate) or ``significant`` (paired bootstrap), and
    ``behaviour`` (the challenger passed its behavioural checks). Records the decision (``by``:
    who asked, default the OS user)."""
    from pipeline.core import tracking

    client = tracking.mlflow_client()
    challenger = _alias_version(client, task, CHALLENGER)
    if challenger is None:
        raise ModelError(
            f"registered model {task!r} has no {CHALLENGER!r} alias; "
            f"run 'python -m pipeline repro register@{task}'"
        )
    metric = metric or f"test_{challenger.tags.get('gate_metric', 'roc_auc')}"
    champion = _alias_version(client, task, CHAMPION)
    require = [require] if isinstance(require, str) else list(require)  # one gate given as a string
    if champion is not None and str(champion.version) == str(challenger.version):
        message = f"version {challenger.version} is already {CHAMPION}; nothing to do"
        unchanged = Decision(True, message, {})
        promotion_record.record(
            client, task, _event(UNCHANGED, by, champion, challenger, require, metric, unchanged)
        )
        return True, message
    decision = _gate(client, task, challenger, champion, metric, min_delta, set(require))
    if min_delta is not None:
        decision = Decision(decision.promote, decision.reason, {**decision.figures, "min_delta": min_delta})
    event = _event(
        PROMOTED if decision.promote else REFUSED, by, champion, challenger, require, metric, decision
    )
    if not decision.promote:
        promotion_record.record(client, task, event)
        stays = f"stays at version {champion.version}" if champion else "is still unset"
        return False, f"not promoted: {decision.reason}; {CHAMPION} {stays}"
    history = _history(client, task)
    if champion is not None and (not history or history[-1] != str(champion.version)):
        history.append(str(champion.version))
    history.append(str(challenger.version))
    with _recorded(client, task, event):
        client.set_registered_model_alias(task, CHAMPION, str(challenger.version))
        client.set_registered_model_tag(task, HISTORY, json.dumps(history))
    arch = challenger.tags.get("arch", "?")
    before = f"version {champion.version}" if champion else "none"
    return (
        True,
        f"promoted version {challenger.version} ({arch}) to {CHAMPION} (was {before}): {decision.reason}",
    )


def _event(
    decision: str,
    by: str | None,
    champion: Any,
    challenger: Any,
    require: Sequence[str],
    metric: str,
    gate: Decision,
) -> PromotionEvent:
    """The record of one promote or rollback (``challenger``: the version champion moves to): each
    version's figure, the gate's own figures and its reason."""
    figures = {
        **promotion_record.version_figures(challenger, metric, "to"),
        **(promotion_record.version_figures(champion, metric, "from") if champion else {}),
        **gate.figures,
    }
    return PromotionEvent(
        decision=decision,
        by=by or promotion_record.default_user(),
        at=promotion_record.now_utc(),
        from_version=str(champion.version) if champion else "none",
        to_version=str(challenger.version),
        require="+".join(sorted(set(require))),
        metric=metric,
        reason=gate.reason,
        figures=figures,
    )


@contextmanager
def _recorded(client: Any, task: str, event: PromotionEvent) -> Iterator[None]:
    """Open ``event``'s record, move the aliases inside the block, then close it, as failed if the
    block raised: the record holds every move that happened and claims none that did not."""
    run_id = promotion_record.open_record(client, task, event)
    try:
        yield
    except Exception as exc:
        promotion_record.close_record(client, run_id, event, f"{type(exc).__name__}: {exc}")
        raise
    promotion_record.close_record(client, run_id, event, None)


def _previous_champion(task: str, current: str, recorded: list[str]) -> list[str]:
    """The history without the current champion at its end; an error when nothing is left."""
    history = list(recorded)
    while history and history[-1] == current:
        history.pop()
    if history:
        return history
    if recorded:  # e.g. ["2"] right after the first promotion: version 2 is all there was
        raise ModelError(
            f"{task}: no earlier {CHAMPION} to roll back to: version {current} is the first "
            f"{CHAMPION} 'promote' recorded ({HISTORY} {json.dumps(recorded)})"
        )
    raise ModelError(
        f"{task}: no earlier {CHAMPION} to roll back to: 'promote' has recorded none "
        f"(version {current} was made {CHAMPION} by other means; set the alias in MLflow instead)"
    )


def rollback(task: str, by: str | None = None) -> str:
    from pipeline.core import tracking

    client = tracking.mlflow_client()
    champion = _alias_version(client, task, CHAMPION)
    if champion is None:
        raise ModelError(f"registered model {task!r} has no {CHAMPION!r}; nothing to roll back")
    current = str(champion.version)
    history = _previous_champion(task, current, _history(client, task))
    previous = history[-1]
    restored = client.get_model_version(task, previous)
    metric = f"test_{champion.tags.get('gate_metric', 'roc_auc')}"
    message = f"rolled back {CHAMPION} from version {current} to version {previous}"
    reason = Decision(True, f"{message} (promote --rollback)", {})
    event = _event(ROLLED_BACK, by, champion, restored, ["rollback"], metric, reason)
    with _recorded(client, task, event):
        client.set_registered_model_alias(task, CHAMPION, previous)
        client.set_registered_model_tag(task, HISTORY, json.dumps(history))
    return message


def parse_args(argv: list[str]) -> argparse.Namespace:
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
        "--history",
        action="store_true",
        help="print the promotion record (every promotion, refusal and rollback), newest first",
    )
    parser.add_argument("--json", action="store_true", help="with --history: the record as JSON")
    parser.add_argument("--by", help="who promotes or rolls back, for the record (default: the OS user)")
    parser.add_argument(
        "--metric",
        help="model-version tag compared (default test_<the task's gate metric>: test_roc_auc for "
        "binary tasks, test_f1_macro for multi-class ones, or tasks.<task>.promote.metric)",
    )
    parser.add_argument(
        "--min-delta",
        type=float,
        help="promote only a challenger ahead of the champion by more than this (with --require "
        "significant: the interval's lower bound above it)",
    )
    parser.add_argument(
        "--require",
        choices=["not-worse", "significant", "behaviour"],
        action="append",
        help="not-worse (default): the challenger's test figure is not below the champion's; "
        "significant: a paired bootstrap of both on the same test rows puts the whole interval of "
        "the difference above zero; behaviour: the challenger also passed every behavioural check "
        "register ran on it (tasks.<task>.behaviour). Repeat to ask for more than one",
    )
    return parser.parse_args(argv)


def _write_champion_file(task: str) -> None:
    from pipeline.core import tracking

    promotion_record.write_champion_file(task, _alias_version(tracking.mlflow_client(), task, CHAMPION))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from pipeline.core.config import params

    params().task(args.task)
    if args.history:
        promotion_record.print_history(args.task, args.json)
        return 0
    if args.rollback:
        print(rollback(args.task, args.by))
        _write_champion_file(args.task)
        return 0
    promoted, message = promote(
        args.task, args.metric, args.min_delta, args.require or ["not-worse"], args.by
    )
    print(message)
    if promoted:
        _write_champion_file(args.task)
    return 0 if promoted else NOT_PROMOTED
