"""compare: one table (Markdown) and one plot table (CSV) of a task's models and baselines.

Beside the single-split figures the report says how much they can be trusted: each model's gate
metric with its bootstrap interval, each model against its best baseline as a paired bootstrap
difference on the same test rows (and whether it is distinguishable from zero), and, when the
``cv`` stage ran, the cross-validated mean ± sd fold by fold.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import bootstrap, paths
from pipeline.core.config import EvaluateConfig, params
from pipeline.core.forecast_metrics import FORECAST_METRIC_NAMES
from pipeline.core.io import load_array, read_json, write_text
from pipeline.core.metrics import (
    GATE_METRIC,
    LANGUAGE_MODEL_METRIC_NAMES,
    METRIC_NAMES,
    MULTICLASS_METRIC_NAMES,
    higher_is_better,
)
from pipeline.core.value_metrics import VALUE_METRIC_NAMES


def columns(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The metric columns and the gate metric, from what the metrics files hold (binary, multi-class,
    a language model's, a numeric target's or a forecast's)."""
    if any("test_perplexity" in r for r in rows):
        return LANGUAGE_MODEL_METRIC_NAMES, "perplexity"
    if any("test_mase" in r for r in rows):  # a forecast's: MASE first, then MAE, RMSE, R², MAPE, sMAPE
        return FORECAST_METRIC_NAMES, "mase"
    if any("test_rmse" in r for r in rows):  # a numeric target's; R² and MAPE beside it
        return VALUE_METRIC_NAMES, "rmse"
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
        for key in (
            *METRIC_NAMES,
            *MULTICLASS_METRIC_NAMES,
            *LANGUAGE_MODEL_METRIC_NAMES,
            *VALUE_METRIC_NAMES,
            *FORECAST_METRIC_NAMES,
        ):
            if key in result.get(section, {}):
                row[f"{section}_{key}"] = result[section][key]
            if f"{key}_ci" in result.get(section, {}):
                row[f"{section}_{key}_ci"] = result[section][f"{key}_ci"]
    if "onnx_parity_bound" in result:
        row["onnx_parity_bound"] = result["onnx_parity_bound"]
    return row


def markdown(task: str, rows: list[dict[str, Any]]) -> str:
    names, gate = columns(rows)
    head = [
        "model",
        "kind",
        f"val {gate.replace('_', ' ')}",
        *[f"test {c.replace('_', ' ')}" for c in names],
        f"test {gate.replace('_', ' ')} interval",
        "ONNX parity",
    ]
    lines = [f"# {task}: models and baselines on the same split", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for r in rows:
        cells = [r["model"], r["kind"], _fmt(r.get(f"val_{gate}"))]
        cells += [_fmt(r.get(f"test_{c}")) for c in names]
        ci = r.get(f"test_{gate}_ci")
        cells.append(f"[{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else "")
        bound = r.get("onnx_parity_bound")
        cells.append(f"≤ {bound:g}" if isinstance(bound, float) else "")
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


def load_scores(task: str, model: str, kind: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A model's or baseline's test scores and the labels of the rows they score; None if not saved."""
    if kind == "baseline":
        folder = paths.baseline_scores_dir(task)
        scores, labels = folder / f"{model}.npy", folder / "test_labels.npy"
    else:
        scores = paths.test_scores(task, model)
        labels = scores.with_name("test_labels.npy")
    if not (scores.exists() and labels.exists()):
        return None
    return load_array(scores), load_array(labels)


def paired_markdown(task: str, rows: list[dict[str, Any]], settings: EvaluateConfig, seed: int) -> str:
    """Each neural model minus the baseline with the best test gate metric, on the same test rows."""
    _, gate = columns(rows)
    baselines = [r for r in rows if r["kind"] == "baseline" and f"test_{gate}" in r]
    lines = [
        "## Each model against its best baseline: paired bootstrap on the same test rows",
        "",
    ]
    if not baselines:
        return "\n".join([*lines, "No baseline to compare with.", ""])
    sign = 1.0 if higher_is_better(gate) else -1.0  # perplexity: the lowest is the best
    best = max(baselines, key=lambda r: sign * r[f"test_{gate}"])
    reference = load_scores(task, best["model"], "baseline")
    lines += [
        f"Test {gate} of the model minus {best['model']}'s; {settings.ci_level:.0%} percentile interval "
        f"over {settings.bootstrap_resamples} resamples of the test rows, both scored on each resample.",
        "",
        "| model | baseline | difference | interval | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in (r for r in rows if r["kind"] == "neural"):
        own = load_scores(task, r["model"], "neural")
        if own is None or reference is None:
            lines.append(
                f"| {r['model']} | {best['model']} | | | test scores not saved; rerun evaluate/baselines |"
            )
            continue
        (scores, labels), (ref_scores, ref_labels) = own, reference
        if labels.shape != ref_labels.shape or not np.array_equal(labels, ref_labels):
            lines.append(f"| {r['model']} | {best['model']} | | | not the same test rows |")
            continue
        n_classes = 2 if scores.ndim == 1 else scores.shape[1]
        d = bootstrap.paired_difference(
            labels,
            scores,
            ref_scores,
            n_classes,
            gate,
            resamples=settings.bootstrap_resamples,
            level=settings.ci_level,
            seed=seed,
            mase_scale=bootstrap.mase_scale_of({"mae": r.get("test_mae"), "mase": r.get("test_mase")}),
        )
        verdict = (
            ("better" if d.improvement[0] > 0 else "worse") + " than the baseline"
            if d.distinguishable
            else "not distinguishable from zero"
        )
        interval = f"[{d.low:+.4f}, {d.high:+.4f}]"
        lines.append(f"| {r['model']} | {best['model']} | {d.difference:+.4f} | {interval} | {verdict} |")
    return "\n".join(lines) + "\n"


def cv_markdown(report: dict[str, Any]) -> str:
    """The cross-validated gate metric per model and baseline: mean ± sd, then each fold."""
    lines = ["## Cross-validation on train + validation", ""]
    if not report.get("folds"):
        return "\n".join([*lines, f"Off: {report.get('reason', 'evaluate.cv_folds is 0')}.", ""])
    gate = report["gate_metric"]
    folds = "" if report.get("stratified") is False else "stratified "  # a number: plain k-fold
    lines += [
        f"Repeated {folds}{report['folds']}-fold x {report['repeats']} ({report['rows']} rows), "
        f"the tuned values, test {gate} of each held-out fold.",
        "",
        "| model | kind | mean ± sd | folds |",
        "|---|---|---|---|",
    ]
    for name, result in report["models"].items():
        per_fold = ", ".join(f"{f[gate]:.4f}" for f in result["per_fold"])
        spread = f"{result['mean'][gate]:.4f} ± {result['sd'][gate]:.4f}"
        lines.append(f"| {name} | {result['kind']} | {spread} | {per_fold} |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline compare", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    p = params()
    p.task(args.task)
    rows = collect(paths.project_root() / "metrics" / args.task)
    out = paths.project_root() / "reports" / args.task
    best_files = sorted(paths.best_params(args.task, "any").parent.glob("*.yaml"))
    cv_file = paths.cv_report(args.task)
    sections = [
        markdown(args.task, rows),
        paired_markdown(args.task, rows, p.evaluate, p.seed),
        cv_markdown(read_json(cv_file) if cv_file.exists() else {"reason": f"{cv_file} not found"}),
        tuning_markdown(best_files),
    ]
    write_text(out / "comparison.md", "\n".join(sections))
    gate = columns(rows)[1]
    lines = ["model,kind,gate_metric,test_gate,test_accuracy"]  # test_gate: the test gate metric
    keys = (f"test_{gate}", "test_accuracy")
    lines += [",".join([r["model"], r["kind"], gate, *(str(r.get(k, "")) for k in keys)]) for r in rows]
    write_text(out / "comparison.csv", "\n".join(lines) + "\n")
    print("\n".join(sections[:3]))
    return 0
