import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import load_params
from pipeline.core.errors import ModelError
from pipeline.encoders.base import tokenize
from pipeline.encoders.registry import encoder_from_dict
from pipeline.encoders.tabular import TabularEncoder
from pipeline.encoders.text import TextEncoder
from tests.conftest import REPO

SCHEMA = load_params(REPO / "params.yaml").task("churn").schema_


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
    assert "is blank" in errors[(2, "Age")]
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
    cfg = (
        load_params(REPO / "params.yaml")
        .task("sentiment")
        .encode.model_copy(update={"max_tokens": 5, "sequence_length": 4})
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


# ------------------------------------------------------------------ the input rules
RULES = [
    ("Age", 52.5, "52.5 is not a whole number; expected an integer in [18, 100]"),
    ("Age", "52.5", "52.5 is not a whole number; expected an integer in [18, 100]"),
    ("Age", True, "expected a number, got a boolean (true)"),
    ("HasCrCard", False, "expected a number, got a boolean (false)"),  # not silently 0
    ("Age", "fifty", "'fifty' is not a number"),
    ("Age", "5 2", "'5 2' is not a number"),
    ("Age", [52], "expected a number, got a list"),
    ("Age", 150, "150 is outside the expected range [18, 100]"),
    ("Balance", 3e5 + 0.5, "300000.5 is outside the expected range [0, 300000]"),
    ("NumOfProducts", 5, "unknown category 5; expected one of [1, 2, 3, 4]"),
    ("NumOfProducts", 2.5, "unknown category 2.5; expected one of [1, 2, 3, 4]"),
    ("NumOfProducts", True, "expected one of [1, 2, 3, 4], got a boolean (true)"),
    ("Geography", "Italy", "unknown category 'Italy'; expected one of ['France', 'Germany', 'Spain']"),
]


@pytest.mark.parametrize(("column", "value", "message"), RULES, ids=[f"{c}={v!r}" for c, v, _ in RULES])
def test_one_rule_set_for_dataframes_and_json_records(column, value, message):
    enc = TabularEncoder.fit(customers(), SCHEMA)
    records = customers().to_dict(orient="records")
    records[1][column] = value
    frame = pd.DataFrame.from_records(records)

    assert [(e.row, e.column, e.message) for e in enc.check_records(records)] == [(1, column, message)]
    assert [(e.row, e.column, e.message) for e in enc.check(frame)] == [(1, column, message)]


def test_numbers_written_as_text_are_taken_when_they_parse_exactly():
    """A CSV cell is text: "52", " 52 ", "52.0", "6.5e2" are numbers; whole floats are integers."""
    enc = TabularEncoder.fit(customers(), SCHEMA)
    plain = customers().to_dict(orient="records")
    written = [dict(r) for r in plain]
    written[0] |= {"Age": str(plain[0]["Age"]), "CreditScore": "6.5e2", "NumOfProducts": "2"}
    written[1] |= {"Age": f" {plain[1]['Age']} ", "NumOfProducts": 2.0, "Tenure": float(plain[1]["Tenure"])}
    written[2] |= {"Age": f"{plain[2]['Age']}.0", "Balance": str(plain[2]["Balance"])}
    expected = [dict(r) for r in plain]
    expected[0] |= {"CreditScore": 650, "NumOfProducts": 2}
    expected[1] |= {"NumOfProducts": 2}

    assert enc.check_records(written) == [] and enc.check(pd.DataFrame.from_records(written)) == []
    want = enc.transform(pd.DataFrame.from_records(expected))
    np.testing.assert_allclose(enc.transform_records(written), want, rtol=1e-6)
    np.testing.assert_allclose(enc.transform(pd.DataFrame.from_records(written)), want, rtol=1e-6)


def test_encoder_json_keeps_the_schemas_values_and_integer_columns():
    data = TabularEncoder.fit(customers(), SCHEMA).to_dict()
    assert data["categorical"]["NumOfProducts"] == [1, 2, 3, 4]  # as params.yaml writes them
    assert data["numeric"]["Age"]["integer"] is True and data["numeric"]["Balance"]["integer"] is False
    # an encoder.json written before: categories as strings, no integer flags
    old = {**data, "categorical": {c: [str(v) for v in vs] for c, vs in data["categorical"].items()}}
    old["numeric"] = {c: {k: v for k, v in s.items() if k != "integer"} for c, s in data["numeric"].items()}
    again = encoder_from_dict(old)
    assert again.feature_names == encoder_from_dict(data).feature_names
    record = customers().to_dict(orient="records")[0] | {"NumOfProducts": 7}
    assert "expected one of [1, 2, 3, 4]" in again.check_records([record])[0].message


def test_known_token_share_counts_the_tokens_the_model_reads():
    enc = TextEncoder(["<pad>", "<oov>", "good", "film"], 4)
    ids = enc.transform_texts(
        ["good film", "good zxqv", "zxqv plmokn qwertyuiop", "\U0001f600\U0001f3ac", "x y z good"]
    )
    # an emoji-only text has no token at all: nothing is known either
    assert enc.known_token_share(ids).tolist() == [1.0, 0.5, 0.0, 0.0, 0.25]
    cut = enc.transform_texts(["good a b c d"])  # pre-truncation keeps "a b c d": none known
    assert enc.known_token_share(cut).tolist() == [0.0]


# ------------------------------------------------------------------ blank means blank
@pytest.mark.parametrize("blank", [None, np.nan, "", " ", "\t  "], ids=repr)
def test_a_whitespace_only_cell_is_blank_and_follows_the_columns_missing_policy(blank):
    schema = SCHEMA.model_copy(update={"missing": {"Balance": "median"}})
    enc = TabularEncoder.fit(customers(), schema)
    records = customers().to_dict(orient="records")
    filled = [dict(r) for r in records]
    records[2]["Balance"] = blank
    filled[2]["Balance"] = enc.fills["Balance"]
    frame = pd.DataFrame.from_records(records)
    assert enc.check_records(records) == [] and enc.check(frame) == []
    want = enc.transform(pd.DataFrame.from_records(filled))
    np.testing.assert_allclose(enc.transform_records(records), want, rtol=1e-6)
    np.testing.assert_allclose(enc.transform(frame), want, rtol=1e-6)

    strict = TabularEncoder.fit(customers(), SCHEMA)  # no policy: the row is refused, and says why
    (error,) = strict.check_records(records)
    assert (error.row, error.column) == (2, "Balance") and error.message.startswith("is blank")


def test_a_csv_column_of_numbers_with_whitespace_blanks_reads_as_numbers(tmp_path):
    from pipeline.data.readers import read_csv_file

    path = tmp_path / "telco.csv"
    path.write_text("customerID,TotalCharges,Contract\n1, ,Month\n2, 29.85 ,Year\n3,30.5, \n")
    frame = read_csv_file(path, "telco.csv").frame
    assert frame["TotalCharges"].dtype == "float64"
    assert frame["TotalCharges"].isna().tolist() == [True, False, False]
    assert frame["TotalCharges"].tolist()[1:] == [29.85, 30.5]
    assert frame["Contract"].isna().tolist() == [False, False, True]  # text stays text, " " is blank


# ------------------------------------------------------------------ one contract, no isinstance
def test_every_registered_encoder_answers_the_encoder_contract():
    from pipeline.encoders.base import Encoder
    from pipeline.encoders.language_model import LanguageModelEncoder
    from pipeline.encoders.registry import ENCODERS
    from pipeline.encoders.timeseries import WindowEncoder

    table = TabularEncoder.fit(customers(), SCHEMA)
    text = TextEncoder(["<pad>", "<oov>", "good", "film"], 4)
    lm = LanguageModelEncoder(["<pad>", "<oov>", "good", "film"], 3)
    series = WindowEncoder(
        time="t", target="y", frequency="h", lookback=2, horizon=1, season_length=1, past=[], known=[],
        categories={}, calendar=[], calendar_encoding="cycles", calendar_levels={}, scales={"y": [0.0, 1.0]},
        mase_scale=1.0,
    )  # fmt: skip
    pairs = (("tabular", table), ("text", text), ("language_model", lm), ("timeseries", series))
    assert {kind: type(enc) for kind, enc in pairs} == ENCODERS
    for enc in (table, text, lm, series):
        assert isinstance(enc, Encoder) and encoder_from_dict(enc.to_dict()) == enc
    assert (table.vocab_size, text.vocab_size, lm.vocab_size, series.vocab_size) == (0, 4, 4, 0)
    assert (table.input_dtype, text.input_dtype, lm.input_dtype) == (np.float32, np.int32, np.int32)
    assert series.input_dtype == np.float32
    assert (table.text_column, text.text_column) == (None, "text") and text.input_columns == ["text"]
    assert table.transform(customers()).shape[1] == table.input_width
    assert text.transform_texts(["good film"]).shape[1] == text.input_width == 4 and lm.input_width == 3
    assert table.known_token_share(np.zeros((2, 3))) is None
    assert text.known_token_share(np.array([[0, 1, 2, 3]])).tolist() == [2 / 3]
    assert text.fill_report(pd.DataFrame({"text": ["a"], "split": ["train"]})) == []
    with pytest.raises(ModelError, match="unknown encoder kind 'forecast'"):
        encoder_from_dict({"kind": "forecast"})


def test_fill_report_counts_the_blank_cells_filled_per_split():
    schema = SCHEMA.model_copy(update={"missing": {"Balance": "median"}})
    frame = customers().assign(split=["train", "train", "val", "test", "train", "val"])
    frame["Balance"] = frame["Balance"].astype(object)
    frame.loc[[1, 2], "Balance"] = [None, " "]
    enc = TabularEncoder.fit(frame[frame["split"] == "train"], schema)
    (line,) = enc.fill_report(frame)
    assert line == f"2 blank Balance cell(s) (train 1, val 1, test 0) filled with {enc.fills['Balance']!r}"


def test_a_mode_fill_needs_a_value_in_the_training_split():
    from pipeline.core.errors import DataError

    schema = SCHEMA.model_copy(update={"missing": {"Geography": "mode"}})
    train = customers().assign(Geography=None)
    with pytest.raises(DataError, match="'Geography' has no value in the training split"):
        TabularEncoder.fit(train, schema)


def test_auto_sizes_follow_the_training_texts_and_say_how():
    from pipeline.core.data_config import TextEncodeConfig

    texts = ["good film"] * 5 + ["bad film here today"] * 4 + ["a long one of ten words in it yes"]
    enc = TextEncoder.fit(texts, TextEncodeConfig(min_sequence_length=2))
    # words seen twice or more: film (9), good (5), bad/here/today (4); the rest once
    assert enc.vocabulary == ["<pad>", "<oov>", "film", "good", "bad", "here", "today"]
    assert enc.sequence_length == 4  # the 90th percentile of [2]*5 + [4]*4 + [10]
    assert "seen at least 2 times" in enc.sized_from_data["max_tokens"]
    assert "90.0% of the training texts fit whole" in enc.sized_from_data["sequence_length"]
    assert TextEncoder.from_dict(enc.to_dict()) == enc  # encoder.json keeps how they were chosen

    capped = TextEncoder.fit(
        texts, TextEncodeConfig(min_count=1, max_tokens_cap=10, length_percentile=100, sequence_length_cap=6)
    )
    # every word counts at min_count 1: the 8 most frequent (ties alphabetical) fit the cap of 10
    assert capped.vocabulary == ["<pad>", "<oov>", "film", "good", "bad", "here", "today", "a", "in", "it"]
    assert capped.sequence_length == 6  # the longest text (9) is cut to the cap
    assert "capped by max_tokens_cap 10" in capped.sized_from_data["max_tokens"]


def test_given_sizes_are_kept_and_encoder_json_is_as_before():
    cfg = load_params(REPO / "params.yaml").task("sentiment").encode
    enc = TextEncoder.fit(["good film"] * 3, cfg)
    assert enc.sequence_length == cfg.sequence_length and enc.sized_from_data == {}
    assert "auto" not in enc.to_dict()


@pytest.mark.parametrize(
    ("key", "value"), [("max_tokens", "automatic"), ("max_tokens", 5), ("sequence_length", "all")]
)
def test_a_size_that_is_neither_a_number_nor_auto_is_refused_by_name(tmp_path, key, value):
    from tests.conftest import edit_params

    target = tmp_path / "params.yaml"
    target.write_text((REPO / "params.yaml").read_text())
    edit_params(target, sentiment={"encode": {key: value}})
    with pytest.raises(Exception, match=rf"sentiment\.encode\.{key}"):
        load_params(target)


def test_a_numeric_column_may_leave_out_either_bound():
    """A user who does not know a column's range writes ``{}`` (or one bound): the cells must still
    be numbers, and a bound that is given is still checked, in words that match it."""
    from pipeline.core.data_config import NumericColumn

    numeric = dict(SCHEMA.numeric) | {
        "Age": NumericColumn(min=18, integer=True),
        "Balance": NumericColumn(),
        "EstimatedSalary": NumericColumn(max=200000),
    }
    enc = TabularEncoder.fit(customers(), SCHEMA.model_copy(update={"numeric": numeric}))
    assert encoder_from_dict(enc.to_dict()).numeric["Balance"] | {"mean": 0, "std": 1} == {
        "mean": 0,
        "std": 1,
        "min": None,
        "max": None,
        "integer": False,
    }
    records = customers().to_dict(orient="records")
    records[0] |= {"Age": 10, "Balance": -5e9, "EstimatedSalary": -1.0}  # only Age breaks its bound
    records[1] |= {"Age": 18.5, "Balance": "much", "EstimatedSalary": 250000}
    problems = {(e.row, e.column): e.message for e in enc.check_records(records)}
    assert problems == {
        (0, "Age"): "10 is outside the expected range of at least 18",
        (1, "Age"): "18.5 is not a whole number; expected an integer of at least 18",
        (1, "Balance"): "'much' is not a number",
        (1, "EstimatedSalary"): "250000 is outside the expected range of at most 200000",
    }
    with pytest.raises(ValueError, match=r"min 5\.0 is above max 1\.0"):
        NumericColumn(min=5, max=1)


def test_an_unbounded_column_still_refuses_an_infinite_number():
    """No bound is not "anything": inf would reach the model as inf (and NaN after scaling), so a row
    or a request holding it is refused, by the batch check and the record check alike."""
    from pipeline.core.data_config import NumericColumn

    numeric = dict(SCHEMA.numeric) | {"Balance": NumericColumn(), "EstimatedSalary": NumericColumn(min=0)}
    enc = TabularEncoder.fit(customers(), SCHEMA.model_copy(update={"numeric": numeric}))
    rows = customers().head(3).copy()
    rows.loc[0, "Balance"] = np.inf
    rows.loc[1, "EstimatedSalary"] = -np.inf
    want = {
        (0, "Balance"): "inf is not a finite number; expected a number",
        (1, "EstimatedSalary"): "-inf is not a finite number; expected a number of at least 0",
    }
    assert {(e.row, e.column): e.message for e in enc.check(rows)} == want
    records = rows.to_dict(orient="records")
    records[0]["Balance"] = "inf"  # as text, the way a CSV or a JSON client may write it
    assert {(e.row, e.column): e.message for e in enc.check_records(records)} == want | {
        (0, "Balance"): "'inf' is not a number"
    }
