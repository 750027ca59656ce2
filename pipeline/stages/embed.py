"""embed: the Word2Vec table a model's Embedding starts from (``embedding.init: word2vec``).

Outputs ``data/embeddings/<task>/<arch>.npy`` (float32, vocabulary size x ``embedding_dim``, no
pickle) and ``<arch>.json`` (settings and coverage; no timings, so that the same vectors give the same
file and nothing downstream reruns), which ``train`` loads and logs to MLflow.
A model that learns its embedding (the default), or has none, gets an empty ``(0, 0)`` array
without loading data, gensim or TensorFlow: the stage runs for every model (dvc.yaml's foreach
over ``models:``) and costs a fraction of a second where word2vec is off.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version

import numpy as np

from pipeline.core import paths
from pipeline.core.config import EmbeddingConfig, params
from pipeline.core.io import write_json
from pipeline.encoders.word2vec import save_table, train_vectors


def word2vec_config(task: str, arch: str) -> tuple[EmbeddingConfig, int] | None:
    """The model's word2vec settings and dimension; None when it learns its embedding or has none."""
    model_params = params().model_params(task, arch)
    embedding = getattr(model_params, "embedding", None)
    if embedding is None or embedding.init != "word2vec":
        return None
    return embedding, model_params.embedding_dim


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline embed", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("arch")
    args = parser.parse_args(argv)
    task, arch = args.task, args.arch
    out, report = paths.embedding_vectors(task, arch), paths.embedding_report(task, arch)
    wanted = word2vec_config(task, arch)
    if wanted is None:
        save_table(out, np.zeros((0, 0), dtype="float32"))
        write_json(report, {"init": "learned"})
        print(f"embed {task}/{arch}: learned with the model; no vectors to train")
        return 0
    config, dim = wanted

    from pipeline.encoders.dataset import load_dataset

    data = load_dataset(task)
    vectors = train_vectors(data.train.x, data.vocab_size, dim, config, params().seed)
    save_table(out, vectors.table)
    write_json(
        report,
        {
            **config.model_dump(),
            "dim": dim,
            "vocab_size": data.vocab_size,
            "trained_rows": vectors.trained_rows,
            "sentences": vectors.sentences,
            "tokens": vectors.tokens,
            "gensim": version("gensim"),
        },
    )
    print(
        f"embed {task}/{arch}: word2vec {config.algorithm}, {dim} dimensions, {vectors.trained_rows} of "
        f"{data.vocab_size} vocabulary rows trained on {vectors.sentences} training rows "
        f"({vectors.tokens} tokens) in {vectors.seconds:.1f} s -> {out.relative_to(paths.project_root())}"
    )
    return 0
