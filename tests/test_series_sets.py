"""The ready params of the two real forecasting tasks (params/real/, issue 22): each task section
loads as a typed timeseries section, pins its file, lists its models, and, where ../shared/data holds
the files, reproduces the data README's reference baselines through the pipeline's own pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.commands import real_data
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.data.readers import read_csv_file
from pipeline.data.series import regular_series
from pipeline.encoders.timeseries import WindowEncoder
from pipeline.tasks.series_baselines import baseline_metrics
from pipeline.tasks.series_split import flag_values, origins, periods

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SETS = REPO / "params" / "real"


def task_of(name: str, data: str = "/d") -> tuple[dict[str, Any], TimeseriesTaskConfig]:
    requires, partial = real_data.read_set(SETS / f"{name}.yaml")
    assert requires and all(sha and len(sha) == 64 for sha in requires.values())
    partial = real_data.substitute(partial, data)
    (section,) = partial["tasks"].values()
    config = TimeseriesTaskConfig.model_validate(section)
    assert config.data.sha256 in requires.values()
    return partial, config


@pytest.mark.parametrize("name", ["nyse", "demand"])
def test_each_set_is_a_whole_typed_task_with_its_models_listed(name: str) -> None:
    partial, config = task_of(name)
    assert config.data.source.startswith("/d/")
    listed = {(ref["task"], ref["arch"]) for ref in partial["models"].values()}
    assert listed == {(name, arch) for arch in config.models}
    assert all(tune.enabled is False for tune in config.tune.values())


def series_of(name: str) -> tuple[Any, np.ndarray, WindowEncoder]:
    _, config = task_of(name, str(SHARED))
    rows = read_csv_file(Path(config.data.source), Path(config.data.source).name)
    series, report = regular_series(rows.frame, config.schema_, rows.label)
    column = config.split.column
    flags = flag_values(rows.frame[column], column) if column else None
    period = periods(series.index, config.split, flags)
    encoder = WindowEncoder.fit(series[period == "train"], config.schema_, config.encode, report.frequency)
    return series, period, encoder


@pytest.mark.skipif(not (SHARED / "nyse_daily.csv").exists(), reason="../shared/data is absent")
def test_nyse_linear_autoregression_matches_the_reference() -> None:
    series, period, encoder = series_of("nyse")
    at = {p: origins(period, p, 1, 1) for p in ("train", "val", "test")}
    assert len(at["test"]) == 1770
    (result,) = baseline_metrics(["linear_ar"], series, period, encoder, at, seed=42).values()
    assert result["test"]["r2"] == pytest.approx(0.477, abs=0.005)  # README: 0.460 with day_of_week


@pytest.mark.skipif(not (SHARED / "taylor_demand.csv").exists(), reason="../shared/data is absent")
def test_demand_seasonal_naive_matches_the_reference() -> None:
    series, period, encoder = series_of("demand")
    at = {p: origins(period, p, 48, 1 if p == "train" else 48) for p in ("train", "val", "test")}
    assert len(at["test"]) == 14 and series.index[at["test"][0]].hour == 0
    (result,) = baseline_metrics(["seasonal_naive"], series, period, encoder, at, seed=42).values()
    assert result["test"]["mape"] == pytest.approx(0.0173, abs=0.0005)  # README: 1.73%
