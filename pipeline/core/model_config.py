"""params.yaml's model sections: an architecture's hyperparameters (``tasks.<task>.models.<arch>``)
and its search space (``tasks.<task>.tune.<arch>``). ``pipeline.core.config`` re-exports them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from pipeline.core.config_base import Frozen


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


class BucketingConfig(Frozen):
    """Length bucketing of a text model's training batches (:mod:`pipeline.modeling.buckets`): texts
    of similar length share a batch, which keeps only the columns its longest text needs, so a
    recurrent layer runs fewer padding steps. Validation, evaluation and the exported model read the
    full padded rows, as before. Where it would skip under ``min_saving`` of the steps (long texts,
    right padding, fixed windows), the plain shuffled batches are used."""

    enabled: bool = True
    buckets: int = Field(8, ge=1, le=64)  # length bounds at the quantiles of the training lengths
    min_saving: float = Field(0.2, ge=0, le=1)


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
    bucketing: BucketingConfig = BucketingConfig()


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
    # Processes ``tune`` runs on this machine against the one study (it starts workers - 1 more
    # ``tune`` processes and waits for them); the budget stays n_trials in total. More than 1 gives
    # up exact reproducibility of the trials after TPE's startup ones (docs/tuning.md).
    workers: int = Field(1, ge=1, le=16)
    # A running trial records a heartbeat every heartbeat_s; one silent for grace_period_s (a worker
    # killed mid-trial) is failed by the next worker that starts a trial, so the budget is refilled.
    heartbeat_s: int = Field(10, ge=1)
    grace_period_s: int = Field(60, ge=1)
    space: dict[str, SearchDim] = {}


# The search a tune section without a ``space`` gets, per model family: the learning and
# regularisation settings, and the model's size, so that a search can trade size for data.
_RATES: dict[str, dict[str, Any]] = {
    "dropout": {"type": "float", "low": 0.0, "high": 0.4},
    "learning_rate": {"type": "float", "low": 3.0e-4, "high": 1.0e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
}
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "ann": {
        "hidden_units": {"type": "categorical", "choices": [[32, 16], [64, 32], [128, 64], [64, 32, 16]]},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "l2": {"type": "float", "low": 1.0e-6, "high": 1.0e-3, "log": True},
        **_RATES,
    },
    "recurrent": {
        "embedding_dim": {"type": "categorical", "choices": [32, 64, 128]},
        "units": {"type": "categorical", "choices": [32, 64, 128]},
        **_RATES,
    },
}


def with_default_spaces(section: Any, family: str) -> Any:
    """A raw task section whose searches without a ``space`` get ``DEFAULT_SPACES[family]`` (less
    ``embedding_dim`` for a model whose word2vec vectors fix it)."""
    if not isinstance(section, dict) or not isinstance(section.get("tune"), dict):
        return section
    models: dict[str, Any] = section["models"] if isinstance(section.get("models"), dict) else {}
    tune = {}
    for arch, cfg in section["tune"].items():
        if isinstance(cfg, dict) and not cfg.get("space"):
            model: dict[str, Any] = models[arch] if isinstance(models.get(arch), dict) else {}
            embedding: dict[str, Any] = model["embedding"] if isinstance(model.get("embedding"), dict) else {}
            fixed = {"embedding_dim"} if embedding.get("init") == "word2vec" else set()
            cfg = {**cfg, "space": {k: v for k, v in DEFAULT_SPACES[family].items() if k not in fixed}}
        tune[arch] = cfg
    return {**section, "tune": tune}
