"""validate: the Great Expectations suites built from params.yaml, on tiny frames (real GX)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import __main__ as cli
from pipeline.core.config import TabularTaskConfig, TextTaskConfig, load_params, params
from pipeline.stages.validate import validate_frame

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def churn() -> TabularTaskConfig:
    config = load_params(REPO / "params.yaml").task("churn")
    return config.model_copy(update={"schema_": config.schema_.model_copy(update={"min_rows": 5})})


@pytest.fixture(scope="module")
def sentiment() -> TextTaskConfig:
    config = load_params(REPO / "params.yaml").task("sentiment")
    return config.model_copy(update={"schema_": config.schema_.model_copy(update={"min_rows": 5})})


def churn_frame(n: int = 20) -> pd.DataFrame:
    """Valid rows in Churn_Modelling.csv's column order."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "RowNumber": i + 1,
            "CustomerId": 15_600_000 + i,
            "Surname": [f"Name{k}" for k in i],
            "CreditScore": 350 + (i * 37) % 500,
            "Geography": np.array(["France", "Germany", "Spain"])[i % 3],
            "Gender": np.array(["Female", "Male"])[i % 2],
            "Age": 18 + (i * 7) % 70,
            "Tenure": i % 11,
            "Balance": (i * 12_345.5) % 250_000,
            "NumOfProducts": 1 + i % 4,
            "HasCrCard": i % 2,
            "IsActiveMember": (i // 2) % 2,
            "EstimatedSalary": (1_000.0 + i * 4_321.25) % 250_000,
            "Exited": (i // 3) % 2,
        }
    )


def sentiment_frame(n: int = 20) -> pd.DataFrame:
    texts = ["a great film, i loved it", "not good at all, boring plot", "isn't bad but too long"]
    return pd.DataFrame({"text": [texts[k % 3] for k in range(n)], "label": [k % 2 for k in range(n)]})


def with_value(frame: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[rows, column] = value
    return frame


# ------------------------------------------------------------------------------------------ churn
def test_valid_churn_frame_passes(churn: TabularTaskConfig) -> None:
    summary = validate_frame(churn_frame(), churn)
    assert summary.success, summary.message("frame")
    assert summary.failures == []
    assert summary.rows == 20


def test_missing_column_is_named_once(churn: TabularTaskConfig) -> None:
    summary = validate_frame(churn_frame().drop(columns=["Age"]), churn)
    assert not summary.success
    # the column's own checks are not evaluated, so the message names the column once
    assert [(f.expectation, f.missing_columns) for f in summary.failures] == [
        ("expect_table_columns_to_match_set", ["Age"])
    ]
    assert "missing column(s) 'Age'" in summary.message("data/raw/churn.parquet")


def test_extra_column_is_named(churn: TabularTaskConfig) -> None:
    summary = validate_frame(churn_frame().assign(Email="x@y.z"), churn)
    assert [(f.expectation, f.unexpected_columns) for f in summary.failures] == [
        ("expect_table_columns_to_match_set", ["Email"])
    ]
    assert "unexpected column(s) 'Email'" in summary.message("f")


def test_non_numeric_value_counted_once(churn: TabularTaskConfig) -> None:
    # One bad value in a CSV makes pandas read the whole column as strings.
    frame = churn_frame()
    frame["CreditScore"] = frame["CreditScore"].astype(str)
    frame.loc[7, "CreditScore"] = "abc"
    summary = validate_frame(frame, churn)
    (failure,) = summary.failures  # the parsed numbers pass the range and whole-number checks
    assert (failure.column, failure.expectation) == ("CreditScore", "expect_column_values_to_be_in_type_list")
    # data rows count from 1: position 7 is data row 8
    assert (failure.unexpected_count, failure.unexpected_rows, failure.unexpected_values) == (1, [8], ["abc"])
    expected = "expect_column_values_to_be_in_type_list: 1 row(s) not numbers (data row 8; values 'abc')"
    assert f"column 'CreditScore': {expected}" in summary.message("f")


@pytest.mark.parametrize(
    ("column", "rows", "value", "expectation", "text"),
    [
        ("Age", [3], np.nan, "expect_column_values_to_not_be_null", "1 row(s) null (data row 4)"),
        ("Geography", [2, 5], "Italy", "expect_column_values_to_be_in_set", "2 row(s) not in {'France', "),
        (
            "Exited",
            [4],
            2,
            "expect_column_values_to_be_in_set",
            "1 row(s) not in {0, 1} (data row 5; values 2)",
        ),
        (
            "CreditScore",
            [1, 9],
            950,
            "expect_column_values_to_be_between",
            "2 row(s) out of [300, 900] (data rows 2, 10",
        ),
        (
            "Tenure",
            [6],
            2.5,
            "expect_column_values_to_match_regex",
            "1 row(s) not whole numbers (data row 7; values 2.5)",
        ),
    ],
    ids=["nan-age", "unknown-geography", "exited-2", "credit-score-range", "fractional-tenure"],
)
def test_bad_values_fail_naming_column_and_rows(
    churn: TabularTaskConfig, column: str, rows: list[int], value: object, expectation: str, text: str
) -> None:
    summary = validate_frame(with_value(churn_frame(), column, rows, value), churn)
    assert not summary.success
    assert [(f.column, f.expectation, f.unexpected_count) for f in summary.failures] == [
        (column, expectation, len(rows))
    ]
    assert f"failed 1 expectation(s):\n  - column '{column}': {expectation}: {text}" in summary.message("f")


def test_a_column_without_bounds_takes_any_finite_number(churn: TabularTaskConfig) -> None:
    from pipeline.core.data_config import NumericColumn

    numeric = dict(churn.schema_.numeric) | {"Balance": NumericColumn(), "Age": NumericColumn(min=18)}
    unbounded = churn.model_copy(update={"schema_": churn.schema_.model_copy(update={"numeric": numeric})})
    frame = with_value(with_value(churn_frame(), "Balance", [3], -1e12), "Age", [4], 1e6)
    assert validate_frame(frame, unbounded).success
    failures = validate_frame(with_value(frame, "Balance", [5], float("inf")), unbounded).failures
    assert [(f.column, f.expectation, f.unexpected_count) for f in failures] == [
        ("Balance", "expect_column_values_to_be_between", 1)
    ]


def test_nullable_and_boolean_dtypes_are_numbers(churn: TabularTaskConfig) -> None:
    frame = churn_frame().astype({"Age": "Int64", "Balance": "Float64", "HasCrCard": bool})
    frame.loc[3, "Age"] = pd.NA
    summary = validate_frame(frame, churn)
    assert [(f.column, f.expectation) for f in summary.failures] == [
        ("Age", "expect_column_values_to_not_be_null")
    ]


def test_too_few_rows_fail(churn: TabularTaskConfig) -> None:
    summary = validate_frame(churn_frame(3), churn)
    assert "row count 3, expected in [5, 10000000]" in summary.message("f")


@pytest.mark.skipif(
    not (SHARED_DATA / "Churn_Modelling.csv").is_file(), reason="shared Churn_Modelling.csv absent"
)
def test_real_churn_data_passes_default_suite() -> None:
    frame = pd.read_csv(SHARED_DATA / "Churn_Modelling.csv")
    summary = validate_frame(frame, load_params(REPO / "params.yaml").task("churn"))
    assert summary.success, summary.message("Churn_Modelling.csv")
    assert summary.rows == 10_000


# -------------------------------------------------------------------------------------- sentiment
def test_valid_sentiment_frame_passes(sentiment: TextTaskConfig) -> None:
    frame = sentiment_frame().assign(split="train", id=range(20), rating=7)  # optional columns are fine
    summary = validate_frame(frame, sentiment)
    assert summary.success, summary.message("frame")


@pytest.mark.parametrize(
    ("change", "column", "expectation", "text"),
    [
        (
            lambda f: with_value(f, "text", [4], ""),
            "text",
            "expect_column_value_lengths_to_be_between",
            "1 row(s) out of [1, 100000] characters long (data row 5; values '')",
        ),
        (
            lambda f: with_value(f, "label", [2], 3),
            "label",
            "expect_column_values_to_be_in_set",
            "1 row(s) not in {0, 1} (data row 3; values 3)",
        ),
        (
            lambda f: f.assign(label=[1] * 18 + [0] * 2),
            "label",
            "expect_column_mean_to_be_between",
            "fraction of positive labels 0.9, expected in [0.2, 0.8]",
        ),
        (
            lambda f: f.assign(text="ok " * 2),
            "text",
            "expect_column_mean_to_be_between",
            "mean tokens per text 2, expected in [3, 2000]",
        ),
        (lambda f: f.drop(columns=["label"]), "label", "expect_column_to_exist", "column missing"),
    ],
    ids=["empty-text", "label-3", "imbalance", "too-short", "no-label-column"],
)
def test_bad_sentiment_data_fails(
    sentiment: TextTaskConfig, change, column: str, expectation: str, text: str
) -> None:
    summary = validate_frame(change(sentiment_frame()), sentiment)
    assert [(f.column, f.expectation) for f in summary.failures] == [(column, expectation)]
    assert f"column '{column}': {expectation}: {text}" in summary.message("f")


# -------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with the repo's params.yaml; the stage runs there."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    params.cache_clear()
    yield tmp_path
    params.cache_clear()


def test_cli_reports_are_stable_and_replaced_on_failure(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = project / "data" / "raw" / "churn.parquet"
    out = project / "reports" / "validation" / "churn"
    churn_frame(120).to_parquet(raw)

    assert cli.main(["validate", "churn"]) == 0
    first = (out / "result.json").read_bytes()
    assert (out / "data_docs" / "index.html").is_file()
    assert cli.main(["validate", "churn"]) == 0
    assert (out / "result.json").read_bytes() == first  # no timestamps or run ids inside
    assert json.loads(first)["success"] is True

    with_value(churn_frame(120), "Geography", [17], "Italy").to_parquet(raw)
    capsys.readouterr()
    assert cli.main(["validate", "churn"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: data/raw/churn.parquet failed 1 expectation(s):\n")
    assert "column 'Geography': expect_column_values_to_be_in_set: 1 row(s)" in err
    assert "(data row 18; values 'Italy')" in err  # position 17: no source file, data rows only
    # The reports now describe the failing data, so the user can open them; nothing is left half-written.
    result = json.loads((out / "result.json").read_text())
    assert result["success"] is False
    (failed,) = [e for e in result["expectations"] if not e["success"]]
    assert (failed["column"], failed["unexpected_count"], failed["unexpected_rows"]) == ("Geography", 1, [18])
    assert "unexpected_file_lines" not in failed and result["row_numbers"].startswith("data rows count")
    assert (out / "data_docs" / "index.html").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["data_docs", "result.json"]


def test_cli_missing_raw_data(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "sentiment"]) == 1
    err = capsys.readouterr().err
    assert "data/raw/sentiment.parquet: not found" in err
    assert not (project / "reports").exists()


def test_cli_names_data_rows_and_file_lines_of_the_source_csv(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quoted line break and a blank line in the CSV: the numbers still point at the bad line."""
    from tests.conftest import edit_params

    frame = with_value(churn_frame(120), "Geography", [16], "Italy")
    frame["Surname"] = frame["Surname"].astype(object)
    frame.loc[3, "Surname"] = "O'Hara\nSmith"  # data row 4 spans file lines 5 and 6
    lines = frame.to_csv(index=False).splitlines(keepends=True)
    lines.insert(1 + 10 + 1, "\n")  # a blank line after the tenth row's (two-line) record: data row 11
    (project / "customers.csv").write_text("".join(lines))
    edit_params(project / "params.yaml", churn={"data": {"source": "customers.csv"}})
    params.cache_clear()

    assert cli.main(["ingest", "churn"]) == 0
    capsys.readouterr()
    assert cli.main(["validate", "churn"]) == 1

    err = capsys.readouterr().err
    assert "(data row 18 (file line 20); values 'Italy')" in err
    assert "rows: data rows count from 1 under the header of customers.csv (blank lines count)" in err
    assert "Italy" in (project / "customers.csv").read_text().splitlines()[20 - 1]  # the named line
    result = json.loads((project / "reports" / "validation" / "churn" / "result.json").read_text())
    (failed,) = [e for e in result["expectations"] if not e["success"]]
    assert (failed["unexpected_rows"], failed["unexpected_file_lines"]) == ([18], [20])
    assert "customers.csv" in result["row_numbers"]
