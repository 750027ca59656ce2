"""params.yaml's task sections, one model per kind (``tasks.<task>``, told apart by ``kind``).
``pipeline.core.config`` re-exports them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pipeline.core.behaviour_config import BehaviourConfig
from pipeline.core.config_base import Frozen, LabelValue
from pipeline.core.data_config import (
    DataConfig,
    LabelSettings,
    SplitConfig,
    TabularSchema,
    TextEncodeConfig,
    TextSchema,
)
from pipeline.core.model_config import AnnParams, RecurrentParams, TuneConfig, with_default_spaces


class PromoteConfig(Frozen):
    """What tune maximises, register picks the challenger by and promote gates on."""

    # a val/test metric of the task (see pipeline/core/metrics.py); default: roc_auc for binary
    # tasks, f1_macro for multi-class ones
    metric: str | None = None


class CardConfig(Frozen):
    """What the model card of a registered version says about the model's use (see register)."""

    intended_use: str = "Not stated: write tasks.<task>.card.intended_use in params.yaml."
    limits: str = "Not stated: write tasks.<task>.card.limits in params.yaml."


class DisplayConfig(Frozen):
    """What the served answer, ``predict``, the page and the model card call things; export records
    it in the bundle's manifest, so changing it retrains nothing. ``classes`` maps a class to its
    name (``1: leaves``); a class left out is called by its value."""

    classes: dict[LabelValue, Annotated[str, Field(min_length=1)]] = {}

    def check_classes(self, labels: LabelSettings) -> None:
        """Each named class is one of the task's (0 and 1 when ``labels.classes`` is unset; checked
        at export when the classes are learned), and no two share a name. Raises ValueError."""
        known = [0, 1] if labels.classes is None else labels.classes
        if isinstance(known, list):
            unknown = [c for c in self.classes if str(c) not in map(str, known)]
            if unknown:
                verb = "is not a class" if len(unknown) == 1 else "are not classes"
                raise ValueError(
                    f"classes: {', '.join(map(repr, unknown))} {verb} of this task "
                    f"(its classes: {', '.join(map(str, known))})"
                )
        as_text = [str(c) for c in self.classes]
        twice = sorted({c for c in as_text if as_text.count(c) > 1})
        if twice:  # 1 and "1" (e.g. after `dvc exp run -S ...classes.1=...`): which name would hold?
            raise ValueError(f"classes: {', '.join(twice)} named twice (as a number and as text)")
        names = [name.strip() for name in self.classes.values()]
        if len(set(names)) != len(names):
            raise ValueError(f"classes: two classes share a name ({', '.join(names)})")


class TabularDisplayConfig(DisplayConfig):
    """A table's display adds ``columns``: a feature column's label on the page's form (requests
    still name the column itself)."""

    columns: dict[str, Annotated[str, Field(min_length=1)]] = {}


def checked_display(display: DisplayConfig, info: ValidationInfo) -> DisplayConfig:
    """``display`` checked against the task's schema (when the schema itself is valid)."""
    schema = info.data.get("schema_")
    if schema is None:
        return display
    display.check_classes(schema.labels)
    if isinstance(display, TabularDisplayConfig):
        unknown = [c for c in display.columns if c not in schema.feature_columns]
        if unknown:
            verb = "is not a feature column" if len(unknown) == 1 else "are not feature columns"
            raise ValueError(
                f"columns: {', '.join(map(repr, unknown))} {verb} ({', '.join(schema.feature_columns)})"
            )
    return display


class TabularEncodeConfig(Frozen):
    """Encoder settings of a tabular task: none yet (numerics are standardised, categories one-hot).

    The section exists so that every kind names its encoder settings ``encode``, which the encode
    stage in dvc.yaml depends on whatever the task's kind.
    """


class TabularTaskConfig(Frozen):
    """A tabular task (the churn table is the shipped example)."""

    kind: Literal["tabular"]
    data: DataConfig
    schema_: TabularSchema = Field(alias="schema")
    split: SplitConfig = SplitConfig()
    encode: TabularEncodeConfig = TabularEncodeConfig()
    models: dict[str, AnnParams]
    tune: dict[str, TuneConfig] = {}
    # classes: logistic_regression, hist_gradient_boosting; a numeric target (schema.labels.type:
    # number): ridge, poisson_glm (a count), hist_gradient_boosting (the regressor)
    baselines: list[Literal["logistic_regression", "hist_gradient_boosting", "ridge", "poisson_glm"]] = [
        "logistic_regression",
        "hist_gradient_boosting",
    ]
    promote: PromoteConfig = PromoteConfig()
    card: CardConfig = CardConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    display: TabularDisplayConfig = TabularDisplayConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    _display_fits_the_schema = field_validator("display")(checked_display)

    @model_validator(mode="before")
    @classmethod
    def _default_spaces(cls, section: Any) -> Any:
        return with_default_spaces(section, "ann")

    @model_validator(mode="after")
    def _fit_the_target_type(self) -> TabularTaskConfig:
        return fit_the_target_type(
            self, CLASS_BASELINES, NUMBER_BASELINES, ["ridge", "hist_gradient_boosting"]
        )


def fit_the_target_type(
    config: Any, class_baselines: tuple[str, ...], number_baselines: tuple[str, ...], defaults: list[str]
) -> Any:
    """A numeric target's defaults (the baselines ``defaults``, validation RMSE) and the refusal of a
    classifier's baseline or gate metric for it, and the other way round."""
    numeric = config.schema_.labels.numeric
    own = set(number_baselines if numeric else class_baselines)
    if "baselines" not in config.model_fields_set and numeric:
        object.__setattr__(config, "baselines", list(defaults))
    wrong = [name for name in config.baselines if name not in own]
    if wrong:
        target = "a numeric target" if numeric else "classes"
        raise ValueError(f"baselines {wrong} do not predict {target}; choose from {sorted(own)}")
    if numeric and config.promote.metric is None:
        object.__setattr__(config, "promote", PromoteConfig(metric="rmse"))
    metric = config.promote.metric
    if numeric and metric not in NUMBER_METRICS:
        raise ValueError(f"promote.metric {metric!r} is not a numeric target's: {', '.join(NUMBER_METRICS)}")
    return config


CLASS_BASELINES = ("logistic_regression", "hist_gradient_boosting")
NUMBER_BASELINES = ("ridge", "poisson_glm", "hist_gradient_boosting")
NUMBER_METRICS = ("rmse", "mae", "r2", "mape")


class PredictConfig(Frozen):
    neutral_band: float = Field(0.1, ge=0, lt=0.5)  # |p - 0.5| below this is "Neutral"


class TextTaskConfig(Frozen):
    """A text task: classes (IMDB sentiment is the shipped example) or a number (``schema.labels.type:
    number``, e.g. IMDB's star ratings, params/real/stars.yaml)."""

    kind: Literal["text"]
    data: DataConfig
    schema_: TextSchema = Field(TextSchema(), alias="schema")
    split: SplitConfig = SplitConfig()
    encode: TextEncodeConfig = TextEncodeConfig()
    models: dict[Literal["rnn", "lstm", "gru"], RecurrentParams]
    tune: dict[str, TuneConfig] = {}
    # classes: tfidf_logreg, tfidf_linear_svm; a numeric target (schema.labels.type: number): tfidf_ridge
    baselines: list[Literal["tfidf_logreg", "tfidf_linear_svm", "tfidf_ridge"]] = ["tfidf_logreg"]
    promote: PromoteConfig = PromoteConfig()
    predict: PredictConfig = PredictConfig()
    card: CardConfig = CardConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    display: DisplayConfig = DisplayConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    _display_fits_the_schema = field_validator("display")(checked_display)

    @model_validator(mode="before")
    @classmethod
    def _default_spaces(cls, section: Any) -> Any:
        return with_default_spaces(section, "recurrent")

    @model_validator(mode="after")
    def _fit_the_target_type(self) -> TextTaskConfig:
        return fit_the_target_type(self, TEXT_CLASS_BASELINES, ("tfidf_ridge",), ["tfidf_ridge"])


TEXT_CLASS_BASELINES = ("tfidf_logreg", "tfidf_linear_svm")


class CorpusSchema(Frozen):
    """What validate expects of a text corpus (a language-model task): its size, clean decoding and
    how much of it a vocabulary of frequent words covers."""

    min_tokens: int = Field(1_000, ge=1)
    max_tokens: int = Field(50_000_000, ge=1)
    # vocabulary coverage: the mean, over lines, of the share of a line's tokens whose word occurs at
    # least ``coverage_min_count`` times in the whole text; a corpus of mostly one-off strings (a
    # binary dump, a list of ids) has nothing to learn
    coverage_min_count: int = Field(2, ge=1)
    min_coverage: float = Field(0.5, ge=0, le=1)


class LanguageModelEncodeConfig(Frozen):
    """The vocabulary (fitted on the training part) and the windows the model reads."""

    window: int = Field(5, ge=1)  # previous tokens the model reads to predict the next one
    min_count: int = Field(1, ge=1)  # a word seen fewer times in training is out of vocabulary
    max_size: int = Field(10_000, ge=3)  # vocabulary size, padding and OOV included
    lowercase: bool = True


class KneserNeyConfig(Frozen):
    order: int = Field(3, ge=2, le=6)  # n-gram order: n - 1 previous tokens
    discount: float = Field(0.75, gt=0, lt=1)


class LanguageModelBaselines(Frozen):
    """The count-based baselines and their settings (null or false: not run). One section, so that
    the baselines stage's DVC params (``tasks.<task>.baselines``) cover every setting."""

    kneser_ney: KneserNeyConfig | None = KneserNeyConfig()  # interpolated Kneser-Ney
    unigram: bool = True  # add-one word frequencies

    @property
    def names(self) -> list[str]:
        return [name for name, on in (("kneser_ney", self.kneser_ney), ("unigram", self.unigram)) if on]


class LanguageModelPredictConfig(Frozen):
    top_k: int = Field(5, ge=1)  # words listed per answer
    max_generate: int = Field(200, ge=1)  # most words `generate` may ask for
    # fixed prompts whose completions evaluate writes to the report and logs to MLflow
    prompts: list[str] = ["to be or not to", "the king"]


class LanguageModelTaskConfig(Frozen):
    """A next-word language model over a UTF-8 text (Shakespeare's Hamlet is the course's example)."""

    kind: Literal["language_model"]
    data: DataConfig
    schema_: CorpusSchema = Field(CorpusSchema(), alias="schema")
    split: SplitConfig = SplitConfig(val_fraction=0.1, test_fraction=0.1)
    encode: LanguageModelEncodeConfig = LanguageModelEncodeConfig()
    models: dict[Literal["rnn", "lstm", "gru"], RecurrentParams]
    tune: dict[str, TuneConfig] = {}
    baselines: LanguageModelBaselines = LanguageModelBaselines()
    promote: PromoteConfig = PromoteConfig(metric="perplexity")
    predict: LanguageModelPredictConfig = LanguageModelPredictConfig()
    card: CardConfig = CardConfig()
    behaviour: BehaviourConfig = BehaviourConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _default_spaces(cls, section: Any) -> Any:
        return with_default_spaces(section, "recurrent")

    @field_validator("models")
    @classmethod
    def _read_the_last_state(cls, models: dict[str, RecurrentParams]) -> dict[str, RecurrentParams]:
        for arch, model in models.items():
            if model.pooling != "last" or model.bidirectional:
                raise ValueError(f"{arch}: a next-word model reads its window forwards to the last state")
        return models


# The keys of a task section that dvc.yaml's stages list under ``params:``. DVC refuses to run a
# stage whose key is missing ("Parameters ... are missing from 'params.yaml'"), even where the
# loader has a default, so each must be present; an empty value takes the defaults.
STAGE_KEYS = ("split", "encode", "tune", "baselines", "card", "behaviour")


def missing_stage_keys(config: Any) -> dict[str, Any]:
    """The stage keys a loaded section was written without, each with the value that means what the
    loader read instead: ``{}`` (the defaults), the kind's default baselines, and for a model with
    no search ``tune.<arch>: {enabled: false}``. Deep-merged into the section, it completes it."""
    given = config.model_fields_set
    fill: dict[str, Any] = {key: {} for key in STAGE_KEYS if key not in given}
    if "baselines" in fill:
        default = config.baselines
        fill["baselines"] = list(default) if isinstance(default, list) else default.model_dump(mode="json")
    unsearched = {arch: {"enabled": False} for arch in config.models if arch not in config.tune}
    if unsearched:
        fill["tune"] = unsearched
    return fill


def stage_keys_message(task: str, fill: dict[str, Any]) -> str:
    """What to add to ``tasks.<task>`` so that DVC can run every stage of it."""
    import yaml

    lines = yaml.safe_dump(fill, default_flow_style=None, sort_keys=False).strip().splitlines()
    keys = [k for k in fill if k != "tune"] + [f"tune.{arch}" for arch in fill.get("tune", {})]
    return (
        f"params.yaml tasks.{task}: missing {', '.join(keys)}: dvc.yaml's stages depend on "
        "these keys, and DVC refuses a stage whose key is missing. Add them (an empty value takes the "
        "defaults; `real-data` adds them itself):\n" + "\n".join(f"    {line}" for line in lines)
    )
