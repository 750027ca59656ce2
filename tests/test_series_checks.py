"""The validate stage's checks of a series (pipeline/tasks/series_checks.py) run by real Great
Expectations on the raw rows: each broken timestamp, gap, off-frequency step and value named by its
data row, and a clean series passing."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.generators.load_series import load_frame
from pipeline.stages.validate import _parse_numbers
from pipeline.tasks.series_checks import expectations, helper_columns, prepare, step_counts

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
gx = pytest.importorskip("great_expectations")


def config(**schema: Any) -> TimeseriesTaskConfig:
    given = {
        "time": "timestamp",
        "target": "load",
        "min": 0,
        "covariates": {"temperature": {"role": "past"}, "holiday": {"role": "known", "min": 0, "max": 1}},
        **schema,
    }
    return TimeseriesTaskConfig.model_validate(
        {
            "kind": "timeseries",
            "data": {"source": "x.csv"},
            "schema": given,
            "encode": {"lookback": 24, "season_length": 24},
            "models": {"gru": {}},
        }
    )


def failures(frame: pd.DataFrame, cfg: TimeseriesTaskConfig) -> dict[tuple[str, str], list[int]]:
    """Each failed expectation (type, the user's column) with the data rows it names."""
    data = frame.reset_index(drop=True).copy()
    data.index = pd.RangeIndex(1, len(data) + 1)  # data rows, as validate's prepare_frame numbers them
    for column in cfg.schema_.numbers:  # as prepare_frame parses the kind's number columns
        data[column] = _parse_numbers(data[column])
    prepare(data, cfg)
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name="series"))
    for check in expectations(cfg, gx.expectations):
        suite.add_expectation(check)
    batch = (
        context.data_sources.add_pandas("s")
        .add_dataframe_asset("s")
        .add_batch_definition_whole_dataframe("s")
    )
    result = batch.get_batch(batch_parameters={"dataframe": data}).validate(
        suite, result_format={"result_format": "COMPLETE"}
    )
    out = {}
    for r in result.results:
        if not r.success:
            rows = [int(i) for i in (r.result or {}).get("unexpected_index_list") or []]
            out[(r.expectation_config.type, (r.expectation_config.meta or {}).get("column"))] = rows
    return out


def rows() -> pd.DataFrame:
    return load_frame(24 * 4, seed=2).astype(str)


def test_a_clean_series_passes_and_the_helpers_are_listed() -> None:
    assert failures(rows(), config()) == {}
    assert helper_columns(config()) == [
        "timestamp (as time)", "timestamp (steps since the row before)", "load (as number)",
        "temperature (as number)", "holiday (as number)",
    ]  # fmt: skip


def test_timestamps_that_do_not_parse_repeat_or_go_back_are_named_by_row() -> None:
    frame = rows()
    frame.loc[4, "timestamp"] = "yesterday"
    frame.loc[9, "timestamp"] = frame.loc[8, "timestamp"]
    frame.loc[[20, 21], "timestamp"] = frame.loc[[21, 20], "timestamp"].to_numpy()
    found = failures(frame, config(frequency="h"))
    assert found[("expect_column_values_to_not_be_null", "timestamp")] == [5]
    assert found[("expect_column_values_to_be_unique", "timestamp")] == [9, 10]
    assert 22 in found[("expect_column_values_to_be_increasing", "timestamp")]


def test_a_gap_and_an_off_frequency_step_are_named_and_the_policy_decides() -> None:
    frame = rows().drop(index=[30, 31]).reset_index(drop=True)
    frame.loc[50, "timestamp"] = frame.loc[50, "timestamp"][:-2] + "30"
    found = failures(frame, config(frequency="h"))
    assert found[("expect_column_values_to_be_between", "timestamp")] == [31, 51]
    assert found[("expect_column_values_to_match_regex", "timestamp")] == [51]
    allowed = failures(frame, config(frequency="h", gaps="drop-window"))
    assert allowed[("expect_column_values_to_be_between", "timestamp")] == [51]  # the gap is allowed


def test_blank_and_out_of_range_values_are_named() -> None:
    frame = rows()
    frame.loc[3, "load"] = ""
    frame.loc[7, "holiday"] = "2"
    found = failures(frame.replace("", None), config())
    assert found[("expect_column_values_to_not_be_null", "load")] == [4]
    assert found[("expect_column_values_to_be_between", "holiday")] == [8]
    assert ("expect_column_values_to_not_be_null", "load") not in failures(
        frame.replace("", None), config(gaps="interpolate")
    )  # a blank target is a gap, which interpolate fills


def test_step_counts_on_business_days() -> None:
    days = pd.Series(pd.bdate_range("2024-01-01", periods=8)).drop(index=[3])
    assert step_counts(days.reset_index(drop=True), "B").tolist()[1:] == [1, 1, 2, 1, 1, 1]
    assert np.isnan(step_counts(days, "B").iloc[0])
