"""The score@<task> stage (``score <task> --stage``) and the champion record it depends on, against
a real MLflow SQLite registry and real ONNX Runtime sessions; tests/test_e2e.py (make test-e2e) runs it
through a real ``dvc repro``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from pipeline.__main__ import main as cli
from pipeline.core.io import read_json
from tests.test_registry import _trained
from tests.tiny_models import churn_model_dir, churn_rows


def _with_scoring(project: Path, **settings: object) -> None:
    from pipeline.core.config import params

    path = project / "params.yaml"
    values = yaml.safe_load(path.read_text())
    values["scoring"] = {"churn": settings}
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    params.cache_clear()


def _promoted(project: Path, test_auc: float) -> None:
    _trained(project, val_auc=0.86, test_auc=test_auc)
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn"]) == 0


def test_the_stage_scores_the_named_file_with_the_recorded_champion(project: Path, capsys) -> None:
    customers = churn_rows(40)
    customers.to_csv(project / "customers.csv", index=False)
    _with_scoring(project, input="customers.csv", ids=["CustomerId"])
    assert cli(["score", "churn", "--stage"]) == 1  # no champion yet
    assert "churn.champion.json: not found" in capsys.readouterr().err

    _promoted(project, 0.85)
    assert cli(["score", "churn", "--stage"]) == 0
    scored = pd.read_parquet(project / "scores" / "churn" / "scored.parquet")
    assert scored["CustomerId"].tolist() == customers["CustomerId"].tolist()
    assert scored["probability"].between(0, 1).all()
    summary = read_json(project / "reports" / "scoring" / "churn.json")
    assert summary["model"] == "models:/churn/1"
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (40, 40, 0)


def test_too_many_rejected_rows_fail_the_stage_and_keep_the_earlier_scores(project: Path, capsys) -> None:
    customers = churn_rows(20)
    customers.to_csv(project / "customers.csv", index=False)
    _with_scoring(project, input="customers.csv", max_rejected_share=0.1)
    _promoted(project, 0.85)
    assert cli(["score", "churn", "--stage"]) == 0
    before = (project / "scores" / "churn" / "scored.parquet").read_bytes()

    broken = customers.astype(object)
    broken.loc[[2, 5, 9], "Age"] = "old"  # 3 of 20 rows: 15% > 10%
    broken.to_csv(project / "customers.csv", index=False)
    assert cli(["score", "churn", "--stage"]) == 1
    err = capsys.readouterr().err
    assert "3 of 20 rows rejected (15.00%), above scoring.churn.max_rejected_share 0.1" in err
    assert "'old' is not a number" in err
    assert (project / "scores" / "churn" / "scored.parquet").read_bytes() == before
    assert read_json(project / "reports" / "scoring" / "churn.json")["rejected"] == 0

    _with_scoring(project, input="customers.csv", max_rejected_share=0.2)  # tolerated now
    assert cli(["score", "churn", "--stage"]) == 0
    assert len(pd.read_csv(project / "scores" / "churn" / "rejects.csv")) == 3
    assert read_json(project / "reports" / "scoring" / "churn.json")["rejected"] == 3


def test_scoring_names_a_task_and_a_csv_or_parquet_file(project: Path, capsys) -> None:
    for settings, problem in (
        ({"churn": {"input": "x.xlsx"}}, "must be a .csv or a .parquet file"),
        ({"nosuch": {"input": "x.csv"}}, "scoring names unknown task(s) nosuch"),
    ):
        path = project / "params.yaml"
        values = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**values, "scoring": settings}, sort_keys=False))
        from pipeline.core.config import params

        params.cache_clear()
        assert cli(["score", "churn", "--stage"]) == 1
        assert problem in capsys.readouterr().err


def test_a_failed_plain_score_leaves_the_earlier_output(project: Path, capsys) -> None:
    customers = churn_rows(10)
    customers.to_csv(project / "in.csv", index=False)
    args = [
        "score",
        "churn",
        "--model",
        str(churn_model_dir(project)),
        "--input",
        "in.csv",
        "--output",
        "out.csv",
    ]
    assert cli(args) == 0
    before = (project / "out.csv").read_text()
    customers.drop(columns=["Age"]).to_csv(project / "in.csv", index=False)  # a missing column
    assert cli(args) == 1
    assert "Age" in capsys.readouterr().err
    assert (project / "out.csv").read_text() == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".out")] == []
