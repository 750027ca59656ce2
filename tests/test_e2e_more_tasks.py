"""End to end: a real `dvc repro` of the topics, nextword, bikeshare and load tasks in a temporary
git repository, with tiny params. In `make test-e2e` (CI runs it), not the quick suite: its build
took 6.6 min of the quick suite's 10.2 on a quiet 2-core machine, which held the suite over its
10 minutes; tests/test_e2e.py's churn and sentiment project stays in `make test`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e_project import check_built, check_second_repro_does_nothing, run, tiny_project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TASKS = ["topics", "nextword", "bikeshare", "load"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return tiny_project(tmp_path_factory.mktemp("e2e-more"), TASKS)


def test_repro_builds_metrics_models_and_registry(repo: tuple[Path, dict[str, str]]):
    root, _ = repo
    check_built(root, TASKS)
    topics = json.loads((root / "metrics" / "topics" / "baselines.json").read_text())
    assert (
        set(topics) == {"tfidf_logreg", "tfidf_linear_svm"}
        and "f1_macro" in topics["tfidf_linear_svm"]["test"]
    )
    gru = json.loads((root / "metrics" / "topics" / "gru.json").read_text())
    classes = gru["classes"]
    assert len(classes) == 8 and len(gru["test_confusion_matrix"]) == 8  # n x n, named in "classes"
    manifest = json.loads((root / "models" / "topics" / "gru" / "manifest.json").read_text())
    assert manifest["output"]["classes"] == classes and manifest["output"]["top_k"] == 5
    assert "Softmax" in gru["onnx_operators"] and "GRU" in gru["onnx_operators"]
    words = json.loads((root / "metrics" / "nextword" / "baselines.json").read_text())
    assert set(words) == {"kneser_ney", "unigram"}
    assert words["kneser_ney"]["test"]["perplexity"] < words["unigram"]["test"]["perplexity"]
    registry = json.loads((root / "reports" / "registry" / "nextword.json").read_text())
    assert registry["gate_metric"] == "perplexity"
    bikes = json.loads((root / "metrics" / "bikeshare" / "baselines.json").read_text())
    assert set(bikes) == {"ridge", "poisson_glm", "hist_gradient_boosting"}
    ann = json.loads((root / "metrics" / "bikeshare" / "ann.json").read_text())
    assert ann["interval"]["level"] == 0.9 and "interval_coverage" in ann["test"]


def test_second_repro_does_nothing(repo: tuple[Path, dict[str, str]]):
    check_second_repro_does_nothing(*repo)


def test_promote_then_predict_a_topic(repo: tuple[Path, dict[str, str]]):
    """Multi-class: promoted on macro F1, answered with a topic name and the top topics."""
    root, env = repo
    assert "test_f1_macro" in run([sys.executable, "-m", "pipeline", "promote", "topics"], root, env).stdout
    story = "oil prices rose as opec cut crude output and exports fell"
    out = run(
        [sys.executable, "-m", "pipeline", "predict", "topics", "--text", story, "--format", "json"],
        root,
        env,
    ).stdout
    (answer,) = json.loads(out)
    classes = json.loads((root / "metrics" / "topics" / "gru.json").read_text())["classes"]
    assert answer["label"] in classes and answer["top"].startswith(f"{answer['label']} ")


def test_promote_then_forecast_the_next_day_from_a_history(repo: tuple[Path, dict[str, str]], tmp_path: Path):
    """A forecaster is promoted on validation MASE and answers `predict --history` with the next
    ``horizon`` timestamps, an hour apart, each with a value."""
    root, env = repo
    assert "mase" in run([sys.executable, "-m", "pipeline", "promote", "load"], root, env).stdout
    manifest = json.loads((root / "models" / "load" / "gru" / "manifest.json").read_text())
    horizon = manifest["output"]["horizon"]
    rows = pd.read_parquet(root / "data" / "raw" / "load.parquet")
    recent = rows.tail(72).copy()
    stamps = pd.to_datetime(recent["timestamp"])
    ahead = pd.DataFrame(  # the known covariate (holiday) for the steps to forecast, the target blank
        {"timestamp": stamps.iloc[-1] + pd.to_timedelta(range(1, horizon + 1), unit="h"), "holiday": 0}
    )
    history = pd.concat([recent.assign(timestamp=stamps), ahead], ignore_index=True)
    history.to_csv(tmp_path / "recent.csv", index=False)
    out = run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "predict",
            "load",
            "--history",
            str(tmp_path / "recent.csv"),
            "--format",
            "json",
        ],
        root,
        env,
    ).stdout
    answer = pd.DataFrame(json.loads(out))
    assert len(answer) == horizon and answer["value"].notna().all()
    assert list(pd.to_datetime(answer["timestamp"])) == list(ahead["timestamp"])
