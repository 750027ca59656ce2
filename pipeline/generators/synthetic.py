"""The embedded default data: generated rows shaped like the real data sets, deterministic from a seed.

``churn_frame`` follows Kaggle's ``Churn_Modelling.csv`` (same columns, order, ranges and roughly
the same marginals) with a non-linear churn signal: a gradient-boosted model separates it clearly
better than a logistic regression, as on the real data.

``sentiment_frame`` writes short movie reviews whose label depends on word order: negation
("the plot was not at all boring"), contrast ("the acting was superb, but the ending was awful":
the clause after "but" decides; "..., even though ..." keeps the first) and intensifiers. The same
polar words appear in both classes, so a bag of words and bigrams is clearly weaker than a model
that reads the sequence (on 6,000 rows: TF-IDF 1-2 grams + logistic regression about 0.78 accuracy,
an LSTM or GRU about 0.96). Some reviews end with a verdict ("i would not recommend it", "8/10"),
and 3% of the labels disagree with the text, as in any human labelling.

``topics_frame`` writes short newswire stories over the largest topics of Reuters R52 (see
``newswire``), as unevenly sized as R52's: a bag of words learns them well but not perfectly.

Each generator takes ``stream``: 0 is the data set itself, another value draws more rows of the same
distribution independently (the ``synthesize`` stage's separate test file).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.encoders.base import tokenize
from pipeline.generators import newswire


def _rng(seed: int, generator: int, stream: int) -> np.random.Generator:
    """The random stream of one generator: ``stream`` 0 is the data set, others are more rows of the
    same distribution drawn independently (a separate test file)."""
    return np.random.default_rng([seed, generator] + ([stream] if stream else []))


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


CHURN_COLUMNS = [
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

SURNAMES = _words(
    "Smith Scott Martin Walker Brown Shih Genovese Yeh Maclean Wright Fanucci Ma White Wilson Chu "
    "Johnson Lu Moore Wang Sun Hargrave Hill Onio Boni Mitchell Chu Bartlett Obinna He Bearce "
    "Andrews Kay Chin Scott Goforth Romeo Henderson Muldrow Hao McDonald Dellucci Gerasimov Mosman "
    "Yen Maclean Young Nebechi McWilliams Lucciano Azikiwe Odinakachukwu Sanderson Maggard Clements "
    "Lombardo Watson Lorenzo Armstrong Cameron Hsiao Clarke Osborne Lavine Bianchi Tyler Martin "
    "Okagbue Yin Buccho Chidiebele Trevisani O'Brien Parkhill Yoo Phillipps Tsao Castella Chiemenam "
    "Onuchukwu Ritchie Tao Fleming Pirozzi Mancini Rossi Ferri Fontaine Dubois Moreau Garcia Lopez "
    "Fernandez Schmidt Fischer Weber Becker Hoffmann Schulz"
)

GEOGRAPHIES = np.array(["France", "Germany", "Spain"])


def churn_frame(rows: int, seed: int, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` bank customers in the Churn_Modelling.csv schema; ``Exited`` about 20% churned."""
    rng = _rng(seed, 1, stream)
    n = int(rows)
    geography = GEOGRAPHIES[rng.choice(3, size=n, p=[0.5, 0.25, 0.25])]
    female = rng.random(n) < 0.455
    age = np.clip(np.rint(18 + rng.gamma(shape=5.0, scale=4.2, size=n)), 18, 92).astype("int64")
    credit = np.clip(np.rint(rng.normal(650, 97, size=n)), 350, 850).astype("int64")
    tenure = rng.integers(0, 11, size=n)
    tenure = np.where(rng.random(n) < 0.05, np.where(rng.random(n) < 0.5, 0, 10), tenure).astype("int64")
    products = rng.choice([1, 2, 3, 4], size=n, p=[0.508, 0.459, 0.027, 0.006]).astype("int64")
    # Germany's customers all hold a balance; elsewhere about half do, fewer with two products.
    p_zero = np.where(geography == "Germany", 0.0, np.where(products == 2, 0.62, 0.33))
    balance = np.clip(rng.normal(119_800, 30_000, size=n), 3_500, 250_000)
    balance = np.where(rng.random(n) < p_zero, 0.0, np.round(balance, 2))
    has_card = (rng.random(n) < 0.7055).astype("int64")
    active = (rng.random(n) < 0.515).astype("int64")
    salary = np.round(rng.uniform(11.0, 200_000.0, size=n), 2)

    # Log-odds of churning: an age bump peaking in the fifties that inactivity amplifies, a strong
    # and non-monotonic effect of the number of products, and smaller additive effects.
    bump = np.exp(-(((age - 54.0) / 10.0) ** 2))
    logit = (
        -3.1
        + 2.6 * bump
        + 0.035 * np.clip(age - 30, 0, 25)
        + np.where(active == 0, 0.25 + 1.4 * bump, -0.25)
        + np.select([products == 2, products == 3, products == 4], [-1.9, 3.2, 5.5], 0.0)
        + 1.0 * (geography == "Germany")
        + 0.5 * female
        + 0.3 * (balance > 0)
        + 0.6 * (credit < 450)
        - 0.012 * (tenure - 5)
    )
    exited = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")

    frame = pd.DataFrame(
        {
            "RowNumber": np.arange(1, n + 1, dtype="int64"),
            "CustomerId": 15_565_701 + rng.permutation(max(n, 250_000))[:n].astype("int64"),
            "Surname": np.array(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), size=n)],
            "CreditScore": credit,
            "Geography": geography.astype(object),
            "Gender": np.where(female, "Female", "Male").astype(object),
            "Age": age,
            "Tenure": tenure,
            "Balance": balance.astype("float64"),
            "NumOfProducts": products,
            "HasCrCard": has_card,
            "IsActiveMember": active,
            "EstimatedSalary": salary.astype("float64"),
            "Exited": exited,
        }
    )
    return frame[CHURN_COLUMNS]


# ---------------------------------------------------------------------- sentiment
ASPECTS = (
    "the acting",
    "the plot",
    "the story",
    "the script",
    "the dialogue",
    "the ending",
    "the soundtrack",
    "the score",
    "the cinematography",
    "the pacing",
    "the direction",
    "the cast",
    "the lead performance",
    "the humor",
    "the special effects",
    "the editing",
    "the screenplay",
    "the final act",
    "the first half",
    "the villain",
    "the chemistry between the leads",
    "the camera work",
    "the production design",
    "the movie",
    "the film",
    "this picture",
)
POSITIVE = _words(
    "good great excellent superb wonderful brilliant fantastic amazing terrific outstanding "
    "gripping moving delightful charming clever engaging entertaining impressive memorable "
    "stunning beautiful funny touching convincing enjoyable compelling"
)
NEGATIVE = _words(
    "bad awful terrible dreadful poor weak boring dull tedious clumsy bland forgettable "
    "predictable disappointing lifeless messy pointless painful silly annoying unconvincing "
    "mediocre flat shallow awkward"
)
INTENSIFIERS = _words("very really truly absolutely incredibly genuinely quite remarkably so extremely")
VERBS = ("was", "is", "felt", "seemed", "turned out to be")
NEG_VERBS = {
    "was": ("was not", "wasn't", "was never", "was hardly", "was far from"),
    "is": ("is not", "isn't", "is never", "is hardly", "is far from"),
    "felt": ("did not feel", "didn't feel", "never felt", "hardly felt"),
    "seemed": ("did not seem", "didn't seem", "never seemed", "hardly seemed"),
    "turned out to be": ("did not turn out to be", "never turned out to be"),
}
NEG_GAPS = ("", "", "", "at all", "really", "particularly", "that", "even remotely", "in any way")
# past tense -> base form ("i loved it" / "i did not love it")
POS_OPINIONS = {"loved": "love", "enjoyed": "enjoy", "liked": "like", "adored": "adore", "admired": "admire"}
NEG_OPINIONS = {"hated": "hate", "disliked": "dislike", "regretted": "regret", "resented": "resent"}
OPINION_OBJECTS = ("it", "this film", "the movie", "every minute", "the whole thing", "this one")

NAMES = _words(
    "Tom Hanks, Meryl Streep, Denzel Washington, Cate Blanchett, Brad Pitt, Viola Davis, Matt Damon, "
    "Emma Stone, Ryan Gosling, Natalie Portman, Joaquin Phoenix, Julia Roberts, Idris Elba, Tilda Swinton, "
    "Keanu Reeves, Frances McDormand, Oscar Isaac, Saoirse Ronan",
    sep=", ",
)
DIRECTORS = _words(
    "Nolan, Spielberg, Scorsese, Kubrick, Bigelow, Villeneuve, Fincher, Coppola, Gerwig, Tarantino, "
    "Hitchcock, Kurosawa, Lynch, Campion",
    sep=", ",
)
GENRES = _words("thriller drama comedy western romance mystery horror movie documentary musical")
SETTINGS = (
    "a small town",
    "New York",
    "a space station",
    "the desert",
    "a boarding school",
    "post-war Europe",
    "a fishing village",
    "the suburbs",
    "a big city hospital",
)
CHARACTERS = (
    "a retired detective",
    "two sisters",
    "a young lawyer",
    "a struggling musician",
    "a family",
    "an old soldier",
    "a teacher",
    "a group of friends",
    "a journalist",
)
EVENTS = (
    "a murder",
    "a wedding",
    "a robbery",
    "an inheritance",
    "a storm",
    "an election",
    "a missing child",
    "a long journey",
)
FILLERS = (
    "the film follows {char} in {place}",
    "it is a {genre} set in {place}",
    "{name} plays {char} dealing with {event}",
    "the story revolves around {event} in {place}",
    "it was directed by {director} and stars {name}",
    "{name} and {name2} share the screen for most of the film",
    "i watched it with my friends last weekend",
    "i saw this {genre} on a rainy sunday afternoon",
    "the movie runs for about two hours",
    "it is based on a novel about {char}",
    "the second half takes place in {place}",
    "{director} directed this {genre} a few years ago",
    "my brother recommended this {genre} to me",
    "the trailer shows {char} and {event}",
    "it was released in theaters last year",
    "most of the scenes were shot in {place}",
)
# Connectives: "but"-like ones make the second clause decide; "even though" keeps the first.
SECOND_WINS = (", but ", ". however, ", ", yet ", ", but in the end ", ". still, ", ", although later ")
FIRST_WINS = (", even though ", ", despite the fact that ", ", although ")
# Shares of: a plain (maybe negated) opinion; X but Y; X even though Y; although X, Y.
REVIEW_MIX = (0.65, 0.2, 0.075, 0.075)
# How often an opinion is written negated: in a plain review, in a contrast.
P_NEGATE = (0.2, 0.25)
# A closing verdict, in some reviews: the cue a bag of words (bigrams: "not recommend") can use.
P_VERDICT = 0.4
POS_VERDICTS = (
    "i would recommend it",
    "highly recommended",
    "a must see",
    "definitely worth watching",
    "i give it {high} out of 10",
    "{high}/10",
    "i would watch it again",
)
NEG_VERDICTS = (
    "i would not recommend it",
    "not recommended",
    "a waste of time",
    "not worth watching",
    "i give it {low} out of 10",
    "{low}/10",
    "i would never watch it again",
)
MIN_TOKENS, MAX_TOKENS = 15, 45
LABEL_NOISE = 0.03  # share of reviews whose label disagrees with the text, as in any real labelling


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _clause(rng: np.random.Generator, polarity: int, p_negate: float) -> str:
    """One opinion whose meaning is ``polarity`` (1 positive, 0 negative), possibly via negation."""
    negate = rng.random() < p_negate
    surface = 1 - polarity if negate else polarity  # the polarity of the word actually written
    if rng.random() < 0.2:  # "i loved it" / "i didn't love it"
        opinions = POS_OPINIONS if surface else NEG_OPINIONS
        verb = _pick(rng, list(opinions))
        obj = _pick(rng, OPINION_OBJECTS)
        if negate:
            negation = _pick(rng, ("did not", "didn't", "never", "did not really"))
            return f"i {negation} {opinions[verb]} {obj}"
        adverb = _pick(rng, ("really", "truly", "absolutely", "", ""))
        return " ".join(w for w in ("i", adverb, verb, obj) if w)
    aspect = _pick(rng, ASPECTS)
    adjective = _pick(rng, POSITIVE if surface else NEGATIVE)
    verb = _pick(rng, VERBS)
    if negate:
        gap = _pick(rng, NEG_GAPS)
        return " ".join(w for w in (aspect, _pick(rng, NEG_VERBS[verb]), gap, adjective) if w)
    intensifier = _pick(rng, INTENSIFIERS) if rng.random() < 0.4 else ""
    return " ".join(w for w in (aspect, verb, intensifier, adjective) if w)


def _filler(rng: np.random.Generator) -> str:
    name, name2 = rng.choice(len(NAMES), size=2, replace=False)
    return _pick(rng, FILLERS).format(
        char=_pick(rng, CHARACTERS),
        place=_pick(rng, SETTINGS),
        genre=_pick(rng, GENRES),
        event=_pick(rng, EVENTS),
        name=NAMES[int(name)],
        name2=NAMES[int(name2)],
        director=_pick(rng, DIRECTORS),
    )


def _review(rng: np.random.Generator, label: int) -> str:
    """A review meaning ``label``: filler about the film around one opinion line, maybe a verdict."""
    kind = rng.choice(4, p=REVIEW_MIX)
    if kind == 0:  # plain or negated opinion, maybe two that agree
        core = _clause(rng, label, P_NEGATE[0])
        if rng.random() < 0.3:
            core += ". " + _clause(rng, label, P_NEGATE[0])
    elif kind == 1:  # contrast, the clause after the connective decides
        core = (
            _clause(rng, 1 - label, P_NEGATE[1]) + _pick(rng, SECOND_WINS) + _clause(rng, label, P_NEGATE[1])
        )
    elif kind == 2:  # contrast, the main clause comes first
        core = (
            _clause(rng, label, P_NEGATE[1]) + _pick(rng, FIRST_WINS) + _clause(rng, 1 - label, P_NEGATE[1])
        )
    else:  # "although X, Y": Y decides
        core = "although " + _clause(rng, 1 - label, P_NEGATE[1]) + ", " + _clause(rng, label, P_NEGATE[1])
    fillers = [_filler(rng) for _ in range(int(rng.integers(1, 4)))]
    verdict = ""
    if rng.random() < P_VERDICT:
        verdict = _pick(rng, POS_VERDICTS if label else NEG_VERDICTS)
        verdict = verdict.format(high=int(rng.integers(7, 11)), low=int(rng.integers(1, 5)))
    at = int(rng.integers(0, len(fillers) + 1))
    while True:  # keep every review within MIN_TOKENS..MAX_TOKENS by adding or dropping filler
        sentences = [*fillers[:at], core, *fillers[at:], *([verdict] if verdict else [])]
        length = sum(len(tokenize(sentence)) for sentence in sentences)
        if length < MIN_TOKENS:
            fillers.append(_filler(rng))
        elif length > MAX_TOKENS and fillers:
            fillers.pop()
            at = min(at, len(fillers))
        else:
            break
    text = ". ".join(sentences) + "."
    return text[0].upper() + text[1:]


def sentiment_frame(rows: int, seed: int, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` labelled reviews (``text``, ``label`` 1 = positive), balanced to within one row."""
    rng = _rng(seed, 2, stream)
    n = int(rows)
    meaning = rng.permutation(np.arange(n) % 2).astype("int64")
    texts = [_review(rng, int(label)) for label in meaning]
    # Flip as many positive as negative labels, so the balance stays exact.
    flips = round(LABEL_NOISE * n / 2)
    labels = meaning.copy()
    for cls in (0, 1):
        labels[rng.choice(np.flatnonzero(meaning == cls), size=flips, replace=False)] = 1 - cls
    return pd.DataFrame({"text": pd.Series(texts, dtype=object), "label": labels})


# ------------------------------------------------------------------------- topics
def topics_frame(rows: int, seed: int, n_topics: int = 8, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` news stories (``text``, ``label`` a topic name) over R52's ``n_topics`` largest topics.

    The class sizes are as uneven as R52's: with the default 8 topics ``earn`` holds about 40% of
    the stories and ``money-supply`` and ``ship`` about 4% each (with 12, ``gold`` and ``gnp`` 1.5%).
    Every topic has at least one story. See ``newswire`` for how a story is written.
    """
    if not 2 <= n_topics <= len(newswire.TOPICS):
        raise ValueError(f"n_topics must be between 2 and {len(newswire.TOPICS)}, not {n_topics}")
    n = int(rows)
    if n < n_topics:
        raise ValueError(f"{n} rows cannot hold {n_topics} topics")
    rng = _rng(seed, 3, stream)
    topics = tuple(newswire.TOPICS)[:n_topics]
    weights = np.array([newswire.TOPICS[t].weight for t in topics])
    # Exact class sizes (largest remainder), at least one story each, in a random order.
    ideal = (n - n_topics) * weights / weights.sum()
    counts = 1 + np.floor(ideal).astype("int64")
    counts[np.argsort(np.floor(ideal) - ideal, kind="stable")[: n - counts.sum()]] += 1
    labels = rng.permutation(np.repeat(np.arange(n_topics), counts))
    draw = newswire.Draws(rng)
    texts = [newswire.story(draw, topics[i], topics) for i in labels]
    # pandas' own string dtype, as read_csv gives it back
    return pd.DataFrame({"text": texts, "label": [topics[i] for i in labels]})
