"""Word tables and the story builder behind ``synthetic.topics_frame``: generated newswire topics
(each topic's own templates are in ``newswire_topics``).

Shaped like Reuters-21578 R52 as the real data set ships here: one topic per story, lowercase
letters only (digits and punctuation already stripped, so "shr cts vs cts"), the title first, and
"reuter" at the end. Each topic has its own title and sentence templates; stories mix them with
sentences any topic may use and with sentences of a related topic (interest and money-fx share
central banks, crude and ship share tankers), and a few stories are written mostly about a related
topic, as R52's annotators disagreed on them. A bag of words learns the topics well but not
perfectly.
"""

from __future__ import annotations

import numpy as np

from pipeline.generators.newswire_topics import TOPICS, Topic

__all__ = ["TOPICS", "Draws", "Topic", "story"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Sentences any topic may use: what a bag of words cannot learn a topic from.
SHARED = (
    "the company said in a statement",
    "officials declined to comment",
    "analysts said the outlook remained uncertain",
    "the announcement was made after the market closed",
    "a spokesman said further details would be given later",
    "the figures were released on {day}",
    "sources close to the talks said no decision had been taken",
    "the report was published in {city}",
    "the news was expected by most analysts",
    "he told reporters the move reflected current conditions",
    "market participants said trading was quiet",
    "further talks are scheduled for {month}",
    "{co} said it would comment further next week",
    "the figures compare with a year earlier",
)
COMPANY_NAMES = _words(
    "champion american national general first united pacific western atlantic continental "
    "allied consolidated standard federal southern northern central midland union citizens "
    "royal imperial global summit pioneer heritage liberty security commonwealth texas ohio "
    "carolina delta sterling beacon harbor eagle crown"
)
COMPANY_KINDS = (
    "products inc",
    "corp",
    "industries inc",
    "bancorp",
    "financial corp",
    "resources ltd",
    "group plc",
    "holdings inc",
    "systems inc",
    "savings bank",
    "co",
    "energy corp",
    "mining ltd",
    "foods inc",
)
COUNTRIES = (
    "japan",
    "west germany",
    "france",
    "britain",
    "brazil",
    "canada",
    "indonesia",
    "mexico",
    "australia",
    "china",
    "italy",
    "south korea",
    "taiwan",
    "argentina",
    "india",
)
CITIES = (
    "tokyo",
    "london",
    "new york",
    "frankfurt",
    "zurich",
    "hong kong",
    "singapore",
    "paris",
    "sydney",
    "toronto",
)
MONTHS = _words("january february march april may june july august september october november december")
DAYS = _words("monday tuesday wednesday thursday friday")
# R52 drops digits; what is left of a figure is a word, or nothing at all.
QUANTITIES = ("", "", "", "one", "two", "three", "five", "ten", "half", "about", "nearly", "over")
LETTERS = "abcdefghijklmnopqrstuvwxyz"

# How a story is written: the share of its body sentences from its own topic, from a related
# topic, and shared; and the share of stories written mostly about a related topic.
SENTENCE_MIX = (0.6, 0.15, 0.25)
P_ABOUT_RELATED = 0.06
MIN_TOKENS, MAX_TOKENS = 20, 120


class Draws:
    """Uniform draws taken from ``rng`` in blocks: one NumPy call per few thousand picks."""

    def __init__(self, rng: np.random.Generator, block: int = 8192) -> None:
        self._rng, self._block = rng, block
        self._values: list[float] = []
        self._at = 0

    def uniform(self) -> float:
        if self._at == len(self._values):
            self._values, self._at = self._rng.random(self._block).tolist(), 0
        self._at += 1
        return self._values[self._at - 1]

    def pick(self, items: tuple[str, ...] | list[str]) -> str:
        return items[int(self.uniform() * len(items))]


def _slots(draw: Draws) -> dict[str, str]:
    """The names and figures one story talks about (the same company throughout)."""
    company, other = (f"{draw.pick(COMPANY_NAMES)} {draw.pick(COMPANY_KINDS)}" for _ in range(2))
    country = draw.pick(COUNTRIES)
    country2 = draw.pick([c for c in COUNTRIES if c != country])
    ticker = "".join(draw.pick(LETTERS) for _ in range(2 + int(draw.uniform() * 3)))
    return {
        "co": company,
        "co2": other,
        "tk": ticker,
        "country": country,
        "country2": country2,
        "city": draw.pick(CITIES),
        "month": draw.pick(MONTHS),
        "day": draw.pick(DAYS),
    }


def story(draw: Draws, topic: str, topics: tuple[str, ...]) -> str:
    """One story labelled ``topic``: a title, body sentences, "reuter"; lowercase words only."""
    related = tuple(t for t in TOPICS[topic].related if t in topics)
    about = topic
    if related and draw.uniform() < P_ABOUT_RELATED:
        about = draw.pick(related)
    slots = _slots(draw)
    own = TOPICS[about]
    borrowed = tuple(s for t in related for s in TOPICS[t].sentences) or own.sentences
    length = MIN_TOKENS + int(draw.uniform() ** 1.5 * (MAX_TOKENS - MIN_TOKENS))
    words = draw.pick(own.titles).format(q=draw.pick(QUANTITIES), **slots).split()
    while len(words) < length - 1:
        u = draw.uniform()
        if u < SENTENCE_MIX[0]:
            template = draw.pick(own.sentences)
        elif u < SENTENCE_MIX[0] + SENTENCE_MIX[1]:
            template = draw.pick(borrowed)
        else:
            template = draw.pick(SHARED)
        words += template.format(q=draw.pick(QUANTITIES), **slots).split()
    return " ".join([*words[: MAX_TOKENS - 1], "reuter"])
