"""The embedded default data: determinism, the churn schema and signal, order-dependent sentiment labels,
uneven newswire topics."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import load_params
from pipeline.encoders.base import tokenize
from pipeline.generators.newswire import TOPICS
from pipeline.generators.synthetic import NEGATIVE, POSITIVE, churn_frame, sentiment_frame, topics_frame

REPO = Path(__file__).resolve().parents[1]
KAGGLE_COLUMNS = [
    "RowNumber",
    "CustomerId",
    "Surname",
    "CreditScore",
    "Geography",
    "Gender",
    "Age",
    "Tenure",
    "Balance",
    "NumOfProducts",
    "HasCrCard",
    "IsActiveMember",
    "EstimatedSalary",
    "Exited",
]


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return churn_frame(10_000, 42)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return sentiment_frame(6_000, 42)


@pytest.fixture(scope="module")
def news() -> pd.DataFrame:
    return topics_frame(4_000, 42)


# -------------------------------------------------------------------------- churn
def test_churn_frame_is_deterministic_per_seed() -> None:
    pd.testing.assert_frame_equal(churn_frame(300, 7), churn_frame(300, 7))
    assert not churn_frame(300, 7).equals(churn_frame(300, 8))


def test_churn_frame_has_the_kaggle_columns_and_the_schema_ranges(churn: pd.DataFrame) -> None:
    schema = load_params(REPO / "params.yaml").task("churn").schema_
    assert list(churn.columns) == KAGGLE_COLUMNS
    assert set(schema.all_columns) == set(KAGGLE_COLUMNS)
    assert not churn.isna().any().any()
    for column, spec in schema.numeric.items():
        values = churn[column]
        assert values.min() >= spec.min and values.max() <= spec.max, column
        if spec.integer:
            assert pd.api.types.is_integer_dtype(values), column
    for column, allowed in schema.categorical.items():
        assert set(churn[column]) == set(allowed), column
    assert set(churn[schema.target]) == {0, 1}
    assert churn["RowNumber"].tolist() == list(range(1, len(churn) + 1))
    assert churn["CustomerId"].is_unique


def test_churn_marginals_look_like_the_real_file(churn: pd.DataFrame) -> None:
    geography = churn["Geography"].value_counts(normalize=True)
    assert 0.46 < geography["France"] < 0.54
    assert 0.21 < geography["Germany"] < 0.29 and 0.21 < geography["Spain"] < 0.29
    assert 0.3 < (churn["Balance"] == 0).mean() < 0.42
    assert (churn.loc[churn["Geography"] == "Germany", "Balance"] > 0).all()
    assert churn["NumOfProducts"].isin([1, 2]).mean() > 0.95
    assert 0.17 < churn["Exited"].mean() < 0.23
    assert 30 < churn["Age"].median() < 45


def test_churn_rises_with_the_known_risk_factors(churn: pd.DataFrame) -> None:
    rate = churn.groupby("NumOfProducts")["Exited"].mean()
    assert rate[4] > rate[3] > rate[1] > rate[2]
    by_age = churn.groupby(pd.cut(churn["Age"], [17, 35, 45, 60, 100]), observed=True)["Exited"].mean()
    assert by_age.iloc[2] > by_age.iloc[1] > by_age.iloc[0] and by_age.iloc[2] > by_age.iloc[3]
    mean = churn.groupby("Geography")["Exited"].mean()
    assert mean["Germany"] > mean["France"] + 0.05
    assert churn.groupby("IsActiveMember")["Exited"].mean().diff().iloc[-1] < -0.05
    assert churn.groupby("Gender")["Exited"].mean().diff().iloc[-1] < -0.03  # Female > Male


def test_churn_signal_is_learnable_and_non_linear(churn: pd.DataFrame) -> None:
    """Like the real data: boosting about 0.86 ROC AUC, a linear model clearly below."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x = pd.get_dummies(churn.drop(columns=["RowNumber", "CustomerId", "Surname", "Exited"]), dtype=float)
    x_train, x_test, y_train, y_test = train_test_split(
        x, churn["Exited"], test_size=0.3, stratify=churn["Exited"], random_state=0
    )
    boosted = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
    scaler = StandardScaler().fit(x_train)
    linear = LogisticRegression(max_iter=1000).fit(scaler.transform(x_train), y_train)
    auc_boosted = roc_auc_score(y_test, boosted.predict_proba(x_test)[:, 1])
    auc_linear = roc_auc_score(y_test, linear.predict_proba(scaler.transform(x_test))[:, 1])
    assert 0.82 < auc_boosted < 0.91
    assert 0.72 < auc_linear < auc_boosted - 0.04


# ---------------------------------------------------------------------- sentiment
def test_sentiment_frame_is_deterministic_and_balanced() -> None:
    first = sentiment_frame(500, 3)
    pd.testing.assert_frame_equal(first, sentiment_frame(500, 3))
    assert not first.equals(sentiment_frame(500, 4))
    assert list(first.columns) == ["text", "label"]
    assert first["label"].sum() == 250


def test_reviews_are_short_texts_over_a_few_hundred_words(reviews: pd.DataFrame) -> None:
    tokens = reviews["text"].map(tokenize)
    lengths = tokens.map(len)
    assert lengths.min() >= 15 and lengths.max() <= 45
    vocabulary = set().union(*tokens)
    assert 200 < len(vocabulary) < 600
    assert reviews["text"].nunique() > 0.95 * len(reviews)


def _share_negative(texts: pd.Series, labels: pd.Series, pattern: str) -> tuple[float, int]:
    hit = texts.str.contains(pattern, regex=True)
    return float(1 - labels[hit].mean()), int(hit.sum())


def test_negation_flips_the_label(reviews: pd.DataFrame) -> None:
    # Reviews without contrast or verdict: each opinion's polar word decides, unless it is negated.
    texts = reviews["text"].str.lower()
    keep = ~texts.str.contains(r"\b(?:but|although|though|however|yet|still|despite|recommend|worth|10)\b")
    texts, labels = texts[keep], reviews.loc[keep, "label"]
    positive, negative = "|".join(POSITIVE), "|".join(NEGATIVE)
    negator = r"(?:was not|wasn't|is not|isn't|was never|is never|did not feel|didn't feel|never felt)"
    gap = r"(?: at all| really| particularly| that| even remotely| in any way)?"
    plain_positive, n1 = _share_negative(texts, labels, rf"(?:was|is|felt|seemed) (?:\w+ )?(?:{positive})\b")
    negated_positive, n2 = _share_negative(texts, labels, rf"{negator}{gap} (?:{positive})\b")
    plain_negative, n3 = _share_negative(texts, labels, rf"(?:was|is|felt|seemed) (?:\w+ )?(?:{negative})\b")
    negated_negative, n4 = _share_negative(texts, labels, rf"{negator}{gap} (?:{negative})\b")
    assert min(n1, n2, n3, n4) > 30
    # Shares of negative labels; not exactly 0/1: a review can hold two opinions, and 3% label noise.
    assert plain_positive < 0.25 and negated_positive > 0.85
    assert plain_negative > 0.75 and negated_negative < 0.15


def test_the_clause_after_but_decides(reviews: pd.DataFrame) -> None:
    positive, negative = "|".join(POSITIVE), "|".join(NEGATIVE)
    be = r"(?:was|is|felt|seemed|turned out to be)(?: \w+)?"
    good_then_bad = rf"\b{be} (?:{positive}), but (?:in the end )?[\w ]+ {be} (?:{negative})\b"
    bad_then_good = rf"\b{be} (?:{negative}), but (?:in the end )?[\w ]+ {be} (?:{positive})\b"
    texts = reviews["text"].str.lower()
    down, n_down = _share_negative(texts, reviews["label"], good_then_bad)
    up, n_up = _share_negative(texts, reviews["label"], bad_then_good)
    assert n_down > 30 and n_up > 30
    assert down > 0.9 and up < 0.1


def test_a_bag_of_words_is_clearly_below_perfect(reviews: pd.DataFrame) -> None:
    """TF-IDF 1-2 grams + logistic regression: well above chance, well below what word order allows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(reviews, test_size=0.2, stratify=reviews["label"], random_state=0)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    accuracy = float(np.mean(model.predict(vectorizer.transform(test["text"])) == test["label"]))
    assert 0.7 < accuracy < 0.87


def test_the_same_polar_words_appear_in_both_classes(reviews: pd.DataFrame) -> None:
    words = reviews["text"].str.lower().map(lambda t: set(re.findall(r"[a-z]+", t)))
    for word in ("great", "boring", "awful", "brilliant"):
        has = words.map(lambda ws, w=word: w in ws)
        share = reviews.loc[has, "label"].mean()
        assert 0.15 < share < 0.85, (word, share)


def test_a_separate_stream_draws_other_rows_and_stream_zero_is_the_data_set() -> None:
    pd.testing.assert_frame_equal(churn_frame(200, 5, stream=0), churn_frame(200, 5))
    assert not churn_frame(200, 5, stream=1).equals(churn_frame(200, 5))
    other = sentiment_frame(200, 5, stream=1)
    assert not set(other["text"]) & set(sentiment_frame(200, 5)["text"]) - {""}
    assert other["label"].sum() == 100


# ------------------------------------------------------------------------- topics
def test_topics_frame_is_deterministic_per_seed_and_stream() -> None:
    first = topics_frame(500, 3)
    pd.testing.assert_frame_equal(first, topics_frame(500, 3))
    assert not first.equals(topics_frame(500, 4))
    assert not first.equals(topics_frame(500, 3, stream=1))
    assert list(first.columns) == ["text", "label"]


def test_every_topic_is_present_even_in_a_small_frame() -> None:
    assert set(topics_frame(50, 1)["label"]) == set(list(TOPICS)[:8])
    assert set(topics_frame(50, 1, n_topics=12)["label"]) == set(TOPICS)
    assert set(topics_frame(60, 1, n_topics=6)["label"]) == {
        "earn",
        "acq",
        "crude",
        "trade",
        "money-fx",
        "interest",
    }
    with pytest.raises(ValueError, match="n_topics"):
        topics_frame(100, 1, n_topics=1)


def test_topic_sizes_are_as_uneven_as_r52(news: pd.DataFrame) -> None:
    share = news["label"].value_counts(normalize=True)
    assert share.index[0] == "earn" and 0.37 < share["earn"] < 0.43
    assert share.index[1] == "acq" and 0.2 < share["acq"] < 0.26
    assert 0.02 < share.min() < 0.05
    wide = topics_frame(4_000, 42, n_topics=12)["label"].value_counts(normalize=True)
    assert 0.35 < wide.max() < 0.41 and 0.01 < wide.min() < 0.02


def test_stories_are_short_lowercase_newswire(news: pd.DataFrame) -> None:
    assert news["text"].str.fullmatch(r"[a-z]+(?: [a-z]+)*").all()  # letters only, like R52
    lengths = news["text"].str.split().map(len)
    assert lengths.min() >= 20 and lengths.max() <= 120
    assert 45 < lengths.mean() < 80
    assert news["text"].str.endswith(" reuter").all()
    assert news["text"].nunique() == len(news)
    # the title comes first: an earnings story opens on its figures, a takeover on the deal
    opening = news["text"].str.split().str[:8].str.join(" ")
    earn, acq = news["label"] == "earn", news["label"] == "acq"
    assert opening[earn].str.contains(r"\b(?:net|loss|dividend|split)\b").mean() > 0.9
    assert opening[acq].str.contains(r"\b(?:acquire|purchase|bids|stake|merger|sells)\b").mean() > 0.9


def test_a_bag_of_words_learns_the_topics_well_but_not_perfectly(news: pd.DataFrame) -> None:
    """TF-IDF + logistic regression on a 75/25 split: 0.913 at seed 42 (0.91-0.93 over five seeds),
    near what the same model reaches on R52 (0.913); some stories are written about a related topic."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(news, test_size=0.25, stratify=news["label"], random_state=0)
    vectorizer = TfidfVectorizer()
    model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    accuracy = float(np.mean(model.predict(vectorizer.transform(test["text"])) == test["label"]))
    assert 0.85 < accuracy < 0.97
