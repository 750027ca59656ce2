import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_params
from pipeline.preprocess import TabularEncoder, TextEncoder, encoder_from_dict, tokenize
from tests.conftest import REPO

SCHEMA = load_params(REPO / "params.yaml").churn.schema_


def customers(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "RowNumber": range(1, n + 1),
            "CustomerId": range(100, 100 + n),
            "Surname": ["X"] * n,
            "CreditScore": rng.integers(400, 800, n),
            "Geography": ["France", "Germany", "Spain"] * (n // 3),
            "Gender": ["Male", "Female"] * (n // 2),
            "Age": rng.integers(20, 70, n),
            "Tenure": rng.integers(0, 10, n),
            "Balance": rng.uniform(0, 100000, n),
            "NumOfProducts": [1, 2, 3, 4, 1, 2][:n],
            "HasCrCard": [1, 0] * (n // 2),
            "IsActiveMember": [0, 1] * (n // 2),
            "EstimatedSalary": rng.uniform(1000, 150000, n),
            "Exited": [0, 1] * (n // 2),
        }
    )


def test_tabular_encoder_standardises_with_train_statistics_and_round_trips_json():
    train = customers()
    enc = TabularEncoder.fit(train, SCHEMA)
    x = enc.transform(train)
    assert x.shape == (6, len(enc.feature_names))
    age = enc.feature_names.index("Age")
    assert abs(x[:, age].mean()) < 1e-6 and abs(x[:, age].std() - 1) < 1e-5
    # Gender has two levels: one binary column; Geography three: one-hot
    assert "Gender=Male" in enc.feature_names and "Gender=Female" not in enc.feature_names
    assert {"Geography=France", "Geography=Germany", "Geography=Spain"} <= set(enc.feature_names)
    again = encoder_from_dict(enc.to_dict())
    np.testing.assert_array_equal(again.transform(train), x)


def test_tabular_check_reports_each_bad_row_with_column_and_reason():
    enc = TabularEncoder.fit(customers(), SCHEMA)
    rows = customers().astype({"CreditScore": object, "Age": float})
    rows.loc[1, "CreditScore"] = "abc"
    rows.loc[2, "Age"] = np.nan
    rows.loc[3, "Geography"] = "Italy"
    rows.loc[4, "Age"] = 150
    errors = {(e.row, e.column): e.message for e in enc.check(rows)}
    assert "'abc' is not a number" in errors[(1, "CreditScore")]
    assert "missing" in errors[(2, "Age")]
    assert "unknown category 'Italy'" in errors[(3, "Geography")]
    assert "outside the expected range" in errors[(4, "Age")]
    assert 0 not in {row for row, _ in errors} and 5 not in {row for row, _ in errors}


def test_tabular_check_names_missing_and_unexpected_columns():
    enc = TabularEncoder.fit(customers(), SCHEMA)
    errors = enc.check(customers().drop(columns=["Age"]).assign(Colour="red"))
    assert len(errors) == 6
    assert "missing column(s) Age" in errors[0].message and "unexpected column(s) Colour" in errors[0].message


def test_a_repeated_column_in_a_dataframe_is_named_not_reported_as_missing_or_unknown():
    """What the pyfunc gets from a caller's DataFrame, or from pandas' CSV reader as 'Age.1'."""
    enc = TabularEncoder.fit(customers(), SCHEMA)
    repeated = customers()
    repeated.insert(0, "Age", repeated["Age"], allow_duplicates=True)
    assert {e.message for e in enc.check(repeated)} == {
        "column 'Age' appears twice in the header; each column must appear once"
    }
    mangled = customers().assign(**{"Age.1": 40})
    message = enc.check(mangled)[0].message
    assert "unexpected column(s) Age.1 ('Age.1' is how pandas names a second 'Age' column" in message


def test_whole_float_categories_match_integer_levels():
    enc = TabularEncoder.fit(customers(), SCHEMA)
    rows = customers().astype({"NumOfProducts": float})
    assert enc.check(rows) == []
    np.testing.assert_array_equal(enc.transform(rows), enc.transform(customers()))


def test_tokenize_keeps_negations_and_strips_html():
    assert tokenize("It <br />wasn't GOOD, not at all!") == ["it", "wasn't", "good", "not", "at", "all"]


def test_text_encoder_vocabulary_padding_and_truncation():
    cfg = load_params(REPO / "params.yaml").sentiment.text.model_copy(
        update={"max_tokens": 5, "sequence_length": 4}
    )
    enc = TextEncoder.fit(["good good film", "bad film", "good"], cfg)
    assert enc.vocabulary == ["<pad>", "<oov>", "good", "film", "bad"]
    x = enc.transform_texts(["good", "a b c d good film"])
    assert x.tolist() == [[0, 0, 0, 2], [1, 1, 2, 3]]  # pre-padding; pre-truncation keeps the end
    post = TextEncoder.fit(["good film"], cfg.model_copy(update={"padding": "post", "truncation": "post"}))
    assert post.transform_texts(["good", "good film x y z"]).tolist() == [
        [3, 0, 0, 0],
        [3, 2, 1, 1],
    ]  # tie: "film" < "good"


@pytest.mark.parametrize(
    "bad, expected", [("", "text is empty"), ("   ", "text is empty"), (None, "got null"), (3, "got int")]
)
def test_text_check_refuses_empty_and_non_text(bad, expected):
    enc = TextEncoder(["<pad>", "<oov>", "good"], 4)
    errors = enc.check(pd.DataFrame({"text": ["good", bad]}))
    assert [(e.row, e.column) for e in errors] == [(1, "text")] and expected in errors[0].message


def test_record_fast_path_agrees_with_the_dataframe_path():
    enc = TabularEncoder.fit(customers(), SCHEMA)
    rows = customers().astype({"CreditScore": object, "Age": float, "NumOfProducts": float})
    rows.loc[1, "CreditScore"] = "abc"
    rows.loc[2, "Age"] = np.nan
    rows.loc[3, "Geography"] = "Italy"
    rows.loc[4, "Age"] = 150
    records = rows.to_dict(orient="records")
    assert [str(e) for e in enc.check_records(records)] == [str(e) for e in enc.check(rows)]
    good = [0, 5]
    np.testing.assert_allclose(
        enc.transform_records([records[i] for i in good]), enc.transform(rows.iloc[good]), rtol=1e-6
    )
    assert "missing column(s) Age" in str(enc.check_records([{"CreditScore": 600}])[0])


def test_text_record_fast_path_accepts_strings_and_objects():
    enc = TextEncoder(["<pad>", "<oov>", "good"], 3)
    assert enc.check_records(["good", {"text": "good"}]) == []
    assert enc.transform_records(["good", {"text": "good good"}]).tolist() == [[0, 0, 2], [0, 2, 2]]
    assert "missing column 'text'" in enc.check_records([{"review": "x"}])[0].message
