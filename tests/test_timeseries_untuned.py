"""The two series nobody tuned the forecasting kind for (issue 22): `benchmarks/untuned_series.py`
writes pmdarima's airpassengers and woolyrnq as CSVs with a time column, and the sets in
`params/untuned/` read them with the kind's defaults, their windows derived from the frequency."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.core.timestamps import grid, parse_times

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("untuned_series", REPO / "benchmarks" / "untuned_series.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def fake_wheel(path: Path, lengths: dict[str, int]) -> Path:
    """A wheel whose modules hold the series as pmdarima writes them: a literal in ``load_<name>``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, n in lengths.items():
            numbers = ", ".join(str(100 + i) for i in range(n))
            source = (
                "import numpy as np\n\ndef load_x(dtype=float):\n"
                f"    rslt = np.array([\n        {numbers}\n    ]).astype(dtype)\n    return rslt\n"
            )
            archive.writestr(f"pmdarima/datasets/{name}.py", source)
    return path


def test_the_series_are_written_with_their_months_and_quarters(script, tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "pmdarima.whl", {"airpassengers": 144, "woolyrnq": 119})
    air, wool = script.write_series(wheel, tmp_path)
    months = pd.read_csv(air)
    assert list(months.columns) == ["month", "passengers"] and len(months) == 144
    assert (months["month"].iloc[0], months["month"].iloc[-1]) == ("1949-01-01", "1960-12-01")
    assert months["passengers"].iloc[-1] == 100 + 143
    quarters = pd.read_csv(wool)
    assert (quarters["quarter"].iloc[0], quarters["quarter"].iloc[-1]) == ("1965-01-01", "1994-07-01")
    # every step on the grid each set declares
    assert len(grid(parse_times(months["month"], "month"), "MS", "month", str)) == 144
    assert len(grid(parse_times(quarters["quarter"], "quarter"), "QS", "quarter", str)) == 119


def test_a_series_of_another_length_than_documented_is_refused(script, tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "pmdarima.whl", {"airpassengers": 143, "woolyrnq": 119})
    with pytest.raises(ValueError, match="143 values; pmdarima documents 144"):
        script.write_series(wheel, tmp_path)


@pytest.mark.parametrize(
    ("name", "windows", "header"),
    [("airpassengers", (24, 12, 12), "month,passengers"), ("woolyrnq", (8, 4, 4), "quarter,tonnes")],
)
def test_the_untuned_sets_name_only_the_data_and_take_windows_from_the_frequency(
    name, windows, header
) -> None:
    shipped = yaml.safe_load((REPO / "params" / "untuned" / f"{name}.yaml").read_text())
    section = shipped["tasks"][name]
    assert set(section) == {"kind", "data", "schema", "models"}  # the rest: the kind's defaults
    assert set(section["schema"]) == {"time", "target", "frequency"} and section["models"] == {"gru": {}}
    assert section["data"]["sha256"] == shipped["requires"][f"{name}.csv"]
    config = TimeseriesTaskConfig.model_validate(section)
    encode = config.encode
    assert (encode.lookback, encode.horizon, encode.season_length) == windows
    assert f"{config.schema_.time},{config.schema_.target}" == header
