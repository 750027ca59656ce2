"""score's columnar route (issue 24, batch scoring) answers exactly as the per-row route it replaced.

* a table's categories judged once per distinct value (``pipeline/encoders/tabular_columns.py``)
  against the rule applied cell by cell, on every dtype a column arrives in, invalid values included;
* the kinds' ``answer_columns`` against ``predict_columns`` of the per-row answers;
* ``score_chunk`` against the chunk scored as before (``answer_rows``, a dict per row), frames
  compared with their dtypes, invalid rows and their messages included.

Real ONNX Runtime on the tiny models of tests/tiny_models.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from tiny_models import churn_encoder, churn_model_dir, churn_rows, sentiment_model_dir

from pipeline.commands.score import score_chunk
from pipeline.encoders.tabular_columns import category_positions
from pipeline.serving.inference import Predictor
from pipeline.serving.responses import answer_rows
from pipeline.tasks import answers as shapes
from pipeline.tasks import kind_named


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"churn": churn_model_dir(root), "sentiment": sentiment_model_dir(root)}


def odd_values(column: str) -> list:
    """A categorical column's values of every sort the rule tells apart, invalid ones included."""
    return {
        "Geography": [
            "France",
            "Spain",
            "Atlantis",
            " France",
            None,
            float("nan"),
            "",
            "  ",
            1,
            True,
            "Germany",
        ],
        "NumOfProducts": [1, 2, 2.0, "2", " 3 ", 2.5, True, False, None, float("nan"), 0, -0.0, "x", 4, 5.0],
    }[column]


def dtype_variants(values: list) -> list[pd.Series]:
    """The column as it may arrive: objects as given, and each typed form that holds its values."""
    variants = [pd.Series(values, dtype=object)]
    texts = [v for v in values if isinstance(v, str)]
    variants += [pd.Series(texts, dtype=dtype) for dtype in ("str", "string", object)]
    variants.append(pd.Series([*texts, None, None], dtype="str"))
    numbers = [v for v in values if type(v) in (int, float)]
    variants += [pd.Series(numbers, dtype="float64"), pd.Series([-0.0, 0.0, 2.0, np.nan, 7.0])]
    variants += [pd.Series([1, 2, 9, 2, 1], dtype="int64"), pd.Series([True, False, True])]
    variants += [pd.Series([1, None, 3], dtype="Int64"), pd.Series(["France", "Spain"], dtype="category")]
    return variants


@pytest.mark.parametrize("column", ["Geography", "NumOfProducts"])
def test_each_distinct_category_is_judged_as_each_cell_was(column):
    encoder = churn_encoder()
    for fills in ({}, {column: encoder.categorical[column][0]}):
        encoder.fills = fills
        for series in dtype_variants(odd_values(column)):
            cell_by_cell = [encoder._category(column, v) for v in series.tolist()]
            positions, refused = category_positions(encoder, column, series)
            keys = encoder._keys[column]
            assert [None if p < 0 else keys[p] for p in positions] == [k for k, _ in cell_by_cell]
            assert refused == [(i, why) for i, (_, why) in enumerate(cell_by_cell) if why], series.dtype


def churn_frame_with_bad_rows(n: int = 120) -> pd.DataFrame:
    """Churn rows with invalid cells of each sort, in columns of several dtypes."""
    frame = churn_rows(n)
    frame["Geography"] = frame["Geography"].astype(object)
    frame.loc[3, "Geography"] = "Atlantis"
    frame.loc[5, "Geography"] = None
    frame.loc[9, "Geography"] = True
    frame["NumOfProducts"] = frame["NumOfProducts"].astype(object)
    frame.loc[11, "NumOfProducts"] = 2.5
    frame.loc[12, "NumOfProducts"] = "3"
    frame.loc[13, "NumOfProducts"] = 7
    frame["Age"] = frame["Age"].astype(float)
    frame.loc[17, "Age"] = np.nan
    frame.loc[18, "Age"] = 500.0
    frame.loc[19, "Age"] = 40.5
    frame.loc[23, "Gender"] = "Robot"
    frame.loc[29, ["Geography", "Gender"]] = None
    return frame


def per_row_chunk(predictor, chunk: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """score_chunk as it was before the columnar route: a dict per row, then the columns."""
    result = predictor.score_frame(chunk)
    bad = {e.row for e in result.errors}
    good = [i for i in range(len(chunk)) if i not in bad]
    out = chunk.loc[good, ids].reset_index(drop=True)
    probabilities = result.probabilities[good]
    shares = None if result.known_token_share is None else result.known_token_share[good]
    answers = answer_rows(predictor, probabilities, shares, chunk.iloc[good], {})
    for column, values in kind_named(predictor.kind).predict_columns(answers, probabilities, shares).items():
        out[column] = list(values)
    return out


def test_a_churn_chunk_is_scored_as_row_by_row_with_the_same_rejects(models):
    predictor = Predictor.from_dir(models["churn"])
    frame = churn_frame_with_bad_rows()
    out, errors = score_chunk(predictor, frame, ["CustomerId"], {})
    pd.testing.assert_frame_equal(out, per_row_chunk(predictor, frame, ["CustomerId"]), check_exact=True)
    rows = {e.row for e in errors}
    assert {3, 5, 9, 11, 13, 17, 18, 19, 23} <= rows and 12 not in rows  # "3" is the category 3
    records = frame.to_dict("records")
    by_records = predictor.encoder.check_records(records)  # serving's path: the same rows, same reasons
    assert [(e.row, e.column) for e in by_records] == [(e.row, e.column) for e in errors]
    x = predictor.encoder.transform(frame.drop(index=sorted(rows)))
    good = [r for i, r in enumerate(records) if i not in rows]
    np.testing.assert_array_equal(x, predictor.encoder.transform_records(good))


def test_a_sentiment_chunk_is_scored_as_row_by_row(models):
    predictor = Predictor.from_dir(models["sentiment"])
    texts = ["a great film", "awful", "", "zxqv plmokn", "great great awful", "NA", "fine", "  "]
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    out, _ = score_chunk(predictor, frame, ["id"], {})
    pd.testing.assert_frame_equal(out, per_row_chunk(predictor, frame, ["id"]), check_exact=True)


EDGES = [0.0, 0.3, 0.4, 0.4000001, 0.5, 0.5 + 1e-12, 0.6, 0.59999999, 0.6000001, 0.9, 1.0, float("nan")]


@pytest.mark.parametrize("classes", [[0, 1], ["No", "Yes"], ["Neutral", "Yes"]])
def test_a_binary_tables_columns_are_its_answers_columns(classes):
    predictor = SimpleNamespace(
        kind="tabular", classes=classes, output={"class_names": [f"name {c}" for c in classes]}
    )
    probabilities = np.array(EDGES)
    kind = kind_named("tabular")
    expected = kind.predict_columns(
        kind.answers(predictor, probabilities, None, None, {}), probabilities, None
    )
    got = kind.answer_columns(predictor, probabilities, None, None, {})
    assert list(got) == list(expected)
    for column in got:
        assert pd.Series(list(got[column])).equals(pd.Series(list(expected[column]))), column


@pytest.mark.parametrize("band", [0.0, 0.1, 0.25])
def test_a_binary_texts_columns_are_its_answers_columns(band):
    predictor = SimpleNamespace(kind="text", classes=[0, 1], output={"neutral_band": band})
    probabilities = np.array([*EDGES, 0.35, 0.65, 0.75, 0.25])
    shares = np.linspace(0, 1, len(probabilities))
    shares[[2, 7]] = 0.0
    kind = kind_named("text")
    answers = kind.answers(predictor, probabilities, shares, None, {})
    expected = kind.predict_columns(answers, probabilities, shares)
    got = kind.answer_columns(predictor, probabilities, shares, None, {})
    assert list(got) == list(expected)
    for column in got:
        assert pd.Series(list(got[column])).equals(pd.Series(list(expected[column]))), column
    assert shapes.NEUTRAL in list(got["label"])


@pytest.mark.parametrize("truncation", ["pre", "post"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_texts_are_truncated_before_their_tokens_are_looked_up_with_the_same_rows(truncation, padding):
    from tiny_models import text_encoder

    encoder = text_encoder()
    encoder.truncation, encoder.padding = truncation, padding
    words = [*encoder.vocabulary[2:], "zxqv", "plmokn"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size)) for size in (0, 1, 3, encoder.sequence_length, 200)]
    texts += ["<br />Great <b>film</b>, isn't it?", "only emoji 🙂"]
    np.testing.assert_array_equal(
        encoder.transform_texts(texts), encoder.pad([encoder.encode_one(t) for t in texts])
    )
