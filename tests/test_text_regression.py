"""A text task with a numeric target by params only (``schema.labels.type: number``): a rating
read from reviews. Validation naming the rows whose rating is not a finite number, the whole way
from the CSV through train, evaluate, the TF-IDF + ridge baseline and export (ONNX parity) to a
bundle whose answers are values with an interval, and the aclImdb reader giving the star rating of
each file's name as the label."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.__main__ import main as cli
from pipeline.core.config import TextTaskConfig, params

GOOD = ["great", "superb", "moving", "brilliant", "funny"]
BAD = ["dull", "awful", "boring", "clumsy", "weak"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "music", "ending", "camera", "cast"]


def review_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Reviews whose rating (1 to 10) rises with each good word and falls with each bad one."""
    rng = np.random.default_rng(seed)
    texts, ratings = [], []
    for _ in range(n):
        good, bad = rng.integers(0, 4), rng.integers(0, 4)
        words = list(rng.choice(FILLER, rng.integers(4, 9)))
        words += list(rng.choice(GOOD, good)) + list(rng.choice(BAD, bad))
        rng.shuffle(words)
        texts.append(" ".join(words))
        ratings.append(int(np.clip(round(5.5 + 1.5 * (good - bad) + rng.normal(0, 0.5)), 1, 10)))
    return pd.DataFrame({"text": texts, "rating": ratings})


def task_section(**labels: object) -> dict:
    recurrent = {"embedding_dim": 8, "units": 8, "learning_rate": 0.02, "batch_size": 32}
    return {
        "kind": "text",
        "data": {"source": "reviews.csv"},
        "schema": {
            "label": "rating",
            "labels": {"type": "number", "min": 1, "max": 10, "units": "stars", **labels},
            "min_rows": 50,
        },
        "encode": {"max_tokens": 50, "sequence_length": 20},
        "models": {"gru": recurrent | {"epochs": 40, "patience": 5}},
        "tune": {"gru": {"enabled": False}},
    }


@pytest.fixture
def reviews(project: Path) -> Path:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    section = task_section(transform="standardize") | {"split": {}, "baselines": ["tfidf_ridge"], "card": {}}
    raw["tasks"] = {"reviews": section}
    raw["models"] = {"reviews-gru": {"task": "reviews", "arch": "gru"}}
    raw["evaluate"]["bootstrap_resamples"] = 200
    raw["synthetic"] = {}
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    review_rows(600).to_csv(project / "reviews.csv", index=False)
    params.cache_clear()
    return project


def test_a_numeric_text_task_takes_the_numeric_defaults_and_refuses_a_classifier_baseline() -> None:
    config = TextTaskConfig.model_validate(task_section())
    assert config.promote.metric == "rmse"  # validation RMSE picks and gates, lower is better
    assert config.baselines == ["tfidf_ridge"]
    assert config.schema_.target == "rating"
    with pytest.raises(ValueError, match="do not predict a numeric target"):
        TextTaskConfig.model_validate(task_section() | {"baselines": ["tfidf_logreg"]})
    with pytest.raises(ValueError, match="do not predict classes"):
        TextTaskConfig.model_validate(
            task_section() | {"schema": {"labels": {}}, "baselines": ["tfidf_ridge"]}
        )


def test_validate_names_the_rows_whose_rating_is_not_a_finite_number(reviews: Path, capsys) -> None:
    rows = review_rows(200).astype({"rating": "object"})
    rows.loc[3, "rating"] = "ten"
    rows.loc[7, "rating"] = "inf"
    rows.loc[11, "rating"] = 42  # above max 10
    rows.to_csv(reviews / "reviews.csv", index=False)
    assert cli(["ingest", "reviews"]) == 0
    assert cli(["validate", "reviews"]) == 1
    err = capsys.readouterr().err
    assert "column 'rating'" in err
    assert "not numbers (data row 4 (file line 5); values 'ten')" in err
    assert "out of [1, 10] (data rows 8, 12 (file lines 9, 13)" in err  # inf, and 42 above max


def test_a_numeric_text_task_goes_from_its_csv_to_a_bundle_answering_values_with_intervals(
    reviews: Path, capsys
) -> None:
    for stage in (["ingest"], ["validate"], ["encode"], ["train", "gru"], ["evaluate", "gru"], ["baselines"]):
        assert cli([stage[0], "reviews", *stage[1:]]) == 0, capsys.readouterr()
    assert cli(["export", "reviews", "gru"]) == 0, capsys.readouterr()

    encoder = json.loads((reviews / "data/encoded/reviews/encoder.json").read_text())
    assert encoder["classes"] is None and encoder["target"]["transform"] == "standardize"
    metrics = json.loads((reviews / "metrics/reviews/gru.json").read_text())
    test = metrics["test"]
    for name in ("mae", "rmse", "r2", "mape", "interval_coverage"):
        low, high = test[f"{name}_ci"]
        assert low <= test[name] <= high
    assert metrics["interval"]["level"] == 0.9 and metrics["interval"]["half_width"] > 0
    assert test["r2"] > 0.5  # the words carry the rating
    assert 0.75 <= test["interval_coverage"] <= 1.0
    assert metrics["onnx_parity_bound"] == 1e-5  # export fails past it (relative beyond 1)
    baselines = json.loads((reviews / "metrics/reviews/baselines.json").read_text())
    assert set(baselines) == {"tfidf_ridge"} and "rmse_ci" in baselines["tfidf_ridge"]["test"]
    assert baselines["tfidf_ridge"]["test"]["r2"] > 0.5
    figures = reviews / "reports/eval/reviews/gru/figures"
    assert {"predicted_vs_actual.png", "residual_vs_predicted.png", "residual_histogram.png"} <= {
        f.name for f in figures.iterdir()
    }
    table = pd.read_csv(figures.parent / "predictions.csv")  # a DVC plot of evaluate (dvc.yaml)
    assert table["interval_low"].min() >= 1 and table["interval_high"].max() <= 10  # clipped to min/max

    from pipeline.serving.inference import Predictor
    from pipeline.serving.responses import answer_rows

    predictor = Predictor.from_dir(reviews / "models/reviews/gru")
    output = predictor.output
    assert output["target"] == "rating" and output["units"] == "stars" and output["interval_level"] == 0.9
    rows = pd.DataFrame({"text": ["great superb brilliant film", "dull awful boring weak plot"]})
    result = predictor.score_frame(rows)
    answers = answer_rows(predictor, result.probabilities, None, rows)
    assert [set(a) for a in answers] == [{"value", "interval"}] * 2
    good, bad = answers
    assert good["value"] > bad["value"]
    half = output["interval_half_width"]
    for answer in answers:
        low, high = max(answer["value"] - half, 1.0), min(answer["value"] + half, 10.0)
        assert answer["interval"] == pytest.approx([low, high])

    out = reviews / "predicted.csv"
    rows.to_csv(reviews / "new.csv", index=False)
    command = [
        "predict",
        "reviews",
        "--model",
        "models/reviews/gru",
        "--input",
        "new.csv",
        "--output",
        str(out),
    ]
    assert cli(command) == 0, capsys.readouterr()
    predicted = pd.read_csv(out)
    assert {"value", "interval_low", "interval_high"} <= set(predicted.columns)
    assert predicted["value"].to_list() == pytest.approx(
        [a["value"] for a in answers], abs=1e-5
    )  # 6 decimals

    import mlflow

    assert cli(["register", "reviews"]) == 0, capsys.readouterr()
    version = mlflow.MlflowClient().get_model_version("reviews", "1")
    assert version.tags["gate_metric"] == "rmse" and "val_rmse" in version.tags
    card = (reviews / "reports" / "reviews" / "model_card.md").read_text()
    assert "target: rating (stars), a number: 1 to 10" in card
    assert "every answer carries a 90% prediction interval" in card
    registered = mlflow.pyfunc.load_model("models:/reviews@challenger").predict(rows)
    assert registered.to_dict("records") == answers
    assert cli(["promote", "reviews"]) == 0, capsys.readouterr()
    assert "first promotion" in capsys.readouterr().out


def test_tune_minimises_the_validation_rmse_of_a_numeric_text_task(reviews: Path, capsys) -> None:
    """The gate metric defaults to validation RMSE, lower is better: the study's best value is its
    lowest, at or below the untuned model's."""
    raw = yaml.safe_load((reviews / "params.yaml").read_text())
    space = {"learning_rate": {"type": "float", "low": 0.002, "high": 0.05, "log": True}}
    tune = {"enabled": True, "n_trials": 2, "epochs_per_trial": 2, "timeout_s": 120, "space": space}
    raw["tasks"]["reviews"]["tune"] = {"gru": tune}
    (reviews / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params.cache_clear()
    for stage in (["ingest"], ["validate"], ["encode"], ["tune", "gru"]):
        assert cli([stage[0], "reviews", *stage[1:]]) == 0, capsys.readouterr()
    assert "best val rmse" in capsys.readouterr().out
    best = yaml.safe_load((reviews / "params/best/reviews/gru.yaml").read_text())
    assert best["tuned"] and best["n_trials"] == 2
    assert best["untuned_value"] is not None  # params.yaml's point, enqueued first, completed
    assert best["best_value"] <= best["untuned_value"]


@pytest.mark.parametrize(
    ("arch", "target"),
    [
        ("rnn", {"transform": "standardize", "loss": "mse", "center": 5.5, "scale": 3.0}),
        ("lstm", {"transform": "log1p", "loss": "huber", "center": 1.6, "scale": 0.5}),
        ("gru", {"transform": "none", "loss": "poisson", "center": 1.7, "scale": 1.0}),
    ],
)
def test_the_onnx_builder_computes_each_value_head_of_a_recurrent_model(arch: str, target: dict) -> None:
    """A recurrent model's value head (Rescaling, and for log1p and poisson the exponential) in the
    ONNX graph: the same values as Keras within 1e-5 relative, over a batch and one row at a time."""
    import onnxruntime as ort

    from pipeline.core.config import RecurrentParams
    from pipeline.modeling.models import build_model
    from pipeline.modeling.onnx_builder import build_onnx

    params = RecurrentParams(embedding_dim=6, units=5, pooling="max")
    model = build_model(arch, params, vocab_size=30, sequence_length=20, target={"column": "y", **target})
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0.0, 0.4, w.shape).astype("float32") for w in model.get_weights()])
    x = rng.integers(0, 30, (64, 20)).astype("int32")
    x[:8, :12] = 0  # leading padding, which the graph skips
    expected = np.asarray(model(x, training=False)).reshape(-1)
    session = ort.InferenceSession(build_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"tokens": x})[0].reshape(-1)
    one_by_one = np.concatenate(
        [session.run(None, {"tokens": x[i : i + 1]})[0].reshape(-1) for i in range(4)]
    )
    assert np.all(np.isfinite(expected)) and np.ptp(expected) > 0.1  # values that differ, not a constant
    assert np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))) <= 1e-5
    assert np.max(np.abs(one_by_one - expected[:4]) / np.maximum(1.0, np.abs(expected[:4]))) <= 1e-5
    if target["loss"] == "poisson" or target["transform"] == "log1p":
        assert expected.min() > -1  # exp keeps a count positive (log1p: above -1)


def test_serve_and_the_pyfunc_answer_a_text_with_its_value_and_interval(tmp_path: Path) -> None:
    """The served answer of a text regression bundle: ``{"value", "interval"}`` only, the interval
    the bundle's half-width clipped to the declared 1-10 stars; a classifier's param is refused."""
    from types import SimpleNamespace

    from tiny_models import stars_model_dir

    from pipeline.serving.inference import Predictor
    from pipeline.serving.pyfunc_model import OnnxPipelineModel
    from pipeline.serving.service import ScoringService

    bundle = stars_model_dir(tmp_path)
    service = ScoringService(Predictor.from_dir(bundle), str(bundle))
    body = json.dumps({"instances": ["good plot", "awful bad movie", "the movie"]}).encode()
    served = service.invocations(body, "application/json")["predictions"]
    assert served == [
        {"value": 8.5, "interval": [7.0, 10.0]},
        {"value": pytest.approx(-2.0), "interval": [1.0, 1.0]},  # below the range: its nearest end
        {"value": 5.5, "interval": [4.0, 7.0]},
    ]
    model = OnnxPipelineModel()
    model.load_context(SimpleNamespace(artifacts={"model_dir": str(bundle)}))
    assert model.predict(None, ["good plot", "the movie"]).to_dict("records") == [served[0], served[2]]
    with pytest.raises(Exception, match="neutral_band"):
        model.predict(None, ["good plot"], params={"neutral_band": 0.2})


def aclimdb_tarball(path: Path, reviews: dict[str, str]) -> Path:
    """An archive in aclImdb's layout: ``aclImdb/<split>/<pos|neg>/<id>_<rating>.txt``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in reviews.items():
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_aclimdb_reader_gives_the_star_rating_of_each_file_name_as_the_label(tmp_path: Path) -> None:
    from pipeline.data.readers import read_aclimdb
    from pipeline.tasks import text

    archive = aclimdb_tarball(
        tmp_path / "tiny.tar.gz",
        {
            "train/pos/0_9.txt": "a moving film",
            "train/neg/1_2.txt": "dull and long",
            "train/pos/2_7.txt": "rather good",
            "test/neg/0_4.txt": "weak plot",
            "test/pos/1_10.txt": "a masterpiece",
        },
    )
    frame = read_aclimdb(archive, "tiny.tar.gz", "review", "stars", "rating")
    assert list(frame.columns) == ["review", "stars", "split", "id", "rating"]
    by_text = frame.set_index("review")
    assert by_text.loc["a moving film", ["stars", "split"]].to_list() == [9, "train"]
    assert by_text.loc["a masterpiece", ["stars", "split"]].to_list() == [10, "test"]
    assert sorted(frame["stars"]) == [2, 4, 7, 9, 10]
    polarity = read_aclimdb(archive, "tiny.tar.gz")  # the default: the folder's pos 1 / neg 0
    assert sorted(polarity["label"]) == [0, 0, 1, 1, 1] and "rating" in polarity.columns

    section = task_section() | {"data": {"source": str(archive), "archive_label": "rating"}}
    section["schema"] = section["schema"] | {"text": "review", "label": "stars"}
    rows, fmt = text.read(archive, "tiny.tar.gz", TextTaskConfig.model_validate(section))
    assert fmt == "aclImdb archive"
    assert rows.frame.sort_values("stars")["stars"].to_list() == [2, 4, 7, 9, 10]
    # the official split is kept: the test reviews stay test
    splits = text.assign_splits(rows.frame, TextTaskConfig.model_validate(section), seed=1)
    assert (splits[rows.frame["split"] == "test"] == "test").all()
