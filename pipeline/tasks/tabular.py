"""Tabular tasks: a CSV of numeric and categorical columns and a target: binary, multi-class, or a
number (``schema.labels.type: number``, whose pieces live in :mod:`pipeline.tasks.numeric`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.config import TabularTaskConfig
from pipeline.data.readers import CsvRows, read_csv_file
from pipeline.encoders.tabular import TabularEncoder, bounds
from pipeline.tasks import answers as shapes
from pipeline.tasks import numeric, tabular_baselines
from pipeline.tasks.base import (
    AS_NUMBER,
    HELPER_NOTE,
    NUMBER_TYPES,
    WHOLE_NUMBER,
    class_counts,
    class_splits,
    label_checks,
    meta,
    stratified_splits,
)
from pipeline.tasks.base import page_example as page_example  # none: the form starts from typical values

# after promotion: explanations and drift monitoring (re-exported: this module is the kind)
from pipeline.tasks.tabular_operations import answer_columns as answer_columns
from pipeline.tasks.tabular_operations import drift_columns as drift_columns
from pipeline.tasks.tabular_operations import drift_tokens as drift_tokens
from pipeline.tasks.tabular_operations import explain as explain
from pipeline.tasks.tabular_operations import explanation_setup as explanation_setup


def cross_validation_off() -> str | None:
    """Why the cv stage leaves this kind out, or None when it cross-validates it."""
    return None


def classes_note() -> str:
    """What encode's report adds after the number of classes."""
    return ""


# --- the output contract and the answer (the serving side's part that the bundle records) ---
def output_contract(
    config: TabularTaskConfig, classes: list[Any], measured: dict[str, Any]
) -> dict[str, Any]:
    """What the model answers, recorded in its bundle: classes, their names (``display.classes``),
    positive class and threshold; or a numeric target's name, units, range and interval
    (``measured``: evaluate's metrics)."""
    if config.schema_.labels.numeric:
        return numeric.output_contract(config, measured)
    binary = len(classes) <= 2
    return {
        "classes": classes,
        "class_names": shapes.class_names(classes, config.display.classes),
        "positive_class": classes[1] if binary and len(classes) == 2 else None,
        "threshold": shapes.THRESHOLD if binary else None,
        "top_k": None if binary else shapes.TOP_K,
    }


def input_spec(encoder: TabularEncoder, config: TabularTaskConfig) -> dict[str, Any]:
    """What the model reads, recorded in its bundle: the columns, their labels on the page
    (``display.columns``) and the feature width."""
    return {
        "dtype": "float32",
        "width": len(encoder.feature_names),
        "numeric": {c: {k: s.get(k) for k in ("min", "max", "integer")} for c, s in encoder.numeric.items()},
        "categorical": encoder.categorical,
        "filled_when_blank": sorted(encoder.fills),
        "column_labels": dict(config.display.columns),
    }


def answers(predictor: Any, probabilities: Any, known_shares: Any, inputs: Any, options: dict) -> list[dict]:
    """``{"probability", "prediction", "class_name"}`` per row (and ``label`` for named classes), or
    the top classes; ``class_name`` from the bundle's ``class_names`` (the value for an old bundle).
    ``{"value", "interval"}`` when the bundle's output names a numeric ``target``."""
    output = predictor.output
    if "target" in output:
        return numeric.answers(probabilities, output)
    top_k = output.get("top_k") or shapes.TOP_K
    names = shapes.recorded_names(output, predictor.classes)
    return shapes.classifier_answers(probabilities, predictor.classes, top_k=top_k, names=names)


def check_request_params(given: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    return shapes.check_params(given, () if "target" in output else shapes.CLASSIFIER_PARAMS)


def label_column(config: TabularTaskConfig) -> str:
    return config.schema_.target


def read(path: Path, name: str, config: TabularTaskConfig) -> tuple[CsvRows, str]:
    return read_csv_file(path, name), "csv"


def describe(frame: pd.DataFrame, config: TabularTaskConfig) -> dict[str, Any]:
    target = config.schema_.target
    if target not in frame.columns:
        return {}
    if config.schema_.labels.numeric:
        return numeric.describe(frame, target, config.schema_.labels.units)
    return {"classes": class_counts(frame[target])}


def number_columns(config: TabularTaskConfig) -> list[str]:
    schema = config.schema_
    return [*schema.numeric, *([schema.target] if schema.labels.classes is None else [])]


def prepare(frame: pd.DataFrame, config: TabularTaskConfig) -> None:
    for col in _numbers(config):
        if col in frame.columns:
            frame[f"{col}{AS_NUMBER}"] = pd.to_numeric(frame[col], errors="coerce").astype("float64")


def expectations(config: TabularTaskConfig, exp: Any) -> list[Any]:
    schema = config.schema_
    helpers = [f"{c}{AS_NUMBER}" for c in _numbers(config)]
    checks: list[Any] = [
        exp.ExpectTableColumnsToMatchSet(column_set=[*schema.all_columns, *helpers], exact_match=True),
        exp.ExpectTableRowCountToBeBetween(min_value=schema.min_rows, max_value=schema.max_rows),
    ]
    may_be_blank = {col for col, rule in schema.missing.items() if rule != "error"}
    for col, spec in schema.numeric.items():
        number, col_meta = f"{col}{AS_NUMBER}", meta(col)
        checks.append(exp.ExpectColumnValuesToBeInTypeList(column=col, type_list=NUMBER_TYPES, meta=col_meta))
        if col not in may_be_blank:
            checks.append(exp.ExpectColumnValuesToNotBeNull(column=col, meta=col_meta))
        checks += [
            exp.ExpectColumnValuesToBeBetween(
                column=number,  # a bound left out: any finite number on that side
                min_value=-numeric.FINITE if spec.min is None else spec.min,
                max_value=numeric.FINITE if spec.max is None else spec.max,
                meta=col_meta,
                notes=HELPER_NOTE,
            ),
        ]
        if spec.integer:
            checks.append(
                exp.ExpectColumnValuesToMatchRegex(
                    column=number, regex=WHOLE_NUMBER, meta=col_meta, notes=HELPER_NOTE
                )
            )
    for col, values in schema.categorical.items():
        if col not in may_be_blank:
            checks.append(exp.ExpectColumnValuesToNotBeNull(column=col, meta=meta(col)))
        checks.append(exp.ExpectColumnValuesToBeInSet(column=col, value_set=list(values), meta=meta(col)))
    if schema.labels.numeric:
        return checks + numeric.target_checks(exp, schema.target, schema.labels)
    return checks + label_checks(exp, schema.target, schema.labels)


def _numbers(config: TabularTaskConfig) -> list[str]:
    """The columns validate checks as numbers through a helper column: a numeric target's too."""
    schema = config.schema_
    return [*schema.numeric, *([schema.target] if schema.labels.numeric else [])]


def usable_rows(frame: pd.DataFrame, config: TabularTaskConfig) -> pd.DataFrame:
    """The rows to train on: those with a blank cell in a column whose ``schema.missing`` is ``drop``
    are left out (encode reports how many)."""
    drop = [col for col, rule in config.schema_.missing.items() if rule == "drop"]
    return frame.dropna(subset=drop) if drop else frame


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


def fit_encoder(train: pd.DataFrame, config: TabularTaskConfig) -> TabularEncoder:
    return TabularEncoder.fit(train, config.schema_)


baseline_factories = tabular_baselines.baseline_factories
baseline_scores = tabular_baselines.baseline_scores
baselines = tabular_baselines.baselines


def input_example(frame: pd.DataFrame, config: TabularTaskConfig) -> pd.DataFrame:
    return frame[config.schema_.feature_columns].head(2)


def signature_inputs(example: pd.DataFrame) -> Any:
    """Every input column as MLflow's ``Any``.

    MLflow casts each column to its declared type before the model sees it: 52.5 would become 52 in
    a ``long`` column and ``true`` 1.0 in a ``double`` one, so ``mlflow models serve`` would answer
    where ``python -m pipeline serve`` refuses. With ``Any`` the values reach the encoder's own
    checks (pipeline/encoders/tabular.py) unchanged, and both servers accept and refuse alike.
    """
    from mlflow.types.schema import AnyType, ColSpec, Schema

    return Schema([ColSpec(AnyType(), str(col)) for col in example.columns])


def evaluation_extras(
    config: Any, y_val: Any, p_val: Any, y_test: Any, p_test: Any, settings: Any, seed: int
) -> dict[str, Any]:
    """A numeric target's conformal interval and its test coverage; nothing more for classes."""
    if config.schema_.labels.numeric:
        return numeric.evaluation_extras(config.schema_.labels, y_val, p_val, y_test, p_test, settings, seed)
    return {}


def evaluation_reports(
    config: Any, folder: Any, title: str, y_test: Any, p_test: Any, evaluation: Any
) -> Any:
    """A numeric target's tables and figures, written to ``folder``; None: a classifier's curves."""
    if config.schema_.labels.numeric:
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
# What serve, predict, bench and the page ask of a table (the same functions in every kind module).


def text_column(encoder: Any) -> str | None:
    """The input column holding a raw text: none, a table's rows have many columns."""
    return None


def request_columns(encoder: Any) -> list[str]:
    """The columns, in order, of a row sent as a list of values (``instances``/``inputs``)."""
    return list(encoder.input_columns)


def instance_row(item: Any, encoder: Any) -> dict[str, Any] | None:
    """A request item that is neither an object nor a list, as a row: a table takes none."""
    return None


def instance_expected(encoder: Any) -> str:
    """What an ``instances``/``inputs`` item must be, as the answer refusing another says."""
    columns = request_columns(encoder)
    return f"an object or a list of {len(columns)} values in the order {', '.join(columns)}"


def csv_read_options() -> dict[str, Any]:
    """``pandas.read_csv`` options for a CSV request body: values typed, empty cells missing."""
    return {"dtype": None, "keep_default_na": True}


def answers_next_words() -> bool:
    """Whether the model answers with next words (``top_k``, ``generate``) rather than a class."""
    return False


def row_scoring_refusal() -> str | None:
    """Why a distributed engine cannot score this kind row by row, or None: a table's row is
    answered by itself, so any partition of the rows scores as the whole file does."""
    return None


def predict_columns(answers: list[dict[str, Any]], probabilities: Any, shares: Any) -> dict[str, Any]:
    """predict's output columns from the rows' answers (an invalid row's left empty):
    ``probability``, ``prediction`` 0/1 and its ``class_name``; a multi-class model's ``label``,
    ``class_name``, ``probability``, ``top``."""
    import numpy as np

    from pipeline.tasks.answers import class_columns

    if answers and "value" in answers[0]:
        return numeric.predict_columns(answers)
    if np.ndim(probabilities) == 2:
        return class_columns(answers)
    predictions = [a["prediction"] for a in answers]
    return {
        "probability": probabilities,
        "prediction": pd.array(predictions, dtype="Int64"),
        "class_name": [a.get("class_name") for a in answers],
    }


def page_mode(n_classes: int) -> str:
    """The page's widget: ``form``, a field per column."""
    return "form"


def page_fields(encoder: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What the page's widget needs beyond the classes: the table's columns (:func:`input_fields`),
    labelled as the bundle's input ``spec`` records (``column_labels``)."""
    return {"fields": input_fields(encoder, spec.get("column_labels") or {})}


def input_fields(encoder: Any, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A table's columns in the encoder's order, each with its ``label`` (its name unless
    ``labels`` gives one): numbers with their range and a starting value (the training mean), a
    whole number from 0 to 1 as a ``yes_no`` choice, categories with their values as the schema
    wrote them. ``blank``: the column may be left blank (the encoder fills it)."""
    labels = labels or {}
    fields: list[dict[str, Any]] = []
    for name, spec in encoder.numeric.items():
        integer = bool(spec.get("integer"))
        start = encoder.fills.get(name, spec["mean"])
        start = round(start) if integer else round(float(start), 2)
        yes_no = integer and spec["min"] == 0 and spec["max"] == 1
        field = {"name": name, "label": labels.get(name, name), "type": "yes_no" if yes_no else "number"}
        field |= {"min": spec["min"], "max": spec["max"], "integer": integer, "value": start}
        fields.append(field | {"blank": name in encoder.fills})
    for name, values in encoder.categorical.items():
        fields.append(
            {"name": name, "label": labels.get(name, name), "type": "category", "values": list(values)}
        )
    return fields


def request_key() -> str:
    """The MLflow JSON format a client sends raw rows in (bench's server load)."""
    return "dataframe_records"


def encoded_dtype() -> Any:
    """The dtype of the model's encoded input: scaled features."""
    import numpy as np

    return np.float32


def bench_inputs(encoder: Any, rows: Any) -> list[Any]:
    """Raw records that encode back to the encoded ``rows`` (for the server, which takes raw input)."""
    import numpy as np

    out = []
    for row in rows:
        record: dict[str, Any] = {}
        j = 0
        for col, s in encoder.numeric.items():
            value = float(np.clip(row[j] * s["std"] + s["mean"], *bounds(s)))
            record[col] = round(value) if s.get("integer") else value  # 52.5 is refused there
            j += 1
        for col, values in encoder.categorical.items():
            if len(values) == 2:
                record[col] = values[int(row[j] >= 0.5)]
                j += 1
            else:
                record[col] = values[int(np.argmax(row[j : j + len(values)]))]
                j += len(values)
        out.append(record)
    return out


def behaviour_input(given: Any, change: Any) -> dict[str, Any]:
    """A behavioural check's request row: the row ``given`` with the columns ``change`` alters."""
    from pipeline.tasks.behaviour_answers import table_input

    return table_input(given, change)


def behaviour_answers(predictor: Any, records: list[Any]) -> list[Any]:
    """Each row's class (or value) and scores, as :func:`answers` gives them."""
    from pipeline.tasks.behaviour_answers import scored

    return scored(predictor, records, answers)
