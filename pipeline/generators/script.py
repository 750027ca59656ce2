"""A generated play script: the embedded default text of the language-model task.

Lines of speech with structure a model can learn and a unigram count cannot: a verb decides its
object ("drinks" the wine, "reads" the letter), a noun its adjectives, a number its verb ("two
guards are"), "if ... then" clauses end with an object that fits the verb before, each speaker has
habits, and a few famous lines recur whole ("to be or not to be that is the question"). Some
choices are random (which speaker, which of the fitting objects), so no model is perfect. About 9
tokens a line; a few hundred distinct words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPEAKERS = (
    "hamlet", "horatio", "ophelia", "polonius", "laertes", "claudius", "gertrude", "marcellus",
    "bernardo", "osric", "fortinbras", "rosencrantz", "guildenstern", "reynaldo",
)  # fmt: skip
HABITS = {  # each speaker's favourite openings
    "hamlet": ("alas", "o", "words words words"), "horatio": ("my lord", "indeed"),
    "ophelia": ("my lord", "o heavens"), "polonius": ("my good lord", "mark you", "indeed"),
    "laertes": ("my sister", "o"), "claudius": ("my lords", "come"), "gertrude": ("my son", "alas"),
    "marcellus": ("peace", "look"), "bernardo": ("who is there", "look"), "osric": ("sweet lord",),
    "fortinbras": ("go captain",), "rosencrantz": ("my lord",), "guildenstern": ("my lord",),
    "reynaldo": ("my lord",),
}  # fmt: skip
VERBS = {  # verb -> (base form, the objects that fit it)
    "drinks": ("drink", ("the wine", "the ale", "a cup of poison", "the water", "a health to the king")),
    "reads": ("read", ("the letter", "the book", "a poem", "the note", "the warrant")),
    "draws": ("draw", ("his sword", "the curtain", "a dagger", "the rapier")),
    "sees": ("see", ("the ghost", "a shadow", "the player", "the grave", "the castle")),
    "writes": ("write", ("a letter", "the speech", "a sonnet", "the orders")),
    "buries": ("bury", ("the body", "the skull", "the sister", "the old man")),
    "loves": ("love", ("the lady", "his father", "her brother", "the prince", "the queen")),
    "fears": ("fear", ("the ghost", "the king", "the night", "the sea", "the truth")),
    "plays": ("play", ("the pipe", "the flute", "a part", "the fool", "the drum")),
    "sends": ("send", ("a messenger", "the players", "the ambassadors", "a letter")),
    "finds": ("find", ("the skull", "the letter", "the truth", "a ring", "the key")),
    "carries": ("carry", ("the torch", "the body", "the crown", "the cup")),
}
NOUNS = {  # noun -> (plural, adjectives that fit it)
    "night": ("nights", ("cold", "dark", "long", "bitter", "quiet")),
    "king": ("kings", ("old", "dead", "wicked", "proud", "royal")),
    "queen": ("queens", ("fair", "sad", "royal", "gentle")),
    "ghost": ("ghosts", ("pale", "silent", "angry", "strange")),
    "sword": ("swords", ("sharp", "bright", "poisoned", "heavy")),
    "castle": ("castles", ("cold", "old", "grey", "great")),
    "guard": ("guards", ("tired", "loyal", "frightened", "brave")),
    "letter": ("letters", ("sealed", "secret", "strange", "long")),
    "grave": ("graves", ("deep", "fresh", "open", "dark")),
    "player": ("players", ("tragic", "skilled", "merry", "travelling")),
    "court": ("courts", ("busy", "royal", "false", "proud")),
    "sea": ("seas", ("wide", "grey", "troubled", "calm")),
    "crown": ("crowns", ("golden", "heavy", "stolen")),
    "friend": ("friends", ("true", "false", "old", "dear")),
}
NUMBERS = ("two", "three", "four", "five", "many", "some")
PLACES = ("in the castle", "on the platform", "in the graveyard", "at the court", "by the sea", "in denmark")
TIMES = ("tonight", "at dawn", "tomorrow", "at midnight", "this morning", "soon")
FAMOUS = (
    "to be or not to be that is the question",
    "something is rotten in the state of denmark",
    "good night sweet prince",
    "the rest is silence",
    "frailty thy name is woman",
    "alas poor yorick i knew him well",
    "the play is the thing",
    "brevity is the soul of wit",
    "neither a borrower nor a lender be",
    "there is nothing either good or bad but thinking makes it so",
)


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _line(rng: np.random.Generator) -> str:
    speaker = _pick(rng, SPEAKERS)
    habit = _pick(rng, HABITS[speaker]) if rng.random() < 0.5 else ""
    form = rng.random()
    other = _pick(rng, SPEAKERS)
    if form < 0.14:
        body = _pick(rng, FAMOUS)
    elif form < 0.42:
        verb = _pick(rng, list(VERBS))
        body = f"{other} {verb} {_pick(rng, VERBS[verb][1])} {_pick(rng, PLACES)}"
    elif form < 0.60:
        noun = _pick(rng, list(NOUNS))
        plural, adjectives = NOUNS[noun]
        if rng.random() < 0.5:
            body = f"the {noun} is {_pick(rng, adjectives)} {_pick(rng, TIMES)}"
        else:
            body = f"{_pick(rng, NUMBERS)} {plural} are {_pick(rng, adjectives)}"
    elif form < 0.80:
        verb = _pick(rng, list(VERBS))
        base, objects = VERBS[verb]
        body = f"if {other} {verb} {_pick(rng, objects)} then {speaker} will {base} {_pick(rng, objects)}"
    else:
        noun = _pick(rng, list(NOUNS))
        verb = _pick(rng, list(VERBS))
        body = (
            f"the {_pick(rng, NOUNS[noun][1])} {noun} {verb} {_pick(rng, VERBS[verb][1])} {_pick(rng, TIMES)}"
        )
    return f"{speaker.upper()}. {habit + ', ' if habit else ''}{body}."


def script_frame(rows: int, seed: int, *, stream: int = 0) -> pd.DataFrame:
    """``rows`` lines of the play, in order (column ``text``), deterministic from ``seed``."""
    rng = np.random.default_rng([seed, 4] + ([stream] if stream else []))
    return pd.DataFrame({"text": [_line(rng) for _ in range(rows)]})
