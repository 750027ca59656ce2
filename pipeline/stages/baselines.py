"""baselines: classical scikit-learn models on exactly the split the neural models use.

Which ones is the task kind's business (``pipeline.tasks``): a table gets logistic regression and
HistGradientBoosting on the encoded features, a text TF-IDF (1-2 grams) with logistic regression
or a linear SVM on the raw text of the same train/val/test rows. Each baseline is
also an MLflow run in the task's experiment (tag ``arch`` = the baseline), so the compare view shows
at a glance whether a neural model earns its cost.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import TaskConfig, params
from pipeline.core.io import write_json
from pipeline.core.metrics import prefixed


def run_baselines(task: str, config: TaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    return tasks.kind_of(config).baselines(task, config, seed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline baselines", description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the baselines as MLflow runs")
    args = parser.parse_args(argv)
    p = params()
    results = run_baselines(args.task, p.task(args.task), p.seed)
    # Fit times go to MLflow and the log, not to the tracked metrics file: a wall-clock figure there
    # would change dvc.lock (and dirty the git tree) on every rebuild of the same baselines.
    write_json(
        paths.metrics_file(args.task, "baselines"),
        {name: {k: v for k, v in r.items() if k != "fit_seconds"} for name, r in results.items()},
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
                        "fit_seconds": result["fit_seconds"],
                    }
                )
    for name, result in results.items():
        t = result["test"]
        gate = next(m for m in ("roc_auc", "f1_macro", "perplexity") if m in t)
        print(
            f"baseline {args.task}/{name}: test accuracy {t['accuracy']:.4f}, {gate} {t[gate]:.4f} "
            f"(fit {result['fit_seconds']:.2f} s)"
        )
    return 0
