"""The kind contract and the model bundle (issue 20).

Every registered kind is run through ``pipeline.tasks.contract.TaskKind`` on a tiny bundle of its
own: what the bundle records, how a row is answered, how a request's params are checked, what the
benchmark sends. A bundle answers from what it records, wherever it is started: copied outside any
checkout, with a neutral band other than params.yaml's, the server, predict and the registered
pyfunc agree.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from tiny_models import (
    REPO,
    balance_config,
    balance_model_dir,
    churn_model_dir,
    churn_rows,
    load_config,
    load_model_dir,
    load_rows,
    nextword_model_dir,
    sentiment_model_dir,
    stars_config,
    stars_model_dir,
)

from pipeline.core.config import load_params
from pipeline.core.errors import ModelError
from pipeline.serving import bundle
from pipeline.serving.inference import Predictor
from pipeline.serving.responses import answer_rows, check_request_params
from pipeline.tasks import KINDS, kind_named
from pipeline.tasks.contract import MEMBERS, TaskKind

BUILDERS = {
    "tabular": churn_model_dir,
    "text": sentiment_model_dir,
    "language_model": nextword_model_dir,
    "timeseries": load_model_dir,
}
# target types of a kind, each with its own tiny bundle: run through the contract like the kinds
TARGET_TYPES = {"tabular (number)": balance_model_dir, "text (number)": stars_model_dir}
CONFIGS = {
    "balance": balance_config,
    "stars": stars_config,
    "load": load_config,
}  # these bundles' own tasks (load's differs from params.yaml's)
PAGE_MODES = {"form", "binary_text", "classes_text", "next_word", "forecast"}


def test_every_registered_kind_has_a_tiny_bundle_here():
    assert set(BUILDERS) == set(KINDS), "a new kind needs a tiny bundle in this test"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_kind_module_has_every_member_of_the_contract_with_its_parameters(name):
    module = KINDS[name]
    for member in MEMBERS:
        assert callable(getattr(module, member, None)), f"{name} lacks {member}"
        wanted = list(inspect.signature(getattr(TaskKind, member)).parameters)[1:]  # no self
        assert list(inspect.signature(getattr(module, member)).parameters) == wanted, (name, member)


@pytest.mark.parametrize("name", sorted(KINDS) + sorted(TARGET_TYPES))
def test_a_kind_runs_through_the_contract_on_its_tiny_bundle(name, tmp_path):
    directory = {**BUILDERS, **TARGET_TYPES}[name](tmp_path)
    predictor = Predictor.from_dir(directory)
    kind = kind_named(predictor.kind)
    manifest = json.loads((directory / bundle.MANIFEST_FILE).read_text())

    assert predictor.kind == manifest["kind"] == name.split()[0]
    tasks = load_params(REPO / "params.yaml").tasks
    task = manifest["task"]  # the config the tiny bundle was built with (load's: not params.yaml's)
    config = CONFIGS[task]() if task in CONFIGS else tasks[task]
    spec = kind.input_spec(predictor.encoder, config)
    starting = kind.page_example(_task_rows(name), config)  # only a forecaster's page reads the rows
    assert spec | starting == manifest["input"] and spec["width"] == predictor.encoder.input_width
    assert np.dtype(kind.encoded_dtype()) == np.dtype(predictor.input_dtype) == np.dtype(spec["dtype"])
    assert {bundle.MODEL_FILE, bundle.ENCODER_FILE} <= set(manifest["files"])
    assert set(manifest["files"]) <= {bundle.MODEL_FILE, bundle.ENCODER_FILE, bundle.EXPLAIN_FILE}

    items = kind.bench_inputs(predictor.encoder, predictor.encoder.transform_records(_raw(name))[:3])
    inputs = items[0] if predictor.encoder.whole_request else items  # one request: a history, or rows
    result = predictor.score_records(inputs)
    assert not result.errors, result.errors
    answers = answer_rows(predictor, result.probabilities, result.known_token_share, inputs)
    expected = 1 if predictor.encoder.whole_request else len(inputs)  # a history is one input
    assert len(answers) == expected and all(isinstance(a, dict) and a for a in answers)
    try:  # every kind explains its answers, or says clearly that it cannot
        explained = kind.explain(predictor, inputs, result.probabilities, 3)
        assert len(explained) == expected and all(e["top"] for e in explained)
    except ValueError as exc:
        assert f"not supported for {predictor.kind}" in str(exc) or "no background sample" in str(exc)
    # `spark` scores a partition of the rows at a time: only a kind that answers each row by itself
    refusal = kind.row_scoring_refusal()
    if refusal is None:
        assert not predictor.encoder.whole_request and not kind.answers_next_words()
    else:
        assert "use predict" in refusal

    assert check_request_params(predictor, {}) == {}
    with pytest.raises(ValueError, match="unknown param"):
        check_request_params(predictor, {"no_such_param": 1})
    assert kind.page_mode(predictor.n_classes) in PAGE_MODES
    assert isinstance(kind.page_fields(predictor.encoder, manifest["input"]), dict)
    assert kind.request_key() in {"dataframe_records", "instances"}
    assert kind.cross_validation_off() is None or "cross-validation" in kind.cross_validation_off()


def _task_rows(name: str) -> Callable[[], Any]:
    """What export passes a kind as encode's rows: a table's or a text's must not be loaded."""
    if name == "timeseries":
        return load_rows

    def unread() -> Any:
        raise AssertionError(f"export loaded {name}'s rows, which its bundle does not record")

    return unread


def _raw(name: str) -> list:
    if name.startswith("tabular"):
        return json.loads(churn_rows(3).to_json(orient="records"))
    if name == "timeseries":  # one history: the series' last day and a half
        return load_rows().tail(36).to_dict(orient="records")
    return ["to be or not", "the great movie", "that is"]


def test_a_changed_file_or_a_wrong_width_is_refused_when_loading(tmp_path):
    directory = sentiment_model_dir(tmp_path)
    encoder = json.loads((directory / "encoder.json").read_text())

    (directory / "encoder.json").write_text(json.dumps(encoder | {"sequence_length": 9}))
    with pytest.raises(ModelError, match=r"encoder\.json: its sha256 differs"):
        Predictor.from_dir(directory)

    manifest = json.loads((directory / bundle.MANIFEST_FILE).read_text())
    manifest["files"]["encoder.json"] = bundle.sha256_file(directory / "encoder.json")
    (directory / bundle.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"the encoder makes rows of 9 values but .* records an input of 6"):
        Predictor.from_dir(directory)

    (directory / bundle.MANIFEST_FILE).unlink()
    with pytest.raises(ModelError, match=r"manifest\.json: not found"):
        Predictor.from_dir(directory)


SERVE_ELSEWHERE = """
import json, sys
from pipeline.serving.inference import Predictor
from pipeline.serving.service import ScoringService
service = ScoringService(Predictor.from_dir(sys.argv[1]), sys.argv[1])
body = json.dumps({"instances": ["fine", "great movie", "awful plot"]}).encode()
print(json.dumps(service.invocations(body, "application/json")["predictions"]))
"""


def test_a_copied_bundle_answers_with_its_own_band_wherever_it_is_served(tmp_path):
    """params.yaml says 0.1; the bundle says 0.3, and every way of serving it follows the bundle."""
    from pipeline.commands import predict
    from pipeline.serving.pyfunc_model import OnnxPipelineModel
    from pipeline.serving.service import ScoringService

    built = sentiment_model_dir(tmp_path / "checkout", neutral_band=0.3)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(built, elsewhere)
    texts = ["fine", "great movie", "awful plot"]

    body = json.dumps({"instances": texts}).encode()
    here = ScoringService(Predictor.from_dir(built), str(built)).invocations(body, "application/json")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ELSEWHERE, str(elsewhere)],
        cwd=tmp_path,  # no params.yaml here or above
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    served_elsewhere = json.loads(done.stdout)

    pyfunc = OnnxPipelineModel()
    pyfunc.load_context(SimpleNamespace(artifacts={"model_dir": str(elsewhere)}))
    from_pyfunc = pyfunc.predict(None, texts).to_dict(orient="records")

    assert served_elsewhere == here["predictions"]
    assert [a["label"] for a in from_pyfunc] == [a["label"] for a in served_elsewhere]
    # "fine" is p = 0.661: Positive at params.yaml's 0.1, Neutral at the bundle's 0.3
    assert served_elsewhere[0]["label"] == "Neutral"
    assert predict.main(["sentiment", "--model", str(elsewhere), "--text", "fine", "--format", "json"]) == 0


# ------------------------------------------------------------------ the classes' names (issue 25)
def _answers(directory, inputs):
    predictor = Predictor.from_dir(directory)
    result = predictor.score_records(inputs)
    return answer_rows(predictor, result.probabilities, result.known_token_share, inputs)


def test_the_answer_names_its_class_as_params_yaml_display_says_through_the_bundle(tmp_path):
    """churn's 1 is "leaves", sentiment's Positive "positive": the names travel in the manifest, and
    the fields a client already reads are unchanged."""
    churn = churn_model_dir(tmp_path)
    assert json.loads((churn / bundle.MANIFEST_FILE).read_text())["output"]["class_names"] == [
        "stays",
        "leaves",
    ]
    rows = json.loads(churn_rows(20).to_json(orient="records"))
    answers = _answers(churn, rows)
    assert all(set(a) == {"probability", "prediction", "class_name"} for a in answers)
    assert [a["class_name"] for a in answers] == [["stays", "leaves"][a["prediction"]] for a in answers]

    sentiment = sentiment_model_dir(tmp_path)
    texts = ["a great movie", "awful awful plot", "zxqv plmokn"]
    found = [(a["label"], a["class_name"]) for a in _answers(sentiment, texts)]
    assert found == [("Positive", "positive"), ("Negative", "negative"), ("Neutral", None)]


def test_a_bundle_exported_before_names_still_serves_its_classes_values(tmp_path):
    directory = churn_model_dir(tmp_path)
    manifest = json.loads((directory / bundle.MANIFEST_FILE).read_text())
    del manifest["output"]["class_names"], manifest["input"]["column_labels"]
    (directory / bundle.MANIFEST_FILE).write_text(json.dumps(manifest))

    answers = _answers(directory, json.loads(churn_rows(5).to_json(orient="records")))
    assert [a["class_name"] for a in answers] == [str(a["prediction"]) for a in answers]
    fields = kind_named("tabular").page_fields(Predictor.from_dir(directory).encoder, manifest["input"])
    assert all(f["label"] == f["name"] for f in fields["fields"])


def test_a_name_for_a_class_the_model_lacks_is_refused_when_the_classes_are_learned():
    """Learned classes (topics) are known only at export: the output contract names the key."""
    config = load_params(REPO / "params.yaml").task("topics")
    named = config.model_copy(
        update={"display": config.display.model_copy(update={"classes": {"sport": "Sport"}})}
    )
    text = kind_named("text")
    with pytest.raises(ValueError, match=r"display\.classes: 'sport' is not a class of this model"):
        text.output_contract(named, ["crude", "grain"], {})
    renamed = named.model_copy(
        update={"display": named.display.model_copy(update={"classes": {"crude": "Oil"}})}
    )
    assert text.output_contract(renamed, ["crude", "grain"], {})["class_names"] == ["Oil", "grain"]


def test_a_numeric_bundle_answers_a_value_and_its_interval_alike_everywhere(tmp_path):
    """The manifest records the target, its units and the interval; the server, the pyfunc and
    predict answer the same value in euros with [value - 5000, value + 5000], clipped at 0."""
    from pipeline.commands import predict
    from pipeline.serving.pyfunc_model import OnnxPipelineModel
    from pipeline.serving.service import ScoringService

    directory = balance_model_dir(tmp_path)
    output = json.loads((directory / bundle.MANIFEST_FILE).read_text())["output"]
    assert output == {
        "target": "Balance",
        "units": "EUR",
        "min": 0.0,
        "max": None,
        "interval_level": 0.9,
        "interval_half_width": 5000.0,
    }
    rows = churn_rows(3).drop(columns=["Balance", "Exited"])
    body = json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))}).encode()
    served = ScoringService(Predictor.from_dir(directory), str(directory)).invocations(
        body, "application/json"
    )
    answers = served["predictions"]
    for answer in answers:
        assert set(answer) == {"value", "interval"}
        low, high = answer["interval"]
        assert high == pytest.approx(answer["value"] + 5000.0) and low == max(answer["value"] - 5000.0, 0.0)

    pyfunc = OnnxPipelineModel()
    pyfunc.load_context(SimpleNamespace(artifacts={"model_dir": str(directory)}))
    from_pyfunc = pyfunc.predict(None, rows).to_dict(orient="records")
    assert [a["value"] for a in from_pyfunc] == pytest.approx([a["value"] for a in answers])

    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "out.csv"
    args = ["balance", "--model", str(directory), "--input", str(tmp_path / "rows.csv"), "--output", str(out)]
    assert predict.main(args) == 0
    import pandas as pd

    written = pd.read_csv(out)
    assert written["value"].tolist() == pytest.approx([a["value"] for a in answers], rel=1e-6)
    assert written["interval_high"].tolist() == pytest.approx([a["interval"][1] for a in answers], rel=1e-6)
    with pytest.raises(ValueError, match="unknown param"):
        check_request_params(Predictor.from_dir(directory), {"neutral_band": 0.2})
