"""The pieces the kind modules share, and the training side of their contract.

A kind module (``tabular``, ``text``, ``language_model``) defines these functions, and the serving
ones; ``contract.TaskKind`` states them all. The stages call them through
``pipeline.tasks.kind_of(config)``:

- ``label_column(config) -> str``
- ``read(path, name, config) -> (CsvRows, format)``: the raw rows of a fetched file or folder
- ``describe(frame, config) -> dict``: what ingest notes about the rows (splits, class counts)
- ``expectations(config, exp) -> list``: the Great Expectations checks of the raw data
- ``prepare(frame, config) -> None``: add the helper columns those checks read (in place)
- ``number_columns(config) -> list[str]``: columns whose values validate parses as numbers
- ``usable_rows(frame, config) -> DataFrame``: the rows encode keeps (a table's missing-value policy)
- ``assign_splits(frame, config, seed) -> Series``: each row's split, ``train``/``val``/``test``
- ``fit_encoder(train, config) -> Encoder``: fitted on the training split only
- ``encode_splits(frame, encoder, config) -> (Labels, {split: Split})``: the model-ready arrays
- ``metrics(y, proba, n_classes, target) -> dict``: one split's metrics, as evaluate, tune and the
  baselines report them (``target``: the ``Dataset``'s record of a number or forecast answered)
- ``examples(predict, encoder_data, config) -> list[dict]`` and ``examples_markdown(title, items)``:
  a model's answers to fixed inputs for the evaluate report (empty for classifiers)
- ``baselines(task, config, seed) -> dict``: the classical models on the same split
- ``input_example(frame, config) -> DataFrame``: raw inputs the registered model is shown with
- ``signature_inputs(example) -> mlflow Schema``: the registered model's declared inputs
- ``signature_params() -> mlflow ParamSchema | None``: the inference params it declares
"""

from __future__ import annotations

from typing import Any

# Helper columns computed before validating, so that every bad value is counted by exactly one
# expectation: the type check sees the raw values, range and whole-number checks see the numbers.
AS_NUMBER = " (as number)"
TOKENS = " (tokens)"
AS_TIME = " (as time)"  # a series' timestamps parsed (pipeline/tasks/series_checks.py)
STEPS = " (steps since the row before)"  # a series' steps of its frequency between rows
HELPER_SUFFIXES = (AS_NUMBER, TOKENS, AS_TIME, STEPS)  # what validate leaves out of its report
WHOLE_NUMBER = r"^-?\d+(?:\.0*)?$"  # str() of an int or a whole float
NUMBER_TYPES = [
    "int", "float", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
]  # fmt: skip
HELPER_NOTE = "Runs on the column parsed as numbers; values that are not numbers fail the type check instead."


def meta(column: str, measure: str | None = None) -> dict[str, str]:
    """An expectation's ``meta``: the user's column, and for aggregates what is measured."""
    return {"column": column, "measure": measure} if measure else {"column": column}


def page_example(rows: Any, config: Any) -> dict[str, Any]:
    """No starting input in the bundle (a kind re-exports this as its own): the page starts from the
    kind's fields (a table's typical values, an empty text box), and the task's rows stay unread."""
    return {}


def label_checks(exp: Any, column: str, settings: Any) -> list[Any]:
    """Labels present and, when the classes are known up front, one of them."""
    checks = [exp.ExpectColumnValuesToNotBeNull(column=column, meta=meta(column))]
    if settings.classes is None:
        checks.append(exp.ExpectColumnValuesToBeInSet(column=column, value_set=[0, 1], meta=meta(column)))
    elif isinstance(settings.classes, list):
        checks.append(
            exp.ExpectColumnValuesToBeInSet(
                column=column, value_set=list(settings.classes), meta=meta(column)
            )
        )
    return checks


def class_counts(labels: Any) -> dict[str, int]:
    """How many rows each label has, most frequent first (the ingest note and the model card)."""
    counts = labels.astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def by_class_index(scores: Any, model_classes: Any, n_classes: int) -> Any:
    """A scikit-learn model's per-class scores as the metrics expect them: the positive class's
    column for two classes; otherwise one column per class index, zeros for a class the training
    split did not hold (scikit-learn leaves those columns out)."""
    import numpy as np

    if n_classes == 2:
        return scores[:, list(model_classes).index(1)]
    full = np.zeros((scores.shape[0], n_classes), dtype="float64")
    full[:, np.asarray(model_classes, dtype=int)] = scores
    return full


def strata(labels: Any) -> Any:
    """The labels to stratify on: a class too rare to be split (one row) joins the largest class,
    which keeps every other class's share while scikit-learn gets at least two rows per stratum."""
    keys = labels.astype(str)
    counts = keys.value_counts()
    rare = counts.index[counts < 2]
    return keys.where(~keys.isin(rare), counts.index[0]) if len(rare) else labels


def stratified_splits(frame: Any, label: str, config: Any, seed: int) -> Any:
    """Stratified, seeded train/val/test assignment.

    Rows that already carry ``split == "test"`` (the official aclImdb test set) stay in test;
    validation is then carved out of the training rows only.
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    split = pd.Series("train", index=frame.index, dtype="object")
    pool = frame.index
    if "split" in frame.columns and (frame["split"] == "test").any():
        split[frame["split"] == "test"] = "test"
        pool = frame.index[frame["split"] != "test"]
    else:
        rest, test = train_test_split(
            pool,
            test_size=config.split.test_fraction,
            random_state=seed,
            stratify=strata(frame.loc[pool, label]),
        )
        split[test] = "test"
        pool = rest
    val_share = config.split.val_fraction / (
        1 - (0 if "split" in frame.columns else config.split.test_fraction)
    )
    _, val = train_test_split(
        pool, test_size=val_share, random_state=seed + 1, stratify=strata(frame.loc[pool, label])
    )
    split[val] = "val"
    return split


def labelled_splits(frame: Any, encoder: Any, label: str, labels: Any) -> tuple[Any, dict[str, Any]]:
    """One row per example: the encoded inputs, and the labels as ``labels.encode`` gives them (a
    fitted :class:`~pipeline.encoders.labels.Labels`: class indices; a ``NumericTarget``: values)."""
    from pipeline.encoders.dataset import SPLITS, Split

    arrays = {}
    for name in SPLITS:
        part = frame[frame["split"] == name]
        arrays[name] = Split(
            encoder.transform(part), labels.encode(part[label], f"{name} split, column {label!r}")
        )
    return labels, arrays


def class_splits(frame: Any, encoder: Any, label: str, settings: Any) -> tuple[Any, dict[str, Any]]:
    """:func:`labelled_splits` with the classes fitted on the training split (``schema.labels``)."""
    from pipeline.encoders.labels import fit_labels

    labels = fit_labels(frame.loc[frame["split"] == "train", label], settings)
    return labelled_splits(frame, encoder, label, labels)
