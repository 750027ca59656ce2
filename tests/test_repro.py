"""`python -m pipeline repro`: which tasks' branches of the DAG run side by side, and when not.

The branches come from DVC's own graph of the shipped dvc.yaml; the end-to-end projects
(tests/e2e_project.py) are built by the command itself, two tasks at once.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.commands.repro import _dvc_graph, branches, lanes_to_run, owner
from pipeline.core.config import load_params

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
        assert {f"synthesize@{task}", f"register@{task}", f"compare@{task}"} <= stages
        models = [name for name, ref in PARAMS.models.items() if ref.task == task]
        assert {f"export@{name}" for name in models} <= stages


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
