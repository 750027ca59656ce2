"""params.yaml's section of a forecasting task (``kind: timeseries``, issue 22).

A series is a CSV with a time column, a target and optional covariates. ``schema`` says what the
file holds and what validate checks (each covariate is ``known`` in advance, like a holiday flag, or
observed only in the ``past``, like another series); ``split`` cuts it into consecutive train,
validation and test periods; ``encode`` shapes the windows (``lookback`` steps in, the next
``horizon`` steps out) and the calendar features. ``pipeline.core.config`` re-exports the section
and lists it in the task union (``TaskConfig``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from pipeline.core.behaviour_config import BehaviourConfig
from pipeline.core.config_base import Frozen, LabelValues
from pipeline.core.data_config import DataConfig
from pipeline.core.model_config import DEFAULT_SPACES, AnnParams, TuneConfig
from pipeline.core.task_config import CardConfig, PromoteConfig

GAP_POLICIES = ("error", "interpolate", "drop-window")
CALENDAR_FEATURES = ("hour_of_day", "day_of_week")
# pandas offset aliases a declared frequency may use: a multiple and a unit (30min, h, D, B, W, MS, QS)
FREQUENCY = re.compile(r"^\d*(min|s|h|D|B|W(-[A-Z]{3})?|MS|ME|QS(-[A-Z]{3})?|QE(-[A-Z]{3})?|YS|YE)$")


class Covariate(Frozen):
    """A column beside the target: ``known`` in advance for the forecast steps too (a calendar, a
    holiday flag) or observed only in the ``past`` (another series); a number with its range, or a
    category with its values."""

    role: Literal["known", "past"]
    type: Literal["number", "category"] = "number"
    min: float | None = None
    max: float | None = None
    values: LabelValues | None = None  # a category's allowed values

    @model_validator(mode="after")
    def _fits_its_type(self) -> Covariate:
        if self.type == "category" and not self.values:
            raise ValueError("a category covariate lists its values")
        if self.type == "number" and self.values is not None:
            raise ValueError("values: only for a category covariate (type: category)")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class SeriesSchema(Frozen):
    """What the CSV holds and what validate checks of it."""

    time: str  # the timestamps' column
    target: str  # the series to forecast
    covariates: dict[str, Covariate] = {}
    drop: list[str] = []  # columns read and ignored (a split flag is not listed here)
    # a pandas offset alias (``D``, ``B``, ``h``, ``30min``, ``MS``, ``QS``...) or ``infer``: the most
    # common step between consecutive timestamps (``B`` when weekdays only), or ``rows``: each row is
    # one step (trading days, whose holidays are no gaps), the timestamps only checked to increase
    frequency: str = "infer"
    # a missing step: ``error`` (refused, each gap named), ``interpolate`` (linear in time, within
    # ``max_gap`` steps), ``drop-window`` (no window reads or predicts a missing step)
    gaps: Literal["error", "interpolate", "drop-window"] = "error"
    max_gap: int = Field(3, ge=1)  # the longest gap ``interpolate`` fills, in steps
    min: float | None = None  # the target's range
    max: float | None = None
    min_rows: int = Field(50, ge=10)
    max_rows: int = Field(10_000_000, ge=10)

    @field_validator("frequency")
    @classmethod
    def _an_offset_alias(cls, value: str) -> str:
        if value not in ("infer", "rows") and not FREQUENCY.match(value):
            raise ValueError(
                f"frequency {value!r}: write 'infer', 'rows' or a pandas offset alias such as D, B, h,"
                " 30min, W-SUN, MS or QS"
            )
        return value

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> SeriesSchema:
        named = [self.time, self.target, *self.covariates, *self.drop]
        twice = sorted({c for c in named if named.count(c) > 1})
        if twice:
            raise ValueError(f"column(s) {', '.join(map(repr, twice))} named twice in schema")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self

    @property
    def numbers(self) -> list[str]:
        """The columns read as numbers: the target and the numeric covariates."""
        return [self.target, *(c for c, s in self.covariates.items() if s.type == "number")]


class SeriesSplit(Frozen):
    """Consecutive periods, train then validation then test, cut ``by``:

    * ``fractions``: the last ``test_fraction`` of the steps are the test period, the
      ``val_fraction`` before them validation;
    * ``dates``: validation from ``val_start``, test from ``test_start`` (each the first day in it);
    * ``column``: a column of the data flags the training rows (true/false, as ISLR's NYSE table's
      ``train``); the rest is the test period, and validation the last ``val_fraction`` of the
      training steps.
    """

    by: Literal["fractions", "dates", "column"] = "fractions"
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    val_start: date | None = None
    test_start: date | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _what_the_way_needs(self) -> SeriesSplit:
        if self.by == "dates":
            if self.val_start is None or self.test_start is None:
                raise ValueError("split by dates needs val_start and test_start")
            if self.val_start >= self.test_start:
                raise ValueError(f"val_start {self.val_start} must come before test_start {self.test_start}")
        elif self.val_start is not None or self.test_start is not None:
            raise ValueError("val_start and test_start: only when splitting by dates (by: dates)")
        if (self.by == "column") != (self.column is not None):
            raise ValueError("split by column needs column (the flag of the training rows), and only then")
        return self


# The season of a declared frequency, in steps: a day of sub-daily steps (15 minutes or longer), a
# week of days (5 business days), a year of weeks, months or quarters. ``encode`` derives what it is
# not given from it (:func:`seasonal_defaults`): a series runs on the kind's defaults from its
# frequency alone.
SECONDS = {"s": 1, "min": 60, "h": 3600}
PER_YEAR = {"W": 52, "M": 12, "Q": 4, "Y": 1}
MOST_STEPS_A_DAY = 96  # a day of finer steps is too long a season to derive: give season_length


def season_of(frequency: str) -> int | None:
    """Steps in one season of ``frequency`` (``h``: 24, ``30min``: 48, ``D``: 7, ``B``: 5, ``W``: 52,
    ``MS``: 12, ``QS``: 4, ``YS``: 1); None when it names none (``infer``, ``rows``, ``5D``, ``7h``,
    ``min``: a day of minutes is too long)."""
    match = re.match(r"^(\d*)(min|s|h|D|B|W|M|Q|Y)", frequency)
    if match is None or frequency in ("infer", "rows"):
        return None
    k, unit = int(match.group(1) or 1), match.group(2)
    if unit in SECONDS:
        per_day, rest = divmod(86_400, k * SECONDS[unit])
        return per_day if not rest and per_day <= MOST_STEPS_A_DAY else None
    if unit in ("D", "B"):
        return (7 if unit == "D" else 5) if k == 1 else None
    per_year, rest = divmod(PER_YEAR[unit], k)
    return per_year if not rest and per_year else None


def seasonal_defaults(encode: dict[str, Any], frequency: str) -> dict[str, Any]:
    """``encode`` with what it leaves out derived: ``season_length`` from the frequency
    (:func:`season_of`), ``horizon`` one season ahead, ``lookback`` two seasons back (at least 4
    steps). Given values are kept; a frequency that names no season needs ``season_length``."""
    season = encode.get("season_length", season_of(frequency))
    if season is None:
        raise ValueError(
            f"encode.season_length: not given, and schema.frequency {frequency!r} names no season to "
            "derive it from; give it, or declare the frequency (h, 30min, D, B, W, MS, QS...)"
        )
    return {
        **encode,
        "season_length": season,
        "horizon": encode.get("horizon", season),
        "lookback": encode.get("lookback", max(2 * season, 4)),
    }


class SeriesEncodeConfig(Frozen):
    """The windows: ``lookback`` steps in, the next ``horizon`` steps out, every step one row of
    features (the target and the covariates scaled with the training period's mean and standard
    deviation; known covariates and the calendar read ``horizon`` steps ahead, so that the window's
    last steps carry the forecast steps' known values)."""

    # in a task section each is derived from the frequency when left out (``seasonal_defaults``):
    # two seasons back, one season ahead, the frequency's season
    lookback: int = Field(ge=1)
    horizon: int = Field(1, ge=1)
    season_length: int = Field(ge=1)  # the seasonal naive's and MASE's season, in steps
    calendar: list[Literal["hour_of_day", "day_of_week"]] = []
    calendar_encoding: Literal["cycles", "categories"] = "cycles"
    # rolling-origin evaluation: a forecast from every ``origin_every``-th step of the test period,
    # from its first step (48 on half-hours: every midnight of a period starting then)
    origin_every: int = Field(1, ge=1)
    # the validation period's origins, every step by default: early stopping and tuning read them,
    # and a few origins (14 midnights) make a noisy signal; origin_every's value scores it as the test
    val_origin_every: int = Field(1, ge=1)
    # what the network predicts: the target itself (``none``), or its difference from a simple
    # forecast read from the window, ``last`` (the last value) or ``seasonal`` (the seasonal naive:
    # the same step a season earlier), or ``linear``: a ridge regression of the horizon on the whole
    # window, fitted on the training windows (``linear_baseline``); the forecaster adds that
    # forecast back inside its graph, so that it and its ONNX export still answer in the target's
    # units (``baseline_rows``)
    relative_to: Literal["none", "last", "seasonal", "linear"] = "none"
    # relative_to only: the baseline becomes a linear map of the whole window, started at that
    # baseline and trained with the network (an autoregressive highway beside the recurrent path,
    # which reads a value a season back only through its state)
    baseline_trainable: bool = False

    @model_validator(mode="after")
    def _window_holds_the_season(self) -> SeriesEncodeConfig:
        if self.baseline_trainable and self.relative_to == "none":
            raise ValueError("baseline_trainable: only with relative_to last or seasonal")
        if self.relative_to == "seasonal" and self.lookback < self.season_length:
            raise ValueError(
                f"relative_to: seasonal reads a season back: lookback {self.lookback} must be at least "
                f"season_length {self.season_length}"
            )
        return self

    def every(self, period: str) -> int:
        """The step between two origins of ``period``: 1 in training, then as set above."""
        return {"train": 1, "val": self.val_origin_every}.get(period, self.origin_every)

    @field_validator("calendar")
    @classmethod
    def _each_once(cls, calendar: list[str]) -> list[str]:
        if len(set(calendar)) != len(calendar):
            raise ValueError(f"calendar {calendar} names a feature twice")
        return calendar


def baseline_rows(relative_to: str, lookback: int, horizon: int, season_length: int) -> list[int]:
    """The window's row whose target each forecast step is relative to (``encode.relative_to``):
    ``last``, the window's last row for every step; ``seasonal``, the same step one season earlier
    (``k`` seasons when the horizon is longer than a season: the seasonal naive forecast); ``none``
    and ``linear`` (which reads every row): none (an empty list)."""
    if relative_to in ("none", "linear"):
        return []
    if relative_to == "last":
        return [lookback - 1] * horizon
    if lookback < season_length:
        raise ValueError(f"a season of {season_length} steps lies outside a window of {lookback}")
    return [lookback + h - season_length * (h // season_length + 1) for h in range(horizon)]


def linear_baseline(x: Any, y: Any, ridge: float = 1.0) -> tuple[Any, Any]:
    """The ridge regression of the targets ``y`` ``[n, horizon]`` on the flattened windows ``x``
    ``[n, lookback, features]`` (``encode.relative_to: linear``): its kernel ``[lookback *
    features, horizon]`` and bias ``[horizon]``, float64; the bias not penalised."""
    import numpy as np

    flat = np.asarray(x, "float64").reshape(len(x), -1)
    target = np.asarray(y, "float64")
    mean_x, mean_y = flat.mean(axis=0), target.mean(axis=0)
    centred = flat - mean_x
    gram = centred.T @ centred + ridge * np.eye(flat.shape[1])
    kernel = np.linalg.solve(gram, centred.T @ (target - mean_y))
    return kernel, mean_y - mean_x @ kernel


class SeriesRecurrentParams(Frozen):
    """SimpleRNN/LSTM/GRU layers over the window's float rows, then ``horizon`` linear outputs."""

    units: int = Field(32, ge=1)
    layers: int = Field(1, ge=1, le=4)
    dropout: float = Field(0.0, ge=0, lt=1)
    recurrent_dropout: float = Field(0.0, ge=0, lt=1)
    activation: str = "tanh"
    initializer: str = "glorot_uniform"
    learning_rate: float = Field(1e-3, gt=0)
    clipnorm: float | None = 1.0
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(50, ge=1)
    patience: int = Field(5, ge=1)


def _with_default_spaces(section: dict[str, Any]) -> dict[str, Any]:
    """Each search without a ``space`` gets its family's default: the ann's, or the recurrent one's
    without ``embedding_dim`` (a series has no tokens to embed)."""
    if not isinstance(section.get("tune"), dict):
        return section
    tune = {}
    for arch, cfg in section["tune"].items():
        if isinstance(cfg, dict) and not cfg.get("space"):
            family = DEFAULT_SPACES["ann" if arch == "ann" else "recurrent"]
            cfg = {**cfg, "space": {k: v for k, v in family.items() if k != "embedding_dim"}}
        tune[arch] = cfg
    return {**section, "tune": tune}


SeriesBaseline = Literal["naive", "seasonal_naive", "linear_ar", "hist_gradient_boosting", "ets"]
SERIES_BASELINES: tuple[SeriesBaseline, ...] = (
    "naive",
    "seasonal_naive",
    "linear_ar",
    "hist_gradient_boosting",
    "ets",
)
SERIES_METRICS = ("mase", "mae", "rmse", "r2", "mape", "smape")


class TimeseriesTaskConfig(Frozen):
    """A forecasting task: the next ``encode.horizon`` values of a series from its last
    ``encode.lookback`` steps."""

    kind: Literal["timeseries"]
    data: DataConfig
    schema_: SeriesSchema = Field(alias="schema")
    split: SeriesSplit = SeriesSplit()
    encode: SeriesEncodeConfig  # what it leaves out derived from the frequency (seasonal_defaults)
    models: dict[Literal["ann", "rnn", "lstm", "gru"], AnnParams | SeriesRecurrentParams]
    tune: dict[str, TuneConfig] = {}
    baselines: list[SeriesBaseline] = list(SERIES_BASELINES)
    promote: PromoteConfig = PromoteConfig(metric="mase")
    card: CardConfig = CardConfig()
    behaviour: BehaviourConfig = BehaviourConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _encode_from_the_frequency(cls, section: Any, handler: Any) -> Any:
        """What ``encode`` leaves out of lookback, horizon and season, from the declared frequency.
        A section without ``encode`` still counts as not giving it (``model_fields_set``), so that
        ``real-data`` writes the ``encode: {}`` DVC's stage reads."""
        if not isinstance(section, dict):
            return handler(section)
        encode, schema = section.get("encode", {}), section.get("schema")
        wanted = ("lookback", "horizon", "season_length")
        if isinstance(encode, dict) and isinstance(schema, dict) and not all(k in encode for k in wanted):
            frequency = str(schema.get("frequency", "infer"))
            config = handler({**section, "encode": seasonal_defaults(encode, frequency)})
            if "encode" not in section:
                config.model_fields_set.discard("encode")
            return config
        return handler(section)

    @model_validator(mode="before")
    @classmethod
    def _models_by_family(cls, section: Any) -> Any:
        """``ann`` reads the flattened window (AnnParams), the others the sequence; the default
        searches of each family."""
        if not isinstance(section, dict):
            return section
        models = section.get("models")
        if isinstance(models, dict):
            typed: dict[str, Any] = {}
            for arch, given in models.items():
                kind = AnnParams if arch == "ann" else SeriesRecurrentParams
                typed[arch] = given if not isinstance(given, dict) else kind.model_validate(given)
            section = {**section, "models": typed}
        return _with_default_spaces(section)

    @model_validator(mode="after")
    def _fits_together(self) -> TimeseriesTaskConfig:
        if self.promote.metric not in SERIES_METRICS:
            raise ValueError(f"promote.metric {self.promote.metric!r}: one of {', '.join(SERIES_METRICS)}")
        column = self.split.column
        if column is not None and column in (
            self.schema_.time,
            self.schema_.target,
            *self.schema_.covariates,
        ):
            raise ValueError(f"split.column {column!r} is a column of the schema; name the flag column")
        return self
