"""Text tasks: a text column and a label (binary or multi-class), or a number
(``schema.labels.type: number``, whose pieces it shares with a table's: :mod:`pipeline.tasks.numeric`).

The raw data is the aclImdb archive, one CSV (an optional ``split`` column keeps a given test
split) or a folder with a training and a test CSV (the test file is kept as the test split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.config import TextTaskConfig
from pipeline.core.errors import DataError
from pipeline.data.readers import SPLIT_COLUMN, SPLIT_VALUES, CsvRows, is_archive, read_aclimdb, read_text_csv
from pipeline.encoders.base import tokenize
from pipeline.encoders.text import TextEncoder
from pipeline.tasks import answers as shapes
from pipeline.tasks import numeric, text_baselines
from pipeline.tasks.base import (
    AS_NUMBER,
    TOKENS,
    class_counts,
    class_splits,
    label_checks,
    meta,
    stratified_splits,
)
from pipeline.tasks.base import page_example as page_example  # none: the text box starts empty

# after promotion: explanations and drift monitoring (re-exported: this module is the kind)
from pipeline.tasks.text_operations import answer_columns as answer_columns
from pipeline.tasks.text_operations import drift_columns as drift_columns
from pipeline.tasks.text_operations import drift_tokens as drift_tokens
from pipeline.tasks.text_operations import explain as explain
from pipeline.tasks.text_operations import explanation_setup as explanation_setup


def cross_validation_off() -> str | None:
    """Why the cv stage leaves this kind out, or None when it cross-validates it."""
    return "cross-validation is for tabular tasks; a text task keeps its single split"


def classes_note() -> str:
    """What encode's report adds after the number of classes."""
    return ""


# --- the output contract and the answer (the serving side's part that the bundle records) ---
def output_contract(config: TextTaskConfig, classes: list[Any], measured: dict[str, Any]) -> dict[str, Any]:
    """What the model answers, recorded in its bundle: classes, and for two classes the positive one
    and the neutral band around the threshold (Positive/Negative/Neutral); the classes' names
    (``display.classes``). A numeric target's name, units, range and interval (``measured``:
    evaluate's metrics)."""
    if config.schema_.labels.numeric:
        return numeric.output_contract(config, measured)
    binary = len(classes) <= 2
    return {
        "classes": classes,
        "class_names": shapes.class_names(classes, config.display.classes),
        "positive_class": classes[1] if binary and len(classes) == 2 else None,
        "threshold": shapes.THRESHOLD if binary else None,
        "neutral_band": config.predict.neutral_band if binary else None,
        "top_k": None if binary else shapes.TOP_K,
    }


def input_spec(encoder: TextEncoder, config: TextTaskConfig) -> dict[str, Any]:
    """What the model reads, recorded in its bundle: a text column, as token ids padded to a length."""
    return {
        "dtype": "int32",
        "width": encoder.sequence_length,
        "text_column": encoder.text_column,
        "vocabulary_size": encoder.vocab_size,
        "padding": encoder.padding,
        "truncation": encoder.truncation,
        "lowercase": encoder.lowercase,
    }


def answers(predictor: Any, probabilities: Any, known_shares: Any, inputs: Any, options: dict) -> list[dict]:
    """Positive/Negative/Neutral with the known-token share for two classes, else the top classes;
    ``{"value", "interval"}`` when the bundle's output names a numeric ``target``."""
    output = predictor.output
    if "target" in output:
        return numeric.answers(probabilities, output)
    band = options.get("neutral_band", output.get("neutral_band", shapes.DEFAULT_NEUTRAL_BAND))
    return shapes.classifier_answers(
        probabilities,
        predictor.classes,
        neutral_band=band,
        known_shares=known_shares,
        top_k=output.get("top_k") or shapes.TOP_K,
        names=shapes.recorded_names(output, predictor.classes),
    )


def check_request_params(given: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    return shapes.check_params(given, () if "target" in output else shapes.CLASSIFIER_PARAMS)


def label_column(config: TextTaskConfig) -> str:
    return config.schema_.label


def read(path: Path, name: str, config: TextTaskConfig) -> tuple[CsvRows, str]:
    schema = config.schema_
    if path.is_dir():
        parts = []
        for split, file in zip(SPLIT_VALUES, (config.data.train_file, config.data.test_file), strict=True):
            if not (path / file).is_file():
                raise DataError(
                    f"{name}: no {file} in this folder; a folder source holds the {split} rows as "
                    f"{config.data.train_file} and {config.data.test_file} (data.train_file/test_file)"
                )
            rows = read_text_csv(path / file, f"{name}/{file}", schema).frame
            parts.append(rows.drop(columns=[SPLIT_COLUMN], errors="ignore").assign(**{SPLIT_COLUMN: split}))
        return CsvRows(pd.concat(parts, ignore_index=True), None), "train and test CSVs"
    if is_archive(path, name):
        frame = read_aclimdb(path, name, schema.text, schema.label, config.data.archive_label)
        return CsvRows(frame, None), "aclImdb archive"
    return read_text_csv(path, name, schema), "csv"


def describe(frame: pd.DataFrame, config: TextTaskConfig) -> dict[str, Any]:
    label = config.schema_.label
    counts = frame[SPLIT_COLUMN].value_counts() if SPLIT_COLUMN in frame.columns else None
    note: dict[str, Any] = {
        "splits": {s: int(counts.get(s, 0)) for s in SPLIT_VALUES}
        if counts is not None
        else {"all": len(frame)}
    }
    if config.schema_.labels.numeric:
        note |= numeric.describe(frame, label, config.schema_.labels.units)
    elif config.schema_.labels.classes is None:
        note["positive"] = int(frame[label].sum())
    else:
        note["classes"] = class_counts(frame[label])
    return note


def number_columns(config: TextTaskConfig) -> list[str]:
    return [config.schema_.label] if config.schema_.labels.classes is None else []


def prepare(frame: pd.DataFrame, config: TextTaskConfig) -> None:
    s = config.schema_
    if s.labels.classes is None and s.label in frame.columns:
        frame[f"{s.label}{AS_NUMBER}"] = pd.to_numeric(frame[s.label], errors="coerce").astype("float64")
    if s.text in frame.columns:
        lowercase = config.encode.lowercase
        counts = [len(tokenize(t, lowercase)) if isinstance(t, str) else np.nan for t in frame[s.text]]
        frame[f"{s.text}{TOKENS}"] = np.asarray(counts, dtype="float64")


def expectations(config: TextTaskConfig, exp: Any) -> list[Any]:
    s = config.schema_
    text = meta(s.text)
    checks: list[Any] = [
        exp.ExpectColumnToExist(column=s.text, meta=text),
        exp.ExpectColumnToExist(column=s.label, meta=meta(s.label)),
        exp.ExpectTableRowCountToBeBetween(min_value=s.min_rows, max_value=s.max_rows),
        exp.ExpectColumnValuesToNotBeNull(column=s.text, meta=text),
        exp.ExpectColumnValueLengthsToBeBetween(
            column=s.text, min_value=s.min_chars, max_value=s.max_chars, meta=text
        ),
        *(
            numeric.target_checks(exp, s.label, s.labels)
            if s.labels.numeric
            else label_checks(exp, s.label, s.labels)
        ),
        exp.ExpectColumnMeanToBeBetween(
            column=f"{s.text}{TOKENS}",
            min_value=s.min_mean_tokens,
            max_value=s.max_mean_tokens,
            meta=meta(s.text, "mean tokens per text"),
            notes="Tokens as the text encoder counts them (pipeline.encoders.base.tokenize).",
        ),
    ]
    if s.labels.binary and s.labels.classes is None:
        checks.append(
            exp.ExpectColumnMeanToBeBetween(
                column=f"{s.label}{AS_NUMBER}",
                min_value=s.min_positive_fraction,
                max_value=s.max_positive_fraction,
                meta=meta(s.label, "fraction of positive labels"),
                notes="Class balance: the mean of the 0/1 label.",
            )
        )
    return checks


def usable_rows(frame: pd.DataFrame, config: TextTaskConfig) -> pd.DataFrame:
    return frame


def assign_splits(frame: pd.DataFrame, config: Any, seed: int) -> pd.Series:
    if config.schema_.labels.numeric:
        return numeric.random_splits(frame, config, seed)
    return stratified_splits(frame, label_column(config), config, seed)


def encode_splits(frame: pd.DataFrame, encoder: Any, config: Any) -> tuple[Any, dict[str, Any]]:
    if config.schema_.labels.numeric:
        return numeric.encode_splits(frame, encoder, label_column(config), config.schema_.labels)
    return class_splits(frame, encoder, label_column(config), config.schema_.labels)


def metrics(
    y_true: Any, proba: Any, n_classes: int, target: dict[str, Any] | None = None
) -> dict[str, float]:
    """Classification metrics; a numeric target's (one output, no classes: ``n_classes`` 1)."""
    from pipeline.core.metrics import classification_metrics

    if n_classes == 1:
        return numeric.metrics(y_true, proba)
    return classification_metrics(y_true, proba, n_classes)


def fit_encoder(train: pd.DataFrame, config: TextTaskConfig) -> TextEncoder:
    return TextEncoder.fit(train[config.schema_.text], config.encode, text_column=config.schema_.text)


baselines = text_baselines.baselines


def input_example(frame: pd.DataFrame, config: TextTaskConfig) -> pd.DataFrame:
    text = config.schema_.text
    return pd.DataFrame({text: frame[text].head(2).str.slice(0, 300)})


def signature_inputs(example: pd.DataFrame) -> Any:
    """The text column, as MLflow infers it from the example."""
    from mlflow.models import infer_signature

    return infer_signature(example).inputs


def _numeric(config: Any) -> bool:
    """Whether the task predicts a number (a language model, which borrows the two functions below,
    has no labels: it never does)."""
    labels = getattr(config.schema_, "labels", None)
    return bool(labels is not None and labels.numeric)


def evaluation_extras(
    config: Any, y_val: Any, p_val: Any, y_test: Any, p_test: Any, settings: Any, seed: int
) -> dict[str, Any]:
    """A numeric target's conformal interval and its test coverage; nothing more for classes."""
    if _numeric(config):
        return numeric.evaluation_extras(config.schema_.labels, y_val, p_val, y_test, p_test, settings, seed)
    return {}


def evaluation_reports(
    config: Any, folder: Any, title: str, y_test: Any, p_test: Any, evaluation: Any
) -> Any:
    """A numeric target's tables and figures, written to ``folder``; None: the classifier's curves,
    confusion matrix and figures."""
    if _numeric(config):
        from pipeline.tasks.numeric_reports import write_reports

        return write_reports(folder, title, y_test, p_test, evaluation)
    return None


def examples(predict: Any, encoder_data: dict[str, Any], config: Any) -> list[dict[str, Any]]:
    return []  # no fixed prompts for a classifier


def examples_markdown(title: str, items: list[dict[str, Any]]) -> str:
    return ""


def signature_params() -> Any:
    """The request params the registered model declares (MLflow passes only those): ``explain``, each
    row's explanation. neutral_band stays undeclared: a declared default would override the bundle's."""
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ParamSchema([ParamSpec("explain", "boolean", False)])


# --- serving side ---
# What serve, predict, bench and the page ask of a text classifier (the same functions in every
# kind module).


def text_column(encoder: Any) -> str | None:
    """The input column holding the raw text (``text`` unless the schema names another)."""
    return str(encoder.text_column)


def request_columns(encoder: Any) -> list[str]:
    """The columns, in order, of a row sent as a list of values: the text alone."""
    return [encoder.text_column]


def instance_row(item: Any, encoder: Any) -> dict[str, Any] | None:
    """A request item that is neither an object nor a list, as a row: a text (the encoder reports
    a value that is not a string as a wrong type)."""
    return {encoder.text_column: item}


def instance_expected(encoder: Any) -> str:
    """What an ``instances``/``inputs`` item must be, as the answer refusing another says."""
    return "a text or an object"


def csv_read_options() -> dict[str, Any]:
    """``pandas.read_csv`` options for a CSV request body: every cell a string, "NA" a word."""
    return {"dtype": str, "keep_default_na": False}


def answers_next_words() -> bool:
    """Whether the model answers with next words (``top_k``, ``generate``) rather than a class."""
    return False


def row_scoring_refusal() -> str | None:
    """Why a distributed engine cannot score this kind row by row, or None: each text is answered
    by itself."""
    return None


def predict_columns(answers: list[dict[str, Any]], probabilities: Any, shares: Any) -> dict[str, Any]:
    """predict's output columns from the rows' answers (an invalid row's left empty):
    ``probability``, ``label`` (Positive/Negative/Neutral), ``class_name``, ``known_token_share`` and
    ``warning``; a multi-class model's ``label``, ``class_name``, ``probability``, ``top`` and the
    same two."""
    from pipeline.tasks.answers import class_columns

    if answers and "value" in answers[0]:
        return numeric.predict_columns(answers)
    if np.ndim(probabilities) == 2:
        return class_columns(answers, shares)
    return {
        "probability": probabilities,
        "label": [a["label"] for a in answers],
        "class_name": [a.get("class_name") for a in answers],
        "known_token_share": shares.round(4),
        "warning": [a["warning"] or "" for a in answers],
    }


def page_mode(n_classes: int) -> str:
    """The page's widget: ``binary_text`` (Positive/Negative/Neutral) or ``classes_text`` (the top
    classes)."""
    return "binary_text" if n_classes <= 2 else "classes_text"


def page_fields(encoder: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What the page's widget needs beyond the classes: the text column's name."""
    return {"text_column": getattr(encoder, "text_column", "text")}


def request_key() -> str:
    """The MLflow JSON format a client sends raw texts in (bench's server load)."""
    return "instances"


def encoded_dtype() -> Any:
    """The dtype of the model's encoded input: token ids."""
    return np.int32


def bench_inputs(encoder: Any, rows: Any) -> list[Any]:
    """Texts that encode back to the token-id ``rows`` (for the server, which takes raw input)."""
    from pipeline.tasks.answers import texts_from_token_ids

    return texts_from_token_ids(encoder, rows)


def behaviour_input(given: Any, change: Any) -> str:
    """A behavioural check's request text: ``change`` when there is one, else ``given``."""
    from pipeline.tasks.behaviour_answers import text_input

    return text_input(given, change)


def behaviour_answers(predictor: Any, records: list[Any]) -> list[Any]:
    """Each text's class (Neutral too) and scores, as :func:`answers` gives them."""
    from pipeline.tasks.behaviour_answers import scored

    return scored(predictor, records, answers)
