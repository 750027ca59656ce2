"""baselines: classical scikit-learn models on exactly the split the neural models use.

churn: logistic regression and HistGradientBoosting on the encoded features; sentiment: TF-IDF
(1-2 grams) + logistic regression on the raw text of the same train/val/test rows. Each baseline is
also an MLflow run in the task's experiment (tag ``arch`` = the baseline), so the compare view shows
at a glance whether a neural model earns its cost.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from pipeline.core import paths
from pipeline.core.config import SentimentConfig, TaskConfig, params
from pipeline.core.io import write_json
from pipeline.core.metrics import binary_metrics, prefixed
from pipeline.encoders.dataset import Dataset, load_dataset, load_splits_frame


def tabular_baselines(data: Dataset, names: list[str], seed: int) -> dict[str, dict[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    factories = {
        "logistic_regression": lambda: LogisticRegression(max_iter=2000),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }
    results = {}
    for name in names:
        started = time.perf_counter()
        model = factories[name]().fit(data.train.x, data.train.y.astype(int))
        results[name] = {
            "val": binary_metrics(data.val.y, model.predict_proba(data.val.x)[:, 1]),
            "test": binary_metrics(data.test.y, model.predict_proba(data.test.x)[:, 1]),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
    return results


def text_baselines(frame: Any, config: SentimentConfig, seed: int) -> dict[str, dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from pipeline.encoders.preprocess import standardize

    text, label = config.schema_.text, config.schema_.label
    started = time.perf_counter()
    parts = {name: frame[frame["split"] == name] for name in ("train", "val", "test")}
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=2,
        max_features=200_000,
        sublinear_tf=True,
        preprocessor=lambda s: standardize(s, config.encode.lowercase),
        token_pattern=r"[A-Za-z0-9]+(?:'[A-Za-z]+)?",
    )
    x_train = vectorizer.fit_transform(parts["train"][text])
    model = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    model.fit(x_train, parts["train"][label].astype(int))

    def score(name: str) -> dict[str, float]:
        proba = model.predict_proba(vectorizer.transform(parts[name][text]))[:, 1]
        return binary_metrics(parts[name][label].to_numpy(), proba)

    return {
        "tfidf_logreg": {
            "val": score("val"),
            "test": score("test"),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
    }


def run_baselines(task: str, config: TaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    if isinstance(config, SentimentConfig):
        return text_baselines(load_splits_frame(task), config, seed)
    np.random.seed(seed)
    return tabular_baselines(load_dataset(task), list(config.baselines), seed)


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
        print(
            f"baseline {args.task}/{name}: test accuracy {t['accuracy']:.4f}, ROC AUC {t['roc_auc']:.4f} "
            f"(fit {result['fit_seconds']:.2f} s)"
        )
    return 0
