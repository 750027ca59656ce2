"""register: one new version of the registered model ``<task>`` per architecture; alias ``challenger``.

Each version is the ONNX pyfunc (``pipeline/serving/pyfunc_model.py``) logged to the architecture's training
run, tagged with its architecture, metrics and git commit. ``challenger`` goes to the version with
the best validation gate metric (ROC AUC for binary tasks, macro F1 for multi-class ones, or
``tasks.<task>.promote.metric``); ``python -m pipeline promote`` then decides about ``champion``.

Each version's MLflow description is its model card (Markdown): the task and the data, the test
metrics with their intervals beside the baselines', the tuned values, the ONNX parity, lineage and
the intended use and known limits (``tasks.<task>.card``). It names no alias: ``challenger`` and
``champion`` move to later versions, a card written at registration does not, so it points to the
registered model's aliases instead. The test rows' scores and labels go to
the version's run (``eval/``) and the rows' fingerprint to tag ``test_rows_sha256``, for promote's
paired comparison. The task's behavioural checks (``tasks.<task>.behaviour``) run on each exported
bundle: their outcome goes to the version's tag ``behaviour_checks`` (``passed 7 of 7`` or ``failed
1 of 7: <names>``), the details to the run's ``behaviour/behaviour_v<version>.json`` and the card;
a failed check does not stop register, ``promote --require behaviour`` refuses the version.
Writes ``reports/registry/<task>.json`` and ``reports/<task>/model_card.md``:
the cards of every architecture, without what changes with each registration (version, run, git
commit), so that registering the same models again leaves the tracked file as it was.
"""

from __future__ import annotations

import argparse
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
from pipeline.core.io import read_json, write_json, write_text
from pipeline.core.metrics import gate_metric
from pipeline.modeling.card import IMPORTANCE_KEY, IMPORTANCE_ROWS, model_card
from pipeline.serving.behaviour import run_checks, summary

CHALLENGER, CHAMPION = "challenger", "champion"
BEHAVIOUR_TAG = "behaviour_checks"  # promote --require behaviour reads it
PYFUNC_REQUIREMENTS = [
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "pyarrow==25.0.1",
    "pyyaml==6.0.3",
    "shap==0.51.0",  # params={"explain": True}: a table's SHAP values
]


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
    for entry in entries:  # no alias in the card: it would stop being true when the alias moves
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


def version_tags(
    arch: str, run_id: str, gate: str, metrics: dict[str, Any], onnx_sha256: str
) -> dict[str, str]:
    """A model version's tags: where it came from, its gate figures (with evaluate's bootstrap
    interval, which promote records) and what it was exported as."""
    from pipeline.core import tracking

    tags = {
        "arch": arch,
        "run_id": run_id,
        "git_commit": tracking.git_commit(),
        "git_dirty": tracking.git_dirty(),
        "gate_metric": gate,
        f"val_{gate}": f"{metrics['val'][gate]:.6f}",
        f"test_{gate}": f"{metrics['test'][gate]:.6f}",
        **({"test_accuracy": f"{metrics['test']['accuracy']:.6f}"} if "accuracy" in metrics["test"] else {}),
        "onnx_parity_bound": f"{metrics.get('onnx_parity_bound', float('nan')):g}",
        "onnx_sha256": onnx_sha256,
    }
    if metrics.get("test_rows_sha256"):
        tags["test_rows_sha256"] = metrics["test_rows_sha256"]
    interval = metrics["test"].get(f"{gate}_ci")
    if isinstance(interval, list) and len(interval) == 2:
        tags[f"test_{gate}_ci_low"], tags[f"test_{gate}_ci_high"] = (f"{x:.6f}" for x in interval)
    return tags


def register_version(
    task: str, arch: str, config: Any, client: Any, code: Path, example: Any
) -> dict[str, Any]:
    """Log the pyfunc of one architecture's model to its training run and register it as a version."""
    import mlflow

    from pipeline.serving.bundle import read_bundle

    model_dir = paths.model_dir(task, arch)
    metrics_path = paths.metrics_file(task, arch)
    for needed in (model_dir / "run.json", metrics_path):
        if not needed.exists():
            raise ModelError(
                f"{needed}: not found; run 'python -m pipeline repro export@{task}-{arch}' first"
            )
    bundle = read_bundle(model_dir)  # the files' hashes checked: what is logged is what was exported
    metrics = read_json(metrics_path)
    gate = gate_metric(config, len(bundle.encoder_data.get("classes") or [0, 1]))
    run_id = read_json(model_dir / "run.json")["run_id"]
    info = log_pyfunc(task, arch, run_id, code, example)
    importance = log_importance(task, arch, run_id, client)
    version = mlflow.register_model(info.model_uri, task, tags={"arch": arch})
    tags = version_tags(arch, run_id, gate, metrics, bundle.manifest.files["model.onnx"])
    behaviour = behaviour_results(task, config, model_dir)
    if behaviour:  # the outcome for promote --require behaviour, the details beside the model
        tags[BEHAVIOUR_TAG] = summary(behaviour)
        client.log_dict(run_id, {"checks": behaviour}, f"behaviour/behaviour_v{version.version}.json")
    for key, value in tags.items():
        client.set_model_version_tag(task, version.version, key, value)
    return {
        "arch": arch,
        "version": int(version.version),
        "run_id": run_id,
        f"val_{gate}": metrics["val"][gate],
        f"test_{gate}": metrics["test"][gate],
        "val_score": metrics["val"][gate],
        "gate_metric": gate,
        "onnx_sha256": tags["onnx_sha256"],
        "card": model_card(
            task,
            arch,
            config,
            metrics | {IMPORTANCE_KEY: importance},
            gate,
            bundle.manifest.output,
            behaviour,
        ),
        "lineage": lineage(task, version.version, run_id, tags),
    }


def log_importance(task: str, arch: str, run_id: str, client: Any) -> dict[str, float] | None:
    """Mean |SHAP| per column over a seeded sample of the test split, on the exported ONNX bundle,
    and its chart logged to the run (``explanations/importance.png``); None for a bundle explained
    without a background (texts) or not at all."""

    import numpy as np

    from pipeline.modeling.card import IMPORTANCE_ARTIFACT, importance_figure
    from pipeline.serving.inference import Predictor
    from pipeline.tasks.explanations import global_importance

    predictor = Predictor.from_dir(paths.model_dir(task, arch))
    if not (predictor.explanation or {}).get("background"):
        return None
    with np.load(paths.encoded_dir(task) / "test.npz", allow_pickle=False) as npz:
        x = npz["x"]
    rng = np.random.default_rng(params().seed)
    sample = x[np.sort(rng.choice(len(x), size=min(IMPORTANCE_ROWS, len(x)), replace=False))]
    importance = global_importance(predictor, sample)
    if importance:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(IMPORTANCE_ARTIFACT).name
            importance_figure(importance, path, f"{task} / {arch}: what moves the answers")
            client.log_artifact(run_id, str(path), str(Path(IMPORTANCE_ARTIFACT).parent))
    return importance


def behaviour_results(task: str, config: Any, model_dir: Path) -> list[dict[str, Any]]:
    """The task's behavioural checks run on the exported bundle with ONNX Runtime (none declared:
    nothing); a check whose input does not fit the model stops register, naming its key."""
    if not config.behaviour.checks():
        return []
    from pipeline.serving.inference import Predictor

    return run_checks(task, config.behaviour, tasks.kind_of(config), Predictor.from_dir(model_dir))


def log_pyfunc(task: str, arch: str, run_id: str, code: Path, example: Any) -> Any:
    """Log the bundle as the ONNX pyfunc to the model's training run, with the test rows' scores
    and labels (promote's paired comparison reads them)."""
    import mlflow

    from pipeline.core import tracking

    model_dir = paths.model_dir(task, arch)
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
        labels = scores.with_name("test_labels.npy")
        if scores.exists() and labels.exists():
            mlflow.log_artifact(str(scores), artifact_path=tracking.EVAL_ARTIFACTS)
            mlflow.log_artifact(str(labels), artifact_path=tracking.EVAL_ARTIFACTS)
    return info


def lineage(task: str, version: Any, run_id: str, tags: dict[str, str]) -> str:
    """The card's lineage lines, which change with every registration (MLflow's copy only)."""
    dirty = " (with uncommitted changes)" if tags["git_dirty"] == "true" else ""
    lines = {
        "registered model version": f"{task} version {version}",
        "MLflow run": run_id,
        "git commit": f"{tags['git_commit']}{dirty}",
    }
    if os.environ.get("DVC_EXP_NAME"):
        lines["DVC experiment"] = os.environ["DVC_EXP_NAME"]
    return "".join(f"- {k}: {v}\n" for k, v in lines.items())


# MLflow's registry keeps at most this many characters of a description in its SQL stores
DESCRIPTION_LIMIT = 5000


def description(card: str) -> str:
    """The card as a version's description; a card too long for the registry is cut and points to
    the whole one, logged to the version's run."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    note = "\n\n(cut at MLflow's 5,000 characters: the whole card is the run's model_card_v<version>.md)\n"
    return card[: DESCRIPTION_LIMIT - len(note)] + note


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
