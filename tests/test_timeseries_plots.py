"""A forecaster's DVC plots (issue 22): evaluate puts ``forecast.csv`` (the last origins against
what followed) and ``error_by_step.csv`` next to metrics.json, where dvc.yaml declares them for every
model; a model of another kind gets their headers, as a forecaster gets the classifier's. The
template ``.dvc/plots/forecast.json`` draws the actual and the forecast as two lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from pipeline.stages import evaluate
from pipeline.tasks import kind_named

REPO = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_forecasters_plot_tables_sit_next_to_its_metrics(project: Path) -> None:
    y = np.arange(30, dtype="float64").reshape(10, 3)
    data = SimpleNamespace(test=SimpleNamespace(y=y))
    kind = kind_named("timeseries")
    figures = evaluate._write_reports("load", "gru", data, y + 0.5, [], [], kind, None, {"test": {}})
    out = project / "reports" / "eval" / "load" / "gru"
    assert {f.name for f in figures} == {"forecast_vs_actual.png", "error_by_step.png"}
    assert all(f.is_file() for f in figures)
    forecast = _rows(out / "forecast.csv")
    assert len(forecast) == 4 * 3 and forecast[0]["origin"] == "7"
    assert [float(r["mae"]) for r in _rows(out / "error_by_step.csv")] == [0.5, 0.5, 0.5]
    assert not (out / "figures" / "forecast.csv").exists()  # moved, not copied
    assert (out / "figures" / "forecasts.csv").is_file()  # every origin stays with the figures
    assert _rows(out / "roc.csv") == [] and (out / "roc.csv").read_text().startswith("fpr,tpr")


def test_a_model_of_another_kind_gets_the_forecast_tables_headers_only(project: Path) -> None:
    data = SimpleNamespace(test=SimpleNamespace(y=np.zeros(3)))
    numeric = SimpleNamespace(evaluation_reports=lambda *args: [])  # its own figures, no forecast
    evaluate._write_reports("bikeshare", "ann", data, np.zeros(3), [], [], numeric, None, {})
    out = project / "reports" / "eval" / "bikeshare" / "ann"
    assert (out / "forecast.csv").read_text().strip() == "point,origin,step,actual,forecast"
    assert (out / "error_by_step.csv").read_text().strip() == "step,mae,rmse"


def test_dvc_yaml_declares_the_forecast_plots_with_their_template() -> None:
    stage = yaml.safe_load((REPO / "dag" / "evaluate" / "dvc.yaml").read_text())["stages"]["evaluate"]["do"]
    plots = {next(iter(p)): next(iter(p.values())) for p in stage["plots"]}
    forecast = plots["reports/eval/${item.task}/${item.arch}/forecast.csv"]
    assert (forecast["template"], forecast["x"], forecast["y"]) == ("forecast", "point", "forecast")
    by_step = plots["reports/eval/${item.task}/${item.arch}/error_by_step.csv"]
    assert (by_step["x"], by_step["y"]) == ("step", "mae")
    template = json.loads((REPO / ".dvc" / "plots" / "forecast.json").read_text())
    assert template["data"]["values"] == "<DVC_METRIC_DATA>"
    assert template["transform"][0]["fold"] == ["actual", "forecast"]
