"""The model card of a registered version (Markdown): the task and the data, the test metrics with
their intervals beside the baselines', the tuned values, the ONNX parity, and the intended use and
known limits (``tasks.<task>.card``). The register stage writes it to MLflow and reports/.
"""

from __future__ import annotations

from typing import Any

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.io import read_json, read_yaml


def _fmt_metric(metrics: dict[str, Any], name: str) -> str:
    value, ci = metrics.get(name), metrics.get(f"{name}_ci")
    if not isinstance(value, (int, float)):
        return ""
    return f"{value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else "")


TEXT_FACTS = ("lines", "tokens", "distinct_words")

# A card is written once, when its version is registered, and must stay true: the aliases move with
# every registration and promotion, so the card says where to read them instead of naming them.
ALIASES_NOTE = (
    "Which version is `challenger` and which is `champion` is not written here: those aliases move "
    "with each registration and promotion, and the registered model's aliases say where they are now "
    "(MLflow UI: Model registry > {task}, the Aliases column; "
    '`MlflowClient().get_registered_model("{task}").aliases`).'
)


def named(value: Any, names: dict[str, str]) -> str:
    """A class as the card shows it: its value, and its name when the bundle gives it another."""
    name = names.get(str(value), str(value))
    return str(value) if name == str(value) else f"{value} ({name})"


def data_facts(task: str, names: dict[str, str] | None = None) -> list[str]:
    """Source, checksum, rows per split and class balance, from what ingest and encode wrote;
    ``names``: each class's name (as text) the bundle records (:func:`class_names_of`)."""
    import pandas as pd

    names = names or {}

    lines = []
    meta: dict[str, Any] = {}
    source_file = paths.raw_meta(task)
    if source_file.exists():
        meta = read_json(source_file)
        lines += [
            f"- source: `{meta.get('source', '?')}` ({meta.get('format', '?')}, "
            f"{meta.get('rows', '?')} rows)",
            f"- sha256: `{meta.get('sha256', '?')}`",
        ]
    splits = paths.encoded_dir(task) / "splits.parquet"
    if splits.exists():
        from pipeline.encoders.dataset import load_classes

        frame = pd.read_parquet(splits)
        config = params().task(task)
        label = tasks.kind_of(config).label_column(config)
        counts = frame["split"].value_counts()
        lines.append(
            "- rows per split: " + ", ".join(f"{s} {int(counts.get(s, 0))}" for s in ("train", "val", "test"))
        )
        classes = (
            [str(c) for c in load_classes(task)]
            if (paths.encoded_dir(task) / "encoder.json").exists()
            else []
        )
        counted = {k: meta[k] for k in TEXT_FACTS if k in meta}  # what ingest noted of a plain text
        if counted:  # a language model's rows are lines of text, not labelled examples
            lines.append("- text: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counted.items()))
        elif "target" in (described := tasks.kind_of(config).describe(frame, config)):  # a number
            t = described["target"]
            units = f" ({t['units']})" if t["units"] else ""
            lines.append(
                f"- target: {t['column']}{units}, a number: {t['min']:g} to {t['max']:g}, "
                f"mean {t['mean']:.4g}"
            )
        else:
            share = frame[label].astype(str).value_counts(normalize=True)
            shown = sorted(share.items(), key=lambda kv: -kv[1])[:12]
            more = f" and {len(share) - 12} more classes" if len(share) > 12 else ""
            lines.append(
                "- class balance (all rows): "
                + ", ".join(f"{named(k, names)} {v:.1%}" for k, v in shown)
                + more
            )
        if classes:
            lines.append(
                f"- classes (model output order): {', '.join(named(c, names) for c in classes[:20])}"
                + (" ..." if len(classes) > 20 else "")
            )
        lines += encoder_facts(task)
    return lines or ["- not recorded (data/raw and data/encoded not found)"]


def encoder_facts(task: str) -> list[str]:
    """The encoder sizes encode chose from the training split (``auto``), with how."""
    encoder_file = paths.encoded_dir(task) / "encoder.json"
    sized = read_json(encoder_file).get("auto", {}) if encoder_file.exists() else {}
    return [f"- encode.{name} sized from the training split: {how}" for name, how in sized.items()]


def interval_facts(metrics: dict[str, Any]) -> list[str]:
    """A numeric target's prediction interval, as evaluate measured it (nothing for classifiers)."""
    interval = metrics.get("interval")
    if not isinstance(interval, dict):
        return []
    coverage = metrics.get("test", {}).get("interval_coverage", float("nan"))
    return [
        f"- every answer carries a {interval['level']:.0%} prediction interval: the value "
        f"± {interval['half_width']:.4g} ({interval['method']}); test coverage {coverage:.1%}",
        "",
    ]


def class_names_of(output: dict[str, Any]) -> dict[str, str]:
    """A bundle's output contract as a class (as text) -> its name; empty for a language model."""
    from pipeline.tasks.answers import recorded_names

    classes = output.get("classes") or []
    return dict(zip(map(str, classes), recorded_names(output, classes), strict=True))


def model_card(
    task: str,
    arch: str,
    config: Any,
    metrics: dict[str, Any],
    gate: str,
    output: dict[str, Any] | None = None,
    behaviour: list[dict[str, Any]] | None = None,
) -> str:
    """The Markdown card of one registered architecture (its classes named as the bundle's ``output``
    names them, ``behaviour`` the results of its behavioural checks), without the per-registration
    lineage, which ``register_version`` adds for MLflow."""
    level = f"{metrics['test_ci']['level']:.0%} " if "level" in metrics.get("test_ci", {}) else ""
    rows = metrics_table(task, arch, metrics.get("test", {}))
    tuned, values = tuned_values(task, arch)
    sections = [
        f"# Model card: {task} / {arch}",
        "",
        f"ONNX Runtime pyfunc over raw inputs ({config.kind} task).",
        "",
        ALIASES_NOTE.format(task=task),
        "",
        "## Intended use",
        "",
        config.card.intended_use.strip(),
        "",
        "## Known limits",
        "",
        config.card.limits.strip(),
        "",
        "## Data",
        "",
        *data_facts(task, class_names_of(output or {})),
        "",
        f"## Test metrics, {level}bootstrap intervals, with the baselines on the same rows",
        "",
        f"Gate metric (challenger choice and promotion): {gate}.",
        "",
        *rows,
        "",
        "## Tuned values",
        "",
        f"{tuned} {values}",
        "",
        "## Export",
        "",
        f"- ONNX parity: {parity_text(metrics)}",
        "",
        *interval_facts(metrics),
        *importance_lines(metrics.get(IMPORTANCE_KEY)),
        *behaviour_lines(behaviour or []),
        "## Lineage",
        "",
        f"- seed {params().seed}; the exact inputs of every stage are in dvc.lock "
        f"(register@{task}) and dag/*/dvc.lock (the stages before it)",
        f"- test rows fingerprint: `{metrics.get('test_rows_sha256', 'not recorded')}`",
    ]
    return "\n".join(sections) + "\n"


def parity_text(metrics: dict[str, Any]) -> str:
    bound = metrics.get("onnx_parity_bound")
    if not isinstance(bound, (int, float)):
        return "not recorded"
    return (
        f"max |Keras - ONNX Runtime| on the test rows' outputs within {bound:g}, checked by export: "
        "absolute for probabilities, relative to the value beyond 1 for a numeric target or forecast "
        "(the measured value is the training run's MLflow metric onnx_max_abs_diff)"
    )


def behaviour_lines(results: list[dict[str, Any]]) -> list[str]:
    """The card's table of behavioural checks (``tasks.<task>.behaviour``), as register ran them."""
    if not results:
        return []
    failed = sum(not r["passed"] for r in results)
    verdict = f"all {len(results)} passed" if not failed else f"{failed} of {len(results)} FAILED"
    lines = [
        "## Behavioural checks",
        "",
        f"Run by register on the exported ONNX model (tasks.<task>.behaviour): {verdict}.",
        "",
        "| check | name | input | answers | expected | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        scores = r.get("scores") or [None] * len(r["answers"])
        answers = " → ".join(
            f"{a} ({s:.3f})" if s is not None else str(a) for a, s in zip(r["answers"], scores, strict=True)
        )
        given = _shown_change(r["input"], r.get("changed"))
        cells = [r["check"], r["name"], given, answers, r["expected"], "passed" if r["passed"] else "FAILED"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return [*lines, ""]


def _shown_change(given: Any, changed: Any) -> str:
    """A text and its changed text; a row, or only the columns a check changes (the whole rows are
    in the version's ``behaviour/`` artifact)."""
    if isinstance(given, dict) and isinstance(changed, dict):
        return ", ".join(f"{k} {given.get(k)} → {v}" for k, v in changed.items())
    if isinstance(given, dict):
        return ", ".join(f"{k}={v}" for k, v in given.items())
    return str(given) if changed is None else f"{given} → {changed}"


def metrics_table(task: str, arch: str, test: dict[str, Any]) -> list[str]:
    """The Markdown rows of the model's test metrics beside its baselines'."""
    baselines_file = paths.metrics_file(task, "baselines")
    baselines = read_json(baselines_file) if baselines_file.exists() else {}
    names = [n for n in test if not n.endswith("_ci") and isinstance(test[n], (int, float))]
    head = ["metric", arch, *baselines]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    for name in names:
        cells = [
            name,
            _fmt_metric(test, name),
            *(_fmt_metric(b.get("test", {}), name) for b in baselines.values()),
        ]
        rows.append(f"| {' | '.join(cells)} |")
    return rows


def tuned_values(task: str, arch: str) -> tuple[str, str]:
    """How the trained values were chosen, and the values."""
    best_file = paths.best_params(task, arch)
    best = read_yaml(best_file) if best_file.exists() else None
    if best and best.get("tuned"):
        tuned = f"tuned by Optuna ({best.get('n_trials', '?')} trials); values trained with:"
    else:
        tuned = "not tuned; params.yaml's values:"
    trained = (best or {}).get("trained") or params().model_params(task, arch).model_dump()
    values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trained.items())
    return tuned, values


IMPORTANCE_ARTIFACT = "explanations/importance.png"  # in the version's training run
IMPORTANCE_KEY = "importance"  # register's mean |SHAP| per column, handed to the card with the metrics
IMPORTANCE_ROWS = 200  # seeded test rows the global importance averages over (~25 ms each)


def importance_lines(importance: dict[str, float] | None, rows: int = IMPORTANCE_ROWS) -> list[str]:
    """The card's section on what moves the answers: mean |SHAP| per column (none without one)."""
    if not importance:
        return []
    return [
        "## What moves its answers",
        "",
        f"Mean |SHAP value| per column over {rows} seeded test rows (the explained output's units; "
        f"chart: the run's `{IMPORTANCE_ARTIFACT}`):",
        "",
        "| column | mean abs SHAP |",
        "|---|---|",
        *(f"| {column} | {value:.4f} |" for column, value in importance.items()),
        "",
    ]


def importance_figure(importance: dict[str, float], path: Any, title: str) -> None:
    """A horizontal bar chart of the mean |SHAP| per column, the largest on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(importance)[::-1]
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(columns) + 1.2))
    axes.barh(columns, [importance[c] for c in columns], color="#4c72b0")
    axes.set_xlabel("mean |SHAP value| (contribution to the explained output)")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
