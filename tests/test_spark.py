"""Scoring on Spark: the registered model through ``mlflow.pyfunc.spark_udf`` on a local[2] session.

A tiny model (tests/tiny_models.py: churn's table, sentiment's texts, four topics, a numeric
target) is registered in a temporary MLflow SQLite registry as ``register`` does it; ``python -m
pipeline spark`` then scores a Parquet file with it, and its answers must be ``score``'s on the same
rows. Marked ``services`` (``make test-services``): it
needs Java and pyspark, which CI installs (``.ci/run``, the ``services`` extra); skipped without them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from pipeline.core.errors import DataError, ModelError
from pipeline.core.io import write_json
from tests.conftest import edit_params
from tests.tiny_models import (
    TOPIC_WORDS,
    TOPICS,
    balance_config,
    balance_model_dir,
    churn_encoder,
    churn_model_dir,
    churn_rows,
    sentiment_model_dir,
    topics_model_dir,
)

pytestmark = pytest.mark.services

if shutil.which("java") is None:
    pytest.skip("no java on the PATH: apt-get install default-jre-headless", allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark: pip install -e '.[services]'")

from pipeline.commands import score, spark_score  # noqa: E402
from pipeline.serving.inference import Predictor  # noqa: E402


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_score.spark_session("local[2]")
    yield session
    session.stop()


BINARY = {"roc_auc": 0.8, "accuracy": 0.8}


def register(
    project: Path, task: str, model_dirs: list[Path], splits: pd.DataFrame, figures: dict = BINARY
) -> None:
    """What train/evaluate/export leave for register (a model folder per architecture, its run and
    metrics, the split rows), then ``register <task>``: version 1 onwards, a challenger."""
    import mlflow

    from pipeline.core import tracking

    tracking.setup_experiment(task)
    metrics = {"val": figures, "test": figures}
    for model_dir in model_dirs:
        with mlflow.start_run(tags=tracking.run_tags(task, model_dir.name, stage="train")) as run:
            pass
        write_json(model_dir / "run.json", {"run_id": run.info.run_id})
        write_json(
            project / "metrics" / task / f"{model_dir.name}.json", {**metrics, "onnx_parity_bound": 1e-5}
        )
    (project / "data" / "encoded" / task).mkdir(parents=True, exist_ok=True)
    splits.assign(split="train").to_parquet(project / "data" / "encoded" / task / "splits.parquet")
    assert cli(["register", task]) == 0


def register_churn(project: Path) -> Path:
    model_dir = churn_model_dir(project)
    # register samples the test rows for the card's SHAP importances (a table's bundle explains)
    encoded = churn_encoder().transform(churn_rows(30, seed=2))
    (project / "data" / "encoded" / "churn").mkdir(parents=True, exist_ok=True)
    np.savez(project / "data" / "encoded" / "churn" / "test.npz", x=encoded, y=np.zeros(len(encoded)))
    register(project, "churn", [model_dir], churn_rows(4))
    return model_dir


def test_spark_scores_a_parquet_file_as_score_does(project: Path, spark: Any, capsys) -> None:
    model_dir = register_churn(project)
    rows = churn_rows(3000, seed=7)
    rows.to_parquet(project / "customers.parquet", row_group_size=1500)  # two partitions

    args = ["churn", "--input", "customers.parquet", "--output", "scored.parquet", "--master", "local[2]"]
    assert spark_score.main([*args, "--model", "challenger"]) == 0
    assert "3000 rows scored with models:/churn/1 on local[2]" in capsys.readouterr().err

    on_spark = pd.read_parquet(project / "scored.parquet").sort_values("CustomerId").reset_index(drop=True)
    tally = score.score_file(
        Predictor.from_dir(model_dir),
        project / "customers.parquet",
        project / "score.parquet",
        project / "score.rejects.csv",
    )
    assert tally.scored == 3000
    streamed = pd.read_parquet(project / "score.parquet").sort_values("CustomerId").reset_index(drop=True)
    # the id and target columns the encoder carries through, then score's answer columns
    assert list(on_spark.columns) == list(streamed.columns)
    assert list(on_spark.columns)[-3:] == ["probability", "prediction", "class_name"]
    assert on_spark["CustomerId"].tolist() == sorted(rows["CustomerId"].tolist())
    np.testing.assert_allclose(on_spark["probability"], streamed["probability"], atol=1e-6)
    assert on_spark["prediction"].astype(int).tolist() == streamed["prediction"].astype(int).tolist()
    assert on_spark["class_name"].tolist() == streamed["class_name"].tolist()


def test_spark_refuses_what_it_cannot_score_and_leaves_nothing_behind(project: Path, spark: Any) -> None:
    register_churn(project)
    rows = churn_rows(40)
    rows.loc[5, "Geography"] = "Atlantis"
    rows.drop(columns=["Exited"]).to_parquet(project / "bad.parquet")
    base = ["churn", "--model", "challenger", "--master", "local[2]"]

    with pytest.raises(DataError, match=r"invalid input row\(s\): row 6, column 'Geography'.*rejects file"):
        spark_score.main([*base, "--input", "bad.parquet", "--output", "out.parquet"])
    assert not (project / "out.parquet").exists()

    rows.drop(columns=["Geography"]).to_parquet(project / "short.parquet")
    with pytest.raises(DataError, match=r"short.parquet: missing column\(s\) 'Geography'"):
        spark_score.main([*base, "--input", "short.parquet", "--output", "out.parquet"])
    rows.to_csv(project / "rows.csv", index=False)
    with pytest.raises(DataError, match=r"rows\.csv: not a readable Parquet file or folder"):
        spark_score.main([*base, "--input", "rows.csv", "--output", "out.parquet"])
    with pytest.raises(DataError, match=r"missing\.parquet: not found"):
        spark_score.main([*base, "--input", "missing.parquet", "--output", "out.parquet"])
    (project / "taken.parquet").mkdir()
    with pytest.raises(DataError, match=r"taken\.parquet: already exists"):
        spark_score.main([*base, "--input", "bad.parquet", "--output", "taken.parquet"])
    with pytest.raises(ModelError, match=r"champion"):
        spark_score.main(["churn", "--input", "bad.parquet", "--output", "out.parquet"])


def both_ways(
    project: Path, task: str, source: str, id_column: str, model_dir: Path, model: str = "challenger"
) -> tuple:
    """``source`` scored by ``spark`` with the registered ``model`` and by ``score`` with its bundle,
    ``model_dir``, each sorted by ``id_column``: (Spark's frame, score's frame)."""
    args = [task, "--input", source, "--output", "scored.parquet", "--id", id_column]
    assert spark_score.main([*args, "--model", model, "--master", "local[2]"]) == 0
    predictor = Predictor.from_dir(model_dir)
    options = score.answer_options(predictor, None)
    files = [project / source, project / "score.parquet", project / "score.rejects.csv"]
    score.score_file(predictor, *files, ids=[id_column], options=options)
    return tuple(
        pd.read_parquet(project / name).sort_values(id_column).reset_index(drop=True)
        for name in ("scored.parquet", "score.parquet")
    )


def test_spark_scores_texts_as_score_does(project: Path, spark: Any) -> None:
    """A text model: a Neutral answer's missing class and a warning come back as score's."""
    model_dirs = [sentiment_model_dir(project, arch) for arch in ("rnn", "lstm", "gru")]
    register(
        project,
        "sentiment",
        model_dirs,
        pd.DataFrame({"text": ["a great movie", "bad plot"], "label": [1, 0]}),
    )
    words = ["great", "good", "fine", "movie", "plot", "bad", "awful", "zxqv", "NA"]
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(400)]
    pd.DataFrame({"review_id": np.arange(400), "text": texts}).to_parquet(project / "reviews.parquet")

    # version 1: the rnn
    on_spark, streamed = both_ways(project, "sentiment", "reviews.parquet", "review_id", model_dirs[0], "1")
    assert list(on_spark.columns) == list(streamed.columns)  # the --id column, then the answers
    assert on_spark["review_id"].tolist() == list(range(400))
    np.testing.assert_allclose(on_spark["probability"], streamed["probability"], atol=1e-6)
    for column in ("label", "class_name"):
        assert on_spark[column].tolist() == streamed[column].tolist(), column
    assert on_spark["class_name"].isna().any() and on_spark["label"].eq("Neutral").any()
    np.testing.assert_allclose(on_spark["known_token_share"], streamed["known_token_share"], atol=1e-4)
    # score writes "" where a text has no warning, the registered model nothing
    assert on_spark["warning"].fillna("").tolist() == streamed["warning"].fillna("").tolist()
    assert (on_spark["warning"].fillna("") != "").any()


def test_spark_scores_a_multi_class_model_as_score_does(project: Path, spark: Any) -> None:
    """A model of several classes: the answered class, its name and every class's probability come
    back from Spark as score writes them, row for row."""
    model_dir = topics_model_dir(project, "gru")  # params.yaml's topics task trains a gru
    stories = pd.DataFrame({"text": ["profit rose", "oil barrels"], "label": ["earn", "crude"]})
    register(project, "topics", [model_dir], stories, {"f1_macro": 0.8, "accuracy": 0.8})
    words = [*TOPIC_WORDS, "the", "zxqv"]
    rng = np.random.default_rng(5)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(300)]
    pd.DataFrame({"story": np.arange(300), "text": texts}).to_parquet(project / "stories.parquet")

    on_spark, streamed = both_ways(project, "topics", "stories.parquet", "story", model_dir)
    assert list(on_spark.columns) == list(streamed.columns)
    assert on_spark["story"].tolist() == list(range(300))
    assert streamed.select_dtypes("number").shape[1] > 2  # the id and more than one class's number
    for column in on_spark.columns.drop("top"):
        if pd.api.types.is_numeric_dtype(streamed[column]):
            np.testing.assert_allclose(on_spark[column], streamed[column], atol=1e-6, err_msg=column)
        else:  # score writes "" where a text has no warning, the registered model nothing
            assert on_spark[column].fillna("").tolist() == streamed[column].fillna("").tolist(), column
    assert on_spark["class_name"].nunique() > 1  # several classes answered
    # top: an array of structs on Spark (spark_score's docstring), score's "name p; ..." text in a file
    assert {len(classes) for classes in on_spark["top"]} == {len(TOPICS)}
    as_text = ["; ".join(f"{c['class_name']} {c['probability']:.3f}" for c in row) for row in on_spark["top"]]
    assert as_text == streamed["top"].tolist()


def test_spark_scores_a_numeric_target_as_score_does(project: Path, spark: Any) -> None:
    """A numeric target (the churn table's Balance, in euros): the value and its conformal interval
    come back from Spark as score writes them; the interval is one [low, high] array column."""
    section = balance_config().model_dump(mode="json", exclude_defaults=True, by_alias=True)
    models = {"balance-ann": {"task": "balance", "arch": "ann"}}
    edit_params(project / "params.yaml", tasks={"balance": section}, models=models)
    from pipeline.core.config import params

    params.cache_clear()  # the project's params now hold the task
    model_dir = balance_model_dir(project)
    register(project, "balance", [model_dir], churn_rows(4), {"rmse": 1000.0, "mae": 800.0, "r2": 0.5})
    rows = churn_rows(500, seed=11)
    rows.drop(columns=["Balance"]).to_parquet(project / "customers.parquet")

    on_spark, streamed = both_ways(project, "balance", "customers.parquet", "CustomerId", model_dir)
    assert on_spark["CustomerId"].tolist() == sorted(rows["CustomerId"].tolist())
    assert list(on_spark.columns) == ["CustomerId", "value", "interval"]
    assert list(streamed.columns) == ["CustomerId", "value", "interval_low", "interval_high"]
    np.testing.assert_allclose(on_spark["value"], streamed["value"], rtol=1e-9)
    low, high = np.stack(on_spark["interval"].to_numpy()).T  # [low, high] per row on Spark
    np.testing.assert_allclose(low, streamed["interval_low"], rtol=1e-9)
    np.testing.assert_allclose(high, streamed["interval_high"], rtol=1e-9)
    assert np.allclose(high - low, 2 * 5000.0) and on_spark["value"].nunique() > 1  # +-5000 EUR, 90%
