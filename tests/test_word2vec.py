"""Word2vec embeddings (``embedding.init: word2vec``): the embed stage's vectors and the models
that start from them.

Real gensim on a tiny encoded corpus in a throw-away project; real Keras, the project's ONNX builder
and ONNX Runtime for the export check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.config import ConfigError, EmbeddingConfig, RecurrentParams, params
from pipeline.core.errors import ModelError
from pipeline.core.io import read_json, write_json
from pipeline.encoders.base import OOV, PAD
from pipeline.encoders.text import TextEncoder
from tests.conftest import REPO, edit_params

DIM, SEQ = 8, 12
WORDS = [f"w{i}" for i in range(2, 22)]  # ids 2..21: 2..11 one "topic", 12..21 another
RARE = 21  # occurs once in train: below min_count 2
VAL_ONLY = 20  # never in train


def topic_rows(n: int, seed: int) -> np.ndarray:
    """Pre-padded rows, each drawn from one topic's ids, so ids of a topic share contexts."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, SEQ), dtype="int32")
    for i in range(n):
        ids = np.arange(2, 12) if i % 2 else np.arange(12, 20)
        length = rng.integers(6, SEQ + 1)
        x[i, SEQ - length :] = rng.choice(ids, size=length)
    return x


def write_encoded(root: Path, val_test_seed: int) -> None:
    """An encoded sentiment task: train rows fixed; val and test rows drawn with ``val_test_seed``."""
    folder = root / "data" / "encoded" / "sentiment"
    folder.mkdir(parents=True, exist_ok=True)
    train = topic_rows(200, 0)
    train[0, -1] = RARE
    val = topic_rows(40, val_test_seed)
    val[:, -1] = VAL_ONLY
    for name, x in {"train": train, "val": val, "test": topic_rows(40, val_test_seed + 1)}.items():
        np.savez(folder / f"{name}.npz", x=x, y=(np.arange(len(x)) % 2).astype("float32"))
    encoder = TextEncoder([PAD, OOV, *WORDS], SEQ)
    write_json(folder / "encoder.json", encoder.to_dict() | {"classes": [0, 1]})


@pytest.fixture
def w2v_project(project: Path) -> Path:
    embedding = {"init": "word2vec", "algorithm": "skipgram", "window": 3, "min_count": 2, "epochs": 20}
    edit_params(
        project / "params.yaml",
        sentiment={"models": {"lstm": {"embedding_dim": DIM, "embedding": embedding}}},
    )
    params.cache_clear()
    return project


def embed(root: Path) -> tuple[np.ndarray, dict]:
    from pipeline.stages import embed as stage

    assert stage.main(["sentiment", "lstm"]) == 0
    folder = root / "data" / "embeddings" / "sentiment"
    return np.load(folder / "lstm.npy", allow_pickle=False), read_json(folder / "lstm.json")


def test_vectors_come_from_training_rows_only_aligned_to_the_vocabulary_and_seeded(w2v_project):
    write_encoded(w2v_project, val_test_seed=1)
    table, report = embed(w2v_project)
    assert table.dtype == np.float32 and table.shape == (len(WORDS) + 2, DIM)
    assert report["trained_rows"] == 18  # ids 2..19; not padding, RARE (once) nor VAL_ONLY (not in train)
    assert not table[0].any()  # padding
    assert table[RARE].any() and table[VAL_ONLY].any()  # random rows the model learns from
    # row i is the vector of id i: every trained id's nearest row is an id of its own topic
    trained = np.arange(2, 20)
    unit = table[trained] / np.linalg.norm(table[trained], axis=1, keepdims=True)
    similarity = unit @ unit.T - 2 * np.eye(len(trained))
    nearest = trained[similarity.argmax(axis=1)]
    np.testing.assert_array_equal(nearest < 12, trained < 12)

    write_encoded(w2v_project, val_test_seed=7)  # other validation and test rows, same training rows
    again, again_report = embed(w2v_project)
    np.testing.assert_array_equal(again, table)
    assert again_report == report  # no timings in it: the same vectors rerun nothing downstream

    edit_params(w2v_project / "params.yaml", seed=43)
    params.cache_clear()
    reseeded, _ = embed(w2v_project)
    assert not np.array_equal(reseeded, table)


def test_a_learned_embedding_writes_an_empty_table_without_gensim_or_tensorflow(project):
    code = (
        "import sys; from pipeline.stages import embed; assert embed.main(['sentiment', 'lstm']) == 0; "
        "assert not {'gensim', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=project, check=True, env={"PYTHONPATH": str(REPO)})
    table = np.load(project / "data" / "embeddings" / "sentiment" / "lstm.npy", allow_pickle=False)
    assert table.shape == (0, 0)


def test_a_table_of_the_wrong_shape_is_refused_with_its_file_named(w2v_project):
    from pipeline.encoders.word2vec import initial_table, save_table

    path = w2v_project / "data" / "embeddings" / "sentiment" / "lstm.npy"
    model_params = params().model_params("sentiment", "lstm")
    with pytest.raises(ModelError, match="embed@sentiment-lstm"):
        initial_table("sentiment", "lstm", model_params, 22)  # not built yet
    save_table(path, np.zeros((22, DIM + 1), dtype="float32"))
    with pytest.raises(ModelError, match=r"lstm\.npy: vectors of shape \(22, 9\)"):
        initial_table("sentiment", "lstm", model_params, 22)


def test_tuning_the_width_of_word2vec_vectors_is_refused(w2v_project):
    from pipeline.core.config import IntDim
    from pipeline.modeling.search_space import check_space

    base = params().model_params("sentiment", "lstm")
    with pytest.raises(ConfigError, match="embedding_dim"):
        check_space("sentiment", "lstm", base, {"embedding_dim": IntDim(type="int", low=4, high=8)})


@pytest.mark.parametrize("trainable", [False, True])
def test_the_embedding_starts_from_the_table_frozen_or_fine_tuned_and_exports_at_parity(trainable):
    pytest.importorskip("tensorflow")
    import onnxruntime as ort

    from pipeline.encoders.dataset import Dataset, Split
    from pipeline.modeling import models
    from pipeline.modeling.onnx_builder import build_onnx

    vocab = len(WORDS) + 2
    table = np.random.default_rng(3).normal(0, 0.5, (vocab, DIM)).astype("float32")
    config = RecurrentParams(
        embedding_dim=DIM,
        units=4,
        pooling="max",
        embedding=EmbeddingConfig(init="word2vec", trainable=trainable),
        epochs=1,
        batch_size=16,
    )
    x = topic_rows(64, 5)
    y = (x[:, -1] < 12).astype("float32")
    data = Dataset(Split(x, y), Split(x[:16], y[:16]), Split(x[:16], y[:16]), vocab_size=vocab)
    models.seed_everything(0)
    model = models.build_for("gru", config, data, table)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], table)
    models.fit(model, config, data)
    after = model.get_layer("embedding").get_weights()[0]
    assert np.array_equal(after, table) is not trainable

    proto = build_onnx(model, opset=params().export.opset)
    gathered = [n for n in proto.graph.node if n.op_type == "Gather"]
    assert len(gathered) == 1  # the table is one Gather, as for a learned embedding
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = np.asarray(model(x, training=False), dtype="float32")
    assert expected.std() > 1e-3
    assert np.abs(session.run(None, {"tokens": x})[0] - expected).max() <= 1e-5
