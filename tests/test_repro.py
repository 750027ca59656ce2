"""`python -m pipeline repro`: which tasks' branches of the DAG run side by side, and when not.

The branches come from DVC's own graph of the shipped dvc.yaml; the end-to-end projects
(tests/e2e_project.py) are built by the command itself, two tasks at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.commands.repro import _dvc_graph, addresses, branches, lanes_to_run, owner, stage_name
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from tests.conftest import stage_address

REPO = Path(__file__).resolve().parents[1]
PARAMS = load_params(REPO / "params.yaml")


def test_each_shipped_task_is_a_branch_that_shares_no_stage():
    upstream, _ = _dvc_graph(REPO)
    closure = branches(upstream, PARAMS)
    assert closure is not None, "two tasks share a stage: make repro would run one task at a time"
    assert set(closure) == set(PARAMS.tasks)
    for task, stages in closure.items():
        assert {owner(stage, PARAMS) for stage in stages} == {task}, task
        # from the data to the registry, and every model of the task
        names = {stage_name(stage) for stage in stages}
        assert {f"synthesize@{task}", f"register@{task}", f"compare@{task}"} <= names
        models = [name for name, ref in PARAMS.models.items() if ref.task == task]
        assert {f"export@{name}" for name in models} <= names


def test_each_stage_type_has_its_own_file_and_lock():
    """One dvc.yaml (and so one dvc.lock) per stage type before compare and register, which stay in
    the root dvc.yaml so that a plain `dvc repro` or `dvc exp run` still rebuilds everything: DVC
    rewrites a lock file whole after each stage, and one for all 88 stages cost a quarter of a forced
    run (dag/README.md)."""
    upstream, _ = _dvc_graph(REPO, status=False)
    assert upstream and all(address == stage_address(stage_name(address)) for address in upstream)
    root = {stage_name(a).split("@")[0] for a in upstream if ":" not in a}
    assert root == {"compare", "register"}  # score@<task> too, where params.yaml has scoring entries
    every_other = {address.split("/")[1] for address in upstream if ":" in address}
    assert {path.parent.name for path in (REPO / "dag").glob("*/dvc.lock")} == every_other
    # every stage is upstream of a root one: `dvc repro` (the root dvc.yaml) reaches them all
    reached = set().union(*(upstream[a] | {a} for a in upstream if ":" not in a))
    assert reached == set(upstream)


def test_stages_are_named_without_their_file():
    upstream, _ = _dvc_graph(REPO, status=False)
    assert addresses(["train@churn-ann", "dag/encode/dvc.yaml:encode@churn", "register@churn"], upstream) == [
        "dag/train/dvc.yaml:train@churn-ann",
        "dag/encode/dvc.yaml:encode@churn",
        "register@churn",
    ]
    with pytest.raises(PipelineError, match=r"no stage named train@nope.*such as"):
        addresses(["train@nope"], upstream)


def test_stages_belong_to_the_task_their_foreach_key_names():
    assert owner("ingest@churn", PARAMS) == "churn"
    assert owner("train@sentiment-lstm", PARAMS) == "sentiment"
    assert owner("score@topics", PARAMS) == "topics"  # scoring entries are named by task
    assert owner("synthesize@reviews-v2", PARAMS) is None  # a data set no task is named after
    assert owner("report", PARAMS) is None


def _two_tasks(shared: bool) -> dict[str, set[str]]:
    churn_data = "synthesize@common" if shared else "synthesize@churn"
    reviews = "synthesize@common" if shared else "synthesize@sentiment"
    return {
        churn_data: set(),
        reviews: set(),
        "ingest@churn": {churn_data},
        "train@churn-ann": {"ingest@churn", churn_data},
        "ingest@sentiment": {reviews},
        "train@sentiment-gru": {"ingest@sentiment", reviews},
    }


def test_tasks_that_share_a_stage_are_not_run_side_by_side():
    assert branches(_two_tasks(shared=False), PARAMS) is not None
    assert branches(_two_tasks(shared=True), PARAMS) is None


def test_only_the_tasks_with_a_changed_stage_run_the_most_models_first():
    upstream = _two_tasks(shared=False)
    closure = branches(upstream, PARAMS)
    assert closure is not None
    assert lanes_to_run(closure, [], PARAMS) == []
    assert [task for task, _ in lanes_to_run(closure, ["ingest@churn"], PARAMS)] == ["churn"]
    forced = lanes_to_run(closure, None, PARAMS)  # --force: every task
    assert [task for task, _ in forced] == ["sentiment", "churn"]  # three models against one
    assert dict(forced)["churn"] == ["ingest@churn", "synthesize@churn", "train@churn-ann"]
