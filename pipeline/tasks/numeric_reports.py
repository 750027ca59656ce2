"""A numeric target's evaluation tables and figures: predicted against actual, residual against
predicted and the residuals' histogram (PNGs, also logged to MLflow by evaluate), and the test rows'
predictions with their conformal interval as ``predictions.csv`` (a DVC plot's data)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.value_metrics import interval_bounds

MAX_POINTS = 5000  # rows drawn in a scatter plot (evenly spaced): enough to see the shape


def write_reports(folder: Path, title: str, y: Any, p: Any, evaluation: dict[str, Any]) -> list[Path]:
    """Write the table and the figures to ``folder``; returns the figures' paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, p = np.asarray(y, "float64").reshape(-1), np.asarray(p, "float64").reshape(-1)
    residual = y - p
    interval = evaluation.get("interval") or {}
    half = float(interval.get("half_width", float("nan")))
    lo, hi = interval_bounds(p, half, interval.get("min"), interval.get("max"))
    _write_table(folder / "predictions.csv", y, p, lo, hi)
    shown = np.unique(np.linspace(0, max(len(y) - 1, 0), min(len(y), MAX_POINTS)).round().astype(int))
    t = evaluation.get("test", {})
    figures = []

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(y[shown], p[shown], s=6, alpha=0.5)
    low, high = (float(min(y.min(), p.min())), float(max(y.max(), p.max()))) if len(y) else (0.0, 1.0)
    ax.plot([low, high], [low, high], "--", color="grey", linewidth=0.8)
    ax.set(
        xlabel="actual", ylabel="predicted", title=f"{title}: test, RMSE {t.get('rmse', float('nan')):.3g}"
    )
    figures.append((fig, folder / "predicted_vs_actual.png"))

    fig2, ax2 = plt.subplots(figsize=(4.5, 4))
    ax2.scatter(p[shown], residual[shown], s=6, alpha=0.5)
    ax2.axhline(0, color="grey", linewidth=0.8)
    if np.isfinite(half):
        for sign in (-1, 1):
            ax2.axhline(sign * half, color="tab:orange", linewidth=0.8, linestyle="--")
    ax2.set(xlabel="predicted", ylabel="actual - predicted", title=f"{title}: residuals (test)")
    figures.append((fig2, folder / "residual_vs_predicted.png"))

    fig3, ax3 = plt.subplots(figsize=(4.5, 4))
    ax3.hist(residual, bins=40)
    ax3.set(xlabel="actual - predicted", ylabel="rows", title=f"{title}: residual histogram (test)")
    figures.append((fig3, folder / "residual_histogram.png"))

    for figure, path in figures:
        figure.tight_layout()
        figure.savefig(path, dpi=90)
        plt.close(figure)
    return [path for _, path in figures]


def _write_table(path: Path, y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted", "residual", "interval_low", "interval_high"])
        for a, b, c, d in zip(y, p, lo, hi, strict=True):
            writer.writerow([round(a, 6), round(b, 6), round(a - b, 6), round(c, 6), round(d, 6)])
