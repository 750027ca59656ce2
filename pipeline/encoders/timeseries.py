"""The windows of a forecasting task: ``lookback`` steps of a series in, the next ``horizon`` out.

Every step of a window is one row of float features, in :attr:`WindowEncoder.feature_names`' order:

* the target and each past covariate at that step (numbers scaled with the training period's mean
  and standard deviation, categories one-hot over their values);
* each known covariate and calendar feature ``horizon`` steps later, so that the window's last
  ``horizon`` steps carry the forecast steps' known values (a holiday flag, the day of week): a
  model sees what is known of the steps it forecasts, and nothing of their target;
* calendar features from the timestamps: ``hour_of_day`` (with minutes, for half-hours) and
  ``day_of_week``, as cycles (a sine and a cosine) or as categories (one-hot over the values the
  training period holds).

The targets stay in their units; ``target_center``/``target_scale`` are what the model's head
multiplies back (the network answers in the target's units, like a table's numeric target). A window
that reads or predicts a missing step (the ``drop-window`` gap policy) is left out. Fitted on the
training period only, saved as JSON (``to_dict``), never pickled. Recurrent models read the
``[lookback, features]`` rows, the ann the same rows flattened.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.rows import plural
from pipeline.core.timestamps import ROWS, grid, parse_times
from pipeline.encoders.base import Encoder, RowError
from pipeline.encoders.history_reader import HistoryReader, parse_iso

KIND = "timeseries"
CYCLES = {"hour_of_day": 24.0, "day_of_week": 7.0}


def calendar_values(times: pd.DatetimeIndex, feature: str) -> np.ndarray:
    """``hour_of_day`` as hours with their fraction (13.5 for 13:30), ``day_of_week`` 0 (Monday) to 6."""
    if feature == "hour_of_day":
        return np.asarray(times.hour + times.minute / 60.0, dtype="float64")
    if feature == "day_of_week":
        return np.asarray(times.dayofweek, dtype="float64")
    raise ValueError(f"unknown calendar feature {feature!r}; known: {', '.join(CYCLES)}")


def future_times(last: pd.Timestamp, frequency: str, steps: int, fallback: str = "B") -> pd.DatetimeIndex:
    """The ``steps`` timestamps after ``last`` at ``frequency`` (``rows``: at ``fallback``, the
    weekdays of a trading series)."""
    return pd.date_range(last, periods=steps + 1, freq=fallback if frequency == ROWS else frequency)[1:]


@dataclass
class WindowEncoder(Encoder):
    """The fitted windows of one series (see the module docstring); ``scales``: column -> (mean, std).

    As an :class:`~pipeline.encoders.base.Encoder`, one posted history is one input: ``check``
    answers its problems as a ``RowError`` of row 1 (the history, counted as one request item),
    ``transform`` its forecast window ``[1, lookback, features]``.
    """

    time: str
    target: str
    frequency: str
    lookback: int
    horizon: int
    season_length: int
    past: list[str]  # past covariates, in order
    known: list[str]  # known covariates, in order
    categories: dict[str, list[str]]  # a category covariate's values, in order
    calendar: list[str]
    calendar_encoding: str  # cycles | categories
    calendar_levels: dict[str, list[float]]  # categories: the values the training period holds
    scales: dict[str, list[float]]  # number column -> [mean, std]
    mase_scale: float  # mean |y_t - y_{t - season}| over the training period
    kind: str = KIND
    whole_request: ClassVar[bool] = True  # a posted history is one input

    # --------------------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, series: pd.DataFrame, schema: Any, encode: Any, frequency: str) -> WindowEncoder:
        """Fitted on ``series``, the training period only (a regular index; missing steps NaN)."""
        numbers = [c for c in schema.numbers if c in series.columns]
        scales = {c: _mean_std(series[c], c) for c in numbers}
        levels: dict[str, list[float]] = {}
        if encode.calendar_encoding == "categories":
            for feature in encode.calendar:
                levels[feature] = sorted(
                    set(calendar_values(pd.DatetimeIndex(series.index), feature).tolist())
                )
        y = series[schema.target].to_numpy("float64")
        m = encode.season_length
        diffs = np.abs(y[m:] - y[:-m]) if len(y) > m else np.array([])
        diffs = diffs[~np.isnan(diffs)]
        if not len(diffs):
            raise DataError(f"the training period is too short for a season of {m} steps (MASE's scale)")
        return cls(
            time=schema.time,
            target=schema.target,
            frequency=frequency,
            lookback=encode.lookback,
            horizon=encode.horizon,
            season_length=m,
            past=[c for c, s in schema.covariates.items() if s.role == "past"],
            known=[c for c, s in schema.covariates.items() if s.role == "known"],
            categories={c: [str(v) for v in s.values] for c, s in schema.covariates.items() if s.values},
            calendar=list(encode.calendar),
            calendar_encoding=encode.calendar_encoding,
            calendar_levels=levels,
            scales=scales,
            mase_scale=float(diffs.mean()) or 1.0,
        )

    # --------------------------------------------------------------------------- features
    def _column_names(self, column: str) -> list[str]:
        if column in self.categories:
            return [f"{column}={v}" for v in self.categories[column]]
        return [column]

    def _calendar_names(self, feature: str) -> list[str]:
        if self.calendar_encoding == "cycles":
            return [f"{feature}_sin", f"{feature}_cos"]
        return [f"{feature}={v:g}" for v in self.calendar_levels[feature]]

    @property
    def feature_names(self) -> list[str]:
        """One step's features: the target and the past covariates at the step, then the known
        covariates and the calendar ``horizon`` steps ahead (``+H``)."""
        now = [n for c in [self.target, *self.past] for n in self._column_names(c)]
        ahead = [n for c in self.known for n in self._column_names(c)]
        ahead += [n for f in self.calendar for n in self._calendar_names(f)]
        return now + [f"{n}+H" for n in ahead]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def input_width(self) -> int:
        """A window flattened: ``lookback`` rows of :attr:`n_features`."""
        return self.lookback * self.n_features

    def _encode_column(self, values: pd.Series, column: str) -> np.ndarray:
        if column in self.categories:
            text = values.astype("string").fillna("").to_numpy(dtype=object)
            out = np.stack([(text == v) for v in self.categories[column]], axis=1).astype("float64")
            out[pd.isna(values).to_numpy()] = np.nan
            return out
        mean, std = self.scales[column]
        return ((values.to_numpy("float64") - mean) / std)[:, None]

    def _encode_calendar(self, times: pd.DatetimeIndex, feature: str) -> np.ndarray:
        return self.encode_calendar_values(calendar_values(times, feature), feature)

    def encode_calendar_values(self, values: np.ndarray, feature: str) -> np.ndarray:
        """A calendar feature's values (:func:`calendar_values`) as cycles or one-hot categories."""
        if self.calendar_encoding == "cycles":
            angle = 2 * math.pi * values / CYCLES[feature]
            return np.stack([np.sin(angle), np.cos(angle)], axis=1)
        return np.stack([values == level for level in self.calendar_levels[feature]], axis=1).astype(
            "float64"
        )

    def step_features(self, series: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per step of ``series``: the features at the step (target, past) and those read ahead
        (known, calendar); NaN where a value is missing."""
        now = [self._encode_column(series[c], c) for c in [self.target, *self.past]]
        times = pd.DatetimeIndex(series.index)
        ahead = [self._encode_column(series[c], c) for c in self.known]
        ahead += [self._encode_calendar(times, f) for f in self.calendar]
        empty = np.zeros((len(series), 0))
        return np.concatenate(now, axis=1), np.concatenate(ahead, axis=1) if ahead else empty

    def windows(
        self, series: pd.DataFrame, origins: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The windows whose first forecast step is each of ``origins`` (positions in ``series``):
        inputs ``[n, lookback, features]`` float32, targets ``[n, horizon]`` float32 in their units,
        and the origins kept (a window reading or predicting a missing step is left out)."""
        now, ahead = self.step_features(series)
        y = series[self.target].to_numpy("float64")
        L, H = self.lookback, self.horizon
        xs, ys, kept = [], [], []
        for o in origins:
            if o < L or o + H > len(series):
                continue
            x = np.concatenate([now[o - L : o], ahead[o - L + H : o + H]], axis=1)
            target = y[o : o + H]
            if np.isnan(x).any() or np.isnan(target).any():
                continue
            xs.append(x)
            ys.append(target)
            kept.append(o)
        shape = (0, L, self.n_features)
        x_out = np.stack(xs).astype("float32") if xs else np.zeros(shape, "float32")
        y_out = np.stack(ys).astype("float32") if ys else np.zeros((0, H), "float32")
        return x_out, y_out, np.asarray(kept, dtype="int64")

    # --------------------------------------------------------------------------- a posted history
    def history(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A posted history checked as the training series was (timestamps, frequency, no gap, at
        least ``lookback`` steps, numbers), with the forecast steps appended: their timestamps, and
        their known covariates from the history's last ``horizon`` rows when the task has any (those
        rows leave the target blank). Raises DataError naming the row and what was expected."""
        needed = [self.time, self.target, *self.past, *self.known]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(map(repr, missing))}; expected {', '.join(needed)}"
            )
        times = parse_times(frame[self.time], self.time, lambda i: f"row {i + 1}")
        future = self.horizon if self.known else 0
        rows = len(frame) - future
        if rows < self.lookback:
            raise DataError(
                f"{plural(rows, 'step')} of history; the model reads the last {self.lookback}"
                + (f", then {self.horizon} rows of the known covariates" if future else "")
            )
        if self.frequency != ROWS and len(times) > 1:
            full = grid(times, self.frequency, self.time, lambda i: f"row {i + 1}")
            if len(full) != len(times):
                raise DataError(
                    f"column {self.time!r}: {plural(len(full) - len(times), 'step')} missing from the "
                    f"{self.frequency!r} history; a forecast needs every step"
                )
        series = frame.drop(columns=[self.time]).set_index(times)
        if not future:
            extra = future_times(times[-1], self.frequency, self.horizon)
            series = pd.concat([series, pd.DataFrame(index=extra)])
        return series

    def forecast_window(self, series: pd.DataFrame) -> np.ndarray:
        """The one window of a checked :meth:`history`: its last ``lookback`` observed steps and the
        forecast steps' known values, ``[1, lookback, features]`` float32; a blank value refused."""
        now, ahead = self.step_features(series)
        o, L, H = len(series) - self.horizon, self.lookback, self.horizon
        x = np.concatenate([now[o - L : o], ahead[o - L + H : o + H]], axis=1)
        blank = np.flatnonzero(np.isnan(x).any(axis=1)).tolist()
        if blank:
            raise DataError(
                f"row {o - L + blank[0] + 1}: a blank value in the last {L} steps the model reads "
                f"(or in the known values {H} steps later); expected a value in every column of "
                f"{', '.join([self.target, *self.past, *self.known])}"
            )
        return x[None].astype("float32")

    def future_times(self, series: pd.DataFrame) -> pd.DatetimeIndex:
        """The timestamps of the forecast steps of a checked :meth:`history`."""
        return pd.DatetimeIndex(series.index[-self.horizon :])

    # --------------------------------------------------------------------------- the Encoder contract
    @property
    def input_columns(self) -> list[str]:
        return [self.time, self.target, *self.past, *self.known]

    @functools.cached_property
    def reader(self) -> HistoryReader:
        """Serving's quick path to a history (numpy, no DataFrame); constants computed once."""
        return HistoryReader(self)

    def check(self, frame: pd.DataFrame) -> list[RowError]:
        try:
            self.transform(frame)
        except DataError as exc:
            return [RowError(0, str(exc))]
        return []

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The forecast window: the quick path, or pandas' (:meth:`history`) naming what is wrong."""
        quick = self.reader.read(self.reader.columns_of_frame(frame))
        return quick.window if quick is not None else self.forecast_window(self.history(frame))

    def check_records(self, records: Sequence[Any]) -> list[RowError]:
        return self.check(self.records_to_frame(records))

    def transform_records(self, records: Sequence[Any]) -> np.ndarray:
        quick = self.reader.read(self.reader.columns_of_records(records))
        if quick is not None:
            return quick.window
        return self.forecast_window(self.history(self.records_to_frame(records)))

    def forecast_times(self, inputs: pd.DataFrame | Sequence[Any]) -> pd.DatetimeIndex:
        """The forecast steps' timestamps of a history the model has read (a DataFrame or records):
        the last ``horizon`` rows' with known covariates, else the steps after the last row. Read
        from those rows alone when they are plain ISO timestamps; else as :meth:`history` reads
        them (raising its DataError)."""
        frame = inputs if isinstance(inputs, pd.DataFrame) else None
        tail = self.horizon if self.known else 1
        if frame is not None:
            last = frame[self.time].tolist()[-tail:] if self.time in frame.columns else []
        else:
            last = [r.get(self.time) if isinstance(r, dict) else None for r in list(inputs)[-tail:]]
        parsed = parse_iso(last) if len(last) == tail else None
        if parsed is not None:
            return pd.DatetimeIndex(parsed if self.known else self.reader.next_times(parsed[-1]))
        history = self.history(frame if frame is not None else self.records_to_frame(inputs))
        return self.future_times(history)

    def records_to_frame(self, records: Sequence[Any]) -> pd.DataFrame:
        return pd.DataFrame.from_records(list(records))

    # --------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "time": self.time,
            "target": self.target,
            "frequency": self.frequency,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "season_length": self.season_length,
            "past": self.past,
            "known": self.known,
            "categories": self.categories,
            "calendar": self.calendar,
            "calendar_encoding": self.calendar_encoding,
            "calendar_levels": self.calendar_levels,
            "scales": self.scales,
            "mase_scale": self.mase_scale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowEncoder:
        # encode writes the forecast's record (``forecast``) beside the encoder's fields: not the encoder's
        fields = {k: v for k, v in data.items() if k not in ("kind", "forecast")}
        try:
            return cls(**fields, kind=data.get("kind", KIND))
        except TypeError as exc:
            raise DataError(f"encoder.json of a series: {exc}") from exc


def _mean_std(values: pd.Series, column: str) -> list[float]:
    numbers = values.to_numpy("float64")
    numbers = numbers[~np.isnan(numbers)]
    if not len(numbers):
        raise DataError(f"column {column!r}: no value in the training period to scale by")
    std = float(numbers.std())
    return [float(numbers.mean()), std if std > 0 else 1.0]
