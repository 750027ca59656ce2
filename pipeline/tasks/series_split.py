"""A series' consecutive train, validation and test periods, and the forecast origins in each.

Periods are cut by fractions of the steps, by dates or by a flag column (``split.by``, see
:class:`pipeline.core.timeseries_config.SeriesSplit`); every fitted value comes from the training
period. A window belongs to the period of its first forecast step, and all its ``horizon`` target
steps lie in that period, so no validation target is a test step; its inputs may reach back into the
period before, which is the past. Training takes every origin, validation and test every
``origin_every``-th step from their first (the rolling origin of the evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError

PERIODS = ("train", "val", "test")
TRUE_WORDS = {"true", "1", "yes", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "f", "n"}


def flag_values(values: pd.Series, column: str) -> np.ndarray:
    """A true/false flag column as booleans (``TRUE``, ``1``, ``yes``...); another value is refused."""
    text = values.astype("string").str.strip().str.lower()
    bad = np.flatnonzero(~text.isin(TRUE_WORDS | FALSE_WORDS).fillna(False).to_numpy()).tolist()
    if bad:
        shown = "; ".join(f"data row {i + 1}: {values.iloc[i]!r}" for i in bad[:10])
        raise DataError(f"column {column!r}: expected true or false (the training rows' flag): {shown}")
    return text.isin(TRUE_WORDS).to_numpy()


def periods(index: pd.DatetimeIndex, split: Any, flags: np.ndarray | None = None) -> np.ndarray:
    """Each step's period, ``train``, ``val`` or ``test``, in time order; ``flags``: the training
    flag of each step (``by: column``; a missing step's is False, so it is not trained on)."""
    n = len(index)
    if split.by == "fractions":
        test_start = n - round(n * split.test_fraction)
        val_start = test_start - round(n * split.val_fraction)
    elif split.by == "dates":
        val_start = int(index.searchsorted(pd.Timestamp(split.val_start)))
        test_start = int(index.searchsorted(pd.Timestamp(split.test_start)))
    else:
        if flags is None:
            raise DataError(f"split by column {split.column!r}: the column's values are needed")
        train = np.flatnonzero(flags)
        if len(train) and (train[0] != 0 or (np.diff(train) > 1).any()):
            raise DataError(
                f"column {split.column!r}: the training rows must be the first ones, in one run "
                "(a series trains on its past)"
            )
        test_start = len(train)
        val_start = test_start - round(test_start * split.val_fraction)
    out = np.full(n, "test", dtype=object)
    out[:test_start] = "val"
    out[:val_start] = "train"
    for name in PERIODS:
        if not (out == name).any():
            raise DataError(
                f"the {name} period is empty ({n} steps from {index[0]} to {index[-1]}); "
                "check split's fractions or dates"
            )
    return out


def origins(period: np.ndarray, name: str, horizon: int, every: int) -> list[int]:
    """The forecast origins of period ``name``: each ``every``-th step from the period's first whose
    ``horizon`` steps all lie in it."""
    steps = np.flatnonzero(period == name)
    if not len(steps):
        return []
    first, last = int(steps[0]), int(steps[-1])
    return list(range(first, last - horizon + 2, every))
