"""A table's categorical columns a whole column at a time (score's chunks, predict's files).

The rule for one value stays :meth:`TabularEncoder._category`, which serving's records path calls
per value; here it is called once per *distinct* value of a column and its verdict (the category's
key, or why the value is refused) spread over the rows by their codes. A chunk of 8,192 churn rows
then costs a handful of rule calls per column instead of 8,192, with the same keys and messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipeline.encoders.tabular import TabularEncoder


def distinct_values(column: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """``(codes, values)``: each row's index into ``values``, the column's distinct values as
    ``column.tolist()`` holds them (a blank cell's code points at a ``None``); or None where
    pandas' equality could merge values the rule tells apart (``1``, ``1.0`` and ``True`` in one
    object column), which are then judged one by one."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        # bit patterns, not values: -0.0 and 0.0 are one float but two reprs in a refusal's message
        raw = column.to_numpy()
        codes, uniques = pd.factorize(raw.view(f"i{raw.itemsize}"))
        return codes, uniques.view(raw.dtype).tolist()
    plain = isinstance(dtype, np.dtype) and dtype.kind in "iub"
    text = isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")
    )
    if not plain and not text:
        return None
    codes, uniques = pd.factorize(column)
    values: list[Any] = [*uniques.tolist(), None]  # code -1 (a blank) is the last: None
    return np.where(codes < 0, len(values) - 1, codes), values


def category_positions(encoder: TabularEncoder, col: str, column: pd.Series) -> tuple[np.ndarray, list]:
    """Each row's category as its position among the column's keys (-1 where refused), and the
    refused rows as ``(row, why)`` in row order: what :meth:`TabularEncoder._category` says of
    each cell."""
    found = distinct_values(column)
    codes, values = found if found is not None else (np.arange(len(column)), column.tolist())
    position = {key: i for i, key in enumerate(encoder._keys[col])}
    verdicts = [encoder._category(col, value) for value in values]
    positions = np.array([-1 if key is None else position[key] for key, _ in verdicts], dtype=np.int64)
    at_rows = positions[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    refused = [(int(i), verdicts[codes[i]][1]) for i in np.flatnonzero(at_rows < 0).tolist()]
    return at_rows, refused


def one_hot(positions: np.ndarray, n_keys: int) -> list[np.ndarray]:
    """float64 columns from the rows' positions among ``n_keys`` keys, one a key; two keys: one
    binary column for the second (as ``TabularEncoder._levels``)."""
    return [(positions == level).astype("float64") for level in range(1 if n_keys == 2 else 0, n_keys)]
