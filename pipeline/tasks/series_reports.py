"""A forecast's evaluation tables and figures (issue 22), for evaluate to write beside the metrics
and log to MLflow: the last origins' forecasts against what followed, and the error by step ahead
(PNGs), with their data as ``forecast.csv`` (the last :data:`LAST_ORIGINS` origins, one row per
origin and step ahead along a running ``point``) and ``error_by_step.csv``: DVC plots, which
evaluate moves next to metrics.json (dvc.yaml; ``.dvc/plots/forecast.json`` draws the actual and
the forecast as two lines). ``forecasts.csv`` keeps every test origin."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

LAST_ORIGINS = 4  # origins drawn in the forecast figure, the last ones of the test period


def _grids(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, "float64"), np.asarray(p, "float64")
    y, p = (y[:, None] if y.ndim == 1 else y), (p[:, None] if p.ndim == 1 else p)
    if y.shape != p.shape:
        raise ValueError(f"targets {y.shape} and forecasts {p.shape} differ in shape")
    return y, p


def write_tables(folder: Path, y: Any, p: Any) -> None:
    """``forecasts.csv`` (origin, step, actual, forecast, error), ``forecast.csv`` (the last origins
    along a running point) and ``error_by_step.csv``."""
    y, p = _grids(y, p)
    with (folder / "forecasts.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["origin", "step", "actual", "forecast", "error"])
        for i in range(len(y)):
            for h in range(y.shape[1]):
                writer.writerow(
                    [i + 1, h + 1, round(y[i, h], 6), round(p[i, h], 6), round(y[i, h] - p[i, h], 6)]
                )
    shown = min(LAST_ORIGINS, len(y))
    with (folder / "forecast.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["point", "origin", "step", "actual", "forecast"])
        for k, i in enumerate(range(len(y) - shown, len(y))):
            for h in range(y.shape[1]):
                point = k * y.shape[1] + h + 1
                writer.writerow([point, i + 1, h + 1, round(y[i, h], 6), round(p[i, h], 6)])
    error = y - p
    with (folder / "error_by_step.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "mae", "rmse"])
        for h in range(y.shape[1]):
            mae = float(np.abs(error[:, h]).mean()) if len(y) else float("nan")
            rmse = float(np.sqrt((error[:, h] ** 2).mean())) if len(y) else float("nan")
            writer.writerow([h + 1, round(mae, 6), round(rmse, 6)])


def write_reports(folder: Path, title: str, y: Any, p: Any, evaluation: dict[str, Any]) -> list[Path]:
    """Write the tables and the two figures to ``folder``; returns the figures' paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, p = _grids(y, p)
    write_tables(folder, y, p)
    horizon, shown = y.shape[1], min(LAST_ORIGINS, len(y))
    test = evaluation.get("test", {})

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, i in enumerate(range(len(y) - shown, len(y))):
        steps = np.arange(k * horizon, (k + 1) * horizon)
        ax.plot(steps, y[i], color="black", linewidth=1, label="actual" if k == 0 else None)
        ax.plot(steps, p[i], color="tab:blue", linewidth=1, label="forecast" if k == 0 else None)
        ax.axvline(k * horizon, color="grey", linewidth=0.5, linestyle=":")
    ax.set(
        xlabel=f"steps ahead of the last {shown} origins",
        ylabel="value",
        title=f"{title}: test forecasts, MASE {test.get('mase', float('nan')):.3g}",
    )
    ax.legend(loc="best", fontsize=8)
    by_step = np.abs(y - p).mean(axis=0) if len(y) else np.full(horizon, np.nan)
    fig2, ax2 = plt.subplots(figsize=(5, 3.5))
    ax2.plot(np.arange(1, horizon + 1), by_step, marker="o" if horizon <= 48 else None)
    ax2.set(xlabel="step ahead", ylabel="MAE", title=f"{title}: error by step ahead (test)")
    figures = [(fig, folder / "forecast_vs_actual.png"), (fig2, folder / "error_by_step.png")]
    for figure, path in figures:
        figure.tight_layout()
        figure.savefig(path, dpi=90)
        plt.close(figure)
    return [path for _, path in figures]
