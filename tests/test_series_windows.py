"""A series' periods and windows: consecutive train/val/test periods, fitted values from train only,
the windows' layout (known values read ahead), gaps stepped over, and the encoder's JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import SeriesEncodeConfig, SeriesSchema, SeriesSplit
from pipeline.encoders.registry import encoder_from_dict
from pipeline.encoders.timeseries import WindowEncoder
from pipeline.tasks.series_split import flag_values, origins, periods


def series(n: int = 100) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="h")
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "y": np.arange(n, dtype="float64"),
            "temp": rng.normal(10, 2, n),
            "holiday": (index.dayofweek == 6).astype("float64"),
            "shift": np.where(index.hour < 12, "day", "night"),
        },
        index=index,
    )


SCHEMA = SeriesSchema.model_validate(
    {
        "time": "t",
        "target": "y",
        "covariates": {
            "temp": {"role": "past"},
            "holiday": {"role": "known", "min": 0, "max": 1},
            "shift": {"role": "known", "type": "category", "values": ["day", "night"]},
        },
    }
)


def encoder(data: pd.DataFrame, **encode: Any) -> WindowEncoder:
    config = SeriesEncodeConfig.model_validate(
        {"lookback": 6, "horizon": 3, "season_length": 24, "calendar": ["hour_of_day"], **encode}
    )
    return WindowEncoder.fit(data, SCHEMA, config, "h")


def test_periods_follow_each_other_by_fractions_dates_and_a_flag() -> None:
    index = series().index
    by_fractions = periods(index, SeriesSplit(val_fraction=0.2, test_fraction=0.1))
    assert list(by_fractions[:70]) == ["train"] * 70 and set(by_fractions[70:90]) == {"val"}
    assert set(by_fractions[90:]) == {"test"}
    dates = SeriesSplit(by="dates", val_start="2024-01-03", test_start="2024-01-04")
    by_dates = periods(index, dates)
    assert (by_dates == "train").sum() == 48 and (by_dates == "val").sum() == 24
    flags = flag_values(pd.Series(["TRUE"] * 80 + ["FALSE"] * 20), "train")
    by_flag = periods(index, SeriesSplit(by="column", column="train", val_fraction=0.25), flags)
    assert (by_flag == "train").sum() == 60 and (by_flag == "val").sum() == 20


def test_a_split_that_cannot_hold_is_refused_by_name() -> None:
    index = series().index
    with pytest.raises(DataError, match="the test period is empty"):
        periods(index, SeriesSplit(by="dates", val_start="2024-01-02", test_start="2025-01-01"))
    with pytest.raises(DataError, match=r"column 'train': expected true or false.*data row 2: 'maybe'"):
        flag_values(pd.Series(["TRUE", "maybe"]), "train")
    flags = np.array([True] * 50 + [False] * 10 + [True] * 40)
    with pytest.raises(DataError, match="the training rows must be the first ones"):
        periods(index, SeriesSplit(by="column", column="train"), flags)


def test_origins_keep_every_target_in_their_period_and_step_by_origin_every() -> None:
    period = np.array(["train"] * 10 + ["val"] * 6 + ["test"] * 8, dtype=object)
    assert origins(period, "train", 3, 1) == list(range(0, 8))
    assert origins(period, "val", 3, 2) == [10, 12]
    assert origins(period, "test", 3, 2) == [16, 18, 20]
    encode = SeriesEncodeConfig(lookback=4, season_length=2, origin_every=48)
    assert [encode.every(p) for p in ("train", "val", "test")] == [1, 1, 48]
    assert (
        SeriesEncodeConfig(lookback=4, season_length=2, origin_every=48, val_origin_every=48).every("val")
        == 48
    )


def test_scales_come_from_the_training_period_only() -> None:
    data = series()
    fitted = encoder(data.iloc[:60])
    assert fitted.scales["y"][0] == pytest.approx(29.5)  # the mean of 0..59, not of 0..99
    assert fitted.mase_scale == pytest.approx(24.0)  # y rises by 24 a season


def test_a_window_reads_its_past_and_the_known_values_ahead() -> None:
    data = series()
    fitted = encoder(data)
    names = fitted.feature_names
    assert names == [
        "y", "temp", "holiday+H", "shift=day+H", "shift=night+H", "hour_of_day_sin+H", "hour_of_day_cos+H",
    ]  # fmt: skip
    x, y, kept = fitted.windows(data, [0, 6, 50, 98])
    assert kept.tolist() == [6, 50] and x.shape == (2, 6, 7) and y.shape == (2, 3)
    assert y[1].tolist() == [50, 51, 52]  # the targets stay in their units
    mean, std = fitted.scales["y"]
    assert x[1, :, 0] * std + mean == pytest.approx(np.arange(44, 50))
    # the last window step (t = 49) carries the known values of the last forecast step (t = 52)
    hour = 52 % 24
    assert x[1, -1, 5] == pytest.approx(np.sin(2 * np.pi * hour / 24), abs=1e-6)
    assert x[1, -1, 3:5].tolist() == ([1, 0] if hour < 12 else [0, 1])


def test_windows_step_over_a_missing_step() -> None:
    data = series()
    data.loc[data.index[40], "y"] = np.nan
    fitted = encoder(data.iloc[:30])
    _, _, kept = fitted.windows(data, range(100))
    # an origin o reads o-6..o-1 and predicts o..o+2: those touching step 40 are gone
    assert [o for o in range(6, 98) if o not in kept] == list(range(38, 47))


def test_calendar_as_categories_holds_the_training_values() -> None:
    fitted = encoder(
        series().iloc[:30], calendar=["hour_of_day", "day_of_week"], calendar_encoding="categories"
    )
    assert fitted.calendar_levels["hour_of_day"] == list(range(24))
    assert (
        fitted.calendar_levels["day_of_week"] == [0, 1]
        and "hour_of_day=23+H" in fitted.feature_names
        and "day_of_week=0+H" in fitted.feature_names
    )


def test_the_encoder_round_trips_through_json() -> None:
    data = series()
    fitted = encoder(data)
    again = WindowEncoder.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again == fitted and isinstance(encoder_from_dict(fitted.to_dict()), WindowEncoder)
    assert np.array_equal(again.windows(data, [20])[0], fitted.windows(data, [20])[0])


def test_a_posted_history_gives_the_next_window_and_timestamps() -> None:
    data = series(30)
    fitted = encoder(data)
    posted = data.reset_index(names="t")
    posted["t"] = posted["t"].dt.strftime("%Y-%m-%d %H:%M")
    future = posted.iloc[-3:].assign(y=np.nan)  # known values of the next 3 hours
    future["t"] = pd.date_range("2024-01-02 06:00", periods=3, freq="h").strftime("%Y-%m-%d %H:%M")
    checked = fitted.history(pd.concat([posted, future], ignore_index=True))
    x = fitted.forecast_window(checked)
    assert x.shape == (1, 6, 7)
    assert [str(t) for t in fitted.future_times(checked)] == [
        "2024-01-02 06:00:00",
        "2024-01-02 07:00:00",
        "2024-01-02 08:00:00",
    ]
    with pytest.raises(DataError, match="2 steps of history; the model reads the last 6"):
        fitted.history(pd.concat([posted.iloc[:2], future], ignore_index=True))
    with pytest.raises(DataError, match=r"1 step missing from the 'h' history"):
        fitted.history(pd.concat([posted.drop(index=[10]), future], ignore_index=True))
    whole = pd.concat([posted, future], ignore_index=True)
    assert fitted.check(whole) == [] and fitted.transform(whole).shape == (1, 6, 7)
    whole.loc[27, "temp"] = None
    (problem,) = fitted.check_records(whole.to_dict("records"))
    assert str(problem).startswith("row 1: row 28: a blank value in the last 6 steps")
