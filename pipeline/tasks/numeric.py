"""A table's numeric target (``schema.labels.type: number``): what differs from its classes.

The tabular kind module asks this one whenever its task's target is a number (training side) or
its bundle's output contract names a ``target`` (serving side), so that nothing outside
``pipeline/tasks/`` knows about numeric targets. The network answers in the target's units (its head
inverts the transform, :mod:`pipeline.modeling.value_head`); every answer carries a split-conformal
interval whose half-width, computed by evaluate from the validation residuals at
``evaluate.interval_level``, travels in the bundle's output contract.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.value_metrics import conformal_half_width, interval_bounds, value_metrics
from pipeline.tasks.base import AS_NUMBER, HELPER_NOTE, NUMBER_TYPES, labelled_splits, meta

FINITE = sys.float_info.max  # between -FINITE and FINITE: a number that is not +-inf


# ------------------------------------------------------------------------ training side
def describe(frame: pd.DataFrame, column: str, units: str) -> dict[str, Any]:
    """What ingest notes about the target (and the model card shows): its range, mean and units."""
    y = pd.to_numeric(frame[column], errors="coerce")
    return {
        "target": {
            "column": column,
            "units": units,
            "min": float(y.min()),
            "max": float(y.max()),
            "mean": float(y.mean()),
        }
    }


def target_checks(exp: Any, column: str, labels: Any) -> list[Any]:
    """The target is present, a number, finite and within its declared range (each broken row named)."""
    low, high = labels.lowest, labels.max
    return [
        exp.ExpectColumnValuesToNotBeNull(column=column, meta=meta(column)),
        exp.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMBER_TYPES, meta=meta(column)),
        exp.ExpectColumnValuesToBeBetween(
            column=f"{column}{AS_NUMBER}",
            min_value=-FINITE if low is None else low,
            max_value=FINITE if high is None else high,
            meta=meta(column),
            notes=HELPER_NOTE,
        ),
    ]


def random_splits(frame: pd.DataFrame, config: Any, seed: int) -> pd.Series:
    """Seeded random train/val/test assignment (a number has no classes to stratify on); rows that
    already carry ``split == "test"`` stay in test."""
    from sklearn.model_selection import train_test_split

    split = pd.Series("train", index=frame.index, dtype="object")
    pool = frame.index
    given = "split" in frame.columns and (frame["split"] == "test").any()
    if given:
        split[frame["split"] == "test"] = "test"
        pool = frame.index[frame["split"] != "test"]
    else:
        pool, test = train_test_split(pool, test_size=config.split.test_fraction, random_state=seed)
        split[test] = "test"
    val_share = config.split.val_fraction / (1 - (0 if given else config.split.test_fraction))
    _, val = train_test_split(pool, test_size=val_share, random_state=seed + 1)
    split[val] = "val"
    return split


def encode_splits(frame: pd.DataFrame, encoder: Any, column: str, labels: Any) -> tuple[Any, dict[str, Any]]:
    """The encoded inputs and the targets (float32, in their units) per split; the transform is
    fitted on the training split."""
    from pipeline.encoders.labels import fit_numeric_target

    target = fit_numeric_target(frame.loc[frame["split"] == "train", column], column, labels)
    return labelled_splits(frame, encoder, column, target)


def evaluation_extras(
    labels: Any, y_val: Any, p_val: Any, y_test: Any, p_test: Any, settings: Any, seed: int
) -> dict[str, Any]:
    """The split-conformal interval at ``settings.interval_level`` from the validation residuals
    (clipped to the target's range), and its empirical test coverage (with a bootstrap interval)
    and mean width."""
    from pipeline.core.bootstrap import bounds, resample_weights

    level = settings.interval_level
    half_width = conformal_half_width(y_val, p_val, level)
    y_test, p_test = np.asarray(y_test, "float64"), np.asarray(p_test, "float64")
    low, high = interval_bounds(p_test, half_width, labels.lowest, labels.max)
    covered = ((low <= y_test) & (y_test <= high)).astype("float64")
    samples = [
        w @ covered / w.sum(axis=1)
        for w in resample_weights(len(covered), settings.bootstrap_resamples, seed)
    ]
    return {
        "interval": {
            "method": "split conformal, validation residuals",
            "level": level,
            "half_width": half_width,
            "min": labels.lowest,  # the bounds are clipped to the target's range
            "max": labels.max,
        },
        "test": {
            "interval_coverage": float(covered.mean()) if len(covered) else float("nan"),
            "interval_coverage_ci": bounds(np.concatenate(samples), settings.ci_level) if samples else None,
            "interval_width": float(np.mean(high - low)) if len(low) else float("nan"),
        },
    }


def metrics(y_true: Any, predicted: Any) -> dict[str, float]:
    return value_metrics(y_true, predicted)


# ------------------------------------------------------------------------ serving side
def output_contract(config: Any, measured: dict[str, Any]) -> dict[str, Any]:
    """What the bundle records: the target, its units and range, and the conformal interval."""
    labels = config.schema_.labels
    interval = measured.get("interval") or {}
    return {
        "target": config.schema_.target,
        "units": labels.units,
        "min": labels.lowest,
        "max": labels.max,
        "interval_level": interval.get("level"),
        "interval_half_width": interval.get("half_width"),
    }


def answers(values: Any, output: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"value": v, "interval": [lo, hi]}`` per row in the target's units (``None`` for a refused row)."""
    values = np.asarray(values, dtype="float64").reshape(-1)
    half = output.get("interval_half_width")
    lo, hi = interval_bounds(
        values, float("nan") if half is None else half, output.get("min"), output.get("max")
    )
    out: list[dict[str, Any]] = []
    for v, a, b in zip(values, lo, hi, strict=True):
        if np.isnan(v):
            out.append({"value": None, "interval": None})
        else:
            out.append({"value": float(v), "interval": None if np.isnan(a) else [float(a), float(b)]})
    return out


def predict_columns(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """predict's columns: ``value``, ``interval_low``, ``interval_high`` (empty for a refused row)."""

    def column(pick: Any) -> list[Any]:
        return [pick(a) if a.get("value") is not None and a.get("interval") else None for a in answers]

    return {
        "value": pd.array([a.get("value") for a in answers], dtype="Float64").round(6),
        "interval_low": pd.array(column(lambda a: a["interval"][0]), dtype="Float64").round(6),
        "interval_high": pd.array(column(lambda a: a["interval"][1]), dtype="Float64").round(6),
    }
