"""A tune search space (``<task>.tune.<arch>.space``): checked against the model's params,
sampled per Optuna trial, and decoded back to the values params.yaml means.

``tune`` searches it; ``encode_choice``/``decode_choice`` (``best_params``) carry list and mapping
choices through Optuna as JSON strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.core.config import CategoricalDim, ConfigError, FloatDim, IntDim, SearchDim
from pipeline.core.yamlio import lock_safe
from pipeline.modeling.best_params import ModelParams, apply_params, decode_choice, encode_choice

if TYPE_CHECKING:
    import optuna


def untuned_point(base: ModelParams, space: dict[str, SearchDim]) -> dict[str, Any]:
    """params.yaml's own values for the searched keys that lie inside the space.

    Enqueued as the study's first trial, so the search always measures the untuned settings
    under the same budget and the best it reports is never worse than them on validation.
    """
    point: dict[str, Any] = {}
    values = base.model_dump()
    for key, dim in space.items():
        value = values.get(key)
        if isinstance(dim, CategoricalDim):
            encoded = encode_choice(value)
            if encoded in [encode_choice(c) for c in dim.choices]:
                point[key] = encoded
        elif isinstance(value, (int, float)) and dim.low <= value <= dim.high:
            point[key] = value
    return point


def moved_from_untuned(base: ModelParams, space: dict[str, SearchDim]) -> list[str]:
    """The searched keys whose params.yaml value the first trial cannot take (outside the space)."""
    values, point = base.model_dump(), untuned_point(base, space)
    return [f"{key} = {values.get(key)!r}" for key in space if key not in point]


def check_space(task: str, arch: str, base: ModelParams, space: dict[str, SearchDim]) -> None:
    """Fail before any trial on a key the model does not have or a bound/choice it rejects."""
    where = f"params.yaml {task}.tune.{arch}.space"
    if not space:
        raise ConfigError(f"{where}: empty; add dimensions or set {task}.tune.{arch}.enabled: false")
    fields = set(type(base).model_fields)
    for name, dim in space.items():
        at = f"{where}.{name}"
        if name == "epochs":
            raise ConfigError(f"{at}: trials train for {task}.tune.{arch}.epochs_per_trial epochs")
        embedding = getattr(base, "embedding", None)
        if name == "embedding_dim" and embedding is not None and embedding.init == "word2vec":
            raise ConfigError(f"{at}: the word2vec vectors (embed stage) fix embedding_dim; do not search it")
        if name not in fields:
            raise ConfigError(
                f"{at}: not a parameter of {task}.models.{arch} (expected one of {', '.join(sorted(fields))})"
            )
        if isinstance(dim, (FloatDim, IntDim)):
            if dim.low > dim.high:
                raise ConfigError(f"{at}: low {dim.low} is above high {dim.high}")
            if dim.log and dim.low <= 0:
                raise ConfigError(f"{at}: log scale needs low > 0, got {dim.low}")
            if isinstance(dim, IntDim) and (dim.step < 1 or (dim.log and dim.step != 1)):
                raise ConfigError(f"{at}: step must be >= 1, and 1 on a log scale; got {dim.step}")
            candidates = [dim.low, dim.high]
        else:
            if not dim.choices:
                raise ConfigError(f"{at}: no choices")
            encoded = [encode_choice(c) for c in dim.choices]
            if len(set(map(repr, encoded))) != len(encoded):
                raise ConfigError(f"{at}: duplicate choices in {dim.choices}")
            candidates = list(dim.choices)
        for value in candidates:
            apply_params(base, {name: value}, f"{at} = {value!r}")


def suggest(trial: optuna.trial.Trial, space: dict[str, SearchDim]) -> dict[str, Any]:
    """One value per dimension, decoded back to what params.yaml means (e.g. ``[64, 32]``)."""
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, FloatDim):
            values[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, IntDim):
            values[name] = trial.suggest_int(name, dim.low, dim.high, step=dim.step, log=dim.log)
        else:
            picked = trial.suggest_categorical(name, [encode_choice(c) for c in dim.choices])
            values[name] = decode_choice(dim, picked)
    return values


def decode_params(space: dict[str, SearchDim], stored: dict[str, Any]) -> dict[str, Any]:
    """A finished trial's stored params as plain YAML values, in the space's order."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if name not in stored:
            continue
        value = stored[name]
        if isinstance(dim, CategoricalDim):
            value = decode_choice(dim, value)
        elif isinstance(dim, IntDim):
            value = int(value)
        else:
            value = lock_safe(float(value))  # train's params: dvc.lock must record them unchanged
        out[name] = value
    return out
