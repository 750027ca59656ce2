"""Serving's quick path to a posted history (``pipeline.encoders.history_reader``): for a history it
can read, the same window and forecast timestamps as the pandas path (``WindowEncoder.history`` and
``forecast_window``), on hourly, monthly (a calendar frequency, before 1970) and ``rows`` series,
with past, known and category covariates; anything it cannot read goes to the pandas path, whose
errors name what is wrong (too short, a gap, a wrong frequency, a bad timestamp, a blank)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.encoders.timeseries import WindowEncoder
from pipeline.generators.load_series import load_frame
from pipeline.tasks import series_stages


def encoder_for(frame: pd.DataFrame, schema: dict[str, Any], encode: dict[str, Any]) -> WindowEncoder:
    config = TimeseriesTaskConfig.model_validate(
        {
            "kind": "timeseries",
            "data": {"source": "x.csv"},
            "schema": schema,
            "encode": encode,
            "models": {"gru": {}},
        }
    )
    return series_stages.fit_encoder(frame.astype(str), config)


def hourly(known: str | None = "number", calendar: str = "cycles") -> tuple[WindowEncoder, pd.DataFrame]:
    """The generated load: a past temperature, a known holiday (a number or a category)."""
    frame = load_frame(24 * 10, seed=3)
    covariates: dict[str, Any] = {"temperature": {"role": "past"}}
    if known == "number":
        covariates["holiday"] = {"role": "known", "min": 0, "max": 1}
    elif known == "category":
        covariates["holiday"] = {"role": "known", "type": "category", "values": ["0", "1"]}
        frame["holiday"] = frame["holiday"].astype(str)
    else:
        frame = frame.drop(columns=["holiday"])
    schema = {"time": "timestamp", "target": "load", "covariates": covariates, "frequency": "h"}
    encode = {"lookback": 24, "horizon": 6, "season_length": 24, "calendar": ["hour_of_day", "day_of_week"]}
    return encoder_for(frame, schema, encode | {"calendar_encoding": calendar}), frame


def monthly() -> tuple[WindowEncoder, pd.DataFrame]:
    """Months from 1949 (negative nanoseconds since 1970), a calendar offset (MS) with no one length."""
    times = pd.date_range("1949-01-01", periods=96, freq="MS")
    values = 100 + 10 * np.sin(np.arange(96) * 2 * np.pi / 12) + np.arange(96)
    frame = pd.DataFrame({"month": times.strftime("%Y-%m-%d"), "passengers": values})
    schema = {"time": "month", "target": "passengers", "frequency": "MS"}
    encode = {"lookback": 24, "horizon": 12, "season_length": 12, "calendar": ["day_of_week"]}
    return encoder_for(frame, schema, encode), frame


def trading_days() -> tuple[WindowEncoder, pd.DataFrame]:
    """``rows``: each row a step, a holiday no gap; the forecast's timestamps are business days."""
    times = pd.bdate_range("2024-01-01", periods=80).delete([10, 30])
    frame = pd.DataFrame({"date": times.strftime("%Y-%m-%d"), "volume": np.linspace(1, 2, len(times))})
    schema = {"time": "date", "target": "volume", "frequency": "rows"}
    return encoder_for(frame, schema, {"lookback": 5, "horizon": 1, "season_length": 5}), frame


def history(encoder: WindowEncoder, frame: pd.DataFrame, extra: int = 3) -> list[dict[str, Any]]:
    """The last steps as a client posts them: numbers as numbers, the known rows' target blank."""
    rows = encoder.lookback + extra + (encoder.horizon if encoder.known else 0)
    records = frame.tail(rows).to_dict(orient="records")
    for record in records[len(records) - (encoder.horizon if encoder.known else 0) :]:
        record[encoder.target] = None
    return records


def pandas_path(encoder: WindowEncoder, records: list[dict[str, Any]]) -> tuple[np.ndarray, pd.DatetimeIndex]:
    series = encoder.history(pd.DataFrame.from_records(records))
    return encoder.forecast_window(series), encoder.future_times(series)


SERIES = {
    "hourly, known number, cycles": lambda: hourly(),
    "hourly, known category, calendar categories": lambda: hourly("category", "categories"),
    "hourly, no known covariate": lambda: hourly(None),
    "monthly from 1949": monthly,
    "trading days (rows)": trading_days,
}


@pytest.mark.parametrize("make", SERIES.values(), ids=list(SERIES))
def test_the_quick_path_reads_a_history_as_pandas_does(make) -> None:
    encoder, frame = make()
    records = history(encoder, frame)
    window, times = pandas_path(encoder, records)

    quick = encoder.reader.read(encoder.reader.columns_of_records(records))
    assert quick is not None, "a plain ISO history of numbers takes the quick path"
    np.testing.assert_allclose(quick.window, window, rtol=0, atol=1e-6)
    assert list(pd.DatetimeIndex(quick.future)) == list(times)

    np.testing.assert_allclose(encoder.transform_records(records), window, rtol=0, atol=1e-6)
    np.testing.assert_allclose(encoder.transform(pd.DataFrame.from_records(records)), window, atol=1e-6)
    assert list(encoder.forecast_times(records)) == list(times)
    assert list(encoder.forecast_times(pd.DataFrame.from_records(records))) == list(times)


def _set(records: list[dict[str, Any]], row: int, column: str, value: Any) -> list[dict[str, Any]]:
    records[row] = records[row] | {column: value}
    return records


BAD = {
    "too short": (lambda r: r[-10:], "4 steps of history; the model reads the last 24, then 6 rows"),
    "a gap": (lambda r: r[:12] + r[13:], "1 step missing from the 'h' history"),
    "every two hours": (lambda r: r[::2], "missing from the 'h' history"),
    "off the grid": (
        lambda r: _set(r, 5, "timestamp", r[5]["timestamp"].replace(":00", ":30")),
        "1 timestamp off the frequency 'h'",
    ),
    "a timestamp that does not parse": (lambda r: _set(r, 3, "timestamp", "yesterday"), "do not parse"),
    "a repeated timestamp": (
        lambda r: _set(r, 4, "timestamp", r[3]["timestamp"]),
        "each timestamp must appear once",
    ),
    "a blank temperature": (lambda r: _set(r, len(r) - 10, "temperature", None), "a blank value"),
    "a missing column": (
        lambda r: [{k: v for k, v in x.items() if k != "temperature"} for x in r],
        "missing column(s) 'temperature'",
    ),
}


@pytest.mark.parametrize(("change", "named"), BAD.values(), ids=list(BAD))
def test_a_history_the_quick_path_cannot_read_is_refused_by_pandas_naming_why(change, named) -> None:
    encoder, frame = hourly()
    records = change(history(encoder, frame, extra=30))
    assert encoder.reader.read(encoder.reader.columns_of_records(records)) is None
    with pytest.raises(DataError) as refused:
        encoder.transform_records(records)
    assert named in str(refused.value)


def test_what_the_quick_path_leaves_to_pandas_is_still_answered_alike() -> None:
    """Timestamps with spaces around them, numbers as strings: pandas reads them; same window."""
    encoder, frame = hourly()
    records = history(encoder, frame)
    window, times = pandas_path(encoder, records)
    loose = [r | {"timestamp": f" {r['timestamp']} ", "temperature": str(r["temperature"])} for r in records]
    assert encoder.reader.read(encoder.reader.columns_of_records(loose)) is None
    np.testing.assert_allclose(encoder.transform_records(loose), window, atol=1e-6)
    assert list(encoder.forecast_times(loose)) == list(times)


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("2024-01-01", periods=3, freq="h"),
        pd.date_range("1949-01-01", periods=3, freq="MS"),
        pd.date_range("2024-01-01 00:00:00.5", periods=2, freq="s"),
        pd.date_range("2024-01-01", periods=2, freq="h", tz="Europe/Paris"),
    ],
    ids=["hours", "months before 1970", "fractions of a second", "a time zone"],
)
def test_a_forecasts_timestamps_are_written_as_isoformat_writes_them(times) -> None:
    from pipeline.tasks.series_answers import iso_strings

    assert iso_strings(times) == [t.isoformat() for t in times]


def test_the_request_benchmark_times_a_tiny_forecaster(tmp_path, monkeypatch, capsys) -> None:
    """benchmarks/forecast_request.py, whose figures docs/forecasting.md quotes, runs end to end."""
    import importlib.util
    import sys
    from pathlib import Path

    from tiny_models import load_model_dir

    model = load_model_dir(tmp_path)
    encoder = WindowEncoder.from_dict(json.loads((model / "encoder.json").read_text()))
    np.savez(tmp_path / "test.npz", x=np.zeros((2, encoder.lookback, encoder.n_features), "float32"))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "forecast_request.py"
    spec = importlib.util.spec_from_file_location("forecast_request", script)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    monkeypatch.setattr(
        sys, "argv", ["x", str(model), str(tmp_path / "test.npz"), "--calls", "2", "--rounds", "1"]
    )
    module.main()
    out = capsys.readouterr().out
    assert "a history of 24 rows" in out and "history -> window" in out
