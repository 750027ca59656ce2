"""Length bucketing (pipeline/modeling/buckets.py): batches of texts of similar length, each cut to
its bucket's columns, seeded, weighted like Keras' class_weight, and used by models.fit."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.config import BucketingConfig, RecurrentParams
from pipeline.encoders.dataset import Dataset, Split
from pipeline.modeling.buckets import bucket_bounds, plan_for, sample_weights, text_lengths


def pre_padded(lengths: list[int] | np.ndarray, steps: int, seed: int = 0) -> np.ndarray:
    """Rows of tokens 1..19 left-padded with 0 to ``steps`` columns, as the text encoder writes them."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(lengths), steps), "int32")
    for i, n in enumerate(lengths):
        if n:
            x[i, -n:] = rng.integers(1, 20, size=n)
    return x


def test_a_length_counts_from_the_first_token_and_bounds_are_rounded_quantiles():
    x = pre_padded([0, 1, 7, 30], 30)
    x[2, -3] = 0  # a padding id inside a text does not shorten it
    assert text_lengths(x).tolist() == [0, 1, 7, 30]
    lengths = np.array([3, 5, 9, 12, 17, 20, 31, 40])
    bounds = bucket_bounds(lengths, 4, 40)
    assert bounds.tolist() == [16, 24, 32, 40]  # quantiles 9, 17, 31, 40 ("higher") rounded up to 8
    assert bounds[-1] >= lengths.max()


def test_every_row_is_in_one_batch_per_epoch_and_only_padding_is_cut():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 100, size=300)
    x = pre_padded(lengths, 100)
    plan = plan_for(x, 16, 6, 0.0)
    assert plan is not None and plan.saving > 0.3
    batches = plan.epoch(np.random.default_rng(0))
    rows = np.concatenate([r for r, _ in batches])
    assert sorted(rows.tolist()) == list(range(300))
    assert sum(len(r) < 16 for r, _ in batches) <= 1  # partial batches are carried up, one left
    assert len(batches) == plan.batches == -(-300 // 16)
    for r, bound in batches:
        assert text_lengths(x[r]).max() <= bound  # the columns dropped are padding in every row
        assert (x[r, :-bound] == 0).all()


def test_the_epochs_are_seeded_and_differ_from_each_other():
    x = pre_padded(np.random.default_rng(2).integers(1, 50, size=200), 50)
    plan = plan_for(x, 8, 4, 0.0)
    assert plan is not None

    def order(seed: int, epoch: int) -> list[int]:
        return np.concatenate([r for r, _ in plan.epoch(np.random.default_rng([seed, epoch]))]).tolist()

    assert order(7, 0) == order(7, 0)
    assert order(7, 0) != order(7, 1) and order(7, 0) != order(8, 0)


def test_no_plan_where_bucketing_would_not_pay():
    full = pre_padded([40] * 50, 40)
    assert plan_for(full, 8, 4, 0.2) is None  # nothing to skip
    post = np.flip(pre_padded(list(range(1, 41)), 40), axis=1)  # padded on the right
    assert plan_for(post, 8, 4, 0.2) is None
    assert plan_for(np.zeros((5, 3, 2), "float32"), 8, 4, 0.0) is None  # a forecaster's windows


def test_class_weights_become_one_weight_per_row():
    assert sample_weights(None, np.array([0, 1])) is None
    binary = sample_weights({0: 0.5, 1: 2.0}, np.array([0.0, 1.0, 1.0], "float32"))
    assert binary is not None and binary.tolist() == [0.5, 2.0, 2.0]
    multi = sample_weights({0: 1.0, 1: 3.0, 2: 0.25}, np.array([2, 0, 1]))
    assert multi is not None and multi.tolist() == [0.25, 1.0, 3.0]


def text_data(n: int = 96, steps: int = 40) -> Dataset:
    rng = np.random.default_rng(3)
    x = pre_padded(rng.integers(2, 16, size=n), steps, seed=4)
    y = (x.sum(axis=1) % 2).astype("float32")
    split = Split(x, y)
    return Dataset(split, Split(x[:32], y[:32]), split, vocab_size=20)


def test_fit_buckets_a_padded_text_model_and_the_same_seed_gives_the_same_weights():
    pytest.importorskip("tensorflow")
    from pipeline.modeling import models

    params = RecurrentParams(embedding_dim=4, units=3, epochs=2, batch_size=8, class_weight="balanced")
    data = text_data()
    assert models.bucketed_training(params, data, None) is not None  # about 80% of the steps skipped

    def trained(p: RecurrentParams) -> tuple[list[np.ndarray], dict]:
        models.seed_everything(11)
        model = models.build_for("gru", p, data)
        history = models.fit(model, p, data)
        return model.get_weights(), history.history

    (w1, h1), (w2, h2) = trained(params), trained(params)
    assert h1 == h2 and all(np.array_equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert len(h1["loss"]) == 2 and np.isfinite(h1["val_loss"]).all()
    plain = params.model_copy(update={"bucketing": BucketingConfig(enabled=False)})
    assert models.bucketed_training(plain, data, None) is None
    w3, _ = trained(plain)
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3, strict=True))


def test_bench_train_reports_each_model_with_bucketing_off_and_on(project):
    pytest.importorskip("tensorflow")
    from conftest import edit_params

    from pipeline.commands import bench
    from pipeline.core.config import params
    from pipeline.core.errors import ModelError
    from pipeline.core.io import read_json, write_json
    from pipeline.encoders.base import OOV, PAD
    from pipeline.encoders.text import TextEncoder

    encoded = project / "data" / "encoded" / "sentiment"
    encoded.mkdir(parents=True)
    write_json(encoded / "encoder.json", TextEncoder([PAD, OOV, *"abcdefghijklmnopqr"], 40).to_dict())
    data = text_data()
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        np.savez(encoded / f"{name}.npz", x=split.x, y=split.y)
    tiny = {"embedding_dim": 4, "units": 3, "batch_size": 8, "epochs": 5, "patience": 5}
    edit_params(project / "params.yaml", sentiment={"models": {"gru": tiny}})
    params.cache_clear()

    assert bench.main(["--train", "--models", "sentiment/gru", "--epochs", "2", "--rows", "64"]) == 0
    rows = read_json(project / "reports" / "bench_train.json")
    assert [(r["model"], r["bucketing"]) for r in rows] == [("sentiment/gru", "off"), ("sentiment/gru", "on")]
    off, on = rows
    assert off["steps_skipped"] == 0 and on["steps_skipped"] > 0.5  # texts of 2-15 tokens in 40 columns
    for r in rows:
        assert r["rows"] == 64 and r["epochs"] == 2 and r["rows_per_s"] > 0 and 1 <= r["best_epoch"] <= 2
        assert 0 < r["first_epoch_s"] <= r["to_best_s"] and np.isfinite(r["best_val_loss"])
    assert "| sentiment/gru | on |" in (project / "reports" / "bench_train.md").read_text()
    with pytest.raises(ModelError, match="not a recurrent text model"):
        bench.main(["--train", "--models", "churn/ann"])
