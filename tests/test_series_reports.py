"""A forecast's evaluation tables and figures (pipeline/tasks/series_reports.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pipeline.tasks.series_reports import write_reports


def test_the_tables_hold_every_origin_and_step_and_the_figures_are_pngs(tmp_path: Path) -> None:
    y = np.arange(12, dtype="float64").reshape(4, 3)
    p = y + np.array([0.0, 1.0, -2.0])
    figures = write_reports(tmp_path, "load/gru", y, p, {"test": {"mase": 0.8}})
    assert [f.name for f in figures] == ["forecast_vs_actual.png", "error_by_step.png"]
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    with (tmp_path / "forecasts.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 12 and table[5] == {
        "origin": "2",
        "step": "3",
        "actual": "5.0",
        "forecast": "3.0",
        "error": "2.0",
    }
    with (tmp_path / "error_by_step.csv").open() as fh:
        steps = list(csv.DictReader(fh))
    assert [float(s["mae"]) for s in steps] == [0.0, 1.0, 2.0]


def test_the_plot_table_holds_the_last_origins_along_one_running_point(tmp_path: Path) -> None:
    """forecast.csv: DVC's forecast template draws actual and forecast against ``point``, the last
    four origins one after the other (the PNG's layout), broken at each origin."""
    y = np.arange(18, dtype="float64").reshape(6, 3)
    write_reports(tmp_path, "load/gru", y, y + 1, {})
    with (tmp_path / "forecast.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["point"]) for r in rows] == list(range(1, 13))
    assert [r["origin"] for r in rows[::3]] == ["3", "4", "5", "6"]  # the last four of six
    assert rows[-1] == {"point": "12", "origin": "6", "step": "3", "actual": "17.0", "forecast": "18.0"}


def test_shapes_that_differ_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        write_reports(tmp_path, "t", np.zeros((2, 3)), np.zeros((2, 2)), {})
