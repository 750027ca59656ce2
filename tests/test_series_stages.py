"""The forecasting kind's training side as the stages call it (pipeline/tasks/series_stages.py), on
the generated series as ingest stores it (text cells): each row's period, the encoder fitted on the
training rows alone, and each period's windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.generators.load_series import load_frame
from pipeline.tasks import series_stages as kind


def config(**changes: Any) -> TimeseriesTaskConfig:
    section: dict[str, Any] = {
        "kind": "timeseries",
        "data": {"source": "data/synthetic/load.csv"},
        "schema": {
            "time": "timestamp",
            "target": "load",
            "covariates": {"temperature": {"role": "past"}, "holiday": {"role": "known", "min": 0, "max": 1}},
        },
        "split": {"val_fraction": 0.2, "test_fraction": 0.2},
        "encode": {
            "lookback": 24,
            "horizon": 6,
            "season_length": 24,
            "origin_every": 6,
            "calendar": ["hour_of_day"],
        },
        "models": {"gru": {}},
    }
    return TimeseriesTaskConfig.model_validate({**section, **changes})


def rows(hours: int = 24 * 10) -> pd.DataFrame:
    return load_frame(hours, seed=3).astype(str)  # ingest keeps the cells as the file has them


def encoded(frame: pd.DataFrame, cfg: TimeseriesTaskConfig) -> tuple[Any, Any, dict[str, Any]]:
    frame = frame.assign(split=kind.assign_splits(frame, cfg, seed=0))
    encoder = kind.fit_encoder(frame[frame["split"] == "train"], cfg)
    target, arrays = kind.encode_splits(frame, encoder, cfg)
    return encoder, target, arrays


def test_rows_get_consecutive_periods_and_windows_come_per_period() -> None:
    frame, cfg = rows(), config()
    split = kind.assign_splits(frame, cfg, seed=0)
    assert split.tolist() == ["train"] * 144 + ["val"] * 48 + ["test"] * 48
    encoder, target, arrays = encoded(frame, cfg)
    train_load = pd.to_numeric(frame["load"][:144])
    assert encoder.scales["load"][0] == pytest.approx(train_load.mean())  # fitted on train only
    assert arrays["train"].x.shape == (144 - 24 - 6 + 1, 24, encoder.n_features)
    assert arrays["val"].y.shape == (43, 6) and arrays["test"].y.shape == (8, 6)  # val: every step
    first_test = pd.to_numeric(frame["load"][192:198]).to_numpy()
    assert arrays["test"].y[0] == pytest.approx(first_test, abs=1e-3)  # the test period's first 6 hours
    assert target.to_dict()["forecast"]["horizon"] == 6 and target.classes == []
    assert target.center == encoder.scales["load"][0]


def test_relative_to_seasonal_records_the_change_from_the_seasonal_naive() -> None:
    frame = rows()
    plain = config()
    cfg = config(encode={**plain.encode.model_dump(), "relative_to": "seasonal"})
    _, plain_target, _ = encoded(frame, plain)
    assert "relative_to" not in plain_target.to_dict()["forecast"]  # none: the record as it was
    _, target, arrays = encoded(frame, cfg)
    record = target.to_dict()["forecast"]
    assert record["relative_to"] == "seasonal" and record["season_length"] == 24
    y = pd.to_numeric(frame["load"]).to_numpy()
    # train windows start at step 24: each target less the same hour a day (24 steps) earlier
    change = np.stack([y[o : o + 6] - y[o - 24 : o - 18] for o in range(24, 144 - 6 + 1)])
    assert record["residual_center"] == pytest.approx(change.mean(), abs=1e-2)
    assert record["residual_scale"] == pytest.approx(change.std(), rel=1e-3)
    assert record["residual_scale"] < target.scale  # the change varies less than the load
    assert len(arrays["train"].x) == len(change)


def test_drop_window_steps_over_a_gap_and_a_flag_column_splits() -> None:
    frame = rows().drop(index=[30]).reset_index(drop=True)
    cfg = config(schema={**config().schema_.model_dump(), "gaps": "drop-window", "frequency": "h"})
    _, _, arrays = encoded(frame, cfg)
    assert len(arrays["train"].x) == 144 - 24 - 6 + 1 - 30  # every window reading or predicting step 30
    flagged = rows().assign(train=["TRUE"] * 168 + ["FALSE"] * 72)
    cfg = config(split={"by": "column", "column": "train", "val_fraction": 0.25})
    split = kind.assign_splits(flagged, cfg, seed=0)
    assert (split == "train").sum() == 126 and (split == "val").sum() == 42 and (split == "test").sum() == 72


def test_a_period_too_short_for_one_window_is_named() -> None:
    cfg = config(encode={"lookback": 24, "horizon": 49, "season_length": 24, "origin_every": 6})
    with pytest.raises(DataError, match="the val period holds no whole window of 24 \\+ 49 steps"):
        encoded(rows(), cfg)


def test_describe_notes_the_span_frequency_and_gaps() -> None:
    noted = kind.describe(rows(), config())["series"]
    assert noted["first"] == "2024-01-01 00:00:00" and noted["frequency"] == "h" and noted["gaps"] == 0
    assert noted["steps"] == 240 and np.isfinite(noted["target"]["max"])


def test_baselines_read_encode_s_outputs_and_score_the_models_origins(tmp_path) -> None:
    from pipeline.encoders.registry import save_encoder

    frame, cfg = rows(24 * 14), config(baselines=["naive", "seasonal_naive", "linear_ar"])
    frame = frame.assign(split=kind.assign_splits(frame, cfg, seed=0))
    encoder = kind.fit_encoder(frame[frame["split"] == "train"], cfg)
    _, arrays = kind.encode_splits(frame, encoder, cfg)
    frame.to_parquet(tmp_path / "splits.parquet", index=False)
    save_encoder(encoder, tmp_path / "encoder.json")
    results = kind.baselines("load", cfg, seed=0, directory=tmp_path)
    assert list(results) == ["naive", "seasonal_naive", "linear_ar"]
    for result in results.values():
        assert np.array_equal(result["test_labels"], arrays["test"].y.astype("float64"))
        assert result["test_scores"].shape == arrays["test"].y.shape
        assert result["test"]["origins"] == len(arrays["test"].y) and result["val"]["origins"] == len(
            arrays["val"].y
        )
    assert results["seasonal_naive"]["test"]["mae"] < results["naive"]["test"]["mae"]
