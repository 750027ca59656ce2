"""register -> promote -> rollback against a real MLflow SQLite store and registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from pipeline.commands.promote import NOT_PROMOTED, decide
from pipeline.core.io import write_json
from tests.conftest import REPO
from tests.tiny_models import churn_encoder, churn_model_dir, churn_rows


def _trained(project: Path, val_auc: float, test_auc: float) -> None:
    """What train/evaluate/export leave for register: a model dir, run.json and metrics."""
    import mlflow

    from pipeline.core import tracking

    model_dir = churn_model_dir(project)
    tracking.setup_experiment("churn")
    with mlflow.start_run(tags=tracking.run_tags("churn", "ann", stage="train")) as run:
        pass
    write_json(model_dir / "run.json", {"run_id": run.info.run_id})
    metrics = {"val": {"roc_auc": val_auc, "accuracy": 0.8}, "test": {"roc_auc": test_auc, "accuracy": 0.8}}
    write_json(project / "metrics" / "churn" / "ann.json", {**metrics, "onnx_parity_bound": 1e-5})
    split = churn_rows(4).assign(split="train")
    (project / "data" / "encoded" / "churn").mkdir(parents=True, exist_ok=True)
    split.to_parquet(project / "data" / "encoded" / "churn" / "splits.parquet")
    encoded = churn_encoder().transform(churn_rows(30, seed=2))  # the card's importances sample it
    np.savez(project / "data" / "encoded" / "churn" / "test.npz", x=encoded, y=np.zeros(len(encoded)))


def _aliases(name: str) -> dict[str, str]:
    from pipeline.core import tracking

    return {k: str(v) for k, v in tracking.mlflow_client().get_registered_model(name).aliases.items()}


def test_promotion_gate_is_not_worse_and_first_promotion_is_free():
    assert decide(0.80, None, "test_roc_auc").promote
    assert decide(0.85, 0.85, "test_roc_auc").promote
    assert not decide(0.84, 0.85, "test_roc_auc").promote


def test_register_promote_rollback_round_trip(project: Path, capsys: pytest.CaptureFixture[str]):
    import mlflow

    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    assert _aliases("churn") == {"challenger": "1"}
    version = mlflow.MlflowClient().get_model_version("churn", "1")
    assert version.tags["arch"] == "ann" and float(version.tags["test_roc_auc"]) == pytest.approx(0.85)

    # the registered pyfunc takes raw customer rows, no encoding by the caller
    model = mlflow.pyfunc.load_model("models:/churn@challenger")
    out = model.predict(churn_rows(3))
    assert (
        list(out.columns) == ["probability", "prediction", "class_name"]
        and out["probability"].between(0, 1).all()
    )
    assert out["class_name"].tolist() == [["stays", "leaves"][p] for p in out["prediction"]]
    explained = model.predict(churn_rows(3), params={"explain": True})  # issue 24: the bundle explains
    first = explained["explanation"][0]
    assert explained["probability"].tolist() == out["probability"].tolist() and "explanation" not in out
    assert first["output"] == pytest.approx(out["probability"][0], abs=1e-5) and len(first["top"]) == 5
    # the card calls the classes by the names the bundle records (params.yaml's display.classes)
    card = (project / "reports" / "churn" / "model_card.md").read_text()
    assert re.search(r"class balance \(all rows\): [01] \((stays|leaves)\) \d", card), card
    # what moves the answers: mean |SHAP| per column on the card, its chart in the run (issue 24)
    assert "## What moves its answers" in card and re.search(r"\| Age \| 0\.\d{4} \|", card), card
    rows = card[card.index("| column | mean abs SHAP |") :].splitlines()[2:12]
    assert rows[0].startswith(("| Age ", "| IsActiveMember ")), rows  # the tiny model's heaviest weights
    artifacts = mlflow.MlflowClient().list_artifacts(version.run_id, "explanations")
    assert [a.path for a in artifacts] == ["explanations/importance.png"]

    assert cli(["promote", "churn"]) == 0
    assert "first promotion" in capsys.readouterr().out
    assert _aliases("churn")["champion"] == "1"
    record = project / "reports" / "registry" / "churn.champion.json"  # score@churn's dependency
    assert json.loads(record.read_text())["version"] == "1"

    _trained(project, val_auc=0.87, test_auc=0.80)  # worse on test: refused
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn"]) == NOT_PROMOTED
    assert "not promoted" in capsys.readouterr().out
    assert _aliases("churn") == {"challenger": "2", "champion": "1"}

    _trained(project, val_auc=0.88, test_auc=0.90)
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn"]) == 0
    assert _aliases("churn")["champion"] == "3"
    assert json.loads(record.read_text())["version"] == "3"

    assert cli(["promote", "churn", "--rollback"]) == 0
    assert "to version 1" in capsys.readouterr().out
    assert _aliases("churn")["champion"] == "1"
    assert json.loads(record.read_text())["version"] == "1"
    assert cli(["promote", "churn", "--rollback"]) == 1  # nothing older than the first champion
    assert "no earlier champion" in capsys.readouterr().err


def test_promote_without_a_challenger_is_a_clear_error(project: Path, capsys: pytest.CaptureFixture[str]):
    from pipeline.core import tracking

    tracking.mlflow_client().create_registered_model("churn")
    assert cli(["promote", "churn"]) == 1
    assert "no 'challenger' alias" in capsys.readouterr().err


def test_rollback_right_after_the_first_promotion_says_there_is_no_earlier_champion(
    project: Path, capsys: pytest.CaptureFixture[str]
):
    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn"]) == 0
    capsys.readouterr()

    assert cli(["promote", "churn", "--rollback"]) == 1
    err = capsys.readouterr().err
    assert "no earlier champion to roll back to: version 1 is the first champion" in err
    assert "history is empty" not in err  # the history holds ["1"]: it is not empty
    assert _aliases("churn") == {"challenger": "1", "champion": "1"}  # nothing moved


def _mlflow_server_answer(model, body: dict) -> tuple[int, str]:
    """What ``mlflow models serve`` answers, through its own request parsing, in process."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    try:
        response = scoring_server.invocations(
            json.dumps(body), "application/json", model, model.metadata.get_input_schema()
        )
    except MlflowException as exc:  # its server answers with the exception's status and message
        return exc.get_http_status_code(), exc.message
    return response.status, response.response


def test_mlflow_serve_and_the_pyfunc_follow_our_input_rules(project: Path):
    """MLflow's schema enforcement would cast 52.5 to 52 and true to 1 before the model saw them."""
    import mlflow

    from pipeline.core.errors import DataError

    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    model = mlflow.pyfunc.load_model("models:/churn@challenger")
    rows = json.loads(churn_rows(2).to_json(orient="records"))

    status, answer = _mlflow_server_answer(model, {"dataframe_records": rows})
    assert status == 200 and len(json.loads(answer)["predictions"]) == 2
    as_text = [r | {"Age": str(r["Age"]), "NumOfProducts": str(r["NumOfProducts"])} for r in rows]
    assert _mlflow_server_answer(model, {"dataframe_records": as_text}) == (status, answer)
    for column, value, message in [
        ("Age", 52.5, "row 2, column 'Age': 52.5 is not a whole number; expected an integer in [18, 100]"),
        ("Age", True, "row 2, column 'Age': expected a number, got a boolean (true)"),
        (
            "NumOfProducts",
            7,
            "row 2, column 'NumOfProducts': unknown category 7; expected one of [1, 2, 3, 4]",
        ),
    ]:
        bad = [rows[0], rows[1] | {column: value}]
        status, answer = _mlflow_server_answer(model, {"dataframe_records": bad})
        assert status == 400 and message in answer, (column, value, answer)
        with pytest.raises(DataError, match=re.escape(message)):
            model.predict(pd.DataFrame.from_records(bad))


def test_the_pyfunc_flags_a_text_with_no_known_word(tmp_path: Path):
    """The registered model's predict, on a model directory as MLflow hands it over."""
    from types import SimpleNamespace

    from pipeline.serving.pyfunc_model import OnnxPipelineModel
    from tests.tiny_models import sentiment_model_dir

    model = OnnxPipelineModel()
    model.load_context(
        SimpleNamespace(artifacts={"model_dir": str(sentiment_model_dir(tmp_path, oov_score=1.0))})
    )
    out = model.predict(None, ["a great movie", "zxqv plmokn qwertyuiop"])

    assert list(out.columns) == ["probability", "label", "class_name", "known_token_share", "warning"]
    assert out["label"].tolist() == ["Positive", "Neutral"]
    assert out["class_name"].tolist() == ["positive", None]  # a Neutral answer names no class
    assert out["known_token_share"].tolist() == [pytest.approx(0.6667), 0.0]
    assert out["warning"][0] is None and "no word of this text" in out["warning"][1]


def test_the_registered_model_ships_the_serving_code_and_nothing_more(tmp_path: Path) -> None:
    from pipeline.stages.register import SHIPPED, serving_code
    from tests.test_dvc_deps import closure, module_file

    code = serving_code(tmp_path)
    shipped = {p.relative_to(tmp_path).as_posix() for p in code.rglob("*.py")}
    needed = {module_file(m).relative_to(REPO).as_posix() for m in closure("pipeline.serving.pyfunc_model")}
    assert needed <= shipped, f"the pyfunc imports modules it would not ship: {sorted(needed - shipped)}"
    # the kind modules (tasks/) shape the answers; the stages and the Keras builders stay behind
    assert not any(part in name for name in shipped for part in ("stages/", "modeling/"))
    assert {name.split("/")[1] for name in shipped} == set(SHIPPED)


def test_serve_and_predict_without_a_champion_say_what_to_do(project: Path, capsys):
    """After a fresh `make repro` only 'challenger' exists: the default @champion must fail with
    the remedy, not MLflow's "alias champion not found" traceback."""
    import os
    import subprocess
    import sys

    from tests.tiny_models import REPO

    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    assert _aliases("churn") == {"challenger": "1"}
    remedy = ("python -m pipeline promote churn", "--model models:/churn@challenger")

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "pipeline", "serve", "churn", "--port", "0"]
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: models:/churn@champion: registered model 'churn' has no alias")
    assert all(r in done.stderr for r in remedy), done.stderr

    churn_rows(2).to_csv(project / "rows.csv", index=False)
    capsys.readouterr()
    assert cli(["predict", "churn", "--input", str(project / "rows.csv")]) == 1
    err = capsys.readouterr().err
    assert all(r in err for r in remedy), err
    challenger = ["--model", "models:/churn@challenger"]  # the second remedy works
    assert cli(["predict", "churn", "--input", str(project / "rows.csv"), *challenger]) == 0

    capsys.readouterr()
    assert cli(["predict", "sentiment", "--text", "fine"]) == 1  # nothing registered at all
    assert "no registered model 'sentiment'" in capsys.readouterr().err


def test_health_names_the_registered_version_an_alias_resolved_to(project: Path):
    import hashlib

    from pipeline.core.io import read_json
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    model_dir = project / "models" / "churn" / "ann"
    sha256 = hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest()
    run_id = read_json(model_dir / "run.json")["run_id"]

    uri = "models:/churn@challenger"
    health = ScoringService(Predictor.load(uri), uri, 0.1).health()
    assert {k: health[k] for k in ("model", "registered_model", "model_version", "alias", "run_id")} == {
        "model": uri,
        "registered_model": "churn",
        "model_version": "1",
        "alias": "challenger",
        "run_id": run_id,
    }
    assert health["onnx_sha256"] == sha256  # the registered file is the exported one

    assert cli(["promote", "churn"]) == 0
    source = Predictor.load("models:/churn@champion").source
    assert (source.version, source.alias, source.run_id) == ("1", "champion", run_id)
    source = Predictor.load("models:/churn/1").source
    assert (source.registered_model, source.version, source.alias) == ("churn", "1", None)
    assert source.run_id == run_id


def _evaluated(project: Path, scores, labels, rows: str) -> None:
    """What evaluate and export leave for register: scores, labels and test-row fingerprint too."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from pipeline.core.io import read_json, save_array

    auc = float(roc_auc_score(labels, scores))
    _trained(project, val_auc=auc, test_auc=auc)
    out = project / "reports" / "eval" / "churn" / "ann"
    save_array(out / "test_scores.npy", np.asarray(scores, dtype="float32"))
    save_array(out / "test_labels.npy", np.asarray(labels, dtype="int32"))
    path = project / "metrics" / "churn" / "ann.json"
    metrics = read_json(path)
    metrics["test"]["roc_auc_ci"] = [auc - 0.02, auc + 0.02]
    write_json(path, {**metrics, "test_rows_sha256": rows})


def test_min_delta_asks_for_more_than_not_worse():
    assert not decide(0.86, 0.85, "test_roc_auc", min_delta=0.02).promote
    assert decide(0.88, 0.85, "test_roc_auc", min_delta=0.02).promote
    assert not decide(0.85, 0.85, "test_roc_auc", min_delta=0.0).promote  # ahead by more than 0


def test_model_cards_and_a_promotion_gate_that_knows_noise(project: Path, capsys: pytest.CaptureFixture[str]):
    import mlflow
    import numpy as np

    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.3).astype(int)
    first = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.2, 400), 0, 1)

    _evaluated(project, first, labels, rows="rows-a")
    assert cli(["register", "churn"]) == 0
    card = mlflow.MlflowClient().get_model_version("churn", "1").description
    assert card.startswith("# Model card: churn / ann") and "the registered model's aliases say" in card
    assert "Rank a bank's retail customers" in card and "## Known limits" in card  # params.yaml's card
    assert re.search(r"\| roc_auc \| 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\] \|", card)
    run_id = json.loads((project / "models" / "churn" / "ann" / "run.json").read_text())["run_id"]
    assert f"MLflow run: {run_id}" in card and "git commit:" in card
    written = (project / "reports" / "churn" / "model_card.md").read_text()
    assert written in card and run_id not in written  # per-registration ids stay out of the tracked file
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/model_card_v1.md") == card
    assert cli(["promote", "churn", "--require", "significant"]) == 0  # the first promotion is free
    capsys.readouterr()

    twin = np.clip(first + rng.normal(0, 0.02, 400), 0, 1)  # as good: a lucky split at most
    _evaluated(project, twin, labels, rows="rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--require", "significant"]) == NOT_PROMOTED
    out = capsys.readouterr().out
    assert "not promoted" in out and "paired bootstrap interval [" in out and "not a significant" in out
    assert _aliases("churn")["champion"] == "1"
    client = mlflow.MlflowClient()
    client.set_model_version_tag("churn", "2", "test_rows_sha256", "rows-b")  # as if from another split
    assert cli(["promote", "churn", "--require", "significant"]) == 1
    assert "same test rows" in capsys.readouterr().err and _aliases("churn")["champion"] == "1"

    better = np.clip(0.3 + 0.45 * labels + rng.normal(0, 0.1, 400), 0, 1)
    _evaluated(project, better, labels, rows="rows-a")
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn", "--require", "significant", "--min-delta", "0.01"]) == 0
    assert "lower bound above 0.01" in capsys.readouterr().out
    assert _aliases("churn")["champion"] == "3"


def test_a_card_stays_true_when_the_aliases_move(project: Path):
    """Version 1's card must not claim an alias that has moved to version 2: the cards name none and
    point to the registered model's aliases; the tracked card comes out the same on each registration."""
    import mlflow

    client = mlflow.MlflowClient()
    tracked = project / "reports" / "churn" / "model_card.md"
    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    first_card, first_written = client.get_model_version("churn", "1").description, tracked.read_text()
    assert cli(["promote", "churn"]) == 0

    _trained(project, val_auc=0.86, test_auc=0.85)  # the same model registered again
    assert cli(["register", "churn"]) == 0
    assert cli(["promote", "churn"]) == 0
    assert _aliases("churn") == {"challenger": "2", "champion": "2"}

    cards = {v: client.get_model_version("churn", v).description for v in ("1", "2")}
    assert cards["1"] == first_card  # nothing rewrote it, and nothing in it became false
    for version, card in cards.items():
        assert 'get_registered_model("churn").aliases' in card, version
        text = card.lower().replace("is `challenger` and which is `champion`", "")
        assert not re.search(r"challenger: |champion: |alias (challenger|champion)\b", text), card
        assert f"churn version {version}" in card  # the lineage is the version's own
    assert tracked.read_text() == first_written  # stable across registrations: no version, no alias
    assert "version 1" not in first_written and "Challenger: " not in first_written
