"""What every task kind module provides, and the pieces they share.

A kind module (``tabular``, ``text``) defines these functions; the stages call them through
``pipeline.tasks.kind_of(config)``:

- ``label_column(config) -> str``
- ``read(path, name, config) -> (CsvRows, format)``: the raw rows of a fetched file or folder
- ``describe(frame, config) -> dict``: what ingest notes about the rows (splits, class counts)
- ``expectations(config, exp) -> list``: the Great Expectations checks of the raw data
- ``prepare(frame, config) -> None``: add the helper columns those checks read (in place)
- ``number_columns(config) -> list[str]``: columns whose values validate parses as numbers
- ``usable_rows(frame, config) -> DataFrame``: the rows encode keeps (a table's missing-value policy)
- ``fit_encoder(train, config) -> Encoder``: fitted on the training split only
- ``baselines(task, config, seed) -> dict``: the classical models on the same split
- ``input_example(frame, config) -> DataFrame``: raw inputs the registered model is shown with
- ``signature_inputs(example) -> mlflow Schema``: the registered model's declared inputs
"""

from __future__ import annotations

from typing import Any

# Helper columns computed before validating, so that every bad value is counted by exactly one
# expectation: the type check sees the raw values, range and whole-number checks see the numbers.
AS_NUMBER = " (as number)"
TOKENS = " (tokens)"
WHOLE_NUMBER = r"^-?\d+(?:\.0*)?$"  # str() of an int or a whole float
NUMBER_TYPES = [
    "int", "float", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
]  # fmt: skip
HELPER_NOTE = "Runs on the column parsed as numbers; values that are not numbers fail the type check instead."


def meta(column: str, measure: str | None = None) -> dict[str, str]:
    """An expectation's ``meta``: the user's column, and for aggregates what is measured."""
    return {"column": column, "measure": measure} if measure else {"column": column}


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
