"""compare: one table (Markdown) and one plot table (CSV) of a task's models and baselines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.io import read_json, write_text
from pipeline.core.metrics import (
    GATE_METRIC,
    LANGUAGE_MODEL_METRIC_NAMES,
    METRIC_NAMES,
    MULTICLASS_METRIC_NAMES,
    higher_is_better,
)


def columns(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The metric columns and the gate metric, from what the metrics files hold (binary, multi-class
    or a language model's)."""
    if any("test_perplexity" in r for r in rows):
        return LANGUAGE_MODEL_METRIC_NAMES, "perplexity"
    if any("test_roc_auc" in r for r in rows) or not rows:
        return METRIC_NAMES, GATE_METRIC["binary"]
    return MULTICLASS_METRIC_NAMES, GATE_METRIC["multiclass"]


def collect(metrics_dir: Path) -> list[dict[str, Any]]:
    """Rows of (model, kind, val/test metrics, ONNX parity) from ``metrics/<task>/*.json``."""
    rows = []
    for path in sorted(metrics_dir.glob("*.json")):
        data = read_json(path)
        if path.stem == "baselines":
            for name, result in data.items():
                rows.append({"model": name, "kind": "baseline", **_flat(result)})
        else:
            rows.append({"model": path.stem, "kind": "neural", **_flat(data)})
    gate = columns(rows)[1]
    sign = 1.0 if higher_is_better(gate) else -1.0
    return sorted(rows, key=lambda r: -sign * r.get(f"test_{gate}", -sign * float("inf")))


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for section in ("val", "test"):
        for key in (*METRIC_NAMES, *MULTICLASS_METRIC_NAMES, *LANGUAGE_MODEL_METRIC_NAMES):
            if key in result.get(section, {}):
                row[f"{section}_{key}"] = result[section][key]
    if "onnx_max_abs_diff" in result:
        row["onnx_max_abs_diff"] = result["onnx_max_abs_diff"]
    return row


def markdown(task: str, rows: list[dict[str, Any]]) -> str:
    names, gate = columns(rows)
    head = [
        "model",
        "kind",
        f"val {gate.replace('_', ' ')}",
        *[f"test {c.replace('_', ' ')}" for c in names],
        "ONNX max diff",
    ]
    lines = [f"# {task}: models and baselines on the same split", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for r in rows:
        cells = [r["model"], r["kind"], _fmt(r.get(f"val_{gate}"))]
        cells += [_fmt(r.get(f"test_{c}")) for c in names]
        diff = r.get("onnx_max_abs_diff")
        cells.append(f"{diff:.1e}" if isinstance(diff, float) else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def tuning_markdown(best_files: list[Path]) -> str:
    """Tuned against untuned (the study's first trial is params.yaml's own point) per architecture."""
    from pipeline.core.io import read_yaml

    lines = [
        "## Tuning: the validation gate metric within the search budget",
        "",
        "| model | untuned (params.yaml) | tuned | trials (pruned) | tuned values | importance |",
        "|---|---|---|---|---|---|",
    ]
    for path in best_files:
        best = read_yaml(path) or {}
        name = path.stem
        if not best.get("tuned"):
            lines.append(f"| {name} | tuning off | | | | |")
            continue
        values = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.get("params", {}).items()
        )
        importance = ", ".join(f"{k} {v:.2f}" for k, v in best.get("importance", {}).items())
        lines.append(
            f"| {name} | {_fmt(best.get('untuned_value'))} | {_fmt(best.get('best_value'))} | "
            f"{best.get('n_trials', '')} ({best.get('n_pruned', 0)}) | {values} | {importance} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline compare", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    rows = collect(paths.project_root() / "metrics" / args.task)
    out = paths.project_root() / "reports" / args.task
    best_files = sorted(paths.best_params(args.task, "any").parent.glob("*.yaml"))
    write_text(out / "comparison.md", markdown(args.task, rows) + "\n" + tuning_markdown(best_files))
    gate = columns(rows)[1]
    lines = ["model,kind,gate_metric,test_gate,test_accuracy"]  # test_gate: the test gate metric
    keys = (f"test_{gate}", "test_accuracy")
    lines += [",".join([r["model"], r["kind"], gate, *(str(r.get(k, "")) for k in keys)]) for r in rows]
    write_text(out / "comparison.csv", "\n".join(lines) + "\n")
    print(markdown(args.task, rows))
    return 0
