"""params.yaml's data sections of a task: where its data comes from (``data``), the embedded
generated data sets (``synthetic``), what validate expects of it (``schema``), how it is split
(``split``) and a text task's encoder (``encode``). ``pipeline.core.config`` re-exports them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from pipeline.core.config_base import Frozen, LabelValue, LabelValues, refuse_yaml_booleans


class DataConfig(Frozen):
    """Where a task's raw data comes from.

    ``source`` is also a DVC dependency of the task's ingest stage (dvc.yaml), so DVC notices a
    file edited in place, and a URL's changed ETag; ``sha256`` pins the exact bytes.
    """

    source: str  # a local file, archive or folder (relative to the repository root), or an http(s) URL
    sha256: str | None = None  # checked for paths and URLs when given (not for a folder)
    # A folder source holds the training and the given test rows as two files (a text task's test
    # split is then kept as given); dvc.yaml depends on the whole folder.
    train_file: str = "train.csv"
    test_file: str = "test.csv"
    # What an aclImdb archive's label column holds: the folder's ``polarity`` (pos 1, neg 0) or the
    # star ``rating`` in each file's name (``<id>_<rating>.txt``: 1-4 and 7-10), a numeric target.
    archive_label: Literal["polarity", "rating"] = "polarity"

    @field_validator("source")
    @classmethod
    def _not_the_old_keyword(cls, value: str) -> str:
        if value.strip() == "synthetic":
            raise ValueError(
                "'synthetic' is no longer a source: name the generated file, e.g. data/synthetic/<name>.csv "
                "with an entry under the top-level 'synthetic:' section"
            )
        return value


class SyntheticConfig(Frozen):
    """An embedded generated data set, written by the ``synthesize`` stage to data/synthetic/<name>.csv,
    or, with ``test_rows``, to data/synthetic/<name>/train.csv and test.csv (the test rows drawn
    independently from the same distribution, like a data set shipped with its own test file)."""

    # script: a play's text (language model); bikeshare: hourly rentals, a count (a numeric target);
    # load: an hourly series with daily and weekly cycles (a forecasting task's; rows: hours)
    generator: Literal["churn", "reviews", "topics", "script", "bikeshare", "load"]
    rows: int = Field(ge=50)
    test_rows: Annotated[int, Field(ge=50)] | None = None


class NumericColumn(Frozen):
    """A numeric column's checks: a range (either bound may be left out: unbounded on that side)
    and whether it holds whole numbers. ``{}`` checks only that the cells are numbers."""

    min: float | None = None
    max: float | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NumericColumn:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class LabelSettings(Frozen):
    """What a task predicts.

    ``type: class`` (the default): ``classes`` unset means binary 0/1 labels (text may also say
    pos/neg/positive/negative). A list: those classes, in that order (two make a binary task, whose
    ``positive`` class defaults to the second listed). ``learn``: the classes found in the training
    split, sorted, recorded in the encoder. Values that YAML would read as booleans must be quoted.

    ``type: number``: a numeric target (regression, of a table or a text). ``transform`` (fitted on the
    training split, recorded in the encoder, inverted inside the network so that every output is in
    the target's units): ``none``, ``standardize`` or ``log1p`` (then standardised); ``loss``:
    ``mse``, ``huber`` or ``poisson`` (an exponential head: the output stays positive; transform
    ``none``); ``min``/``max``: the range validate checks (``poisson`` and ``log1p`` need targets
    of at least 0); ``units``: what the value counts, for the answers, the page and the model card.
    """

    type: Literal["class", "number"] = "class"
    classes: Annotated[list[str | int] | Literal["learn"] | None, BeforeValidator(refuse_yaml_booleans)] = (
        None
    )
    positive: LabelValue | None = None
    transform: Literal["none", "standardize", "log1p"] = "none"
    loss: Literal["mse", "huber", "poisson"] = "mse"
    min: float | None = None
    max: float | None = None
    units: str = ""

    @property
    def numeric(self) -> bool:
        return self.type == "number"

    @model_validator(mode="after")
    def _number_settings_fit_the_type(self) -> LabelSettings:
        number_keys = ("transform", "loss", "min", "max", "units")
        if not self.numeric:
            given = [key for key in number_keys if key in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)}: only for a numeric target (type: number)")
            return self
        if self.classes is not None or self.positive is not None:
            raise ValueError("a numeric target (type: number) has no classes or positive class")
        if self.loss == "poisson" and self.transform != "none":
            raise ValueError("loss poisson has its own exponential head: set transform none")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        if (self.loss == "poisson" or self.transform == "log1p") and self.min is not None and self.min < 0:
            raise ValueError(f"{self.loss if self.loss == 'poisson' else 'log1p'} needs min >= 0")
        return self

    @property
    def lowest(self) -> float | None:
        """The smallest target validate accepts: ``min``, or 0 for ``poisson`` and ``log1p``."""
        if self.min is None and (self.loss == "poisson" or self.transform == "log1p"):
            return 0.0
        return self.min

    @model_validator(mode="after")
    def _positive_is_a_class(self) -> LabelSettings:
        if self.positive is not None:
            if not isinstance(self.classes, list) or len(self.classes) != 2:
                raise ValueError("'positive' needs 'classes' listing exactly the two classes")
            if self.positive not in self.classes:
                raise ValueError(f"positive {self.positive!r} is not one of classes {self.classes}")
        if isinstance(self.classes, list) and len(set(map(str, self.classes))) != len(self.classes):
            raise ValueError(f"classes {self.classes} repeat a class")
        if isinstance(self.classes, list) and len(self.classes) < 2:
            raise ValueError("classes must list at least two classes")
        return self

    @property
    def binary(self) -> bool:
        if self.numeric:
            return False
        return self.classes is None or (isinstance(self.classes, list) and len(self.classes) == 2)


class ConstantFill(Frozen):
    constant: float | str


# What a blank cell of a feature column becomes: ``error`` (the default: the row is refused),
# ``median`` (numeric) or ``mode`` of the training split, ``{constant: value}``, or ``drop`` (the
# row is left out of training; predict and serve refuse it). Fitted values live in encoder.json.
MissingRule = Literal["error", "median", "mode", "drop"] | ConstantFill


class TabularSchema(Frozen):
    """Columns of a tabular CSV: what is dropped, what is a feature, the target."""

    target: str
    labels: LabelSettings = LabelSettings()
    drop: list[str] = []
    numeric: dict[str, NumericColumn]
    categorical: dict[str, LabelValues] = {}  # allowed values; integers too (one-hot codes)
    missing: dict[str, MissingRule] = {}  # feature column -> what a blank cell becomes (see above)
    min_rows: int = 100
    max_rows: int = 10_000_000

    @property
    def feature_columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @model_validator(mode="after")
    def _missing_rules_fit_their_columns(self) -> TabularSchema:
        for col, rule in self.missing.items():
            if col not in self.feature_columns:
                raise ValueError(
                    f"missing: {col!r} is not a feature column ({', '.join(self.feature_columns)})"
                )
            if rule == "median" and col not in self.numeric:
                raise ValueError(f"missing.{col}: median needs a numeric column; use mode or a constant")
            if isinstance(rule, ConstantFill):
                if col in self.numeric and not isinstance(rule.constant, (int, float)):
                    raise ValueError(f"missing.{col}: the constant of a numeric column must be a number")
                if col in self.categorical and str(rule.constant) not in map(str, self.categorical[col]):
                    raise ValueError(
                        f"missing.{col}: the constant {rule.constant!r} is not one of {self.categorical[col]}"
                    )
        return self

    @property
    def all_columns(self) -> list[str]:
        return [*self.drop, *self.feature_columns, self.target]


class TextSchema(Frozen):
    """Columns and statistics of a labelled text data set."""

    text: str = "text"
    label: str = "label"
    labels: LabelSettings = LabelSettings()
    min_chars: int = 1
    max_chars: int = 100_000
    min_mean_tokens: float = 3
    max_mean_tokens: float = 2_000
    min_positive_fraction: float = 0.2  # binary labels only
    max_positive_fraction: float = 0.8
    min_rows: int = 100
    max_rows: int = 10_000_000

    @property
    def target(self) -> str:
        """The label column, by the name a numeric target's pieces use (``TabularSchema.target``)."""
        return self.label


class SplitConfig(Frozen):
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)  # unused when the data has its own test split


AUTO: Literal["auto"] = "auto"


class TextEncodeConfig(Frozen):
    """A text task's encoder. ``auto`` sizes come from the training split (encode prints them):

    * ``max_tokens: auto``: every word seen at least ``min_count`` times in the training texts, the
      most frequent ``max_tokens_cap`` of them at most (plus padding and OOV);
    * ``sequence_length: auto``: the ``length_percentile`` of the training texts' token counts,
      between ``min_sequence_length`` and ``sequence_length_cap``.
    """

    max_tokens: Annotated[int, Field(ge=10)] | Literal["auto"] = AUTO  # vocabulary, incl. padding and OOV
    sequence_length: Annotated[int, Field(ge=2)] | Literal["auto"] = AUTO
    min_count: int = Field(2, ge=1)
    max_tokens_cap: int = Field(20_000, ge=10)
    length_percentile: float = Field(90, gt=0, le=100)
    min_sequence_length: int = Field(8, ge=2)
    sequence_length_cap: int = Field(300, ge=2)
    padding: Literal["pre", "post"] = "pre"
    truncation: Literal["pre", "post"] = "pre"
    lowercase: bool = True
