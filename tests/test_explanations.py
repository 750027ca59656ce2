"""Explanations (issue 24): SHAP values per column of a table, words left out of a text, on request.

Real ONNX Runtime sessions on the tiny bundles of tests/tiny_models.py, real shap.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

if importlib.util.find_spec("shap") is None:  # not imported here: the explainer sets up Numba first
    pytest.skip("shap is not installed", allow_module_level=True)

from tiny_models import (
    churn_encoder,
    churn_model_dir,
    churn_onnx,
    churn_rows,
    churn_weights,
    finish_bundle,
    load_model_dir,
    nextword_model_dir,
    sentiment_model_dir,
    topics_model_dir,
    write_churn_background,
)

from pipeline.commands import predict
from pipeline.core.errors import DataError
from pipeline.core.io import write_json
from pipeline.serving.inference import Predictor
from pipeline.serving.requests import RequestError
from pipeline.serving.responses import explain_rows
from pipeline.serving.service import ScoringService


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def ignoring_credit_score(root: Path) -> Path:
    """The tiny churn model with a weight of 0 on CreditScore: the model ignores that column."""
    directory = root / "models" / "churn" / "blind"
    encoder = churn_encoder()
    w, b = churn_weights(encoder)
    w[encoder.feature_names.index("CreditScore")] = 0.0
    churn_onnx(directory / "model.onnx", w, b, arch="blind")
    write_json(directory / "encoder.json", encoder.to_dict())
    write_churn_background(directory, encoder)
    return finish_bundle(directory, "churn", "blind", encoder)


def full_explanations(predictor: Predictor, rows: pd.DataFrame) -> list[dict]:
    probabilities = predictor.score_frame(rows).probabilities
    return explain_rows(predictor, rows, probabilities, top=len(predictor.encoder.input_columns))


def test_a_rows_contributions_add_up_to_its_probability_and_an_ignored_column_gets_none(root):
    predictor = Predictor.from_dir(ignoring_credit_score(root))
    rows = churn_rows(4, seed=5)
    explanations = full_explanations(predictor, rows)

    probabilities = predictor.score_frame(rows).probabilities
    for explanation, p in zip(explanations, probabilities, strict=True):
        listed = {c["column"] for c in explanation["top"]}
        assert listed == set(predictor.encoder.input_columns)  # the user's columns, not one-hot features
        total = explanation["base_value"] + sum(c["contribution"] for c in explanation["top"])
        assert total == pytest.approx(p, abs=1e-4) and explanation["output"] == pytest.approx(p, abs=1e-5)
        by_column = {c["column"]: c["contribution"] for c in explanation["top"]}
        assert abs(by_column["CreditScore"]) < 1e-6
        assert abs(by_column["Age"]) > 0.01  # the column the model leans on most moves the answer
    background = np.asarray(
        json.loads((predictor.bundle.directory / "explain.json").read_text())["background"]
    )
    base = predictor.predict_encoded(background.astype(np.float32)).mean()
    assert explanations[0]["base_value"] == pytest.approx(base, abs=1e-5)  # the background's mean output


def test_the_same_row_is_explained_the_same_way_twice(root):
    predictor = Predictor.from_dir(churn_model_dir(root))
    rows = churn_rows(1)
    assert full_explanations(predictor, rows) == full_explanations(predictor, rows)


def test_serve_answers_explain_true_with_top_contributions_and_not_otherwise(root):
    service = ScoringService(Predictor.from_dir(churn_model_dir(root)), "churn")
    records = churn_rows(2).drop(columns=["Exited"]).to_dict("records")

    plain = service.invocations(json.dumps({"dataframe_records": records}).encode(), "application/json")
    body = json.dumps({"dataframe_records": records, "explain": True}).encode()
    explained = service.invocations(body, "application/json")

    assert all("explanation" not in a for a in plain["predictions"])
    for before, after in zip(plain["predictions"], explained["predictions"], strict=True):
        top = after["explanation"]["top"]
        assert len(top) == 5 and set(top[0]) == {"column", "value", "contribution"}
        assert after["probability"] == before["probability"]
        sizes = [abs(c["contribution"]) for c in top]
        assert sizes == sorted(sizes, reverse=True)
    assert (
        explained["predictions"][0]["explanation"]["top"][0]["value"]
        == records[0][explained["predictions"][0]["explanation"]["top"][0]["column"]]
    )
    as_param = {"dataframe_records": records, "params": {"explain": True}}  # as mlflow models serve takes it
    assert service.invocations(json.dumps(as_param).encode(), None) == explained
    with pytest.raises(RequestError, match="explain must be true or false; got a string"):
        service.invocations(json.dumps({"dataframe_records": records, "explain": "yes"}).encode(), None)


def test_a_language_model_and_a_forecaster_refuse_to_explain_clearly(root, tmp_path, monkeypatch):
    service = ScoringService(Predictor.from_dir(nextword_model_dir(root)), "nextword")
    body = json.dumps({"instances": ["to be or"], "explain": True}).encode()
    with pytest.raises(RequestError, match="not supported for language_model models") as refused:
        service.invocations(body, "application/json")
    assert refused.value.status == 400

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="--explain: explanations are not supported for timeseries models"):
        predict.main(["load", "--model", str(load_model_dir(root)), "--history", "x.csv", "--explain"])


def test_predict_explain_lists_each_rows_top_columns(root, tmp_path, capsys):
    churn_rows(3).to_csv(tmp_path / "in.csv", index=False)
    model = str(churn_model_dir(root))
    files = ["--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o.csv")]
    status = predict.main(["churn", "--model", model, *files, "--explain"])
    assert status == 0
    out = pd.read_csv(tmp_path / "o.csv")
    first = out.loc[0, "explanation"].split("; ")
    assert len(first) == 5 and all("=" in part and ": " in part for part in first)
    assert any(part.startswith("Age=") for part in first)


def test_a_texts_most_important_word_is_the_one_the_model_keys_on(root):
    predictor = Predictor.from_dir(sentiment_model_dir(root))
    texts = ["the movie was great and the plot fine", "an awful plot"]
    probabilities = predictor.score_records(texts).probabilities
    explanations = explain_rows(predictor, texts, probabilities)

    assert explanations[0]["top"][0]["word"] == "great" and explanations[0]["top"][0]["change"] > 0
    assert explanations[0]["explains"] == "probability of 1"
    assert explanations[1]["top"][0]["word"] == "awful"
    assert explanations[1]["explains"] == "probability of 0" and explanations[1]["top"][0]["change"] > 0


def test_a_multi_class_text_is_explained_for_the_class_it_answers(root):
    predictor = Predictor.from_dir(topics_model_dir(root))
    texts = ["oil prices and shares news"]
    probabilities = predictor.score_records(texts).probabilities
    explanation = explain_rows(predictor, texts, probabilities)[0]
    assert explanation["explains"] == "probability of crude"
    assert explanation["top"][0]["word"] == "oil"


def test_the_big_batch_worker_loads_shap_before_the_first_explained_request(root):
    """serve starts the worker at start-up; for a table's bundle it then imports shap (~3 s) before it
    takes a request, so the first explained request does not pay for it. A text bundle (leave one
    word out) needs nothing more."""
    from pipeline.serving.big_batches import BigBatchWorker

    for directory, loaded in ((churn_model_dir(root), ["shap"]), (sentiment_model_dir(root), [])):
        worker = BigBatchWorker(ScoringService(Predictor.from_dir(directory), directory.name))
        try:
            worker.start()
            assert worker.warmed is not None and worker.warmed.result(timeout=120) == loaded
        finally:
            worker.close()


def test_the_server_explains_in_its_worker_process_and_answers_as_in_process(root):
    """An explained request leaves the event loop (it runs where big batches run), and its answer is
    the one the service gives in process; a plain request is still answered by the loop."""
    import http.client

    from pipeline.serving.app import make_server

    directory = churn_model_dir(root)
    service = ScoringService(Predictor.from_dir(directory), "churn")
    records = json.loads(churn_rows(1).drop(columns=["Exited"]).to_json(orient="records"))
    server = make_server(service, "127.0.0.1", 0)
    thread = server.start_in_thread()
    answers = []
    try:
        for doc in ({"dataframe_records": records}, {"dataframe_records": records, "explain": True}):
            host, port = server.sock.getsockname()[:2]
            connection = http.client.HTTPConnection(host, port, timeout=60)
            connection.request("POST", "/invocations", json.dumps(doc), {"Content-Type": "application/json"})
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read())))
            connection.close()
        worker = server.app.worker.pid
    finally:
        server.stop(thread)

    (plain_status, plain), (status, explained) = answers
    assert plain_status == status == 200 and "explanation" not in plain["predictions"][0]
    assert worker is not None  # started by the explained request: the plain one stays in the loop
    body = json.dumps({"dataframe_records": records, "explain": True}).encode()
    assert explained == service.invocations(body, "application/json")
