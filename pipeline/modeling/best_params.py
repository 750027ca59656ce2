"""The best-params contract between ``tune`` (which writes ``params/best/<task>/<arch>.yaml``) and
``train`` (which reads it): the tuned values, applied on top of params.yaml's model params."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from pipeline.core import paths
from pipeline.core.config import AnnParams, CategoricalDim, ConfigError, RecurrentParams, TuneConfig, params
from pipeline.core.io import read_yaml
from pipeline.core.timeseries_config import SeriesRecurrentParams

ModelParams = AnnParams | RecurrentParams | SeriesRecurrentParams


def tune_config(task: str, arch: str) -> TuneConfig:
    """``<task>.tune.<arch>``; an architecture without a tune section is not tuned."""
    p = params()
    p.model_params(task, arch)  # unknown task or architecture: ConfigError naming both
    return p.task(task).tune.get(arch, TuneConfig(enabled=False))


def encode_choice(choice: Any) -> Any:
    """Optuna categorical choices must be None/bool/int/float/str: lists and mappings go as JSON."""
    if choice is None or isinstance(choice, (bool, int, float, str)):
        return choice
    return json.dumps(choice, sort_keys=True)


def decode_choice(dim: CategoricalDim, value: Any) -> Any:
    """The params.yaml choice that ``encode_choice`` turned into ``value``."""
    for choice in dim.choices:
        if encode_choice(choice) == value:
            return choice
    raise ConfigError(f"{value!r} is not one of the search space's choices {dim.choices}")


def apply_params(base: ModelParams, values: dict[str, Any], where: str) -> ModelParams:
    """``base`` updated with ``values``, re-validated by its model class (bad values fail here)."""
    try:
        return type(base).model_validate({**base.model_dump(), **values})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from exc


def load_best_params(task: str, arch: str) -> dict[str, Any]:
    """The tuned values from ``params/best/<task>/<arch>.yaml``; ``{}`` when untuned or absent."""
    if not tune_config(task, arch).enabled:
        return {}
    path = paths.best_params(task, arch)
    if not path.exists():
        return {}
    try:
        content = read_yaml(path)
    except Exception as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict) or not isinstance(content.get("params") or {}, dict):
        raise ConfigError(f"{path}: expected a mapping with 'tuned' and a 'params' mapping")
    if not content.get("tuned"):
        return {}
    return dict(content.get("params") or {})


def merged_model_params(task: str, arch: str) -> ModelParams:
    """params.yaml's model params with the tuned values on top, re-validated."""
    base = params().model_params(task, arch)
    best = load_best_params(task, arch)
    return apply_params(base, best, str(paths.best_params(task, arch))) if best else base
