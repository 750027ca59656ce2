"""One tune trial: a model built from the trial's sampled values, fitted for ``epochs_per_trial``
epochs with the shared ``models.fit``, scored on the validation split by the task's gate metric,
and logged as a nested MLflow run. ``val_loss`` is reported to the study's pruner after every epoch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pipeline.core.config import TuneConfig, params
from pipeline.modeling.best_params import ModelParams, apply_params
from pipeline.modeling.search_space import suggest
from pipeline.modeling.study import startup_trials, tpe_sampler

if TYPE_CHECKING:
    import optuna

    from pipeline.encoders.dataset import Dataset


def epoch_callback(trial: optuna.trial.Trial, maximize: bool = True) -> Any:
    """Logs each epoch to the trial's MLflow run and reports ``val_loss`` to the pruner.

    Negated when the study maximises (ROC AUC): pruners compare intermediate values in the
    study's direction. On a prune (or a NaN loss) training stops after the epoch and ``pruned_at``
    holds the epoch; the caller then ends the trial as pruned.
    """
    import mlflow

    from pipeline.modeling import models

    keras = models.keras

    class ReportAndPrune(keras.callbacks.Callback):
        pruned_at: int | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            mlflow.log_metrics({k: v for k, v in logs.items() if math.isfinite(v)}, step=epoch + 1)
            val_loss = logs.get("val_loss", math.nan)
            if not math.isfinite(val_loss):
                self.pruned_at = epoch + 1
            else:
                trial.report(-val_loss if maximize else val_loss, epoch)
                if trial.should_prune():
                    self.pruned_at = epoch + 1
            if self.pruned_at is not None:
                self.model.stop_training = True

    return ReportAndPrune()


def fit_trial(
    trial: optuna.trial.Trial,
    study: str,
    *,
    task: str,
    arch: str,
    values: dict[str, Any],
    model_params: ModelParams,
    cfg: TuneConfig,
    data: Dataset,
) -> tuple[float, int | None]:
    """Fit and score one trial's model in its nested MLflow run: its value, and the epoch it was
    pruned at (``None`` when it was not)."""
    import mlflow
    import numpy as np

    from pipeline import tasks
    from pipeline.core import tracking
    from pipeline.core.metrics import gate_metric, higher_is_better
    from pipeline.encoders.word2vec import initial_table
    from pipeline.modeling import models

    tags = tracking.run_tags(
        task,
        arch,
        stage="tune-trial",
        **{"optuna.study": study, "optuna.trial": str(trial.number)},
    )
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, tags=tags) as run:
        trial.set_user_attr("mlflow_run_id", run.info.run_id)
        mlflow.log_params({"trial": trial.number, **tracking.flatten("", values)})
        table = initial_table(task, arch, model_params, data.vocab_size)
        model = models.build_for(arch, model_params, data, table)
        config = params().task(task)
        gate = gate_metric(config, data.n_classes)
        report = epoch_callback(trial, higher_is_better(gate))
        history = models.fit(model, model_params, data, epochs=cfg.epochs_per_trial, callbacks=[report])
        losses = [v for v in history.history.get("val_loss", []) if math.isfinite(v)]
        summary = {"epochs_trained": len(history.history.get("val_loss", []))}
        if losses:
            summary["best_val_loss"] = min(losses)
        value = math.nan
        if report.pruned_at is None:
            proba = models.predict_proba(model, data.val.x)
            if not np.all(np.isfinite(proba)):
                report.pruned_at = summary["epochs_trained"]
            else:
                scores = tasks.kind_of(config).metrics(data.val.y, proba, data.n_classes, data.target)
                value = float(scores[gate])
                summary[f"val_{gate}"] = value
        mlflow.log_metrics(summary)
        mlflow.set_tag("optuna.state", "pruned" if report.pruned_at is not None else "complete")
        if report.pruned_at is not None:
            mlflow.set_tag("optuna.pruned_at_epoch", str(report.pruned_at))
    return value, report.pruned_at


def run_trial(
    study: optuna.Study,
    *,
    task: str,
    arch: str,
    base: ModelParams,
    cfg: TuneConfig,
    data: Dataset,
    seed: int,
) -> optuna.trial.FrozenTrial:
    """Fit one sampled configuration inside a nested MLflow run: one ``study.optimize`` trial.

    Optuna's own loop asks, tells (a raised error fails the trial, ``TrialPruned`` prunes it),
    records the trial's heartbeat while it runs and first fails other workers' stale trials.
    """
    import optuna

    from pipeline.modeling import models

    keras = models.keras

    def objective(trial: optuna.trial.Trial) -> float:
        # Reseed per trial: reproducible alone, distinct proposals across concurrent workers.
        study.sampler = tpe_sampler(seed + trial.number, startup_trials(cfg.n_trials))
        values = suggest(trial, cfg.space)
        model_params = apply_params(base, values, f"trial {trial.number} of study {study.study_name}")
        keras.backend.clear_session()
        models.seed_everything(seed)  # the weights and batches `train` will use: only the values differ
        value, pruned_at = fit_trial(
            trial,
            study.study_name,
            task=task,
            arch=arch,
            values=values,
            model_params=model_params,
            cfg=cfg,
            data=data,
        )
        if pruned_at is not None:
            raise optuna.TrialPruned()
        return value

    done: list[optuna.trial.FrozenTrial] = []
    study.optimize(objective, n_trials=1, callbacks=[lambda _study, trial: done.append(trial)])
    return done[0]
