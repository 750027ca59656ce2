"""Typed configuration, loaded once from ``params.yaml``.

Every section is a frozen pydantic model that forbids unknown keys, so a typo
in ``params.yaml`` fails at load time with the offending key named instead of
silently falling back to a default.

The sections are defined in ``config_base`` (the base model, YAML booleans), ``data_config``,
``model_config`` and ``task_config``; this module holds the top-level ``Params``, the serving,
export, evaluate and monitor sections and the loading, and re-exports them all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from pipeline.core.config_base import (
    YAML_BOOLEAN,
    Frozen,
    LabelValue,
    LabelValues,
    refuse_yaml_booleans,
    yaml_boolean_message,
)
from pipeline.core.data_config import (
    ConstantFill,
    DataConfig,
    LabelSettings,
    MissingRule,
    NumericColumn,
    SplitConfig,
    SyntheticConfig,
    TabularSchema,
    TextEncodeConfig,
    TextSchema,
)
from pipeline.core.errors import PipelineError
from pipeline.core.model_config import (
    AnnParams,
    BucketingConfig,
    CategoricalDim,
    EmbeddingConfig,
    FloatDim,
    IntDim,
    RecurrentParams,
    SearchDim,
    TuneConfig,
)
from pipeline.core.paths import project_root
from pipeline.core.task_config import (
    CardConfig,
    CorpusSchema,
    KneserNeyConfig,
    LanguageModelBaselines,
    LanguageModelEncodeConfig,
    LanguageModelPredictConfig,
    LanguageModelTaskConfig,
    PredictConfig,
    PromoteConfig,
    TabularEncodeConfig,
    TabularTaskConfig,
    TextTaskConfig,
)
from pipeline.core.timeseries_config import SeriesRecurrentParams, TimeseriesTaskConfig
from pipeline.core.yamlio import YamlSyntaxError, load_yaml, meaningful, round_trip_drift

# The sections live in config_base, data_config, model_config and task_config; other modules import
# them from here.
__all__ = [
    "YAML_BOOLEAN",
    "AnnParams",
    "BucketingConfig",
    "CardConfig",
    "CategoricalDim",
    "ConfigError",
    "ConstantFill",
    "CorpusSchema",
    "DataConfig",
    "EmbeddingConfig",
    "EvaluateConfig",
    "ExportConfig",
    "FloatDim",
    "Frozen",
    "IntDim",
    "KneserNeyConfig",
    "LabelSettings",
    "LabelValue",
    "LabelValues",
    "LanguageModelBaselines",
    "LanguageModelEncodeConfig",
    "LanguageModelPredictConfig",
    "LanguageModelTaskConfig",
    "MissingRule",
    "ModelRef",
    "MonitorConfig",
    "MonitorSettings",
    "NumericColumn",
    "Params",
    "PredictConfig",
    "PromoteConfig",
    "RecurrentParams",
    "SearchDim",
    "ServeConfig",
    "SplitConfig",
    "SyntheticConfig",
    "TabularEncodeConfig",
    "TabularSchema",
    "TabularTaskConfig",
    "TaskConfig",
    "TextEncodeConfig",
    "TextSchema",
    "TextTaskConfig",
    "TimeseriesTaskConfig",
    "TuneConfig",
    "load_params",
    "params",
    "refuse_round_trip_drift",
    "refuse_yaml_booleans",
    "yaml_boolean_message",
]


# a task section, told apart by ``kind`` (here, since the forecasting section's module reads task_config)
TaskConfig = Annotated[
    TabularTaskConfig | TextTaskConfig | LanguageModelTaskConfig | TimeseriesTaskConfig,
    Field(discriminator="kind"),
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
    # Big heads: past either cap a request gets a 431 and a close, counted as the bytes arrive.
    max_header_bytes: int = Field(65_536, ge=1_024)  # a request line and its headers, in bytes
    max_headers: int = Field(100, ge=1)  # headers in one request


class ExportConfig(Frozen):
    opset: int = 17
    max_abs_diff: float = 1e-5  # Keras against ONNX Runtime: probabilities, or values relative beyond 1
    simple_rnn: Literal["by_batch", "unrolled", "native"] = "by_batch"  # a SimpleRNN's graph (onnx_builder)
    # Text models: run the recurrent layers only after the leading padding that every row of a
    # batch has, from the state that padding leaves (exact; onnx_builder): a short text costs its steps.
    skip_padding: bool = True


class EvaluateConfig(Frozen):
    """How honestly the test figures are reported: bootstrap intervals on every test metric, and
    optional cross-validation of tabular tasks (the ``cv`` stage)."""

    bootstrap_resamples: int = Field(1000, ge=100)  # seeded by ``seed``
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    # numeric targets: the level of the split-conformal interval every prediction carries (from the
    # validation split's absolute residuals); evaluate reports its test coverage and mean width
    interval_level: float = Field(0.9, gt=0, lt=1)
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


class ScoringConfig(Frozen):
    """A ``score@<task>`` stage: the champion scores ``input`` (a CSV or Parquet file in the
    project) into ``scores/<task>/``; it reruns when the file or the champion changes."""

    input: str
    ids: list[str] = []  # id columns kept beside the answers (default: the encoder's)
    # the share of rejected rows above which the stage fails (and keeps its earlier scores)
    max_rejected_share: float = Field(0.0, ge=0, le=1)
    # rows per chunk; default the encoder's batch_rows (65,536 for a table, 8,192 for a text)
    chunk_rows: int | None = Field(None, ge=1)

    @field_validator("input")
    @classmethod
    def _csv_or_parquet(cls, value: str) -> str:
        if not value.lower().endswith((".csv", ".parquet")):
            raise ValueError(f"must be a .csv or a .parquet file, got {value!r}")
        return value


class MonitorSettings(Frozen):
    """What ``monitor`` calls drift (docs/monitoring.md). Read by no stage: no dvc.yaml params."""

    p_value: float = Field(0.001, gt=0, lt=1)  # a test below this p-value finds drift
    # exit 4 when the share of drifted feature tests is above this (0: any one drifted test)
    max_drifted_share: float = Field(0.0, ge=0, lt=1)
    predictions: bool = True  # a shift of the predictions' distribution alone exits 4 too
    sample_rows: int = Field(5000, ge=100)  # seeded sample of the training split (and of a bigger batch)
    top_tokens: int = Field(50, ge=5)  # text: the reference's most frequent tokens compared
    # the split compared with: encode's validation rows (held out, as a batch is) or its training rows
    reference: Literal["validation", "train"] = "validation"
    permutations: int = Field(1999, ge=99)  # text: whole-text permutations of the top-tokens test

    @model_validator(mode="after")
    def _permutations_reach_p_value(self) -> MonitorSettings:
        if 1 / (1 + self.permutations) >= self.p_value:
            raise ValueError(
                f"permutations: {self.permutations} permutations give no p-value below "
                f"p_value {self.p_value:g} (the least is 1 / (1 + permutations)); use at least "
                f"{int(1 / self.p_value)}"
            )
        return self


class MonitorOverride(Frozen):
    """A task's own values under ``monitor.tasks.<task>``; what it leaves out is the section's."""

    p_value: float | None = Field(None, gt=0, lt=1)
    max_drifted_share: float | None = Field(None, ge=0, lt=1)
    predictions: bool | None = None
    sample_rows: int | None = Field(None, ge=100)
    top_tokens: int | None = Field(None, ge=5)
    reference: Literal["validation", "train"] | None = None
    permutations: int | None = Field(None, ge=99)


class MonitorConfig(MonitorSettings):
    tasks: dict[str, MonitorOverride] = {}

    @model_validator(mode="after")
    def _overrides_make_valid_settings(self) -> MonitorConfig:
        for task in self.tasks:
            try:
                self.for_task(task)
            except ValidationError as exc:
                raise ValueError(f"tasks.{task}: {exc.errors()[0]['msg']}") from None
        return self

    def for_task(self, task: str) -> MonitorSettings:
        """The section's values with ``tasks.<task>``'s on top."""
        base = self.model_dump(exclude={"tasks"})
        given = self.tasks[task].model_dump(exclude_none=True) if task in self.tasks else {}
        return MonitorSettings.model_validate(base | given)


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
    scoring: dict[str, ScoringConfig] = {}  # task -> its score@<task> stage (dvc.yaml's foreach)
    monitor: MonitorConfig = MonitorConfig()

    @model_validator(mode="after")
    def _scoring_names_tasks(self) -> Params:
        unknown = [t for t in self.scoring if t not in self.tasks]
        if unknown:
            raise ValueError(
                f"scoring names unknown task(s) {', '.join(unknown)}; tasks: {', '.join(self.tasks)}"
            )
        return self

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

    @model_validator(mode="after")
    def _monitor_overrides_name_tasks(self) -> Params:
        unknown = [name for name in self.monitor.tasks if name not in self.tasks]
        if unknown:
            raise ValueError(
                f"monitor.tasks names {', '.join(unknown)}, not a task of tasks ({', '.join(self.tasks)})"
            )
        return self

    def task(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            raise ConfigError(f"unknown task {name!r}: params.yaml defines {', '.join(self.tasks)}")
        return self.tasks[name]

    def model_params(self, task: str, arch: str) -> AnnParams | RecurrentParams | SeriesRecurrentParams:
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
