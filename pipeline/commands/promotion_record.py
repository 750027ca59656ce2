"""The promotion record: one MLflow run per promote or rollback, in experiment ``<task>-promotions``.

Why runs: the record lives in the tracking server itself, so it is shared and kept wherever MLflow
is (a remote server as much as the local ``mlflow.db``) and read back by ``search_runs`` alone, no
local file. A run's params are write-once (MLflow refuses to change a logged param), which suits an
audit record better than registered-model tags, which anyone may overwrite and which hold one
string each; its metrics hold the gate's figures as numbers; the MLflow UI lists the events as a
table of runs, filterable by decision or user. A refused promotion moves no alias but is an event
all the same, and gets its run too, as does a promote whose challenger is already champion.

An event that moves an alias is opened before the alias moves and closed after: a move that fails
(the tracking server refusing or unreachable) leaves its event marked failed (the run's status
FAILED, the error in its ``failure`` tag), and a process killed in between leaves it unfinished
(RUNNING), so the record never misses a move that happened nor claims one that did not.

Every event has: who (``by``, also MLflow's ``mlflow.user`` tag), when (``at``, UTC), the version
``champion`` was at (``from_version``) and the one it was to move to (``to_version``), the
decision (``promoted``, ``refused``, ``rolled back``, ``unchanged``) and its reason, the gate
(``require``, ``metric``) and its figures: each version's test metric with its bootstrap
interval as evaluate measured it (``from_*``/``to_*``), and with ``--require significant`` the
paired difference and its interval.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PROMOTED, REFUSED, ROLLED_BACK, UNCHANGED = "promoted", "refused", "rolled back", "unchanged"
# how history shows an event whose alias move did not complete (the run's status)
OUTCOME = {"FINISHED": "", "FAILED": " (failed)", "RUNNING": " (unfinished)", "KILLED": " (unfinished)"}
# the fields kept as write-once params; the figures are metrics
FIELDS = ("decision", "by", "at", "from_version", "to_version", "require", "metric", "reason")
PARAM_LIMIT = 6000  # MLflow's longest param value


@dataclass(frozen=True)
class PromotionEvent:
    decision: str
    by: str
    at: str  # ISO 8601, UTC, microseconds: orders two events of the same millisecond
    from_version: str  # "none" before the first champion
    to_version: str
    require: str
    metric: str
    reason: str
    figures: Mapping[str, float] = field(default_factory=dict)


def experiment_name(task: str) -> str:
    return f"{task}-promotions"


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _experiment_id(client: Any, task: str, create: bool) -> str | None:
    from pipeline.core import paths

    name = experiment_name(task)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if not create:
        return None
    location = None  # a server chooses its own; a local store keeps them beside the task's runs
    if paths.tracking_uri().startswith("sqlite:"):
        location = (paths.artifact_root() / name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def record(client: Any, task: str, event: PromotionEvent) -> str:
    """Log ``event`` as a finished run of ``<task>-promotions``; return its run id."""
    run_id = open_record(client, task, event)
    close_record(client, run_id, event, None)
    return run_id


def close_record(client: Any, run_id: str, event: PromotionEvent, failure: str | None) -> None:
    """End the event's run: FINISHED, or FAILED with ``failure`` (what went wrong) as a tag."""
    millis = _millis(event)
    if failure is not None:
        client.set_tag(run_id, "failure", failure[:PARAM_LIMIT])
    client.set_terminated(run_id, "FAILED" if failure is not None else "FINISHED", end_time=millis)


def _millis(event: PromotionEvent) -> int:
    return int(dt.datetime.fromisoformat(event.at.replace("Z", "+00:00")).timestamp() * 1000)


def open_record(client: Any, task: str, event: PromotionEvent) -> str:
    """Log ``event`` as a running run of ``<task>-promotions`` (:func:`close_record` ends it)."""
    from mlflow.entities import Metric, Param

    experiment_id = _experiment_id(client, task, create=True)
    millis = _millis(event)
    run = client.create_run(
        experiment_id,
        start_time=millis,
        tags={"mlflow.user": event.by, "task": task, "decision": event.decision},
        run_name=f"{event.decision} {event.from_version} -> {event.to_version}",
    )
    values = asdict(event)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(key, float(value), millis, 0) for key, value in event.figures.items()],
        params=[Param(key, str(values[key])[:PARAM_LIMIT]) for key in FIELDS],
    )
    return str(run.info.run_id)


def history(client: Any, task: str) -> list[PromotionEvent]:
    """Every recorded event of ``task``, newest first, as the tracking server returns them."""
    experiment_id = _experiment_id(client, task, create=False)
    if experiment_id is None:
        return []
    events, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            found = dict(run.data.params)
            found["decision"] = found.get("decision", "") + OUTCOME.get(run.info.status, "")
            if "failure" in run.data.tags:
                found["reason"] = f"{found.get('reason', '')}; failed: {run.data.tags['failure']}"
            events.append(
                PromotionEvent(
                    **{key: found.get(key, "") for key in FIELDS},
                    figures=dict(sorted(run.data.metrics.items())),
                )
            )
        token = page.token
        if not token:
            break
    return sorted(events, key=lambda e: e.at, reverse=True)


def _interval(figures: Mapping[str, float], key: str) -> str:
    if key not in figures:
        return ""
    low, high = figures.get(f"{key}_ci_low"), figures.get(f"{key}_ci_high")
    form = "+.4f" if key == "difference" else ".4f"
    shown = format(figures[key], form)
    if low is None or high is None:
        return shown
    return f"{shown} [{format(low, form)}, {format(high, form)}]"


def figures_text(event: PromotionEvent) -> str:
    """The gate's figures in one cell: to vs from, each with its interval; the paired difference."""
    figures, metric = event.figures, event.metric
    parts = []
    to, before = _interval(figures, f"to_{metric}"), _interval(figures, f"from_{metric}")
    if to:
        parts.append(f"{metric} {to}" + (f" vs {before}" if before else ""))
    if "difference" in figures:
        level = figures.get("ci_level", float("nan"))
        parts.append(f"paired difference {_interval(figures, 'difference')} ({level:.0%})")
    return "; ".join(parts) or "-"


def history_table(task: str, events: list[PromotionEvent]) -> str:
    if not events:
        return (
            f"{task}: no promotion recorded (MLflow experiment {experiment_name(task)!r} holds no "
            "event); 'python -m pipeline promote' records each one"
        )
    header = ("when (UTC)", "decision", "from", "to", "by", "gate", "figures", "reason")
    rows = [
        (
            e.at[:19].replace("T", " "),
            e.decision,
            e.from_version,
            e.to_version,
            e.by,
            e.require,
            figures_text(e),
            e.reason,
        )
        for e in events
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]))
    lines.insert(1, "  ".join("-" * w for w in [*widths, len(header[-1])]))
    return "\n".join(lines)


def history_json(events: list[PromotionEvent]) -> str:
    return json.dumps([asdict(e) | {"figures": dict(e.figures)} for e in events], indent=2)


def version_figures(version: Any, metric: str, side: str) -> dict[str, float]:
    """A version's test figure and its bootstrap interval as register tagged them (``side``: from/to)."""
    figures = {}
    for suffix in ("", "_ci_low", "_ci_high"):
        try:
            figures[f"{side}_{metric}{suffix}"] = float(version.tags[f"{metric}{suffix}"])
        except (KeyError, ValueError):
            continue
    return figures


def print_history(task: str, as_json: bool) -> None:
    from pipeline.core import tracking

    events = history(tracking.mlflow_client(), task)
    if as_json:
        print(history_json(events))
    else:
        print(history_table(task, events))


def write_champion_file(task: str, champion: Any | None) -> None:
    """The champion model version as a file for DVC (``paths.champion_record``), which a
    ``score@<task>`` stage depends on since an MLflow alias is not a file; none without a champion."""
    from pipeline.core import paths
    from pipeline.core.io import write_json

    if champion is None:
        return
    record = {
        "task": task,
        "version": str(champion.version),
        "arch": champion.tags.get("arch"),
        "run_id": champion.run_id,
        "source": champion.source,
    }
    write_json(paths.champion_record(task), record)
