"""Typed configuration, loaded once from ``params.yaml``.

Every section is a frozen pydantic model that forbids unknown keys, so a typo
in ``params.yaml`` fails at load time with the offending key named instead of
silently falling back to a default.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PipelineError
from pipeline.paths import project_root


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- data
class DataConfig(Frozen):
    """Where a task's raw data comes from."""

    source: str = "synthetic"  # "synthetic", a local path, or an http(s) URL
    sha256: str | None = None  # checked for paths and URLs when given
    synthetic_rows: int = Field(10_000, ge=50)


class NumericColumn(Frozen):
    min: float
    max: float
    integer: bool = False


class TabularSchema(Frozen):
    """Columns of a tabular CSV: what is dropped, what is a feature, the target."""

    target: str
    drop: list[str] = []
    numeric: dict[str, NumericColumn]
    categorical: dict[str, list[str | int]] = {}  # allowed values; integers too (one-hot codes)
    min_rows: int = 100
    max_rows: int = 10_000_000

    @property
    def feature_columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def all_columns(self) -> list[str]:
        return [*self.drop, *self.feature_columns, self.target]


class TextSchema(Frozen):
    """Columns and statistics of a labelled text data set."""

    text: str = "text"
    label: str = "label"
    min_chars: int = 1
    max_chars: int = 100_000
    min_mean_tokens: float = 3
    max_mean_tokens: float = 2_000
    min_positive_fraction: float = 0.2
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


class RecurrentParams(Frozen):
    """Embedding -> SimpleRNN/LSTM/GRU stack -> sigmoid."""

    embedding_dim: int = Field(64, ge=1)
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
    space: dict[str, SearchDim] = {}


# -------------------------------------------------------------------------- tasks
class ChurnConfig(Frozen):
    kind: Literal["tabular"] = "tabular"
    data: DataConfig = DataConfig()
    schema_: TabularSchema = Field(alias="schema")
    split: SplitConfig = SplitConfig()
    models: dict[str, AnnParams]
    tune: dict[str, TuneConfig] = {}
    baselines: list[Literal["logistic_regression", "hist_gradient_boosting"]] = [
        "logistic_regression",
        "hist_gradient_boosting",
    ]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class PredictConfig(Frozen):
    neutral_band: float = Field(0.1, ge=0, lt=0.5)  # |p - 0.5| below this is "Neutral"


class SentimentConfig(Frozen):
    kind: Literal["text"] = "text"
    data: DataConfig = DataConfig(synthetic_rows=6_000)
    schema_: TextSchema = Field(TextSchema(), alias="schema")
    split: SplitConfig = SplitConfig()
    text: TextEncodeConfig = TextEncodeConfig()
    models: dict[Literal["rnn", "lstm", "gru"], RecurrentParams]
    tune: dict[str, TuneConfig] = {}
    baselines: list[Literal["tfidf_logreg"]] = ["tfidf_logreg"]
    predict: PredictConfig = PredictConfig()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


TaskConfig = ChurnConfig | SentimentConfig


class ServeConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = 5000
    max_body_bytes: int = 1_048_576
    max_rows: int = 1_000
    ort_threads: int = Field(1, ge=0)  # intra-op threads per ONNX Runtime session; 0 = ORT default
    # Slow and idle clients (see pipeline/serve.py): each bound closes the connection, with a 408
    # when part of a request came; past max_connections a new connection's request gets a 503.
    header_timeout_s: float = Field(10.0, gt=0)  # a request line and headers, from their first byte
    body_timeout_s: float = Field(30.0, gt=0)  # the whole body, once the headers are in
    idle_timeout_s: float = Field(60.0, gt=0)  # an idle keep-alive connection between requests
    max_connections: int = Field(1_000, ge=1)  # open connections served at once


class ExportConfig(Frozen):
    opset: int = 17
    max_abs_diff: float = 1e-5  # parity bound between Keras and ONNX Runtime probabilities


class Params(Frozen):
    seed: int = 42
    churn: ChurnConfig
    sentiment: SentimentConfig
    export: ExportConfig = ExportConfig()
    serve: ServeConfig = ServeConfig()

    def task(self, name: str) -> TaskConfig:
        if name not in TASKS:
            raise ConfigError(f"unknown task {name!r}: expected one of {', '.join(TASKS)}")
        return getattr(self, name)  # type: ignore[no-any-return]

    def model_params(self, task: str, arch: str) -> AnnParams | RecurrentParams:
        models = self.task(task).models
        if arch not in models:
            raise ConfigError(
                f"unknown architecture {arch!r} for task {task!r}: params.yaml defines {', '.join(models)}"
            )
        return models[arch]  # type: ignore[index]


TASKS = ("churn", "sentiment")


class ConfigError(PipelineError):
    """params.yaml (or a file derived from it) is not what the pipeline expects."""


def load_params(path: Path | str | None = None) -> Params:
    path = Path(path) if path else project_root() / "params.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


@lru_cache(maxsize=1)
def params() -> Params:
    """The project's params.yaml, loaded once per process."""
    return load_params()
