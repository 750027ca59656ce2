"""predict: raw CSV rows and texts in, probabilities out; bad rows named, exit codes, no TensorFlow.

Real ONNX Runtime on tiny models built with onnx.helper (tests/tiny_models.py).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from tiny_models import REPO, churn_model_dir, churn_rows, sentiment_model_dir, topics_model_dir

from pipeline.__main__ import main as cli
from pipeline.commands import predict
from pipeline.core.errors import DataError, ModelError
from pipeline.serving.inference import Predictor
from pipeline.tasks.answers import classifier_answers, sentiment_label


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"churn": churn_model_dir(root), "sentiment": sentiment_model_dir(root)}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def mixed_rows() -> pd.DataFrame:
    """Rows 1 and 5 valid; 2: NaN Age; 3: non-numeric CreditScore; 4: unknown Geography."""
    frame = churn_rows(5).astype(object)
    frame.loc[1, "Age"] = None
    frame.loc[2, "CreditScore"] = "six hundred"
    frame.loc[3, "Geography"] = "Atlantis"
    return frame


def test_churn_csv_scores_valid_rows_and_names_bad_ones(models, workdir, capsys):
    mixed_rows().to_csv(workdir / "in.csv", index=False)

    status = predict.main(
        ["churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "out.csv"]
    )

    assert status == predict.EXIT_PARTIAL == 3
    out = pd.read_csv(workdir / "out.csv", keep_default_na=False, na_values=[""])
    assert list(out.columns) == [*churn_rows(1).columns, "probability", "prediction", "class_name", "error"]
    assert out["CustomerId"].tolist() == churn_rows(5)["CustomerId"].tolist()  # every row, in order
    expected = Predictor.from_dir(models["churn"]).score_frame(churn_rows(5).iloc[[0, 4]]).probabilities
    np.testing.assert_allclose(out.loc[[0, 4], "probability"], expected, atol=1e-6)
    assert out.loc[[0, 4], "prediction"].tolist() == [int(p >= 0.5) for p in expected]
    assert out.loc[[1, 2, 3], "probability"].isna().all() and out.loc[[1, 2, 3], "prediction"].isna().all()
    assert out.loc[[0, 4], "class_name"].tolist() == [["stays", "leaves"][int(p >= 0.5)] for p in expected]
    assert out.loc[[1, 2, 3], "class_name"].isna().all()
    assert out["error"].isna().tolist() == [True, False, False, False, True]
    assert "Age" in out.loc[1, "error"] and "'six hundred' is not a number" in out.loc[2, "error"]
    assert "Atlantis" in out.loc[3, "error"]
    err = capsys.readouterr().err
    for line in (
        "data row 2 (file line 3): column 'Age'",
        "data row 3 (file line 4): column 'CreditScore'",
        "data row 4 (file line 5): column 'Geography'",
    ):
        assert line in err  # data rows from 1 under the header; file lines count the header
    assert "row 1 " not in err and "row 5 " not in err


def test_all_valid_rows_exit_0_and_json_output(models, workdir):
    churn_rows(4).to_csv(workdir / "in.csv", index=False)

    status = predict.main(
        ["churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "o.json"]
    )

    assert status == 0
    records = json.loads((workdir / "o.json").read_text())
    assert len(records) == 4
    assert all(r["error"] == "" and r["prediction"] in (0, 1) and 0 < r["probability"] < 1 for r in records)
    assert records[0]["Age"] == churn_rows(4)["Age"][0]  # numbers stay numbers


def test_table_on_stdout_lists_rows_with_ids(models, workdir, capsys):
    churn_rows(3).to_csv(workdir / "in.csv", index=False)

    assert predict.main(["churn", "--model", str(models["churn"]), "--input", "in.csv"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["row", "line", "RowNumber", "CustomerId"] and "probability" in lines[0]
    assert len(lines) == 2 + 3 and "15600002" in lines[-1] and lines[-1].split()[:2] == ["3", "4"]


def test_missing_column_fails_the_whole_file_without_output(models, workdir, capsys):
    churn_rows(3).drop(columns=["Geography"]).to_csv(workdir / "in.csv", index=False)

    status = cli(
        ["predict", "churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "o.csv"]
    )

    assert status == 1
    assert "missing column(s) Geography" in capsys.readouterr().err
    assert not (workdir / "o.csv").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"CreditScore,Geography\n", "no data rows"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
    ids=["empty", "header-only", "binary"],
)
def test_unreadable_files_exit_1(models, workdir, capsys, content, message):
    (workdir / "in.csv").write_bytes(content)

    assert cli(["predict", "churn", "--model", str(models["churn"]), "--input", "in.csv"]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("header", "sep", "message"),
    [
        ("dup", ",", "in.csv: column 'Age' appears twice in the header"),
        ("ok", ";", "in.csv: the header has one column containing ';': is the file ;-separated?"),
    ],
    ids=["duplicated-column", "semicolons"],
)
def test_a_duplicated_column_and_a_wrong_separator_are_named(models, workdir, capsys, header, sep, message):
    frame = churn_rows(2)
    if header == "dup":
        frame.insert(2, "Age", frame["Age"], allow_duplicates=True)
    frame.to_csv(workdir / "in.csv", index=False, sep=sep)

    assert cli(["predict", "churn", "--model", str(models["churn"]), "--input", "in.csv"]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Age.1" not in err and "unexpected column" not in err


def test_missing_input_file(models, workdir):
    with pytest.raises(DataError, match=r"nothing\.csv: not found"):
        predict.main(["churn", "--model", str(models["churn"]), "--input", "nothing.csv"])


def test_every_row_invalid_exits_1(models, workdir, capsys):
    frame = churn_rows(2).astype(object)
    frame["Age"] = ["old", None]
    frame.to_csv(workdir / "in.csv", index=False)

    assert cli(["predict", "churn", "--model", str(models["churn"]), "--input", "in.csv"]) == 1
    err = capsys.readouterr().err
    assert "data row 1 (file line 2): column 'Age'" in err and "data row 2 (file line 3): column 'Age'" in err
    assert "no valid data row" in err


def test_the_table_and_the_json_name_each_rows_class_as_the_bundle_does(models, workdir, capsys):
    """churn's params.yaml names 0 "stays" and 1 "leaves" (display.classes); predict says which."""
    churn_rows(6).to_csv(workdir / "in.csv", index=False)
    assert predict.main(["churn", "--model", str(models["churn"]), "--input", "in.csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    headers = lines[0].split()
    assert headers[headers.index("prediction") + 1] == "class"
    at = headers.index("prediction")
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 6 and {r[at + 1] for r in rows} <= {"stays", "leaves"}
    assert all(r[at + 1] == ["stays", "leaves"][int(r[at])] for r in rows)

    args = ["sentiment", "--model", str(models["sentiment"]), "--format", "json"]
    assert predict.main([*args, "--text", "a great movie", "--text", "awful awful plot"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["label"], r["class_name"]) for r in records] == [
        ("Positive", "positive"),
        ("Negative", "negative"),
    ]


def test_sentiment_texts_with_an_empty_one(models, workdir, capsys):
    args = ["sentiment", "--model", str(models["sentiment"]), "--text", "a great movie", "--text", " "]
    status = predict.main([*args, "--text", "awful awful plot"])

    assert status == 3
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()[2:]]
    assert rows[0][:3] == ["1", "0.8808", "Positive"]
    assert rows[1] == ["2", "column", "'text':", "text", "is", "empty"]
    assert rows[2][2] == "Negative"
    assert "text 2: column 'text': text is empty" in captured.err


def test_neutral_band_from_the_bundle_and_option(models, workdir, capsys):
    model = str(models["sentiment"])
    # "fine" alone: p = sigmoid(4 * 1/6) = 0.661, 0.161 from 0.5
    assert predict.main(["sentiment", "--model", model, "--text", "fine", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "Positive"  # the bundle's band, 0.1
    args = ["sentiment", "--model", model, "--text", "fine", "--format", "json", "--neutral-band", "0.2"]
    assert predict.main(args) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == "Neutral"
    with pytest.raises(DataError, match="neutral-band"):
        predict.main([*args[:-1], "0.5"])


def test_labels_at_the_band_edges():
    assert [sentiment_label(p, 0.1) for p in (0.61, 0.6, 0.59, 0.5, 0.41, 0.4, 0.39)] == [
        "Positive",
        "Positive",
        "Neutral",
        "Neutral",
        "Neutral",
        "Negative",
        "Negative",
    ]
    assert sentiment_label(0.5, 0.0) == "Positive"
    assert classifier_answers([0.9, np.nan], neutral_band=0.1) == [
        {"probability": 0.9, "label": "Positive"},
        {"probability": None, "label": None},
    ]
    assert classifier_answers(np.array([0.5, 0.25], np.float32)) == [
        {"probability": 0.5, "prediction": 1},
        {"probability": 0.25, "prediction": 0},
    ]


def test_sentiment_text_file_and_csv(models, workdir, capsys):
    (workdir / "reviews.txt").write_text("great movie\n\nbad plot\n", encoding="utf-8")
    pd.DataFrame({"id": [7, 8], "text": ["good", ""]}).to_csv(workdir / "reviews.csv", index=False)
    model = str(models["sentiment"])

    assert predict.main(["sentiment", "--model", model, "--input", "reviews.txt", "--output", "t.csv"]) == 3
    out = pd.read_csv(workdir / "t.csv", keep_default_na=False)
    assert out["label"].tolist() == ["Positive", "", "Negative"]
    assert "line 2: column 'text': text is empty" in capsys.readouterr().err

    assert predict.main(["sentiment", "--model", model, "--input", "reviews.csv", "--output", "c.json"]) == 3
    records = json.loads((workdir / "c.json").read_text())
    assert [r["id"] for r in records] == [7, 8] and records[0]["label"] == "Positive"
    assert records[1]["probability"] is None and "text is empty" in records[1]["error"]


def test_model_of_another_task_is_refused(models, workdir):
    with pytest.raises(ModelError, match="is a 'churn' model"):
        predict.main(["sentiment", "--model", str(models["churn"]), "--text", "good"])
    with pytest.raises(DataError, match="--text is for text tasks"):
        predict.main(["churn", "--model", str(models["churn"]), "--text", "good"])


def test_predict_never_imports_tensorflow(models, workdir):
    churn_rows(3).to_csv(workdir / "in.csv", index=False)
    code = (
        "import sys\n"
        "from pipeline.__main__ import main\n"
        f"rc = main(['predict', 'churn', '--model', {str(models['churn'])!r}, '--input', 'in.csv'])\n"
        "names = ('tensorflow', 'keras', 'mlflow', 'great_expectations')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('RC', rc, 'HEAVY', heavy, 'ORT', 'onnxruntime' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert "RC 0 HEAVY [] ORT True" in done.stdout


def test_integer_columns_with_a_gap_are_checked_as_read_and_echoed_as_integers(models, workdir):
    frame = churn_rows(3).astype(object)
    frame.loc[1, "NumOfProducts"] = None  # pandas reads the column as 1.0, NaN, 3.0
    frame.loc[2, "Age"] = None
    frame.to_csv(workdir / "in.csv", index=False)

    status = predict.main(
        ["churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "o.csv"]
    )

    assert status == 3
    text = (workdir / "o.csv").read_text().splitlines()
    assert f",{churn_rows(3)['Age'][0]}," in text[1] and ".0," not in text[1]
    out = pd.read_csv(workdir / "o.csv")
    assert "NumOfProducts" in out.loc[1, "error"] and "missing" in out.loc[1, "error"]
    assert "Age" in out.loc[2, "error"]


def test_a_large_batch_split_over_threads_gives_the_same_probabilities(tmp_path):
    from tiny_models import sentiment_model_dir

    from pipeline.serving.inference import Predictor

    directory = sentiment_model_dir(tmp_path)
    whole = Predictor.from_dir(directory)
    split = Predictor(directory / "model.onnx", whole.encoder, parallel=3)
    vocabulary = len(whole.encoder.vocabulary)
    x = np.random.default_rng(0).integers(0, vocabulary, size=(100, whole.encoder.sequence_length))
    expected = whole.predict_encoded(x)
    assert np.array_equal(split.predict_encoded(x), expected)  # 3 chunks, in order
    assert split._pool is not None  # ...that really ran on the worker threads
    assert np.array_equal(split.predict_encoded(x[:40]), expected[:40])  # too small to split


def test_a_blank_line_and_a_quoted_line_break_do_not_shift_row_numbers(models, workdir, capsys):
    """Data row N is the N-th row under the header, a blank line included; its file line is named."""
    lines = churn_rows(4).astype(object).assign(Surname=["Ng", "O'Hara\nSmith", "Li", "Roe"])
    text = lines.to_csv(index=False).splitlines(keepends=True)
    # header, row 1, row 2 (two lines), row 3, row 4 -> a blank line after row 1 becomes data row 2
    text.insert(2, "\n")
    bad = text[-1].split(",")
    bad[lines.columns.get_loc("Age")] = "forty"  # the last data row, data row 5, on file line 7
    text[-1] = ",".join(bad)
    (workdir / "in.csv").write_text("".join(text) + "\n\n")  # blank lines at the end are not rows

    args = ["churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "out.csv"]
    assert predict.main(args) == 3

    err = capsys.readouterr().err
    assert "data row 2 (file line 3): the row is empty" in err
    assert "data row 5 (file line 7): column 'Age': 'forty' is not a number" in err
    assert "3 of 5 data rows scored" in err
    out = pd.read_csv(workdir / "out.csv")
    assert len(out) == 5  # one output row per input row, the blank one included, in order
    assert out["CustomerId"].isna().tolist() == [False, True, False, False, False]
    assert out["probability"].notna().tolist() == [True, False, True, True, False]


def test_input_types_follow_the_shared_rules(models, workdir, capsys):
    """52.5 for an integer column, a wrong category, and numbers written as text in a CSV."""
    frame = churn_rows(4).astype(object)
    frame.loc[1, "Age"] = 52.5
    frame.loc[2, "NumOfProducts"] = 5
    frame.loc[3, "CreditScore"] = "  640 "  # one text value: pandas reads the column as text
    frame.to_csv(workdir / "in.csv", index=False)

    args = ["churn", "--model", str(models["churn"]), "--input", "in.csv", "--output", "o.json"]
    assert predict.main(args) == 3

    err = capsys.readouterr().err
    assert (
        "data row 2 (file line 3): column 'Age': 52.5 is not a whole number; expected an integer in [18, 100]"
    ) in err
    assert (
        "data row 3 (file line 4): column 'NumOfProducts': unknown category 5; expected one of [1, 2, 3, 4]"
        in err
    )
    assert "['1', '2', '3', '4']" not in err and "data row 4" not in err
    scored = json.loads((workdir / "o.json").read_text())
    same = churn_rows(4).iloc[[3]].assign(CreditScore=640)
    expected = Predictor.from_dir(models["churn"]).score_frame(same).probabilities[0]
    assert scored[3]["probability"] == pytest.approx(expected, abs=1e-6)


def test_a_text_with_no_known_word_is_neutral_with_a_warning(tmp_path, workdir, capsys):
    """An unknown word's embedding is rarely neutral: here it pushes towards Positive (p = 0.88)."""
    model = str(sentiment_model_dir(tmp_path, oov_score=1.0))
    texts = ["a great movie", "zxqv plmokn qwertyuiop", "\U0001f600\U0001f3ac\U0001f44d"]
    args = ["sentiment", "--model", model, "--format", "json"]
    assert predict.main([*args, *(a for t in texts for a in ("--text", t))]) == 0

    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert [r["label"] for r in out] == ["Positive", "Neutral", "Neutral"]
    assert [r["known_token_share"] for r in out] == [pytest.approx(2 / 3, abs=1e-4), 0.0, 0.0]
    assert out[1]["probability"] == pytest.approx(0.8808, abs=1e-4)  # the model's own answer, kept
    assert (
        out[0]["warning"] == "" and "no word of this text is in the model's vocabulary" in out[1]["warning"]
    )
    assert "text 2: no word of this text is in the model's vocabulary" in captured.err
    assert "text 3: no word" in captured.err and "text 1:" not in captured.err


def test_the_table_shows_a_multi_class_models_top_classes(tmp_path, workdir, capsys):
    """The top classes were only in --format csv/json; a person reading the table needs them too."""
    model = str(topics_model_dir(tmp_path))
    texts = ["oil oil crude", "profit shares"]
    args = ["topics", "--model", model, *(a for t in texts for a in ("--text", t))]
    assert predict.main([*args, "--format", "csv"]) == 0
    tops = pd.read_csv(io.StringIO(capsys.readouterr().out))["top"].tolist()
    assert all(";" in t for t in tops)

    assert predict.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "top classes" in lines[0]
    for line, top in zip(lines[2:4], tops, strict=True):
        assert top in line, (line, top)
    assert lines[2].split()[2] == tops[0].split()[0]  # the label is the first of the top classes
