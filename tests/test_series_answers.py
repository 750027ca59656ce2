"""What a forecaster's bundle records and how a forecast is answered (pipeline/tasks/series_answers.py),
from a real encoder fitted on the generated series and a posted history."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.generators.load_series import load_frame
from pipeline.tasks import series_stages
from pipeline.tasks.series_answers import forecast_answers, forecast_table, input_spec, output_contract

CONFIG = TimeseriesTaskConfig.model_validate(
    {
        "kind": "timeseries",
        "data": {"source": "x.csv"},
        "schema": {"time": "timestamp", "target": "load", "covariates": {"temperature": {"role": "past"}}},
        "encode": {"lookback": 24, "horizon": 6, "season_length": 24, "calendar": ["hour_of_day"]},
        "models": {"gru": {}},
    }
)


def test_the_bundle_records_what_a_history_must_be_and_what_comes_back() -> None:
    frame = load_frame(24 * 5, seed=0).drop(columns=["holiday"]).astype(str)
    encoder = series_stages.fit_encoder(frame, CONFIG)
    spec = input_spec(encoder, CONFIG)
    assert spec["window"] == [24, 4] and spec["width"] == 96 and spec["frequency"] == "h"
    assert spec["columns"] == ["timestamp", "load", "temperature"] and spec["known_rows"] == 0
    assert json.loads(json.dumps(spec)) == spec  # JSON as the manifest holds it
    contract = output_contract(CONFIG, {"val": {"mase": 0.71}})
    assert contract == {"target": "load", "horizon": 6, "season_length": 24, "val_mase": 0.71}
    history = encoder.history(frame.tail(30).reset_index(drop=True))
    answers = forecast_answers(np.arange(6.0), [encoder.future_times(history)])
    assert answers[0]["timestamps"][0] == "2024-01-06T00:00:00" and answers[0]["values"][-1] == 5.0
    table = forecast_table(answers[0], "load", "timestamp")
    assert list(table.columns) == ["timestamp", "load"] and len(table) == 6


def test_a_refused_history_answers_nothing_and_counts_must_agree() -> None:
    times = pd.date_range("2024-01-01", periods=2, freq="h")
    answers = forecast_answers(np.array([[1.0, 2.0], [np.nan, np.nan]]), [times, times])
    assert answers[1] == {"timestamps": None, "values": None} and answers[0]["values"] == [1.0, 2.0]
    with pytest.raises(ValueError, match="2 forecasts but 1 histories"):
        forecast_answers(np.zeros((2, 2)), [times])
