"""cv: repeated stratified k-fold of a tabular task's models and baselines on train + validation.

One split says little on a table of a few thousand rows: the test figure moves with the luck of the
draw. With ``evaluate.cv_folds`` = k (0 = off, the default), the rows of train and validation are
cut k ways (``cv_repeats`` times, seeded); for each fold the models are trained with the tuned
values (``params/best``) and the baselines fitted, on the other folds, and scored on the held-out
fold. Within the other folds a stratified validation share (``split.val_fraction`` of the pool, as
encode carves it) serves early stopping, and the encoder is refitted on the training part, so no
held-out row shapes a model. The test split is never touched.

Writes ``reports/cv/<task>.json`` (every metric per fold, mean and sd per model); compare shows it.
Off, or for a text task, the stage writes only that it is off and imports neither TensorFlow nor
scikit-learn.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import EvaluateConfig, Params, params
from pipeline.core.io import write_json, write_metrics_json


def off_reason(config: Any, settings: EvaluateConfig) -> str | None:
    """Why the task is not cross-validated, or None when it is."""
    reason = tasks.kind_of(config).cross_validation_off()
    if reason:
        return reason
    if settings.cv_folds == 0:
        return "evaluate.cv_folds is 0"
    return None


def summary(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample sd (ddof 1) of every metric over the folds (one a fold lacks, as MAPE where a
    target is 0, counts as NaN there)."""
    names = list(dict.fromkeys(n for f in per_fold for n in f))
    values = {n: np.array([f.get(n, np.nan) for f in per_fold], dtype="float64") for n in names}
    return {
        "mean": {n: round(float(np.nanmean(v)), 6) for n, v in values.items()},
        "sd": {n: round(float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0, 6) for n, v in values.items()},
    }


def _score_fold(
    task: str, p: Params, data: Any, baselines: tuple[dict[str, Any], Any], results: dict[str, dict[str, Any]]
) -> None:
    """Train every model and fit every baseline on one fold's ``data``; add their held-out scores
    (the kind's metrics: a table's classes, or its numeric target's)."""
    from pipeline.modeling import models
    from pipeline.modeling.best_params import merged_model_params

    config, n_classes = p.task(task), data.n_classes
    metrics = tasks.kind_of(config).metrics
    for arch in config.models:
        models.seed_everything(p.seed)
        model_params = merged_model_params(task, arch)
        model = models.build_for(arch, model_params, data)
        models.fit(model, model_params, data)
        scores = models.predict_proba(model, data.test.x)
        results[arch]["per_fold"].append(metrics(data.test.y, scores, n_classes, data.target))
    factories, scored = baselines
    for name in config.baselines:
        scores = scored(factories[name](), data.train.x, data.train.y, n_classes, data.test.x)
        results[name]["per_fold"].append(metrics(data.test.y, scores, n_classes, data.target))


def cross_validate(task: str, p: Params) -> dict[str, Any]:
    """Train and score every model and baseline of ``task`` on each fold (the pure-ish core)."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold, train_test_split

    from pipeline.core.metrics import gate_metric
    from pipeline.encoders.dataset import Dataset, Split, load_splits_frame
    from pipeline.tasks.folds import fold_baselines, fold_targets

    config, settings = p.task(task), p.evaluate
    kind = tasks.kind_of(config)
    label = kind.label_column(config)
    frame = load_splits_frame(task)
    pool = frame[frame["split"] != "test"].reset_index(drop=True)
    targets = fold_targets(task, config, pool)
    y, n_classes, names, strata = targets.y, targets.n_classes, targets.names, targets.strata
    val_share = config.split.val_fraction / (1 - config.split.test_fraction)
    # stratified on the classes; a numeric target's folds are plain random ones
    folding = RepeatedKFold if strata is None else RepeatedStratifiedKFold
    folds = folding(n_splits=settings.cv_folds, n_repeats=settings.cv_repeats, random_state=p.seed)
    results: dict[str, dict[str, Any]] = {
        **{arch: {"kind": "neural", "per_fold": []} for arch in config.models},
        **{name: {"kind": "baseline", "per_fold": []} for name in config.baselines},
    }
    baselines = fold_baselines(config, p.seed)
    for i, (rest, held_out) in enumerate(folds.split(np.zeros(len(y)), strata)):
        fit_rows, val_rows = train_test_split(
            rest, test_size=val_share, random_state=p.seed + 1, stratify=None if strata is None else y[rest]
        )
        encoder = kind.fit_encoder(pool.iloc[fit_rows], config)
        fit, val, test = (
            Split(encoder.transform(pool.iloc[r]), y[r]) for r in (fit_rows, val_rows, held_out)
        )
        target = targets.target_record(pool.iloc[fit_rows][label], config)
        data = Dataset(fit, val, test, 0, n_classes, names, target)
        _score_fold(task, p, data, baselines, results)
        gate = gate_metric(config, n_classes)
        shown = ", ".join(f"{n} {r['per_fold'][-1][gate]:.4f}" for n, r in results.items())
        print(
            f"cv {task}: fold {i + 1}/{settings.cv_folds * settings.cv_repeats}: {gate} {shown}", flush=True
        )
    for result in results.values():
        result["per_fold"] = [{k: round(v, 6) for k, v in f.items()} for f in result["per_fold"]]
        result.update(summary(result["per_fold"]))
    return {
        "folds": settings.cv_folds,
        "repeats": settings.cv_repeats,
        "rows": len(y),
        **({"stratified": False} if strata is None else {}),  # a numeric target's plain k-fold
        "gate_metric": gate_metric(config, n_classes),
        "models": results,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline cv", description=__doc__)
    parser.add_argument("task")
    args = parser.parse_args(argv)
    p = params()
    reason = off_reason(p.task(args.task), p.evaluate)
    if reason:
        write_json(paths.cv_report(args.task), {"folds": 0, "reason": reason})
        print(f"cv {args.task}: off ({reason})")
        return 0
    report = cross_validate(args.task, p)
    write_metrics_json(paths.cv_report(args.task), report)
    gate = report["gate_metric"]
    for name, result in report["models"].items():
        print(f"cv {args.task}/{name}: {gate} {result['mean'][gate]:.4f} ± {result['sd'][gate]:.4f}")
    return 0
