"""report: a task's models and baselines on one screen, from ``metrics/<task>/*.json`` alone.

``dvc metrics show`` prints one row per file with every metric and interval bound (about 2,000
characters wide for churn); this prints one row per architecture and baseline, the test figures a
person compares first: the gate metric (what picks the challenger and gates promotion), then as many
of the others as fit in ``--width`` characters, each with its bootstrap interval where the file has
one. Rows are sorted by the gate metric, best first. It reads JSON and params.yaml only: no
TensorFlow, no MLflow, no DVC. ``reports/<task>/comparison.md`` (the compare stage) has the paired
differences, cross-validation and tuning.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.errors import DataError
from pipeline.core.io import read_json
from pipeline.core.metrics import gate_metric, higher_is_better

BASELINES = "baselines"
# After the gate metric, the figures a reader looks at first, in this order; others follow as found
HEADLINE = (
    "roc_auc",
    "f1_macro",
    "perplexity",
    "pr_auc",
    "f1",
    "top_k_accuracy",
    "top5_accuracy",
    "accuracy",
    "roc_auc_ovr_macro",
    "f1_weighted",
    "top1_accuracy",
    "cross_entropy",
    "precision",
    "recall",
)
WIDTH = 110
GAP = "  "


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """One row per architecture file and per baseline of ``baselines.json``: name, kind, the test
    figures (``name`` and ``name_ci``), the interval settings and the test row count."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        if path.stem == BASELINES:
            rows += [{"name": n, "kind": "baseline", **r} for n, r in data.items() if isinstance(r, dict)]
        else:
            rows.append({"name": path.stem, "kind": "model", **data})
    return [r for r in rows if isinstance(r.get("test"), dict)]


def cell(test: dict[str, Any], name: str) -> str:
    """``0.8673 [0.8402, 0.8887]``, or the figure alone where the file has no interval; four
    decimals, two from 100 on (a perplexity), the interval's as many as its figure's."""
    value, ci = test.get(name), test.get(f"{name}_ci")
    if not isinstance(value, (int, float)):
        return ""
    places = 4 if abs(value) < 100 else 2
    shown = f"{value:.{places}f}"
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(b, (int, float)) for b in ci):
        shown += f" [{ci[0]:.{places}f}, {ci[1]:.{places}f}]"
    return shown


def metric_names(rows: list[dict[str, Any]], gate: str) -> list[str]:
    """Every numeric test figure in the files, the gate first, then ``HEADLINE``'s order."""
    found: list[str] = []
    for row in rows:
        found += [k for k, v in row["test"].items() if isinstance(v, (int, float)) and not k.endswith("_ci")]
    known = dict.fromkeys(found)
    order = [gate, *(m for m in HEADLINE if m in known), *known]
    return [m for m in dict.fromkeys(order) if m in known]


def table(rows: list[dict[str, Any]], names: list[str], gate: str, width: int) -> tuple[list[str], list[str]]:
    """The table's lines, with as many of ``names`` as fit in ``width`` (the gate metric always);
    and the names left out."""
    fixed = [["model", *(r["name"] for r in rows)], ["kind", *(r["kind"] for r in rows)]]
    columns = []
    for name in names:
        header = f"{name} (gate)" if name == gate else name
        column = [header, *(cell(r["test"], name) for r in rows)]
        trial = [*fixed, *columns, column]
        if columns and sum(max(map(len, c)) for c in trial) + len(GAP) * (len(trial) - 1) > width:
            break
        columns.append(column)
    shown = [*fixed, *columns]
    widths = [max(map(len, c)) for c in shown]
    numeric = range(len(fixed), len(shown))

    def line(i: int) -> str:
        cells = [
            c[i].rjust(w) if j in numeric else c[i].ljust(w)
            for j, (c, w) in enumerate(zip(shown, widths, strict=True))
        ]
        return GAP.join(cells).rstrip()

    lines = [line(0), GAP.join("-" * w for w in widths), *(line(i) for i in range(1, len(rows) + 1))]
    return lines, names[len(columns) :]


def report(task: str, width: int = WIDTH, only: list[str] | None = None) -> str:
    config = params().task(task)
    folder = paths.metrics_file(task, BASELINES).parent
    rows = read_rows(folder)
    if not rows:
        raise DataError(
            f"{folder}: no metrics files with test figures; run 'python -m pipeline repro compare@{task}' "
            "(or 'dvc pull' for the committed ones) first"
        )
    models = [r for r in rows if r["kind"] == "model"] or rows
    gate = gate_metric(config, len(models[0].get("classes") or [0, 1]))
    sign = 1.0 if higher_is_better(gate) else -1.0
    rows.sort(key=lambda r: -sign * r["test"].get(gate, -sign * float("inf")))
    names = metric_names(rows, gate)
    if only:
        unknown = [m for m in only if m not in names]
        if unknown:
            raise DataError(f"{task}: no test figure {unknown} in {folder}; there are {names}")
        names = list(dict.fromkeys([gate, *only]))
    lines, left_out = table(rows, names, gate, width)
    settings = next((r["test_ci"] for r in models if isinstance(r.get("test_ci"), dict)), {})
    n_test = next((r["n"]["test"] for r in models if isinstance(r.get("n"), dict) and "test" in r["n"]), None)
    on = f" on {n_test:,} test rows" if isinstance(n_test, int) else ""
    level = f"{settings['level']:.0%} " if "level" in settings else ""
    better = "highest" if sign > 0 else "lowest"
    head = [
        f"{task}: test figures{on}, [{level}bootstrap interval] where the metrics file has one",
        f"gate metric {gate} (picks the challenger, gates promotion); rows by it, {better} first",
        "",
    ]
    tail = [""]
    if left_out:
        tail.append(f"not shown: {', '.join(left_out)} (choose with --metrics a,b or widen with --width)")
    tail.append(
        f"read from metrics/{task}/*.json; paired differences and tuning: reports/{task}/comparison.md"
    )
    return "\n".join([*head, *lines, *tail])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task")
    parser.add_argument(
        "--metrics",
        help="comma-separated test figures to show after the gate metric (default: the headline ones)",
    )
    parser.add_argument("--width", type=int, default=WIDTH, help=f"characters per line (default {WIDTH})")
    args = parser.parse_args(argv)
    only = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    print(report(args.task, args.width, only))
    return 0
