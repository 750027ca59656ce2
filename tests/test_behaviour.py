"""Behavioural checks (issue 24 item 6): declared in tasks.<task>.behaviour, run by register on the
exported ONNX bundle, shown on the model card and in MLflow, and gated on by promote --require behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.__main__ import main as cli
from pipeline.commands.promote import NOT_PROMOTED
from pipeline.core.behaviour_config import BehaviourConfig
from pipeline.core.config import ConfigError
from pipeline.serving.behaviour import describe, run_checks, summary
from pipeline.serving.inference import Predictor
from pipeline.tasks import kind_named
from tests.conftest import edit_params
from tests.test_registry import _trained
from tests.tiny_models import churn_model_dir, sentiment_model_dir

# the tiny churn model: older, inactive, German customers leave (tests/tiny_models.churn_weights)
CUSTOMER = {
    "CreditScore": 650,
    "Geography": "France",
    "Gender": "Male",
    "Age": 40,
    "Tenure": 5,
    "Balance": 0.0,
    "NumOfProducts": 2,
    "HasCrCard": 1,
    "IsActiveMember": 1,
    "EstimatedSalary": 60000.0,
}
OLDER = {"name": "older is riskier", "input": CUSTOMER, "changed": {"Age": 80}, "expect": "higher"}
ACTIVE = {
    "name": "active lowers risk",
    "input": CUSTOMER | {"IsActiveMember": 0},
    "changed": {"IsActiveMember": 1},
}


def _results(directory: Path, kind: str, section: dict) -> list[dict]:
    return run_checks(
        "t", BehaviourConfig.model_validate(section), kind_named(kind), Predictor.from_dir(directory)
    )


def test_checks_that_hold_pass_and_one_that_fails_shows_its_inputs_and_answers(tmp_path: Path):
    section = {
        "invariance": [{"name": "a card changes nothing", "input": CUSTOMER, "changed": {"HasCrCard": 0}}],
        "direction": [
            OLDER,
            ACTIVE | {"expect": "lower"},
            ACTIVE | {"name": "wrong way", "expect": "higher"},
        ],
        "minimum": [
            {"name": "a young active customer stays", "input": CUSTOMER | {"Age": 20}, "expect": "stays"}
        ],
    }
    results = _results(churn_model_dir(tmp_path), "tabular", section)

    assert [r["passed"] for r in results] == [True, True, True, False, True]
    assert summary(results) == "failed 1 of 5: wrong way"
    wrong = results[3]
    assert wrong["inputs"] == [CUSTOMER | {"IsActiveMember": 0}, CUSTOMER]  # the rows as scored
    assert wrong["answers"] == ["stays", "stays"] and wrong["scores"][1] < wrong["scores"][0]
    assert "'wrong way' FAILED: answered stays (" in describe(
        wrong
    ) and "expected the score higher" in describe(wrong)
    assert results[4]["answers"] == ["stays"] and results[4]["expected"] == "stays"

    # a text: a typo in a word the model does not know changes nothing; "bad" scores below "good"
    text = {
        "invariance": [{"name": "typo", "input": "a good movie", "changed": "a good moovie"}],
        "direction": [
            {"name": "bad below good", "input": "a good plot", "changed": "a bad plot", "expect": "lower"}
        ],
        "minimum": [{"name": "great", "input": "a great movie", "expect": "Positive"}],
    }
    results = _results(sentiment_model_dir(tmp_path), "text", text)
    assert summary(results) == "passed 3 of 3", [describe(r) for r in results]
    assert results[1]["scores"][0] > 0.5 > results[1]["scores"][1]


def test_wrong_checks_are_refused_naming_the_key(project: Path, tmp_path: Path):
    from pipeline.core.config import params

    edit_params(project / "params.yaml", churn={"behaviour": {"direction": [OLDER | {"expect": "down"}]}})
    params.cache_clear()
    with pytest.raises(
        ConfigError, match=r"tasks\.churn\.behaviour\.direction\.0\.expect: Input should be 'lower'"
    ):
        params()
    edit_params(project / "params.yaml", churn={"behaviour": {"minimum": [{"name": "x", "input": "hi"}]}})
    params.cache_clear()
    with pytest.raises(ConfigError, match=r"tasks\.churn\.behaviour\.minimum\.0\.expect: Field required"):
        params()

    churn = churn_model_dir(tmp_path)
    bad_column = {
        "minimum": [{"name": "misspelt column", "input": CUSTOMER | {"Agee": 30}, "expect": "stays"}]
    }
    with pytest.raises(
        ConfigError,
        match=r"tasks\.t\.behaviour\.minimum\.0 \('misspelt column'\): input 1: unexpected column\(s\) Agee",
    ):
        _results(churn, "tabular", bad_column)
    a_text = {"minimum": [{"name": "text for a table", "input": "a good movie", "expect": "stays"}]}
    with pytest.raises(ConfigError, match=r"minimum\.0 \('text for a table'\): a table's check takes rows"):
        _results(churn, "tabular", a_text)
    no_class = {"direction": [OLDER | {"of_class": "maybe"}]}
    with pytest.raises(
        ConfigError,
        match=r"direction\.0 .*unknown class 'maybe'; expected one of \['0', '1', 'leaves', 'stays'\]",
    ):
        _results(churn, "tabular", no_class)
    with pytest.raises(ValueError, match="not supported for language_model tasks"):
        kind_named("language_model").behaviour_input("a", None)


def test_register_records_the_checks_and_promote_require_behaviour_gates_on_them(
    project: Path, capsys: pytest.CaptureFixture[str]
):
    import mlflow

    failing = {
        "invariance": [],
        "direction": [OLDER | {"expect": "lower"}],
        "minimum": [{"name": "stays", "input": CUSTOMER, "expect": "stays"}],
    }
    edit_params(project / "params.yaml", churn={"behaviour": failing})
    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0  # a failed check does not stop register
    client = mlflow.MlflowClient()
    version = client.get_model_version("churn", "1")
    assert version.tags["behaviour_checks"] == "failed 1 of 2: older is riskier"
    card = (project / "reports" / "churn" / "model_card.md").read_text()
    assert "## Behavioural checks" in card and "1 of 2 FAILED" in card
    assert (
        "| direction | older is riskier | " in card
        and "| Age 40 → 80 | stays (" in card
        and "| FAILED |" in card
    )
    logged = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/behaviour/behaviour_v1.json")["checks"]
    assert [(c["name"], c["passed"]) for c in logged] == [("older is riskier", False), ("stays", True)]

    assert cli(["promote", "churn", "--require", "behaviour", "--by", "ada"]) == NOT_PROMOTED
    assert "behavioural checks failed 1 of 2: older is riskier" in capsys.readouterr().out
    assert cli(["promote", "churn", "--history", "--json"]) == 0
    (refused,) = json.loads(capsys.readouterr().out)
    assert refused["decision"] == "refused" and refused["require"] == "behaviour"
    assert "behavioural checks failed 1 of 2" in refused["reason"]

    edit_params(project / "params.yaml", churn={"behaviour": failing | {"direction": [OLDER]}})
    from pipeline.core.config import params

    params.cache_clear()
    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    assert client.get_model_version("churn", "2").tags["behaviour_checks"] == "passed 2 of 2"
    assert cli(["promote", "churn", "--require", "behaviour", "--require", "not-worse"]) == 0
    assert "behavioural checks passed 2 of 2" in capsys.readouterr().out
    assert {k: str(v) for k, v in client.get_registered_model("churn").aliases.items()}["champion"] == "2"
