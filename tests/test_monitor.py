"""monitor: a batch against the reference split, and serve --log-requests' log read back (issue 24).

Real ONNX Runtime on the tiny bundles of tests/tiny_models.py, a real validation split (the
default reference) written where encode writes it, a real MLflow sqlite store in the temporary
project, a real server for the log.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from conftest import edit_params
from tiny_models import WORDS, churn_model_dir, churn_rows, nextword_model_dir, sentiment_model_dir

from pipeline.__main__ import main as pipeline_main
from pipeline.core.config import ConfigError, load_params

DRIFT = 4


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"churn": churn_model_dir(root), "sentiment": sentiment_model_dir(root)}


def write_split(project: Path, task: str, frame: pd.DataFrame, train: pd.DataFrame | None = None) -> None:
    """The validation split (the default reference) where encode leaves it
    (data/encoded/<task>/splits.parquet), and ``train`` as the training rows (default: none)."""
    folder = project / "data" / "encoded" / task
    folder.mkdir(parents=True, exist_ok=True)
    parts = [frame.assign(split="val")] + ([] if train is None else [train.assign(split="train")])
    pd.concat(parts, ignore_index=True).to_parquet(folder / "splits.parquet", index=False)


def reviews(n: int, seed: int, unseen_share: float = 0.0) -> pd.DataFrame:
    """Texts of 6-12 words of the tiny vocabulary; ``unseen_share`` of the words made-up tokens."""
    rng = np.random.default_rng(seed)
    words = list(WORDS)
    texts = []
    for i in range(n):
        text = list(rng.choice(words, rng.integers(6, 13)))
        for j in np.flatnonzero(rng.random(len(text)) < unseen_share):
            text[j] = f"zq{i}x{j}"
        texts.append(" ".join(text))
    return pd.DataFrame({"text": texts, "label": rng.integers(0, 2, n)})


def monitor(project: Path, task: str, model: Path, *source: str) -> tuple[int, dict, Path]:
    out = project / "out"
    argv = ["monitor", task, *source, "--model", str(model), "--output-dir", str(out)]
    status = pipeline_main(argv)
    report = json.loads((out / "drift.json").read_text()) if (out / "drift.json").is_file() else {}
    return status, report, out


def drifted(report: dict) -> set[tuple[str, str]]:
    return {(t["column"], t["measure"]) for t in report["tests"] if t["drifted"]}


def test_a_batch_from_the_training_distribution_finds_no_drift_and_is_logged(models, project, capsys):
    write_split(project, "churn", churn_rows(3000, seed=1))
    churn_rows(800, seed=2).to_csv(project / "batch.csv", index=False)
    status, report, out = monitor(project, "churn", models["churn"], "--input", "batch.csv")
    assert status == 0, capsys.readouterr()
    assert report["verdict"]["drift"] is False and drifted(report) == set()
    measured = {(t["column"], t["test"]) for t in report["tests"]}
    assert {("Age", "ks"), ("Geography", "chi2"), ("prediction", "ks")} <= measured
    assert all({"statistic", "p_value", "drifted"} <= set(t) for t in report["tests"])
    page = (out / "drift.html").read_text()
    assert "No drift" in page and "<svg" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page

    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("churn-monitoring")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["drift"] == "false" and run.data.metrics["drifted_share"] == 0.0
    assert "p_value.Age.values" in run.data.metrics
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "monitor")}
    assert logged == {"monitor/drift.json", "monitor/drift.html"}


def shifted_age(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(Age=frame["Age"] + 10)


def tripled_germany(frame: pd.DataFrame) -> pd.DataFrame:
    """Germany's share from a third to nearly all: two of every three other rows become German."""
    frame = frame.copy()
    others = frame.index[frame["Geography"] != "Germany"]
    frame.loc[others[::3].union(others[1::3]), "Geography"] = "Germany"
    return frame


@pytest.mark.parametrize(("change", "column"), [(shifted_age, "Age"), (tripled_germany, "Geography")])
def test_a_shifted_column_finds_drift_exits_4_and_names_it(models, project, capsys, change, column):
    write_split(project, "churn", churn_rows(3000, seed=1))
    change(churn_rows(800, seed=2)).to_parquet(project / "batch.parquet", index=False)
    status, report, _ = monitor(project, "churn", models["churn"], "--input", "batch.parquet")
    assert status == DRIFT
    assert report["verdict"]["drifted_columns"] == [column]
    assert column in capsys.readouterr().out
    assert "Drift" in (project / "out" / "drift.html").read_text()


def test_texts_with_a_third_of_their_words_unseen_find_drift(models, project):
    write_split(project, "sentiment", reviews(2000, seed=1))
    reviews(500, seed=2).to_csv(project / "same.csv", index=False)
    reviews(500, seed=3, unseen_share=1 / 3).to_csv(project / "unseen.csv", index=False)
    status, report, _ = monitor(project, "sentiment", models["sentiment"], "--input", "same.csv")
    assert status == 0 and drifted(report) == set()
    status, report, _ = monitor(project, "sentiment", models["sentiment"], "--input", "unseen.csv")
    assert status == DRIFT
    assert {("text", "unknown-word share"), ("text", "top tokens")} <= drifted(report)
    unknown = next(t for t in report["tests"] if t["measure"] == "unknown-word share")
    assert unknown["details"]["batch_mean"] == pytest.approx(1 / 3, abs=0.05)


def test_a_missing_column_or_an_unreadable_file_is_a_clear_error(models, project, capsys):
    write_split(project, "churn", churn_rows(500, seed=1))
    churn_rows(100, seed=2).drop(columns=["Age", "Tenure"]).to_csv(project / "partial.csv", index=False)
    (project / "broken.parquet").write_bytes(b"not parquet")
    status, _, out = monitor(project, "churn", models["churn"], "--input", "partial.csv")
    assert status == 1 and "missing column(s) Age, Tenure" in capsys.readouterr().err
    assert not out.exists()
    status, _, _ = monitor(project, "churn", models["churn"], "--input", "broken.parquet")
    assert status == 1 and "broken.parquet: not a readable parquet file" in capsys.readouterr().err
    (project / "requests.jsonl").write_text('{"csv": "Age\\n40\\n"}\nnot json\n')
    status, _, _ = monitor(project, "churn", models["churn"], "--requests", "requests.jsonl")
    assert status == 1 and "requests.jsonl: line 2: not a request log line" in capsys.readouterr().err


def test_a_kind_that_cannot_be_monitored_says_so_and_exits_2(project, tmp_path, capsys):
    model = nextword_model_dir(tmp_path)
    (project / "batch.csv").write_text("text\nto be or not\n")
    status, _, _ = monitor(project, "nextword", model, "--input", "batch.csv")
    assert status == 2 and "not supported for language_model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"p_value": 1.5}, r"monitor.p_value: Input should be less than 1"),
        ({"max_drifted_share": -0.1}, r"monitor.max_drifted_share: Input should be greater than or equal"),
        ({"tasks": {"nosuch": {}}}, r"monitor.tasks names nosuch, not a task"),
        ({"tasks": {"churn": {"p_value": 0}}}, r"monitor.tasks.churn.p_value: Input should be greater"),
        ({"reference": "test"}, r"monitor.reference: Input should be 'validation' or 'train'"),
        ({"permutations": 500}, r"500 permutations give no p-value below p_value 0.001"),
        ({"tasks": {"churn": {"p_value": 0.0001}}}, r"tasks.churn: .*1999 permutations give no p-value"),
    ],
)
def test_wrong_monitor_settings_are_named(project, section, message):
    edit_params(project / "params.yaml", monitor=section)
    with pytest.raises(ConfigError, match=message):
        load_params(project / "params.yaml")


def test_the_reference_is_the_validation_split_unless_monitor_reference_says_train(models, project, capsys):
    # training rows older by ten years than the validation rows and the batch: only the training
    # rows find drift in the batch
    train = shifted_age(churn_rows(2000, seed=3))
    write_split(project, "churn", churn_rows(2000, seed=1), train=train)
    churn_rows(800, seed=2).to_csv(project / "batch.csv", index=False)
    status, report, _ = monitor(project, "churn", models["churn"], "--input", "batch.csv")
    assert status == 0 and report["reference"]["split"] == "val"
    assert report["reference"]["split_rows"] == 2000 and report["settings"]["reference"] == "validation"
    edit_params(project / "params.yaml", monitor={"tasks": {"churn": {"reference": "train"}}})
    from pipeline.core.config import params

    params.cache_clear()
    status, report, _ = monitor(project, "churn", models["churn"], "--input", "batch.csv")
    assert status == DRIFT and report["reference"]["split"] == "train"
    assert "Age" in report["verdict"]["drifted_columns"]


def test_no_validation_rows_is_an_error_that_names_the_setting(models, project, capsys):
    folder = project / "data" / "encoded" / "churn"
    folder.mkdir(parents=True)
    churn_rows(500, seed=1).assign(split="train").to_parquet(folder / "splits.parquet", index=False)
    churn_rows(100, seed=2).to_csv(project / "batch.csv", index=False)
    status, _, out = monitor(project, "churn", models["churn"], "--input", "batch.csv")
    err = capsys.readouterr().err
    assert status == 1 and "no rows of split 'val' (monitor.reference: validation)" in err
    assert "monitor.tasks.churn.reference: train" in err and not out.exists()


def test_a_task_overrides_the_monitor_section(project):
    edit_params(project / "params.yaml", monitor={"p_value": 0.01, "tasks": {"churn": {"p_value": 0.2}}})
    settings = load_params(project / "params.yaml").monitor
    assert settings.for_task("churn").p_value == 0.2 and settings.for_task("sentiment").p_value == 0.01
    assert settings.for_task("churn").sample_rows == settings.sample_rows
    assert settings.for_task("churn").reference == "validation"


def post(url: str, body: str, content_type: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/invocations", body, {"Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    return response.status


def test_serve_log_requests_writes_a_rotating_log_that_monitor_reads_back(models, project, capsys):
    from pipeline.commands import serve
    from pipeline.serving.app import make_server
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    log = project / "logs" / "requests.jsonl"
    args = serve.build_parser().parse_args(["churn", "--log-requests", str(log), "--log-max-bytes", "4096"])
    service = ScoringService(Predictor.from_dir(models["churn"]), "tiny churn")
    service.request_log = serve.request_log(args, "tiny churn")
    listener = make_server(service, "127.0.0.1", 0)
    thread = listener.start_in_thread()
    rows = tripled_germany(churn_rows(600, seed=2)).drop(columns=["Exited"])
    try:
        for start in range(0, 300, 20):  # small JSON requests, answered in the server's process
            records = rows.iloc[start : start + 20].to_dict(orient="records")
            assert post(listener.url, json.dumps({"dataframe_records": records}), "application/json") == 200
        big = rows.iloc[300:].to_csv(index=False)  # > 16 KiB: the big-batch worker answers it
        assert len(big) > 16 * 1024 and post(listener.url, big, "text/csv") == 200
        assert post(listener.url, '{"dataframe_records": [{"Age": "old"}]}', "application/json") == 400
    finally:
        listener.stop(thread)
        service.request_log.close()
    files = sorted(p.name for p in log.parent.iterdir())
    assert len(files) > 2 and files[0] == "requests.jsonl"  # rotated: requests.jsonl.1, .2, ...
    first = json.loads(log.with_name("requests.jsonl.1").read_text().splitlines()[0])
    assert {"time", "model", "content_type", "predictions"} <= set(first)

    from pipeline.serving.request_log import log_files, read_request_log

    files = log_files(log)  # oldest first, the live file last
    assert files[-1] == log and [f.name for f in files[:-1]] == [
        f"requests.jsonl.{n}" for n in (5, 4, 3, 2, 1)
    ]
    answered = [len(json.loads(line)["predictions"]) for f in files for line in f.read_text().splitlines()]
    assert len(read_request_log(log, service.predictor.encoder)) == sum(answered)
    write_split(project, "churn", churn_rows(3000, seed=1))
    status, report, _ = monitor(project, "churn", models["churn"], "--requests", str(log))
    assert status == DRIFT and report["verdict"]["drifted_columns"] == ["Geography"]
    assert report["batch"]["source"] == str(log)


def test_serve_refuses_a_request_log_it_could_not_keep(project):
    from pipeline.commands import serve
    from pipeline.core.errors import PipelineError

    args = serve.build_parser().parse_args(["churn", "--log-requests", "r.jsonl", "--log-max-bytes", "10"])
    with pytest.raises(PipelineError, match="--log-max-bytes must be at least 1024"):
        serve.request_log(args, "m")
    assert serve.request_log(serve.build_parser().parse_args(["churn"]), "m") is None  # off by default
