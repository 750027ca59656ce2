"""The typed section of a forecasting task (``kind: timeseries``): what it accepts and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.core.config import AnnParams
from pipeline.core.timeseries_config import SeriesRecurrentParams, TimeseriesTaskConfig


def section(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "timeseries",
        "data": {"source": "data/synthetic/load.csv"},
        "schema": {
            "time": "timestamp",
            "target": "load",
            "covariates": {
                "holiday": {"role": "known", "min": 0, "max": 1},
                "temperature": {"role": "past", "min": -30, "max": 50},
                "weekday": {"role": "known", "type": "category", "values": ["mon", "tues"]},
            },
        },
        "encode": {"lookback": 48, "horizon": 24, "season_length": 24, "calendar": ["hour_of_day"]},
        "models": {"ann": {}, "gru": {"units": 16}},
    }
    for key, value in changes.items():
        base[key] = value
    return base


def test_a_whole_section_loads_with_its_defaults() -> None:
    config = TimeseriesTaskConfig.model_validate(section(tune={"gru": {"n_trials": 2}, "ann": {}}))
    assert config.schema_.frequency == "infer" and config.schema_.gaps == "error"
    assert config.split.by == "fractions" and config.encode.calendar_encoding == "cycles"
    assert isinstance(config.models["ann"], AnnParams)
    assert isinstance(config.models["gru"], SeriesRecurrentParams) and config.models["gru"].units == 16
    assert config.promote.metric == "mase"
    assert config.baselines == ["naive", "seasonal_naive", "linear_ar", "hist_gradient_boosting", "ets"]
    assert "embedding_dim" not in config.tune["gru"].space and "units" in config.tune["gru"].space
    assert "hidden_units" in config.tune["ann"].space
    assert config.schema_.numbers == ["load", "holiday", "temperature"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"split": {"by": "dates", "val_start": "2000-01-05"}}, "needs val_start and test_start"),
        (
            {"split": {"by": "dates", "val_start": "2000-02-01", "test_start": "2000-01-01"}},
            "must come before",
        ),
        ({"split": {"by": "column"}}, "needs column"),
        ({"split": {"val_start": "2000-01-01"}}, "only when splitting by dates"),
        ({"split": {"by": "column", "column": "load"}}, "is a column of the schema"),
        ({"encode": {"lookback": 0, "season_length": 24}}, "lookback"),
        ({"encode": {"lookback": 4, "season_length": 2, "calendar": ["day_of_week"] * 2}}, "twice"),
        ({"models": {"transformer": {}}}, "models"),
        ({"models": {"lstm": {"hidden_units": [4]}}}, "hidden_units"),
        ({"promote": {"metric": "accuracy"}}, "promote.metric 'accuracy'"),
        ({"baselines": ["arima"]}, "baselines"),
    ],
)
def test_what_does_not_fit_is_refused_by_name(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeseriesTaskConfig.model_validate(section(**changes))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"frequency": "fortnightly"}, "pandas offset alias"),
        ({"gaps": "fill"}, "gaps"),
        ({"covariates": {"x": {"role": "future"}}}, "role"),
        ({"covariates": {"x": {"role": "past", "type": "category"}}}, "lists its values"),
        ({"covariates": {"x": {"role": "past", "values": ["a"]}}}, "only for a category"),
        ({"covariates": {"x": {"role": "past", "values": [True, False], "type": "category"}}}, "YAML"),
        ({"covariates": {"timestamp": {"role": "past"}}}, "named twice"),
        ({"min": 5, "max": 1}, "must be below"),
    ],
)
def test_a_schema_that_does_not_hold_together_is_refused(schema: dict[str, Any], message: str) -> None:
    given = {"time": "timestamp", "target": "load", **schema}
    with pytest.raises(ValidationError, match=message):
        TimeseriesTaskConfig.model_validate(section(schema=given))


@pytest.mark.parametrize("frequency", ["D", "B", "h", "30min", "W-SUN", "MS", "QS", "QS-OCT", "15min"])
def test_frequencies_as_pandas_writes_them(frequency: str) -> None:
    given = {"time": "timestamp", "target": "load", "frequency": frequency}
    assert TimeseriesTaskConfig.model_validate(section(schema=given)).schema_.frequency == frequency
