"""The stages' hooks for a forecast (issue 22), with no branch on the kind: a Dataset whose target
record is a forecast gives a forecaster of ``horizon`` outputs, evaluate scores it with MASE and
intervals over whole origins, export converts it with the native GRU and checks parity on
``[n, horizon]``, and the bundle's width check reads the window ``[lookback, features]`` whole.
Real components throughout: the generated series, encode's core and writer, Keras, ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from test_timeseries_kind import config, rows

from pipeline.core.bootstrap import paired_difference
from pipeline.core.config import EvaluateConfig
from pipeline.core.io import write_text
from pipeline.core.metrics import gate_metric, higher_is_better
from pipeline.core.timeseries_config import SeriesRecurrentParams
from pipeline.encoders.dataset import load_dataset, load_splits_frame, recorded_mase_scale
from pipeline.encoders.registry import load_encoder
from pipeline.stages.encode import encode_frame, write_encoded
from pipeline.stages.evaluate import evaluation
from pipeline.stages.export import convert, max_abs_diff, write_bundle_manifest
from pipeline.stages.register import pick_challenger
from pipeline.tasks import series_stages
from pipeline.tasks import timeseries as kind


def test_a_forecaster_is_built_scored_exported_and_loaded_through_the_generic_hooks(
    tmp_path: Path,
) -> None:
    from pipeline.modeling import models
    from pipeline.serving.inference import Predictor

    cfg, encoded = config(), tmp_path / "encoded"
    write_encoded(encoded, *encode_frame(rows(), cfg, seed=0))
    data = load_dataset("load", encoded)
    assert data.horizon == 6

    models.seed_everything(0)
    params = SeriesRecurrentParams(units=8, epochs=2, patience=1, batch_size=32)
    model = models.build_for("gru", params, data)
    assert tuple(model.output.shape) == (None, 6) and tuple(model.input.shape) == (None, 24, 3)
    models.fit(model, params, data)
    p_val, p_test = models.predict_proba(model, data.val.x), models.predict_proba(model, data.test.x)

    settings = EvaluateConfig(bootstrap_resamples=200)
    doc = evaluation(
        data.val.y,
        p_val,
        data.test.y,
        p_test,
        list(data.class_names),
        settings,
        0,
        lambda y, p, n: kind.metrics(y, p, n, data.target),
        lambda *args: kind.evaluation_extras(cfg, *args),
    )
    test = doc["test"]
    low, high = test["mase_ci"]
    assert low <= test["mase"] <= high and test["mase"] == pytest.approx(
        test["mae"] / data.target["mase_scale"]
    )
    assert test["mase_ci"] == pytest.approx(np.array(test["mae_ci"]) / data.target["mase_scale"], abs=1e-5)
    assert test["origins"] == 8 and len(test["by_step"]["mae"]) == 6 and doc["n"]["test"] == 8
    gate = gate_metric(cfg, data.n_classes)
    assert gate == "mase" and not higher_is_better(f"val_{gate}")  # promote: lower validation MASE
    scale = recorded_mase_scale("load", encoded)
    seasonal = series_stages.baselines("load", cfg, 0, directory=encoded)["seasonal_naive"]["test_scores"]
    for metric in ("mase", "mae"):  # compare's and promote's paired difference, over whole origins
        d = paired_difference(
            data.test.y, p_test, seasonal, 1, metric, resamples=200, level=0.9, seed=0, mase_scale=scale
        )
        apart = kind.metrics(data.test.y, p_test, 1, data.target)[metric]
        apart -= kind.metrics(data.test.y, seasonal, 1, data.target)[metric]
        assert d.difference == pytest.approx(apart, rel=1e-6) and d.low <= d.difference <= d.high
    entries = [{"arch": a, "gate_metric": gate, "val_score": v} for a, v in (("gru", 0.9), ("ann", 0.7))]
    assert pick_challenger(entries)["arch"] == "ann"

    proto, used = convert(model, "load", "gru", opset=17)
    assert used == "builder" and "GRU" in {node.op_type for node in proto.graph.node}
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(proto.SerializeToString())
    write_text(model_dir / "encoder.json", (encoded / "encoder.json").read_text())
    encoder = load_encoder(encoded / "encoder.json")
    onnx_test = Predictor(model_dir / "model.onnx", encoder, threads=0).predict_encoded(data.test.x)
    assert onnx_test.shape == (8, 6) and max_abs_diff(p_test, onnx_test) <= 1e-5

    measured = {**doc, "onnx_parity_bound": 1e-5}
    write_bundle_manifest(
        model_dir, "load", "gru", cfg, encoder, measured, lambda: load_splits_frame("load", encoded)
    )
    predictor = Predictor.from_dir(model_dir)  # the width check: 24 steps x 3 features
    example = predictor.manifest.input["example"]  # the page's start: 24 steps, then 6 known ahead
    assert [r["load"] is None for r in example] == [False] * 24 + [True] * 6
    assert predictor.score_records(example).valid.tolist() == [True]
    assert predictor.output["val_mase"] == doc["val"]["mase"] and predictor.output["horizon"] == 6
    history = rows().tail(30).reset_index(drop=True)
    window = predictor.encoder.transform(history)
    assert predictor.predict_encoded(window) == pytest.approx(model(window).numpy(), abs=1e-4)


def test_relative_to_seasonal_starts_at_the_seasonal_naive_and_serves_it_in_the_target_s_units(
    tmp_path: Path,
) -> None:
    """encode.relative_to: seasonal, through encode's record, build_for, a save and load, the
    builder's export and serving: an untrained forecaster answers the seasonal naive forecast (the
    same hour a day earlier, in MW), and the bundle answers what Keras does within 1e-5."""
    import keras

    from pipeline.modeling import models
    from pipeline.serving.inference import Predictor

    plain = config()
    cfg = plain.model_copy(update={"encode": plain.encode.model_copy(update={"relative_to": "seasonal"})})
    encoded = tmp_path / "encoded"
    write_encoded(encoded, *encode_frame(rows(), cfg, seed=0))
    data = load_dataset("load", encoded)
    assert data.target is not None and data.target["relative_to"] == "seasonal"
    models.seed_everything(0)
    model = models.build_for("gru", SeriesRecurrentParams(units=8), data)
    seasonal = series_stages.baselines("load", cfg, 0, directory=encoded)["seasonal_naive"]["test_scores"]
    untrained = model.predict(data.test.x, verbose=0)
    assert untrained - data.target["residual_center"] == pytest.approx(seasonal, abs=1e-2)

    rng = np.random.default_rng(1)  # trained weights, away from the zero head; the baseline fixed
    for layer in model.layers:
        if layer.name != "baseline":
            layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in layer.get_weights()])
    model.save(tmp_path / "gru.keras")
    model = keras.models.load_model(tmp_path / "gru.keras")
    p_test = model.predict(data.test.x, verbose=0)
    proto, used = convert(model, "load", "gru", opset=17)
    assert used == "builder"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(proto.SerializeToString())
    encoder = load_encoder(encoded / "encoder.json")
    onnx_test = Predictor(model_dir / "model.onnx", encoder, threads=0).predict_encoded(data.test.x)
    assert max_abs_diff(p_test, onnx_test) <= 1e-5
    assert abs(float(onnx_test.mean()) - float(data.test.y.mean())) < 3 * data.target["scale"]
