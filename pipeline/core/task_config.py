"""params.yaml's task sections, one model per kind (``tasks.<task>``, told apart by ``kind``).
``pipeline.core.config`` re-exports them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from pipeline.core.config_base import Frozen
from pipeline.core.data_config import DataConfig, SplitConfig, TabularSchema, TextEncodeConfig, TextSchema
from pipeline.core.model_config import AnnParams, RecurrentParams, TuneConfig


class PromoteConfig(Frozen):
    """What tune maximises, register picks the challenger by and promote gates on."""

    # a val/test metric of the task (see pipeline/core/metrics.py); default: roc_auc for binary
    # tasks, f1_macro for multi-class ones
    metric: str | None = None


class CardConfig(Frozen):
    """What the model card of a registered version says about the model's use (see register)."""

    intended_use: str = "Not stated: write tasks.<task>.card.intended_use in params.yaml."
    limits: str = "Not stated: write tasks.<task>.card.limits in params.yaml."


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

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _fit_the_target_type(self) -> TabularTaskConfig:
        """A numeric target's defaults (ridge and HistGradientBoosting, validation RMSE) and the
        refusal of a classifier's baseline or gate metric for it, and the other way round."""
        numeric = self.schema_.labels.numeric
        own = set(NUMBER_BASELINES if numeric else CLASS_BASELINES)
        if "baselines" not in self.model_fields_set and numeric:
            object.__setattr__(self, "baselines", ["ridge", "hist_gradient_boosting"])
        wrong = [name for name in self.baselines if name not in own]
        if wrong:
            target = "a numeric target" if numeric else "classes"
            raise ValueError(f"baselines {wrong} do not predict {target}; choose from {sorted(own)}")
        if numeric and self.promote.metric is None:
            object.__setattr__(self, "promote", PromoteConfig(metric="rmse"))
        metric = self.promote.metric
        if numeric and metric not in NUMBER_METRICS:
            raise ValueError(
                f"promote.metric {metric!r} is not a numeric target's: {', '.join(NUMBER_METRICS)}"
            )
        return self


CLASS_BASELINES = ("logistic_regression", "hist_gradient_boosting")
NUMBER_BASELINES = ("ridge", "poisson_glm", "hist_gradient_boosting")
NUMBER_METRICS = ("rmse", "mae", "r2", "mape")


class PredictConfig(Frozen):
    neutral_band: float = Field(0.1, ge=0, lt=0.5)  # |p - 0.5| below this is "Neutral"


class TextTaskConfig(Frozen):
    """A text classification task (IMDB sentiment is the shipped example)."""

    kind: Literal["text"]
    data: DataConfig
    schema_: TextSchema = Field(TextSchema(), alias="schema")
    split: SplitConfig = SplitConfig()
    encode: TextEncodeConfig = TextEncodeConfig()
    models: dict[Literal["rnn", "lstm", "gru"], RecurrentParams]
    tune: dict[str, TuneConfig] = {}
    baselines: list[Literal["tfidf_logreg", "tfidf_linear_svm"]] = ["tfidf_logreg"]
    promote: PromoteConfig = PromoteConfig()
    predict: PredictConfig = PredictConfig()
    card: CardConfig = CardConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("models")
    @classmethod
    def _read_the_last_state(cls, models: dict[str, RecurrentParams]) -> dict[str, RecurrentParams]:
        for arch, model in models.items():
            if model.pooling != "last" or model.bidirectional:
                raise ValueError(f"{arch}: a next-word model reads its window forwards to the last state")
        return models


TaskConfig = Annotated[
    TabularTaskConfig | TextTaskConfig | LanguageModelTaskConfig, Field(discriminator="kind")
]
