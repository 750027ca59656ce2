"""Word2Vec vectors for a text model's Embedding table, trained on the training split only.

The corpus is the encoded training rows themselves (token ids, padding dropped), so row ``i`` of
the table is the vector of vocabulary index ``i`` by construction, whatever encoder or task kind
wrote the ids. Rows Word2Vec has no vector for are filled as follows: padding (index 0) with zeros,
any other index that occurs fewer than ``min_count`` times with seeded random values of the
trained rows' scale, which the model then learns (or keeps, when frozen) like any other row.

gensim is imported only when vectors are trained; TensorFlow never.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import paths
from pipeline.core.config import EmbeddingConfig
from pipeline.core.errors import ModelError
from pipeline.core.io import atomic_path

PAD_ID = 0


@dataclass(frozen=True)
class Vectors:
    table: np.ndarray  # float32 (vocab_size, dim): row i is vocabulary index i
    trained_rows: int  # rows that got a Word2Vec vector (the others are padding or random)
    sentences: int
    tokens: int
    seconds: float


def corpus(train_tokens: np.ndarray) -> list[list[str]]:
    """Each training row's token ids as gensim words (strings), padding dropped."""
    return [[str(i) for i in row if i != PAD_ID] for row in np.asarray(train_tokens)]


def train_vectors(
    train_tokens: np.ndarray, vocab_size: int, dim: int, config: EmbeddingConfig, seed: int
) -> Vectors:
    """A ``(vocab_size, dim)`` table from Word2Vec on ``train_tokens`` (one seeded worker:
    the same rows and settings give the same table)."""
    from gensim.models import Word2Vec

    started = time.perf_counter()
    sentences = [s for s in corpus(train_tokens) if s]
    if not sentences:
        raise ModelError("word2vec: the training split has no tokens besides padding")
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=config.window,
        min_count=config.min_count,
        sg=1 if config.algorithm == "skipgram" else 0,
        negative=config.negative,
        hs=0 if config.negative else 1,
        epochs=config.epochs,
        seed=seed,
        workers=1,
    )
    keys = model.wv.index_to_key
    ids = np.array([int(k) for k in keys], dtype="int64")
    if ids.size and ids.max() >= vocab_size:
        raise ModelError(f"word2vec: token id {int(ids.max())} is outside the vocabulary of {vocab_size}")
    trained = np.asarray(model.wv[keys], dtype="float32")
    rng = np.random.default_rng(seed)
    scale = float(trained.std()) if trained.size else 0.05
    table = rng.normal(0.0, scale, size=(vocab_size, dim)).astype("float32")
    table[PAD_ID] = 0.0
    table[ids] = trained
    return Vectors(
        table=table,
        trained_rows=int(ids.size),
        sentences=len(sentences),
        tokens=sum(len(s) for s in sentences),
        seconds=time.perf_counter() - started,
    )


def save_table(path: Path, table: np.ndarray) -> None:
    """``.npy`` without pickle, moved into place only once written."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, np.asarray(table, dtype="float32"), allow_pickle=False)


def load_table(path: Path, vocab_size: int, dim: int, task: str, arch: str) -> np.ndarray:
    """The ``embed`` stage's table for a word2vec model, checked against the model's shape."""
    if not path.exists():
        raise ModelError(f"{path}: not found; run 'python -m pipeline repro embed@{task}-{arch}' first")
    table = np.load(path, allow_pickle=False)
    if table.shape != (vocab_size, dim):
        raise ModelError(
            f"{path}: vectors of shape {table.shape}, but the model's Embedding is ({vocab_size}, {dim}) "
            f"(vocabulary size, embedding_dim); rerun 'python -m pipeline repro embed@{task}-{arch}'"
        )
    return table


def initial_table(task: str, arch: str, model_params: Any, vocab_size: int) -> np.ndarray | None:
    """The table a model's Embedding starts from: the ``embed`` stage's vectors for
    ``embedding.init: word2vec``; None (Keras' random initialisation) otherwise."""
    embedding = getattr(model_params, "embedding", None)
    if embedding is None or embedding.init != "word2vec":
        return None
    return load_table(paths.embedding_vectors(task, arch), vocab_size, model_params.embedding_dim, task, arch)
