"""score (and predict's batch path): big files streamed in chunks, invalid rows to a rejects file.

Real ONNX Runtime on tiny models built with onnx.helper (tests/tiny_models.py); real Parquet
files written and read with pyarrow.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from tiny_models import REPO, balance_model_dir, churn_model_dir, churn_rows, sentiment_model_dir

from pipeline.commands import predict, score
from pipeline.core.errors import DataError
from pipeline.serving.inference import Predictor


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "churn": churn_model_dir(root),
        "sentiment": sentiment_model_dir(root),
        "balance": balance_model_dir(root),
    }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def customers_with_bad_rows(n: int = 50) -> pd.DataFrame:
    """``n`` customers; data rows 8 and 31 are invalid (an unknown country, a text age)."""
    frame = churn_rows(n).astype(object)
    frame.loc[7, "Geography"] = "Atlantis"
    frame.loc[min(30, n - 1), "Age"] = "old"
    return frame


def rejects_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_file_is_scored_in_chunks_as_predict_scores_it_whole(models, workdir, suffix, capsys):
    frame = customers_with_bad_rows()
    source = workdir / f"customers{suffix}"
    frame.astype(str).to_parquet(source) if suffix == ".parquet" else frame.to_csv(source, index=False)
    args = ["churn", "--model", str(models["churn"]), "--input", str(source), "--output", f"out{suffix}"]

    assert score.main([*args, "--chunk-rows", "7", "--id", "CustomerId"]) == score.EXIT_PARTIAL

    out = (
        pd.read_parquet(workdir / "out.parquet") if suffix == ".parquet" else pd.read_csv(workdir / "out.csv")
    )
    whole = predict.score(Predictor.from_dir(models["churn"]), frame, neutral_band=0.1)
    valid = whole.frame[whole.frame["error"] == ""].reset_index(drop=True)
    assert list(out.columns) == ["CustomerId", "probability", "prediction", "class_name"]
    assert out["CustomerId"].astype(str).tolist() == valid["CustomerId"].astype(str).tolist()  # order kept
    np.testing.assert_allclose(out["probability"], valid["probability"].astype(float), atol=1e-7)
    assert out["prediction"].tolist() == valid["prediction"].astype(int).tolist()
    rejects = rejects_of(workdir / f"out{suffix}.rejects.csv")
    assert [(r["data_row"], r["column"], r["CustomerId"]) for r in rejects] == [
        ("8", "Geography", str(frame.at[7, "CustomerId"])),
        ("31", "Age", str(frame.at[30, "CustomerId"])),
    ]
    assert rejects[0]["reason"].startswith("Geography: unknown category 'Atlantis'")
    assert rejects[1]["reason"] == "Age: 'old' is not a number"
    assert "48 of 50 rows scored" in capsys.readouterr().err


def test_predict_takes_the_batch_path_for_parquet_and_names_the_rejects_file(models, workdir, capsys):
    frame = customers_with_bad_rows(20)
    frame.loc[7, "Age"] = "young"  # two faults in one row: one line
    frame.astype(str).to_parquet(workdir / "in.parquet")
    args = ["churn", "--model", str(models["churn"]), "--input", "in.parquet", "--output", "out.parquet"]

    assert predict.main([*args, "--rejects", "bad.csv", "--quiet"]) == predict.EXIT_PARTIAL

    assert len(pd.read_parquet(workdir / "out.parquet")) == 18
    rejects = rejects_of(workdir / "bad.csv")
    assert [(r["data_row"], r["column"]) for r in rejects] == [("8", "Age; Geography"), ("20", "Age")]
    assert rejects[0]["reason"].startswith("Age: 'young' is not a number; Geography: unknown category")
    assert "2 rejected, listed in bad.csv" in capsys.readouterr().err
    with pytest.raises(DataError, match="needs both --input FILE and --output FILE"):
        predict.main(["churn", "--model", str(models["churn"]), "--input", "in.parquet"])


def test_all_valid_rows_leave_no_rejects_file_and_a_number_answers_with_its_interval(models, workdir):
    rows = churn_rows(30).drop(columns=["Balance"])
    rows.to_parquet(workdir / "in.parquet")
    args = ["balance", "--model", str(models["balance"]), "--input", "in.parquet", "--output", "out.csv"]

    assert score.main([*args, "--chunk-rows", "8"]) == score.EXIT_OK

    out = pd.read_csv(workdir / "out.csv")
    assert len(out) == 30 and not (workdir / "out.csv.rejects.csv").exists()
    assert {"value", "interval_low", "interval_high"} <= set(out.columns)
    assert (out["interval_low"] <= out["value"]).all() and (out["value"] <= out["interval_high"]).all()


def test_texts_keep_na_as_a_word_and_an_empty_text_is_rejected(models, workdir):
    reviews = pd.DataFrame({"id": [1, 2, 3], "text": ["a great film", "", "NA"]})
    reviews.to_csv(workdir / "reviews.csv", index=False)
    args = [
        "sentiment",
        "--model",
        str(models["sentiment"]),
        "--input",
        "reviews.csv",
        "--output",
        "out.parquet",
    ]

    assert score.main([*args, "--id", "id"]) == score.EXIT_PARTIAL

    out = pd.read_parquet(workdir / "out.parquet")
    assert out["id"].tolist() == [1, 3] and {"probability", "label"} <= set(out.columns)
    ((row, reason),) = [(r["data_row"], r["reason"]) for r in rejects_of(workdir / "out.parquet.rejects.csv")]
    assert row == "2" and "empty" in reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["Age"]), r"missing column\(s\) Age \(expected"),
        (lambda f: f.assign(Geography="Atlantis"), "no valid row among 12; nothing was scored"),
    ],
)
def test_a_run_that_scores_nothing_fails_and_keeps_the_earlier_output(models, workdir, change, message):
    change(churn_rows(12)).to_parquet(workdir / "in.parquet")
    (workdir / "out.parquet").write_text("an earlier output")  # replaced only by a run that scores
    args = ["churn", "--model", str(models["churn"]), "--input", "in.parquet", "--output", "out.parquet"]

    with pytest.raises(DataError, match=message):
        score.main([*args, "--chunk-rows", "5"])

    assert (workdir / "out.parquet").read_text() == "an earlier output"
    assert sorted(p.name for p in workdir.iterdir()) == ["in.parquet", "out.parquet", "params.yaml"]


def test_wrong_arguments_are_named(models, workdir):
    churn_rows(3).to_csv(workdir / "in.csv", index=False)
    base = ["churn", "--model", str(models["churn"]), "--input", "in.csv"]
    with pytest.raises(DataError, match=r"--output must be a \.csv or a \.parquet file, not '\.json'"):
        score.main([*base, "--output", "out.json"])
    with pytest.raises(DataError, match=r"--id column.*'Email' not in the file"):
        score.main([*base, "--output", "out.csv", "--id", "Email"])
    with pytest.raises(DataError, match=r"nowhere\.csv: not found"):
        score.main(["churn", "--model", str(models["churn"]), "--input", "nowhere.csv", "--output", "o.csv"])
