"""Serving a forecaster (issue 22): a posted history is one input, answered with the next
``horizon`` timestamps and values; too short a history, a gap or a wrong frequency gets a 400 naming
what is wrong; ``predict --history`` prints the same answer. A real bundle (the generated series
through encode, a GRU forecaster, the ONNX builder, the manifest) served by the project's service."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from test_timeseries_kind import config, rows

from pipeline.core.errors import DataError
from pipeline.core.io import write_text
from pipeline.core.timeseries_config import SeriesRecurrentParams
from pipeline.encoders.dataset import load_dataset, load_splits_frame
from pipeline.encoders.registry import load_encoder
from pipeline.stages.encode import encode_frame, write_encoded
from pipeline.stages.export import convert, write_bundle_manifest


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, object]:
    return forecaster_bundle(tmp_path)


def forecaster_bundle(tmp_path: Path) -> tuple[Path, object]:
    """An (untrained: serving does not care) GRU forecaster's bundle, and its Keras model."""
    from pipeline.modeling import models

    cfg, encoded, model_dir = config(known=False), tmp_path / "encoded", tmp_path / "model"
    write_encoded(encoded, *encode_frame(rows(known=False), cfg, seed=0))
    models.seed_everything(0)
    model = models.build_for("gru", SeriesRecurrentParams(units=4), load_dataset("load", encoded))
    proto, _ = convert(model, "load", "gru", opset=17)
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(proto.SerializeToString())
    write_text(model_dir / "encoder.json", (encoded / "encoder.json").read_text())
    measured = {"val": {"mase": 0.5}, "test": {"mase": 0.6}, "onnx_parity_bound": 1e-5}
    encoder = load_encoder(encoded / "encoder.json")
    write_bundle_manifest(
        model_dir, "load", "gru", cfg, encoder, measured, lambda: load_splits_frame("load", encoded)
    )
    return model_dir, model


def _post(service: object, records: list[dict]) -> dict:
    body = json.dumps({"dataframe_records": records}).encode()
    return service.invocations(body, "application/json")  # type: ignore[attr-defined]


def test_a_posted_history_is_answered_with_the_next_timestamps_and_values(bundle) -> None:
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    model_dir, model = bundle
    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir))
    history = rows(known=False).tail(30).reset_index(drop=True)
    answer = _post(service, history.to_dict(orient="records"))["predictions"]
    assert len(answer) == 1 and len(answer[0]["values"]) == 6
    assert answer[0]["timestamps"] == [f"2024-01-11T{h:02d}:00:00" for h in range(6)]
    window = service.predictor.encoder.transform(history)
    assert answer[0]["values"] == pytest.approx(model(window).numpy()[0], abs=1e-4)

    csv = service.invocations(history.to_csv(index=False).encode(), "text/csv")["predictions"]
    assert csv[0]["values"] == pytest.approx(answer[0]["values"], abs=1e-6)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda h: h.tail(10), "10 steps of history; the model reads the last 24"),
        (lambda h: h.drop(index=[20]), "1 step missing from the 'h' history"),
        (lambda h: h.iloc[::2], "missing from the 'h' history"),  # every 2 hours: not the frequency
    ],
)
def test_a_history_the_model_cannot_read_gets_a_400_naming_why(bundle, change, named) -> None:
    from pipeline.serving.inference import Predictor
    from pipeline.serving.requests import RequestError
    from pipeline.serving.service import ScoringService

    model_dir, _ = bundle
    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir))
    history = change(rows(known=False).tail(60).reset_index(drop=True))
    with pytest.raises(RequestError) as refused:
        _post(service, history.to_dict(orient="records"))
    assert refused.value.status == 400
    assert any(named in e.message for e in refused.value.errors), refused.value.errors


def test_predict_history_prints_the_next_steps_or_refuses_naming_why(bundle, tmp_path, capsys) -> None:
    from pipeline.commands import predict

    model_dir, _ = bundle
    path = tmp_path / "recent.csv"
    rows(known=False).tail(30).to_csv(path, index=False)
    assert predict.main(["load", "--model", str(model_dir), "--history", str(path), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["timestamp"] for r in printed][:1] == ["2024-01-11T00:00:00"] and len(printed) == 6
    assert all(np.isfinite(r["value"]) for r in printed)

    rows(known=False).tail(12).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"recent\.csv: 12 steps of history"):
        predict.main(["load", "--model", str(model_dir), "--history", str(path)])
    with pytest.raises(DataError, match="this model reads --history"):
        predict.main(["load", "--model", str(model_dir), "--input", str(path)])


def test_the_registered_pyfunc_answers_a_history_once_and_refuses_a_short_one(bundle) -> None:
    """What ``mlflow models serve`` runs for the registered model (OnnxPipelineModel)."""
    from types import SimpleNamespace

    from mlflow.exceptions import MlflowException

    from pipeline.serving.pyfunc_model import OnnxPipelineModel

    model_dir, model = bundle
    pyfunc = OnnxPipelineModel()
    pyfunc.load_context(SimpleNamespace(artifacts={"model_dir": str(model_dir)}))
    history = rows(known=False).tail(30).reset_index(drop=True)
    out = pyfunc.predict(None, history)
    assert len(out) == 1 and out["timestamps"][0][0] == "2024-01-11T00:00:00"
    window = pyfunc.predictor.encoder.transform(history)
    assert out["values"][0] == pytest.approx(model(window).numpy()[0], abs=1e-4)
    with pytest.raises(MlflowException, match="10 steps of history"):
        pyfunc.predict(None, history.tail(10))


def test_export_records_the_latest_history_and_the_page_starts_from_it_or_from_nothing(bundle) -> None:
    """The manifest's input carries the history register shows the model with (JSON, in the bundle:
    a copied model folder keeps it); the page's box gets it as the CSV a user would paste, and a
    bundle exported before it gets an empty box."""
    import io

    import pandas as pd

    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService
    from pipeline.tasks import timeseries

    model_dir, _ = bundle
    predictor = Predictor.from_dir(model_dir)
    latest = rows(known=False).tail(24).reset_index(drop=True)  # the model reads 24 steps
    example = json.loads((model_dir / "manifest.json").read_text())["input"]["example"]
    assert example == latest.to_dict(orient="records")
    fields = timeseries.page_fields(predictor.encoder, predictor.manifest.input)
    assert fields["example_csv"].splitlines()[0] == "timestamp,load,temperature"
    assert pd.read_csv(io.StringIO(fields["example_csv"]), dtype=str).to_dict("records") == example
    answered = _post(ScoringService(predictor, str(model_dir)), example)["predictions"]
    assert answered[0]["timestamps"][0] == "2024-01-11T00:00:00"  # the step after the series' last

    older = {k: v for k, v in predictor.manifest.input.items() if k != "example"}
    assert timeseries.page_fields(predictor.encoder, older)["example_csv"] == ""
