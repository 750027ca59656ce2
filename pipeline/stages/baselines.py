"""baselines: classical scikit-learn models on exactly the split the neural models use.

Which ones is the task kind's business (``pipeline.tasks``): a table gets logistic regression and
HistGradientBoosting on the encoded features, a text TF-IDF (1-2 grams) with logistic regression
or a linear SVM on the raw text of the same train/val/test rows. Each baseline is
also an MLflow run in the task's experiment (tag ``arch`` = the baseline), so the compare view shows
at a glance whether a neural model earns its cost. Every test metric gets its bootstrap interval
(``<metric>_ci``, as evaluate gives the models), and the test rows' scores are saved to
``reports/eval/<task>/baselines/<baseline>.npy`` (labels in ``test_labels.npy``) for compare's
paired comparison.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from pipeline import tasks
from pipeline.core import bootstrap, paths
from pipeline.core.config import EvaluateConfig, TaskConfig, params
from pipeline.core.io import atomic_folder, save_array, write_metrics_json
from pipeline.core.metrics import prefixed


def run_baselines(task: str, config: TaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    return tasks.kind_of(config).baselines(task, config, seed)


def add_intervals(results: dict[str, dict[str, Any]], settings: EvaluateConfig, seed: int) -> None:
    """Each baseline's test metrics with their bootstrap intervals (the models' resamples: same seed)."""
    for result in results.values():
        scores, labels = result["test_scores"], result["test_labels"]
        n_classes = 2 if np.ndim(scores) == 1 else scores.shape[1]  # a numeric target's: unused
        result["test"] = bootstrap.with_test_intervals(
            result["test"],
            labels,
            scores,
            n_classes,
            resamples=settings.bootstrap_resamples,
            level=settings.ci_level,
            seed=seed,
        )


def save_scores(task: str, results: dict[str, dict[str, Any]]) -> None:
    """The folder is replaced whole: a baseline dropped from params leaves no scores behind."""
    with atomic_folder(paths.baseline_scores_dir(task)) as out:
        for name, result in results.items():
            save_array(out / f"{name}.npy", np.asarray(result["test_scores"], dtype="float32"))
        first = next(iter(results.values()))
        labels = np.asarray(first["test_labels"])
        whole = labels.astype("int32")  # classes (and counts) as int32; other numbers as they are
        save_array(
            out / "test_labels.npy", whole if np.array_equal(whole, labels) else labels.astype("float32")
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline baselines", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the baselines as MLflow runs")
    args = parser.parse_args(argv)
    p = params()
    results = run_baselines(args.task, p.task(args.task), p.seed)
    add_intervals(results, p.evaluate, p.seed)
    save_scores(args.task, results)
    # Fit times go to MLflow and the log, not to the tracked metrics file: a wall-clock figure there
    # would change dvc.lock (and dirty the git tree) on every rebuild of the same baselines.
    kept = ("val", "test")
    write_metrics_json(
        paths.metrics_file(args.task, "baselines"),
        {name: {k: r[k] for k in kept} for name, r in results.items()},
    )
    if not args.no_mlflow:
        import mlflow

        from pipeline.core import tracking

        tracking.setup_experiment(args.task)
        for name, result in results.items():
            tags = tracking.run_tags(args.task, name, stage="baselines", kind="baseline")
            with mlflow.start_run(run_name=f"{args.task}-{name}", tags=tags):
                mlflow.log_param("seed", p.seed)
                mlflow.log_metrics(
                    {
                        **prefixed("val", result["val"]),
                        **prefixed("test", result["test"]),
                        **bootstrap.interval_metrics("test", result["test"]),
                        "fit_seconds": result["fit_seconds"],
                    }
                )
    for name, result in results.items():
        t = result["test"]
        gate = next(m for m in ("roc_auc", "f1_macro", "perplexity", "mase", "rmse") if m in t)
        low, high = t[f"{gate}_ci"]
        accuracy = f"test accuracy {t['accuracy']:.4f}, " if "accuracy" in t else "test "
        print(
            f"baseline {args.task}/{name}: {accuracy}{gate} {t[gate]:.4f} "
            f"[{low:.4f}, {high:.4f}] (fit {result['fit_seconds']:.2f} s)"
        )
    return 0
