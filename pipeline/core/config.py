"""Typed configuration, loaded once from ``params.yaml``.

Every section is a frozen pydantic model that forbids unknown keys, so a typo
in ``params.yaml`` fails at load time with the offending key named instead of
silently falling back to a default.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.core.errors import PipelineError
from pipeline.core.paths import project_root
from pipeline.core.yamlio import YamlSyntaxError, load_yaml, meaningful, round_trip_drift


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------ YAML booleans
# params.yaml is read with YAML 1.2's rules, as DVC reads and rewrites it (pipeline/core/yamlio.py):
# an unquoted No, Yes, on or off is a string, but an unquoted true or false is a boolean, and pydantic
# would then quietly turn it into 0/1 or refuse it far from the cause. A label value or a list of
# categories never means a boolean: refuse one at load time and say how to write it.
YAML_BOOLEAN = "yaml_boolean"


def yaml_boolean_message(value: Any, sources: list[str] | None = None) -> str:
    """What to tell the user about ``value`` (a label or a list of them) holding booleans.

    ``sources`` are the scalars as written in the YAML file, to suggest quoting exactly those;
    without them a boolean is suggested back as "true" or "false".
    """
    items = value if isinstance(value, list) else [value]
    written = sources if sources is not None and len(sources) == len(items) else [None] * len(items)
    quoted = [
        (text or str(item).lower()) if isinstance(item, bool) else item
        for item, text in zip(items, written, strict=True)
    ]
    hint = "(an unquoted true or false)"
    if not isinstance(value, list):
        return f"{json.dumps(value)} is a YAML boolean {hint}; quote it: {json.dumps(quoted[0])}"
    verb = "are" if all(isinstance(item, bool) for item in items) else "holds"
    shown, suggested = json.dumps(items, ensure_ascii=False), json.dumps(quoted, ensure_ascii=False)
    return f"{shown} {verb} YAML booleans {hint}; quote them: {suggested}"


def refuse_yaml_booleans(value: Any) -> Any:
    """A before-validator for a label value or a list of them: a boolean is an error (see above)."""
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, bool) for item in items):
        raise PydanticCustomError(YAML_BOOLEAN, "{message}", {"message": yaml_boolean_message(value)})
    return value


# A class or category value as params.yaml may write it, and a list of them: strings or integers.
LabelValue = Annotated[str | int, BeforeValidator(refuse_yaml_booleans)]
LabelValues = Annotated[list[str | int], BeforeValidator(refuse_yaml_booleans)]


# --------------------------------------------------------------------------- data
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

    generator: Literal["churn", "reviews", "topics", "script"]  # script: a play's text (language model)
    rows: int = Field(ge=50)
    test_rows: Annotated[int, Field(ge=50)] | None = None


class NumericColumn(Frozen):
    min: float
    max: float
    integer: bool = False


class LabelSettings(Frozen):
    """What a task predicts.

    ``classes`` unset: binary 0/1 labels (text may also say pos/neg/positive/negative). A list:
    those classes, in that order (two make a binary task, whose ``positive`` class defaults to the
    second listed). ``learn``: the classes found in the training split, sorted, recorded in the
    encoder. Values that YAML would read as booleans must be quoted.
    """

    classes: Annotated[list[str | int] | Literal["learn"] | None, BeforeValidator(refuse_yaml_booleans)] = (
        None
    )
    positive: LabelValue | None = None

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


class SplitConfig(Frozen):
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)  # unused when the data has its own test split


class TextEncodeConfig(Frozen):
    max_tokens: int = Field(10_000, ge=10)  # vocabulary size, including padding and OOV
    sequence_length: int = Field(200, ge=2)
    padding: Literal["pre", "post"] = "pre"
    truncation: Literal["pre", "post"] = "pre"
    lowercase: bool = True


# ------------------------------------------------------------------------- models
class AnnParams(Frozen):
    """A dense network for tabular data (reference: 64-32 relu, sigmoid out)."""

    hidden_units: list[int] = [64, 32]
    activation: str = "relu"
    initializer: str = "he_normal"
    dropout: float = Field(0.0, ge=0, lt=1)
    l2: float = Field(0.0, ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(100, ge=1)
    patience: int = Field(10, ge=1)
    class_weight: Literal["none", "balanced"] = "none"


class EmbeddingConfig(Frozen):
    """Where a text model's Embedding table starts from: ``learned`` (Keras' random initialisation,
    learned with the model) or ``word2vec`` (gensim Word2Vec trained by the ``embed`` stage on the
    task's training split, aligned to the encoder's vocabulary; its dimension is the model's
    ``embedding_dim``). Any model kind with token input can carry this section as ``embedding``.
    """

    init: Literal["learned", "word2vec"] = "learned"
    algorithm: Literal["cbow", "skipgram"] = "skipgram"  # word2vec only, as are the settings below
    window: int = Field(5, ge=1)  # context words on each side
    min_count: int = Field(2, ge=1)  # rarer vocabulary words keep a random row
    epochs: int = Field(5, ge=1)
    negative: int = Field(5, ge=0)  # negative samples per word (0: hierarchical softmax)
    trainable: bool = True  # false: the vectors stay frozen while the model trains


class RecurrentParams(Frozen):
    """Embedding -> SimpleRNN/LSTM/GRU stack -> sigmoid (binary) or softmax (multi-class)."""

    embedding_dim: int = Field(64, ge=1)
    embedding: EmbeddingConfig = EmbeddingConfig()
    units: int = Field(64, ge=1)
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = False
    # What the classifier reads: the last state ("last", the course's models) or the max/mean of
    # the last layer's outputs over all time steps (a direct path from every token to the output).
    pooling: Literal["last", "max", "mean"] = "last"
    dropout: float = Field(0.0, ge=0, lt=1)
    recurrent_dropout: float = Field(0.0, ge=0, lt=1)
    activation: str = "tanh"
    initializer: str = "glorot_uniform"
    learning_rate: float = Field(1e-3, gt=0)
    clipnorm: float | None = 1.0
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(10, ge=1)
    patience: int = Field(2, ge=1)
    # "balanced": each class's loss weighted by the inverse of its training frequency (as for the ANN)
    class_weight: Literal["none", "balanced"] = "none"


class FloatDim(Frozen):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False


class IntDim(Frozen):
    type: Literal["int"]
    low: int
    high: int
    step: int = 1
    log: bool = False


class CategoricalDim(Frozen):
    type: Literal["categorical"]
    choices: list[Any]


SearchDim = Annotated[FloatDim | IntDim | CategoricalDim, Field(discriminator="type")]


class TuneConfig(Frozen):
    """An Optuna search for one architecture."""

    enabled: bool = True
    n_trials: int = Field(10, ge=1)
    timeout_s: float | None = None
    epochs_per_trial: int = Field(10, ge=1)
    storage: str | None = None  # an Optuna storage URL; default: a SQLite file under .optuna/
    # A running trial records a heartbeat every heartbeat_s; one silent for grace_period_s (a worker
    # killed mid-trial) is failed by the next worker that starts a trial, so the budget is refilled.
    heartbeat_s: int = Field(10, ge=1)
    grace_period_s: int = Field(60, ge=1)
    space: dict[str, SearchDim] = {}


# -------------------------------------------------------------------------- tasks
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
    baselines: list[Literal["logistic_regression", "hist_gradient_boosting"]] = [
        "logistic_regression",
        "hist_gradient_boosting",
    ]
    promote: PromoteConfig = PromoteConfig()
    card: CardConfig = CardConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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


class ServeConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = 5000
    max_body_bytes: int = 1_048_576
    max_rows: int = 1_000
    ort_threads: int = Field(1, ge=0)  # intra-op threads per ONNX Runtime session; 0 = ORT default
    # Slow and idle clients (see pipeline/serving/protocol.py): each bound closes the connection, with a
    # 408 when part of a request came; past max_connections a new connection's request gets a 503.
    header_timeout_s: float = Field(10.0, gt=0)  # a request line and headers, from their first byte
    body_timeout_s: float = Field(30.0, gt=0)  # the whole body, once the headers are in
    idle_timeout_s: float = Field(60.0, gt=0)  # an idle keep-alive connection between requests
    max_connections: int = Field(1_000, ge=1)  # open connections served at once


class ExportConfig(Frozen):
    opset: int = 17
    max_abs_diff: float = 1e-5  # parity bound between Keras and ONNX Runtime probabilities
    simple_rnn: Literal["by_batch", "unrolled", "native"] = "by_batch"  # a SimpleRNN's graph (onnx_builder)
    # Text models: run the recurrent layers only after the leading padding that every row of a
    # batch has, from the state that padding leaves (exact; onnx_builder): a short text costs its steps.
    skip_padding: bool = True


class EvaluateConfig(Frozen):
    """How honestly the test figures are reported: bootstrap intervals on every test metric, and
    optional cross-validation of tabular tasks (the ``cv`` stage)."""

    bootstrap_resamples: int = Field(1000, ge=100)  # seeded by ``seed``
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    # Repeated stratified k-fold on train + validation with the tuned values, for the models and
    # the baselines of tabular tasks. 0 = off (the cv stage then only writes that it is off).
    cv_folds: int = Field(0, ge=0)
    cv_repeats: int = Field(1, ge=1)

    @field_validator("cv_folds")
    @classmethod
    def _zero_or_at_least_two(cls, value: int) -> int:
        if value == 1:
            raise ValueError("cv_folds must be 0 (off) or at least 2")
        return value


class ModelRef(Frozen):
    task: str
    arch: str


class Params(Frozen):
    seed: int = 42
    synthetic: dict[str, SyntheticConfig] = {}
    models: dict[str, ModelRef]  # "<task>-<arch>" for every pair in tasks (dvc.yaml's foreach)
    tasks: dict[str, TaskConfig]
    evaluate: EvaluateConfig = EvaluateConfig()
    export: ExportConfig = ExportConfig()
    serve: ServeConfig = ServeConfig()

    @model_validator(mode="after")
    def _models_list_every_task_architecture(self) -> Params:
        wanted = {f"{t}-{a}": (t, a) for t, cfg in self.tasks.items() for a in cfg.models}
        listed = {name: (ref.task, ref.arch) for name, ref in self.models.items()}
        if listed != wanted:
            missing = [
                f"  {n}: {{task: {t}, arch: {a}}}" for n, (t, a) in wanted.items() if listed.get(n) != (t, a)
            ]
            extra = [n for n in listed if n not in wanted or listed[n] != wanted[n]]
            raise ValueError(
                "must list every (task, architecture) pair of tasks and nothing else"
                + ("; add:\n" + "\n".join(missing) if missing else "")
                + (f"; remove: {', '.join(extra)}" if extra else "")
            )
        return self

    def task(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            raise ConfigError(f"unknown task {name!r}: params.yaml defines {', '.join(self.tasks)}")
        return self.tasks[name]

    def model_params(self, task: str, arch: str) -> AnnParams | RecurrentParams:
        models = self.task(task).models
        if arch not in models:
            raise ConfigError(
                f"unknown architecture {arch!r} for task {task!r}: params.yaml defines {', '.join(models)}"
            )
        return models[arch]  # type: ignore[index]


class ConfigError(PipelineError):
    """params.yaml (or a file derived from it) is not what the pipeline expects."""


def _key_path(loc: tuple[Any, ...]) -> list[str | int]:
    """A pydantic error location as the params.yaml key path (without the union's kind tag)."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "tasks" and parts[2] in {"tabular", "text", "language_model"}:
        del parts[2]
    return parts


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in _key_path(loc))


def _written(text: str, keys: list[str | int]) -> list[str] | None:
    """The scalars at ``keys`` in the YAML ``text`` as written (``True``, not true); None if not found.

    PyYAML's composer gives each scalar's text without resolving it, under either YAML version."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
    if isinstance(node, yaml.ScalarNode):
        return [node.value]
    if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in node.value):
        return [n.value for n in node.value]
    return None


def _problem(err: Any, text: str) -> str:
    if err["type"] == YAML_BOOLEAN:  # suggest quoting what the user wrote (True, not "true")
        return yaml_boolean_message(err["input"], _written(text, _key_path(err["loc"])))
    return err["msg"]


def load_params(path: Path | str | None = None) -> Params:
    """Read and check params: with DVC's YAML 1.2 rules, and only values DVC can record unchanged."""
    path = Path(path) if path else project_root() / "params.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        raw = load_yaml(text)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found") from exc
    except YamlSyntaxError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    refuse_round_trip_drift(path, text)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(err['loc'])}: {_problem(err, text)}" for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


def refuse_round_trip_drift(path: Path, text: str) -> None:
    """A ConfigError naming each value that ``dvc.lock`` would record differently (see yamlio)."""
    drifting = round_trip_drift(text)
    if drifting:
        problems = "; ".join(
            f"{key}: {value!r} is written back by DVC as {back!r}, so its stages would rerun on every "
            "dvc repro; write it with fewer digits"
            + (f", e.g. {meaningful(value)!r}" if isinstance(value, float) else "")
            for key, value, back in drifting
        )
        raise ConfigError(f"{path}: {problems}")


@lru_cache(maxsize=1)
def params() -> Params:
    """The project's params.yaml, loaded once per process."""
    return load_params()
