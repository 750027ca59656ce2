"""The promotion record (issue 24): every promote, refusal and rollback is a run of MLflow's
``<task>-promotions`` experiment, read back from the tracking store alone by ``promote --history``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.__main__ import main as cli
from pipeline.commands.promote import NOT_PROMOTED
from tests.test_registry import _evaluated


def _history_json(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert cli(["promote", "churn", "--history", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_promote_refuse_and_rollback_each_leave_a_record(project: Path, capsys: pytest.CaptureFixture[str]):
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.3).astype(int)
    first = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.2, 400), 0, 1)
    _evaluated(project, first, labels, rows="rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--by", "ada"]) == 0

    better = np.clip(0.3 + 0.45 * labels + rng.normal(0, 0.1, 400), 0, 1)
    _evaluated(project, better, labels, rows="rows-a")
    assert cli(["register", "churn"]) == 0
    asked_too_much = ["--require", "significant", "--min-delta", "0.5", "--by", "bob"]
    assert cli(["promote", "churn", *asked_too_much]) == NOT_PROMOTED  # better, but not by 0.5
    assert cli(["promote", "churn", "--require", "significant", "--by", "ada"]) == 0
    assert cli(["promote", "churn", "--rollback"]) == 0  # by the OS user

    events = _history_json(capsys)  # newest first
    assert [(e["decision"], e["from_version"], e["to_version"]) for e in events] == [
        ("rolled back", "2", "1"),
        ("promoted", "1", "2"),
        ("refused", "1", "2"),
        ("promoted", "none", "1"),
    ]
    rolled, promoted, refused, first_promotion = events
    assert [e["by"] for e in (first_promotion, refused, promoted)] == ["ada", "bob", "ada"]
    import getpass

    assert rolled["by"] == getpass.getuser() and rolled["require"] == "rollback"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["at"]) for e in (rolled, refused))

    # each version's test figure with evaluate's interval, as register tagged it
    auc = first_promotion["figures"]["to_test_roc_auc"]
    assert first_promotion["figures"]["to_test_roc_auc_ci_low"] == pytest.approx(auc - 0.02, abs=1e-5)
    assert first_promotion["figures"]["to_test_roc_auc_ci_high"] == pytest.approx(auc + 0.02, abs=1e-5)
    assert "from_test_roc_auc" not in first_promotion["figures"]  # there was no champion
    assert "first promotion" in first_promotion["reason"] and first_promotion["require"] == "not-worse"
    # the paired gate's difference and interval, as the refusal message printed them
    figures = refused["figures"]
    assert (
        0 < figures["difference_ci_low"] < 0.5 and figures["ci_level"] == 0.95 and figures["min_delta"] == 0.5
    )
    shown = f"[{figures['difference_ci_low']:+.4f}, {figures['difference_ci_high']:+.4f}]"
    assert shown in refused["reason"] and "lower bound not above 0.5" in refused["reason"]
    assert refused["require"] == "significant" and figures["from_test_roc_auc"] == pytest.approx(auc)
    assert (
        promoted["figures"]["difference"] == figures["difference"] and "min_delta" not in promoted["figures"]
    )
    assert rolled["figures"]["from_test_roc_auc"] == promoted["figures"]["to_test_roc_auc"]
    assert rolled["figures"]["to_test_roc_auc"] == pytest.approx(auc)


def test_a_no_op_promote_and_a_failed_alias_move_are_recorded_as_such(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    rng = np.random.default_rng(2)
    labels = (rng.random(300) < 0.3).astype(int)
    _evaluated(project, np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.2, 300), 0, 1), labels, "rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--by", "ada"]) == 0
    assert cli(["promote", "churn", "--by", "bob"]) == 0  # version 1 is already champion
    assert "already champion" in capsys.readouterr().out

    _evaluated(project, np.clip(0.3 + 0.45 * labels + rng.normal(0, 0.1, 300), 0, 1), labels, "rows-a")
    assert cli(["register", "churn"]) == 0

    def unreachable(self: MlflowClient, *args: object) -> None:
        raise MlflowException("the registry did not answer")

    with monkeypatch.context() as patched, pytest.raises(MlflowException):
        patched.setattr(MlflowClient, "set_registered_model_alias", unreachable)
        cli(["promote", "churn", "--by", "cy"])

    events = _history_json(capsys)
    assert [(e["decision"], e["from_version"], e["to_version"], e["by"]) for e in events] == [
        ("promoted (failed)", "1", "2", "cy"),
        ("unchanged", "1", "1", "bob"),
        ("promoted", "none", "1", "ada"),
    ]
    failed, unchanged, _ = events
    assert "failed: MlflowException: the registry did not answer" in failed["reason"]
    assert "already champion" in unchanged["reason"]
    assert failed["figures"]["to_test_roc_auc"] > failed["figures"]["from_test_roc_auc"]
    assert str(MlflowClient().get_model_version_by_alias("churn", "champion").version) == "1"  # never moved


def test_history_prints_a_table_newest_first_from_mlflow_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
):
    import mlflow

    rng = np.random.default_rng(1)
    labels = (rng.random(200) < 0.4).astype(int)
    _evaluated(project, np.clip(0.3 + 0.3 * labels + rng.normal(0, 0.2, 200), 0, 1), labels, "rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--by", "ada"]) == 0
    _evaluated(project, np.clip(0.3 + 0.1 * labels + rng.normal(0, 0.2, 200), 0, 1), labels, "rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--by", "bob"]) == NOT_PROMOTED
    for local in ("models", "metrics", "reports", "mlartifacts"):  # nothing but the tracking store
        for path in sorted((project / local).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    capsys.readouterr()

    assert cli(["promote", "churn", "--history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:7] == ["when", "(UTC)", "decision", "from", "to", "by", "gate"]
    assert re.match(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+refused\s+1\s+2\s+bob\s+not-worse\s+test_roc_auc", lines[2]
    )
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+promoted\s+none\s+1\s+ada", lines[3])
    assert re.search(r"test_roc_auc 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\] vs 0\.\d{4} \[", lines[2])
    runs = mlflow.search_runs(experiment_names=["churn-promotions"])
    assert sorted(runs["tags.mlflow.user"]) == ["ada", "bob"]  # MLflow's own user column names them


def test_a_task_with_no_record_says_so(project: Path, capsys: pytest.CaptureFixture[str]):
    assert cli(["promote", "churn", "--history"]) == 0
    assert "churn: no promotion recorded" in capsys.readouterr().out
    assert _history_json(capsys) == []
