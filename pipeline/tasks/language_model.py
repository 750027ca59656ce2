"""Language-model tasks: a UTF-8 text whose next word a model predicts from the words before it.

The raw data is any UTF-8 text file (one stored row per non-blank line, with its line number), or a
CSV whose ``text`` column holds the passages in order. The split is contiguous: the last
``test_fraction`` of the tokens is the test part, the ``val_fraction`` before it validation and the
rest training, cut at line boundaries. Random windows would put overlapping n-grams into
training and test alike. Each split becomes one row per token: the ``window`` tokens before it
(within the split; padding before its first token) and the token as target.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import LanguageModelTaskConfig
from pipeline.core.errors import DataError
from pipeline.data.readers import CsvRows, decode_utf8, read_csv_file
from pipeline.encoders.base import tokenize
from pipeline.encoders.dataset import SPLITS, Split
from pipeline.encoders.labels import Labels
from pipeline.encoders.language_model import LanguageModelEncoder
from pipeline.tasks import answers as shapes
from pipeline.tasks import text as text_kind
from pipeline.tasks.base import TOKENS, meta
from pipeline.tasks.base import page_example as page_example  # none: the box starts empty

TEXT, LINE = "text", "line"

cross_validation_off = text_kind.cross_validation_off  # a text keeps its single split
COVERAGE = " (vocabulary coverage)"
# control characters other than tab/newline, or U+FFFD: text decoded with the wrong encoding
BAD_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]"


def classes_note() -> str:
    """What encode's report adds after the number of classes."""
    return " (the vocabulary)"


# --- the output contract and the answer (the serving side's part that the bundle records) ---
def output_contract(
    config: LanguageModelTaskConfig, classes: list[Any], measured: dict[str, Any]
) -> dict[str, Any]:
    """What the model answers, recorded in its bundle: the next words (the classes are the
    vocabulary, in encoder.json), how many are listed and how many a request may generate."""
    return {"top_k": config.predict.top_k, "max_generate": config.predict.max_generate}


def input_spec(encoder: LanguageModelEncoder, config: LanguageModelTaskConfig) -> dict[str, Any]:
    """What the model reads, recorded in its bundle: the last ``window`` words of a text."""
    return {
        "dtype": "int32",
        "width": encoder.window,
        "text_column": encoder.text_column,
        "vocabulary_size": encoder.vocab_size,
        "lowercase": encoder.lowercase,
    }


def answers(predictor: Any, probabilities: Any, known_shares: Any, inputs: Any, options: dict) -> list[dict]:
    """The next words of each text (and a continuation when the request asks to ``generate``)."""
    texts = predictor.encoder.texts(inputs)
    settings = {"top_k": predictor.output.get("top_k") or shapes.TOP_K} | options
    return shapes.next_word_answers(
        predictor.encoder, texts, probabilities, predictor.predict_encoded, **settings
    )


def check_request_params(given: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    limit = output.get("max_generate") or shapes.DEFAULT_MAX_GENERATE
    return shapes.check_params(given, shapes.LANGUAGE_MODEL_PARAMS, limit)


def label_column(config: LanguageModelTaskConfig) -> str:
    return TEXT  # the target is the text's own next word


def read(path: Path, name: str, config: LanguageModelTaskConfig) -> tuple[CsvRows, str]:
    if path.is_dir():
        raise DataError(f"{name}: a folder; a language-model task reads one UTF-8 text file")
    if path.suffix.lower() == ".csv":
        rows = read_csv_file(path, name, dtype={TEXT: "str"})
        if TEXT not in rows.frame.columns:
            raise DataError(f"{name}: a CSV source needs a {TEXT!r} column holding the passages in order")
        frame = pd.DataFrame({TEXT: rows.frame[TEXT].fillna(""), LINE: np.arange(2, len(rows.frame) + 2)})
        return CsvRows(frame[frame[TEXT].str.strip() != ""].reset_index(drop=True), None), "csv"
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{name}: empty file ({len(data)} bytes); expected UTF-8 text")
    lines = decode_utf8(data, name).removeprefix("\ufeff").splitlines()
    kept = [(text, i + 1) for i, text in enumerate(lines) if text.strip()]
    frame = pd.DataFrame({TEXT: [t for t, _ in kept], LINE: [n for _, n in kept]})
    return CsvRows(frame, None), "text"


def _tokens(frame: pd.DataFrame, config: LanguageModelTaskConfig) -> list[list[str]]:
    return [tokenize(t, config.encode.lowercase) if isinstance(t, str) else [] for t in frame[TEXT]]


def describe(frame: pd.DataFrame, config: LanguageModelTaskConfig) -> dict[str, Any]:
    tokens = [t for line in _tokens(frame, config) for t in line]
    return {"lines": len(frame), "tokens": len(tokens), "distinct_words": len(set(tokens))}


def number_columns(config: LanguageModelTaskConfig) -> list[str]:
    return []


def prepare(frame: pd.DataFrame, config: LanguageModelTaskConfig) -> None:
    """Tokens per line, and the share of them whose word occurs ``coverage_min_count`` times or more
    in the whole text (NaN for a line without tokens)."""
    if TEXT not in frame.columns:
        return
    lines = _tokens(frame, config)
    counts = Counter(t for line in lines for t in line)
    frequent = config.schema_.coverage_min_count
    frame[f"{TEXT}{TOKENS}"] = np.asarray([len(line) for line in lines], dtype="float64")
    frame[f"{TEXT}{COVERAGE}"] = np.asarray(
        [sum(counts[t] >= frequent for t in line) / len(line) if line else np.nan for line in lines],
        dtype="float64",
    )


def expectations(config: LanguageModelTaskConfig, exp: Any) -> list[Any]:
    s = config.schema_
    text = meta(TEXT)
    return [
        exp.ExpectColumnToExist(column=TEXT, meta=text),
        exp.ExpectColumnValuesToNotBeNull(column=TEXT, meta=text),
        exp.ExpectColumnValuesToNotMatchRegex(
            column=TEXT,
            regex=BAD_CHARACTERS,
            meta=text,
            notes="Control characters or U+FFFD: the file was not UTF-8 text, or was decoded wrongly.",
        ),
        exp.ExpectColumnSumToBeBetween(
            column=f"{TEXT}{TOKENS}",
            min_value=s.min_tokens,
            max_value=s.max_tokens,
            meta=meta(TEXT, "tokens in the whole text"),
            notes="Tokens as the vocabulary counts them (pipeline.encoders.base.tokenize).",
        ),
        exp.ExpectColumnMeanToBeBetween(
            column=f"{TEXT}{COVERAGE}",
            min_value=s.min_coverage,
            max_value=1.0,
            meta=meta(TEXT, f"mean share of a line's tokens seen >= {s.coverage_min_count} times"),
            notes="Vocabulary coverage: a text of mostly one-off strings leaves a model nothing to learn.",
        ),
    ]


def usable_rows(frame: pd.DataFrame, config: LanguageModelTaskConfig) -> pd.DataFrame:
    return frame


def assign_splits(frame: pd.DataFrame, config: LanguageModelTaskConfig, seed: int) -> pd.Series:
    """Contiguous: lines whose tokens start in the last ``test_fraction`` of the text are test, those
    in the ``val_fraction`` before them validation, the rest training (``seed`` is not needed)."""
    sizes = np.asarray([len(line) for line in _tokens(frame, config)], dtype="float64")
    start = (np.cumsum(sizes) - sizes) / max(sizes.sum(), 1.0)  # where each line starts, 0..1
    test_from = 1.0 - config.split.test_fraction
    val_from = test_from - config.split.val_fraction
    split = np.where(start >= test_from, "test", np.where(start >= val_from, "val", "train"))
    return pd.Series(split, index=frame.index, dtype="object")


def fit_encoder(train: pd.DataFrame, config: LanguageModelTaskConfig) -> LanguageModelEncoder:
    tokens = [t for line in _tokens(train, config) for t in line]
    return LanguageModelEncoder.fit_tokens(tokens, config.encode, text_column=TEXT)


def encode_splits(
    frame: pd.DataFrame, encoder: LanguageModelEncoder, config: LanguageModelTaskConfig
) -> tuple[Labels, dict[str, Split]]:
    """Each split's token ids as windows -> next id; the classes are the vocabulary."""
    arrays = {}
    for name in SPLITS:
        part = frame[frame["split"] == name]
        ids = encoder.ids(t for line in _tokens(part, config) for t in line)
        if len(ids) == 0:
            raise DataError(f"the {name} part of the text has no tokens; the text is too short to split")
        arrays[name] = Split(*encoder.windows(ids))
    return Labels(list(encoder.vocabulary)), arrays


def metrics(
    y_true: Any, proba: Any, n_classes: int, target: dict[str, Any] | None = None
) -> dict[str, float]:
    from pipeline.core.metrics import language_model_metrics

    return language_model_metrics(y_true, proba)


def baselines(task: str, config: LanguageModelTaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    """Interpolated Kneser-Ney and add-one unigram, fitted on the training ids, scored on the same
    windows as the neural models; each result also holds the test windows' next-word probabilities
    and true next words (``test_scores``, ``test_labels``) for compare's paired intervals."""
    import time

    from pipeline.encoders.dataset import load_dataset
    from pipeline.tasks.ngram import KneserNey, unigram_probabilities

    data = load_dataset(task)
    vocab = data.n_classes
    results: dict[str, dict[str, Any]] = {}
    for name in config.baselines.names:
        started = time.perf_counter()
        if name == "kneser_ney":
            kn = config.baselines.kneser_ney
            assert kn is not None  # the config fills it whenever kneser_ney is listed
            padded = np.concatenate([np.zeros(kn.order - 1, dtype="int32"), data.train.y])
            model = KneserNey(padded, vocab, kn.order, kn.discount)
            score: Any = model.probabilities
        else:
            score = lambda x: unigram_probabilities(data.train.y, vocab, len(x))  # noqa: E731
        test_scores = np.asarray(score(data.test.x), dtype="float32")
        results[name] = {
            "val": metrics(data.val.y, score(data.val.x), vocab),
            "test": metrics(data.test.y, test_scores, vocab),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "test_scores": test_scores,
            "test_labels": data.test.y,
        }
    return results


def input_example(frame: pd.DataFrame, config: LanguageModelTaskConfig) -> pd.DataFrame:
    return pd.DataFrame({TEXT: list(config.predict.prompts[:2])})


def signature_inputs(example: pd.DataFrame) -> Any:
    from mlflow.models import infer_signature

    return infer_signature(example).inputs


# What evaluate adds beyond the metrics, and its reports: a text classifier's (nothing, and the
# classifier's curves), as for every model that reads a text.
evaluation_extras = text_kind.evaluation_extras
evaluation_reports = text_kind.evaluation_reports


def examples(
    predict: Any, encoder_data: dict[str, Any], config: LanguageModelTaskConfig
) -> list[dict[str, Any]]:
    """The model's next words and greedy continuation for each of ``predict.prompts`` (the
    evaluate report's examples)."""
    from pipeline.encoders.language_model import continue_text, next_word_ranking

    encoder = LanguageModelEncoder.from_dict(encoder_data)
    out = []
    for prompt in config.predict.prompts:
        p = np.asarray(predict(encoder.transform_texts([prompt])))[0]
        top = next_word_ranking(p, config.predict.top_k)
        out.append(
            {
                "prompt": prompt,
                "next": [{"word": encoder.vocabulary[i], "probability": round(float(p[i]), 4)} for i in top],
                "continuation": " ".join(continue_text(encoder, predict, prompt, 10)),
                "unknown_words": encoder.unknown_words(prompt),
            }
        )
    return out


def examples_markdown(title: str, items: list[dict[str, Any]]) -> str:
    lines = [
        f"# {title}: example completions",
        "",
        "| prompt | next words | greedy continuation |",
        "|---|---|---|",
    ]
    for item in items:
        nxt = ", ".join(f"{w['word']} ({w['probability']:.2f})" for w in item["next"])
        lines.append(f"| {item['prompt']} | {nxt} | {item['continuation']} |")
    return "\n".join(lines) + "\n"


def signature_params() -> Any:
    """The request params the registered model takes (MLflow passes only declared ones)."""
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ParamSchema(
        [
            ParamSpec("top_k", "long", 5),
            ParamSpec("generate", "long", 0),
            ParamSpec("temperature", "double", 0.0),
            ParamSpec("seed", "long", None),
        ]
    )


# --- serving side ---

# What a language model shares with a text classifier: a text in, its tokens' ids to the model.
text_column = text_kind.text_column
request_columns = text_kind.request_columns
instance_row = text_kind.instance_row
instance_expected = text_kind.instance_expected
csv_read_options = text_kind.csv_read_options
page_fields = text_kind.page_fields
request_key = text_kind.request_key
bench_inputs = text_kind.bench_inputs

# What serve, predict, bench and the page ask of a next-word model (the same functions in every
# kind module). Its requests are texts, read as a text classifier's are.


def answers_next_words() -> bool:
    """Whether the model answers with next words (``top_k``, ``generate``) rather than a class."""
    return True


def row_scoring_refusal() -> str | None:
    """Why a distributed engine cannot score this kind row by row: its answer is a list of next
    words, not a column per row."""
    return "a next-word model answers with its next words, not a score per row; use predict"


def predict_columns(answers: list[dict[str, Any]], probabilities: Any, shares: Any) -> dict[str, Any]:
    """Not a classifier's columns: predict answers a next-word model with its next words
    (:func:`answers_next_words`)."""
    raise TypeError("a next-word model has no class columns; predict answers it with its next words")


def answer_columns(
    predictor: Any, probabilities: Any, shares: Any, inputs: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """Not score's: it streams classifiers and numeric targets, a next-word model goes to predict."""
    return predict_columns([], probabilities, shares)


def page_mode(n_classes: int) -> str:
    """The page's widget: ``next_word`` (suggestions as you type)."""
    return "next_word"


def encoded_dtype() -> Any:
    """The dtype of the model's encoded input: token ids (a window of them)."""
    return np.int32


# --- explanations ---
NO_EXPLANATION = "a next word's probability over a vocabulary has no columns or class to attribute"


def explanation_setup(train_rows: Any, seed: int) -> dict[str, Any]:
    return {"method": None, "why": NO_EXPLANATION}


def explain(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[Any]:
    from pipeline.tasks.explanations import not_supported

    raise not_supported("language_model", NO_EXPLANATION)


def behaviour_input(given: Any, change: Any) -> Any:
    """Not supported: a next-word model answers words, not a class or a score to compare."""
    raise ValueError(
        "behavioural checks are not supported for language_model tasks (the answer is next words, "
        "not a class or a score); leave the section empty"
    )


def behaviour_answers(predictor: Any, records: list[Any]) -> list[Any]:
    return behaviour_input(None, None)


# ------------------------------------------------------------------------- drift monitoring
def drift_columns(encoder: Any) -> dict[str, str]:
    """A next-word model reads running text, one stretch of a corpus, not rows to compare."""
    raise ValueError(
        "drift monitoring is not supported for language_model tasks: a next-word model reads running "
        "text, one stretch of a corpus, not rows to compare with the training split"
    )


def drift_tokens(encoder: Any, text: str) -> list[tuple[str, bool]]:
    return []
