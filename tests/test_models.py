"""Model builders: a sigmoid unit for binary tasks, a softmax over the classes for multi-class ones."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from pipeline.core.config import AnnParams, RecurrentParams
from pipeline.encoders.dataset import Dataset, Split

TINY_RNN = RecurrentParams(embedding_dim=4, units=3, epochs=1, batch_size=8)


def test_binary_models_keep_one_sigmoid_unit_and_binary_loss():
    from pipeline.modeling.models import build_model, predict_proba

    model = build_model("lstm", TINY_RNN, vocab_size=20, sequence_length=5)
    head = model.layers[-1]
    assert (head.name, head.units, head.activation.__name__) == ("probability", 1, "sigmoid")
    assert model.loss == "binary_crossentropy"
    assert predict_proba(model, np.ones((3, 5), "int32")).shape == (3,)


@pytest.mark.parametrize("arch", ["ann", "gru"])
def test_multiclass_models_end_in_a_softmax_over_the_classes(arch):
    from pipeline.modeling.models import build_model, predict_proba

    if arch == "ann":
        model = build_model("ann", AnnParams(hidden_units=[4]), n_features=3, n_classes=5)
        x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    else:
        model = build_model("gru", TINY_RNN, vocab_size=20, sequence_length=5, n_classes=5)
        x = np.random.default_rng(0).integers(0, 20, size=(6, 5)).astype("int32")
    head = model.layers[-1]
    assert (head.name, head.units, head.activation.__name__) == ("probabilities", 5, "softmax")
    assert model.loss == "sparse_categorical_crossentropy"
    proba = predict_proba(model, x)
    assert proba.shape == (6, 5) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_balanced_class_weights_average_one_per_row():
    from pipeline.modeling.models import class_weights

    balanced = AnnParams(class_weight="balanced")
    # binary: the formula the churn results were trained with, 0.5 / class frequency
    assert class_weights(balanced, np.array([0, 0, 0, 1], "float32")) == {0: 0.5 / 0.75, 1: 0.5 / 0.25}
    # multi-class: counts 3, 1, 2 of 6 rows -> 6 / (3 classes * count); class 3 never occurs
    weights = class_weights(balanced, np.array([0, 0, 0, 1, 2, 2]), n_classes=4)
    assert weights == pytest.approx({0: 2 / 3, 1: 2.0, 2: 1.0, 3: 1.0})
    assert (3 * weights[0] + 1 * weights[1] + 2 * weights[2]) / 6 == pytest.approx(1.0)
    assert class_weights(AnnParams(), np.array([0, 1, 2]), n_classes=3) is None
    # recurrent models: off by default (binary and multi-class), the same weights when asked for
    assert class_weights(RecurrentParams(), np.array([0, 0, 0, 1], "float32")) is None
    assert class_weights(RecurrentParams(), np.array([0, 1, 2]), n_classes=3) is None
    recurrent = RecurrentParams(class_weight="balanced")
    assert class_weights(recurrent, np.array([0, 0, 0, 1], "float32")) == {0: 0.5 / 0.75, 1: 0.5 / 0.25}
    assert class_weights(recurrent, np.array([0, 0, 0, 1, 2, 2]), n_classes=4) == pytest.approx(weights)


def test_a_multiclass_dataset_trains_with_integer_labels_and_class_weights():
    """build_for reads the number of classes from the data; fit takes the int labels as they are."""
    from pipeline.modeling.models import build_for, fit, predict_proba, seed_everything

    seed_everything(0)
    rng = np.random.default_rng(0)
    y = np.arange(40, dtype="int32") % 3
    x = (rng.normal(size=(40, 4)) + y[:, None]).astype("float32")
    head = Split(x[:9], y[:9])
    data = Dataset(Split(x, y), head, head, n_classes=3, class_names=("a", "b", "c"))
    params = AnnParams(hidden_units=[4], epochs=2, batch_size=8, class_weight="balanced", patience=1)
    model = build_for("ann", params, data)
    history = fit(model, params, data)
    assert np.isfinite(history.history["loss"]).all() and "val_accuracy" in history.history
    assert predict_proba(model, data.test.x).shape == (9, 3)


@pytest.mark.parametrize(
    ("trained", "best", "warned"),
    [
        (8, 5, False),  # early stopping fired at epoch 8, three epochs after the best, before the cap
        (20, 17, False),  # the cap and early stopping fell on the same epoch: best 17 + patience 3
        (20, 18, True),  # still improving within patience when the cap of 20 ended it
        (20, 20, True),  # the last epoch was the best
    ],
)
def test_the_epoch_cap_is_a_warning_only_when_it_cut_short_a_model_still_improving(trained, best, warned):
    from pipeline.stages.train import epoch_cap_warning

    warning = epoch_cap_warning("churn", "ann", trained, best, epochs=20, patience=3)
    assert (warning is not None) == warned
    if warned:
        assert f"best at epoch {best}" in warning and "tasks.churn.models.ann.epochs" in warning
