"""monitor's text tests on generated texts whose words cluster within a text, as a review's do.

A review about one film repeats that film's words, so a text's tokens are not independent draws:
the chi-square test of the pooled token counts takes them as such, and finds drift between two
samples of the same texts. The top-tokens test's p-value comes from whole-text permutations
instead (pipeline/commands/drift.py); these tests show both sides of that, and that a batch with a
third of its words unseen still drifts.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from pipeline.commands.drift import OTHER, TextSettings, permutation_test, shares_test, text_tests

VOCABULARY = [f"w{i}" for i in range(300)]
TOPICS = 8
SETTINGS = TextSettings(p_value=0.001, top_tokens=50, permutations=1999, seed=0)


def topical_texts(n: int, rng: np.random.Generator, unseen_share: float = 0.0) -> pd.Series:
    """``n`` texts of 40-80 words: each text draws a topic, and most of its words from that topic's
    own skewed distribution over the vocabulary (the rest from a common one); ``unseen_share`` of
    the words replaced by tokens no other text has."""
    topics = np.random.default_rng(12345).dirichlet(np.full(len(VOCABULARY), 0.1), TOPICS)
    common = np.full(len(VOCABULARY), 1 / len(VOCABULARY))
    texts = []
    for i in range(n):
        topic = topics[rng.integers(TOPICS)]
        length = int(rng.integers(40, 81))
        from_topic = rng.random(length) < 0.8
        words = np.where(
            from_topic,
            rng.choice(len(VOCABULARY), length, p=topic),
            rng.choice(len(VOCABULARY), length, p=common),
        )
        text = [VOCABULARY[w] for w in words]
        for j in np.flatnonzero(rng.random(length) < unseen_share):
            text[j] = f"zq{i}x{j}"
        texts.append(" ".join(text))
    return pd.Series(texts)


def tokens_of(text: str) -> list[tuple[str, bool]]:
    known = set(VOCABULARY)
    return [(word, word in known) for word in text.split()]


def plain_chi2_p(reference: pd.Series, batch: pd.Series, top: int) -> float:
    """The old top-tokens test: the pooled counts' chi-square, every token an independent draw."""
    ref = Counter(w for t in reference for w in t.split())
    new = Counter(w for t in batch for w in t.split())
    kept = [w for w, _ in ref.most_common(top)]

    def pooled(counts: Counter[str]) -> Counter[str]:
        out = Counter({w: counts[w] for w in kept})
        out[OTHER] = sum(counts.values()) - sum(out.values())
        return out

    return shares_test("text", "top tokens", pooled(ref), pooled(new), 0.001).p_value


def test_two_samples_of_the_same_clustered_texts_do_not_drift_where_the_plain_chi_square_does():
    plain, permuted = [], []
    for draw in range(20):
        rng = np.random.default_rng(draw)
        reference, batch = topical_texts(600, rng), topical_texts(600, rng)
        plain.append(plain_chi2_p(reference, batch, SETTINGS.top_tokens))
        (_, _, tokens) = text_tests("text", reference, batch, tokens_of, SETTINGS)
        assert tokens.test == "chi2 permutation" and tokens.details["permutations"] == 1999
        permuted.append(tokens.p_value)
    assert sum(p < 0.001 for p in plain) >= 10  # the old test: false alarms in most draws
    assert sum(p < 0.001 for p in permuted) == 0
    assert 0.05 < float(np.median(permuted)) < 0.95  # and no test that never fires either


def test_a_third_of_the_words_unseen_still_drifts():
    rng = np.random.default_rng(7)
    reference, batch = topical_texts(600, rng), topical_texts(600, rng, unseen_share=1 / 3)
    length, unknown, tokens = text_tests("text", reference, batch, tokens_of, SETTINGS)
    assert not length.drifted
    assert unknown.drifted and unknown.details["batch_mean"] > 0.3
    assert tokens.drifted and tokens.p_value == 1 / 2000  # beyond every permutation
    assert tokens.details["most_shifted"][OTHER]["batch"] > 0.3


def test_the_permutation_p_value_is_seeded_and_its_statistic_is_the_chi_square():
    from scipy import stats

    rng = np.random.default_rng(3)
    ref, new = rng.poisson(2.0, (300, 11)).astype(float), rng.poisson(2.0, (200, 11)).astype(float)
    statistic, p = permutation_test(ref, new, 499, seed=1)
    table = np.vstack([ref.sum(0), new.sum(0)])
    expected = stats.chi2_contingency(table, correction=False).statistic
    assert abs(statistic - expected) < 1e-9 * expected
    assert permutation_test(ref, new, 499, seed=1) == (statistic, p)
    assert 1 / 500 <= p <= 1
