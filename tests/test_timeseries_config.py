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


@pytest.mark.parametrize(
    ("frequency", "season"),
    [("h", 24), ("30min", 48), ("D", 7), ("B", 5), ("W-SUN", 52), ("MS", 12), ("QS", 4), ("YS", 1)],
)
def test_a_section_that_names_only_its_frequency_gets_windows_from_its_season(frequency, season) -> None:
    schema = {"time": "t", "target": "y", "frequency": frequency}
    config = TimeseriesTaskConfig.model_validate(section(schema=schema, encode={}))
    assert config.encode.season_length == season
    assert config.encode.horizon == season  # one season ahead
    assert config.encode.lookback == max(2 * season, 4)  # two seasons back


def test_what_encode_gives_is_kept_and_only_the_rest_derived() -> None:
    schema = {"time": "t", "target": "y", "frequency": "MS"}
    config = TimeseriesTaskConfig.model_validate(section(schema=schema, encode={"horizon": 3}))
    assert (config.encode.lookback, config.encode.horizon, config.encode.season_length) == (24, 3, 12)
    no_encode = section(schema=schema)
    del no_encode["encode"]
    assert TimeseriesTaskConfig.model_validate(no_encode).encode.lookback == 24


@pytest.mark.parametrize("frequency", ["infer", "rows", "5D", "min"])
def test_a_frequency_that_names_no_season_needs_season_length(frequency) -> None:
    schema = {"time": "t", "target": "y", "frequency": frequency}
    with pytest.raises(ValidationError, match=r"encode\.season_length: not given"):
        TimeseriesTaskConfig.model_validate(section(schema=schema, encode={"lookback": 8}))


def test_a_section_without_encode_still_gets_the_stage_key_dvc_reads() -> None:
    from pipeline.core.task_config import missing_stage_keys

    no_encode = section(schema={"time": "t", "target": "y", "frequency": "QS"})
    del no_encode["encode"]
    config = TimeseriesTaskConfig.model_validate(no_encode)
    assert config.encode.season_length == 4 and missing_stage_keys(config)["encode"] == {}
