"""The forecasting kind module (pipeline/tasks/timeseries.py) against the kind contract, on the
generated series run through encode's own pure core and writer: MASE's scale reaches the kind's
metrics through the Dataset's record, as evaluate and tune pass it."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import DataError
from pipeline.core.forecast_metrics import forecast_metrics
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.encoders.dataset import load_dataset
from pipeline.generators.load_series import load_frame
from pipeline.stages.encode import encode_frame, write_encoded
from pipeline.tasks import series_stages
from pipeline.tasks import timeseries as kind
from pipeline.tasks.contract import MEMBERS, TaskKind


def config(known: bool = True) -> TimeseriesTaskConfig:
    covariates: dict[str, Any] = {"temperature": {"role": "past"}}
    if known:
        covariates["holiday"] = {"role": "known", "min": 0, "max": 1}
    return TimeseriesTaskConfig.model_validate(
        {
            "kind": "timeseries",
            "data": {"source": "data/synthetic/load.csv"},
            "schema": {"time": "timestamp", "target": "load", "covariates": covariates},
            "split": {"val_fraction": 0.2, "test_fraction": 0.2},
            "encode": {"lookback": 24, "horizon": 6, "season_length": 24, "origin_every": 6},
            "baselines": ["naive", "seasonal_naive"],
            "models": {"gru": {}},
        }
    )


def rows(known: bool = True) -> pd.DataFrame:
    frame = load_frame(24 * 10, seed=3).astype(str)  # as ingest stores the cells
    return frame if known else frame.drop(columns=["holiday"])


def test_the_module_answers_every_member_of_the_contract_with_its_parameters() -> None:
    for member in MEMBERS:
        wanted = list(inspect.signature(getattr(TaskKind, member)).parameters)[1:]
        assert list(inspect.signature(getattr(kind, member)).parameters) == wanted, member
    assert "cross-validation" in (kind.cross_validation_off() or "")


def test_mase_reaches_the_metrics_through_encoder_json_and_the_dataset(tmp_path) -> None:
    cfg = config()
    encoder, target, frame, arrays = encode_frame(rows(), cfg, seed=0)
    write_encoded(tmp_path, encoder, target, frame, arrays)
    data = load_dataset("load", tmp_path)
    assert data.n_classes == 1 and data.class_names == ()
    assert data.target is not None and data.target["mase_scale"] == pytest.approx(encoder.mase_scale)
    assert data.test.x.shape == (8, 24, encoder.n_features) and data.test.y.shape == (8, 6)

    results = series_stages.baselines("load", cfg, seed=0, directory=tmp_path)
    seasonal = results["seasonal_naive"]
    figures = kind.metrics(seasonal["test_labels"], seasonal["test_scores"], data.n_classes, data.target)
    assert figures == pytest.approx({k: v for k, v in seasonal["test"].items() if k in figures})
    assert figures["mase"] == pytest.approx(figures["mae"] / encoder.mase_scale)
    assert set(figures) == {"mae", "rmse", "r2", "mape", "smape", "mase"}
    assert figures["mase"] < kind.metrics(*_pair(results["naive"]), 1, data.target)["mase"]

    with pytest.raises(DataError, match=r"encoder\.json's 'forecast' record"):
        kind.metrics(data.test.y, data.test.y, 1)


def _pair(result: dict[str, Any]) -> tuple[Any, Any]:
    return result["test_labels"], result["test_scores"]


def test_the_benchmark_history_encodes_back_to_the_window_in_its_numbers() -> None:
    from tiny_models import load_config, load_rows

    cfg, frame = load_config(), load_rows()
    encoder = series_stages.fit_encoder(frame, cfg)
    window = encoder.transform(frame.tail(30).reset_index(drop=True))[0]
    (records,) = kind.bench_inputs(encoder, window[None])  # one history per window
    assert len(records) == 24 and records[0]["timestamp"] == "2024-01-01T00:00:00"
    again = encoder.transform(encoder.records_to_frame(records))[0]
    numbers = [i for i, n in enumerate(encoder.feature_names) if not n.startswith("hour_of_day")]
    assert again[:, numbers] == pytest.approx(window[:, numbers], abs=1e-5)


def test_evaluate_gets_the_error_by_step_and_the_number_of_origins() -> None:
    y = np.arange(12.0).reshape(4, 3)
    p = y + np.array([0.0, 1.0, 2.0])
    extras = kind.evaluation_extras(config(), y, p, y, p + 1, None, 0)
    assert extras["val_by_step"]["by_step"]["mae"] == [0.0, 1.0, 2.0]
    assert extras["test"] == {"by_step": forecast_metrics(y, p + 1, 1.0)["by_step"], "origins": 4}


def test_the_registered_example_is_a_history_the_encoder_answers() -> None:
    for known in (True, False):
        cfg, frame = config(known), rows(known)
        encoder = series_stages.fit_encoder(frame, cfg)
        example = kind.input_example(frame.assign(split="train"), cfg)
        assert list(example.columns) == encoder.input_columns
        assert len(example) == 24 + (6 if known else 0)
        if known:  # the forecast steps' rows carry the known covariate and leave the target blank
            assert example["load"].tail(6).isna().all() and example["load"].head(24).notna().all()
        window = encoder.transform(example)
        assert window.shape == (1, 24, encoder.n_features) and np.isfinite(window).all()


def test_a_posted_history_is_answered_with_the_next_timestamps_or_refused() -> None:
    cfg, frame = config(known=False), rows(known=False)
    encoder = series_stages.fit_encoder(frame, cfg)
    predictor = SimpleNamespace(encoder=encoder)
    history = frame.tail(30).reset_index(drop=True)
    records = history.to_dict(orient="records")
    answers = kind.answers(predictor, np.arange(6.0)[None], None, records, {})
    assert answers[0]["timestamps"][:2] == ["2024-01-11T00:00:00", "2024-01-11T01:00:00"]
    assert answers[0]["values"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    columns = kind.predict_columns(answers, None, None)
    assert columns["timestamp"] == answers[0]["timestamps"] and len(columns["value"]) == 6

    short = history.tail(10).to_dict(orient="records")
    assert kind.answers(predictor, np.full((1, 6), np.nan), None, short, {}) == [
        {"timestamps": None, "values": None}
    ]
    assert encoder.check_records(short)[0].message.startswith("10 steps of history")
    assert kind.check_request_params({}, {}) == {}
    with pytest.raises(ValueError, match="unknown param"):
        kind.check_request_params({"top_k": 3}, {})
