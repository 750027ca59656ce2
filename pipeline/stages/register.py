"""register: one new version of the registered model ``<task>`` per architecture; alias ``challenger``.

Each version is the ONNX pyfunc (``pipeline/serving/pyfunc_model.py``) logged to the architecture's training
run, tagged with its architecture, metrics and git commit. ``challenger`` goes to the version with
the best validation gate metric (ROC AUC for binary tasks, macro F1 for multi-class ones, or
``tasks.<task>.promote.metric``); ``python -m pipeline promote`` then decides about ``champion``.

Each version's MLflow description is its model card (Markdown): the task and the data, the test
metrics with their intervals beside the baselines', the tuned values, the ONNX parity, lineage and
the intended use and known limits (``tasks.<task>.card``). The test rows' scores and labels go to
the version's run (``eval/``) and the rows' fingerprint to tag ``test_rows_sha256``, for promote's
paired comparison. Writes ``reports/registry/<task>.json`` and ``reports/<task>/model_card.md``:
the cards of every architecture, without what changes with each registration (version, run, git
commit), so that registering the same models again leaves the tracked file as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.errors import ModelError
from pipeline.core.io import read_json, read_yaml, write_json, write_text
from pipeline.core.metrics import gate_metric

CHALLENGER, CHAMPION = "challenger", "champion"
PYFUNC_REQUIREMENTS = [
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "pyarrow==25.0.1",
    "pyyaml==6.0.3",
]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pick_challenger(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The entry with the best validation gate metric, the highest or, for a metric where lower is
    better (perplexity), the lowest (ties: the earlier architecture in params.yaml)."""
    from pipeline.core.metrics import higher_is_better

    sign = 1.0 if not entries or higher_is_better(entries[0]["gate_metric"]) else -1.0
    return max(enumerate(entries), key=lambda ie: (sign * ie[1]["val_score"], -ie[0]))[1]


def input_example(task: str) -> Any:
    from pipeline.encoders.dataset import load_splits_frame

    config = params().task(task)
    return tasks.kind_of(config).input_example(load_splits_frame(task), config)


def quiet_mlflow_logging() -> None:
    """Drop what MLflow prints while logging a pyfunc that tells a user nothing here: a progress bar
    per artifact copy, a hint to add type hints (the pyfunc validates its input itself) and a hint
    about integer columns (the encoder checks every column against the schema).

    The type-hint hint is dropped where warnings are shown, not by a filter: MLflow wraps some of
    its calls in ``simplefilter("once")``, which takes precedence over any filter set here.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    show = warnings.showwarning

    def showwarning(message: Any, *args: Any, **kwargs: Any) -> None:
        if "Add type hints to the `predict` method" not in str(message):
            show(message, *args, **kwargs)

    warnings.showwarning = showwarning


def model_signature(task: str, model_dir: Path, example: Any) -> Any:
    """The input columns by name and the output columns the model answers with.

    The inputs are the task kind's (a table declares every column as ``Any``, see
    ``pipeline.tasks.tabular.signature_inputs``); the outputs are the answers' columns.
    """
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature

    from pipeline.serving.inference import Predictor
    from pipeline.serving.responses import answer_rows

    predictor = Predictor.from_dir(model_dir)
    result = predictor.score_frame(example)
    answers = answer_rows(predictor, result.probabilities, result.known_token_share, example)
    with warnings.catch_warnings():  # MLflow's hint about integer inputs with missing values
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        outputs = infer_signature(pd.DataFrame(answers)).inputs  # the answers' columns and types
    config = params().task(task)
    kind = tasks.kind_of(config)
    return ModelSignature(
        inputs=kind.signature_inputs(example), outputs=outputs, params=kind.signature_params()
    )


# What the registered model runs: the serving layer and what it imports, never the stages, the
# Keras builders or TensorFlow (tests/test_registry.py checks the list against the imports).
SHIPPED = ("__init__.py", "core", "data", "encoders", "serving", "tasks")


def serving_code(into: Path) -> Path:
    """A copy of the pipeline package holding only ``SHIPPED``: the pyfunc's ``code_paths``."""
    package = Path(__file__).resolve().parents[1]
    target = into / "pipeline"
    target.mkdir()
    for name in SHIPPED:
        source = package / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def register_task(task: str) -> dict[str, Any]:
    quiet_mlflow_logging()

    from pipeline.core import tracking

    config = params().task(task)
    client = tracking.mlflow_client()
    tracking.setup_experiment(task)
    example = input_example(task)
    entries = []
    with tempfile.TemporaryDirectory(prefix="pyfunc-code-") as tmp:
        code = serving_code(Path(tmp))
        for arch in config.models:
            entries.append(register_version(task, arch, config, client, code, example))
    best = pick_challenger(entries)
    for entry in entries:
        entry["card"] = entry["card"].replace(
            "{challenger}", "yes (alias challenger)" if entry is best else "no"
        )
        card = entry["card"] + entry["lineage"]
        client.log_text(entry["run_id"], card, f"model_card_v{entry['version']}.md")
        client.update_model_version(task, str(entry["version"]), description=description(card))
    client.set_registered_model_alias(task, CHALLENGER, str(best["version"]))
    client.update_registered_model(
        task, description=f"{task}: ONNX Runtime pyfunc over raw inputs; versions tagged by architecture."
    )
    return {
        "registered_model": task,
        "challenger": best["version"],
        "challenger_arch": best["arch"],
        "gate_metric": best["gate_metric"],
        "versions": entries,
    }


def register_version(
    task: str, arch: str, config: Any, client: Any, code: Path, example: Any
) -> dict[str, Any]:
    """Log the pyfunc of one architecture's model to its training run and register it as a version."""
    import mlflow

    from pipeline.core import tracking
    from pipeline.serving.bundle import read_bundle

    model_dir = paths.model_dir(task, arch)
    metrics_path = paths.metrics_file(task, arch)
    for needed in (model_dir / "run.json", metrics_path):
        if not needed.exists():
            raise ModelError(f"{needed}: not found; run 'dvc repro export@{task}-{arch}' first")
    bundle = read_bundle(model_dir)  # the files' hashes checked: what is logged is what was exported
    metrics = read_json(metrics_path)
    gate = gate_metric(config, len(bundle.encoder_data.get("classes", [0, 1])))
    run_id = read_json(model_dir / "run.json")["run_id"]
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="onnx_pyfunc",
            python_model=str(code / "serving" / "pyfunc_model.py"),
            artifacts={"model_dir": str(model_dir)},
            code_paths=[str(code)],
            pip_requirements=PYFUNC_REQUIREMENTS,
            input_example=example,
            signature=model_signature(task, model_dir, example),
        )
        scores = paths.test_scores(task, arch)
        if scores.exists() and scores.with_name("test_labels.npy").exists():
            mlflow.log_artifact(str(scores), artifact_path=tracking.EVAL_ARTIFACTS)
            mlflow.log_artifact(
                str(scores.with_name("test_labels.npy")), artifact_path=tracking.EVAL_ARTIFACTS
            )
    version = mlflow.register_model(info.model_uri, task, tags={"arch": arch})
    tags = {
        "arch": arch,
        "run_id": run_id,
        "git_commit": tracking.git_commit(),
        "git_dirty": tracking.git_dirty(),
        "gate_metric": gate,
        f"val_{gate}": f"{metrics['val'][gate]:.6f}",
        f"test_{gate}": f"{metrics['test'][gate]:.6f}",
        "test_accuracy": f"{metrics['test']['accuracy']:.6f}",
        "onnx_max_abs_diff": f"{metrics.get('onnx_max_abs_diff', float('nan')):.3g}",
        "onnx_sha256": bundle.manifest.files["model.onnx"],
    }
    if metrics.get("test_rows_sha256"):
        tags["test_rows_sha256"] = metrics["test_rows_sha256"]
    for key, value in tags.items():
        client.set_model_version_tag(task, version.version, key, value)
    lineage = {
        "registered model version": f"{task} version {version.version}",
        "MLflow run": run_id,
        "git commit": f"{tags['git_commit']}"
        + (" (with uncommitted changes)" if tags["git_dirty"] == "true" else ""),
    }
    if os.environ.get("DVC_EXP_NAME"):
        lineage["DVC experiment"] = os.environ["DVC_EXP_NAME"]
    return {
        "arch": arch,
        "version": int(version.version),
        "run_id": run_id,
        f"val_{gate}": metrics["val"][gate],
        f"test_{gate}": metrics["test"][gate],
        "val_score": metrics["val"][gate],
        "gate_metric": gate,
        "onnx_sha256": tags["onnx_sha256"],
        "card": model_card(task, arch, config, metrics, gate),
        "lineage": "".join(f"- {k}: {v}\n" for k, v in lineage.items()),
    }


# MLflow's registry keeps at most this many characters of a description in its SQL stores
DESCRIPTION_LIMIT = 5000


def description(card: str) -> str:
    """The card as a version's description; a card too long for the registry is cut and points to
    the whole one, logged to the version's run."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    note = "\n\n(cut at MLflow's 5,000 characters: the whole card is the run's model_card_v<version>.md)\n"
    return card[: DESCRIPTION_LIMIT - len(note)] + note


def _fmt_metric(metrics: dict[str, Any], name: str) -> str:
    value, ci = metrics.get(name), metrics.get(f"{name}_ci")
    if not isinstance(value, (int, float)):
        return ""
    return f"{value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else "")


TEXT_FACTS = ("lines", "tokens", "distinct_words")


def data_facts(task: str) -> list[str]:
    """Source, checksum, rows per split and class balance, from what ingest and encode wrote."""
    import pandas as pd

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
        else:
            share = frame[label].astype(str).value_counts(normalize=True)
            shown = sorted(share.items(), key=lambda kv: -kv[1])[:12]
            more = f" and {len(share) - 12} more classes" if len(share) > 12 else ""
            lines.append("- class balance (all rows): " + ", ".join(f"{k} {v:.1%}" for k, v in shown) + more)
        if classes:
            lines.append(
                f"- classes (model output order): {', '.join(classes[:20])}"
                + (" ..." if len(classes) > 20 else "")
            )
    return lines or ["- not recorded (data/raw and data/encoded not found)"]


def model_card(task: str, arch: str, config: Any, metrics: dict[str, Any], gate: str) -> str:
    """The Markdown card of one registered architecture, without the per-registration lineage
    (version, run, commit), which ``register_version`` adds for MLflow only."""
    test = metrics.get("test", {})
    baselines_file = paths.metrics_file(task, "baselines")
    baselines = read_json(baselines_file) if baselines_file.exists() else {}
    names = [n for n in test if not n.endswith("_ci") and isinstance(test[n], (int, float))]
    ci = metrics.get("test_ci", {})
    level = f"{ci['level']:.0%} " if "level" in ci else ""
    head = ["metric", arch, *baselines]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    for name in names:
        cells = [
            name,
            _fmt_metric(test, name),
            *(_fmt_metric(b.get("test", {}), name) for b in baselines.values()),
        ]
        rows.append(f"| {' | '.join(cells)} |")
    best_file = paths.best_params(task, arch)
    best = read_yaml(best_file) if best_file.exists() else None
    if best and best.get("tuned"):
        tuned = f"tuned by Optuna ({best.get('n_trials', '?')} trials); values trained with:"
    else:
        tuned = "not tuned; params.yaml's values:"
    trained = (best or {}).get("trained") or params().model_params(task, arch).model_dump()
    values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trained.items())
    diff = metrics.get("onnx_max_abs_diff")
    parity = (
        f"max |Keras - ONNX Runtime| probability on the test rows: {diff:.2e} "
        f"(bound {params().export.max_abs_diff:g})"
        if isinstance(diff, (int, float))
        else "not recorded"
    )
    sections = [
        f"# Model card: {task} / {arch}",
        "",
        f"ONNX Runtime pyfunc over raw inputs ({config.kind} task). Challenger: {{challenger}}.",
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
        *data_facts(task),
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
        f"- ONNX parity: {parity}",
        "",
        "## Lineage",
        "",
        f"- seed {params().seed}; the exact inputs of every stage are in dvc.lock (register@{task})",
        f"- test rows fingerprint: `{metrics.get('test_rows_sha256', 'not recorded')}`",
    ]
    return "\n".join(sections) + "\n"


def stable_report(report: dict[str, Any]) -> dict[str, Any]:
    """What was registered, without the registry's own numbering (versions, run ids).

    The stage's output is tracked (dvc.lock), so it must come out the same when the same models are
    registered again; the versions and runs are printed and live in MLflow.
    """
    drop = {"version", "run_id", "val_score", "gate_metric", "card", "lineage"}
    return {
        "registered_model": report["registered_model"],
        "challenger_arch": report["challenger_arch"],
        "gate_metric": report["gate_metric"],
        "models": [{k: v for k, v in e.items() if k not in drop} for e in report["versions"]],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline register", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    params().task(args.task)
    report = register_task(args.task)
    write_json(paths.registry_report(args.task), stable_report(report))
    write_text(paths.model_card(args.task), "\n".join(entry["card"] for entry in report["versions"]))
    for entry in report["versions"]:
        print(
            f"register {args.task}: version {entry['version']} ({entry['arch']}, run {entry['run_id']}), "
            f"val {report['gate_metric']} {entry['val_score']:.4f}"
        )
    print(f"alias {CHALLENGER} -> version {report['challenger']} ({report['challenger_arch']})")
    return 0
