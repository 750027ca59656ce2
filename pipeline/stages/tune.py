"""tune: search one architecture's hyperparameters with Optuna; train reads the best ones.

Output: ``params/best/<task>/<arch>.yaml`` (``tuned``, ``study``, ``best_value``, ``best_trial``,
``n_trials``, ``params`` = only the tuned keys, ``importance``). With ``<task>.tune.<arch>.enabled:
false`` it is ``{tuned: false, params: {}}``, written without loading Optuna, MLflow or TensorFlow,
and train uses params.yaml unchanged.

How a search runs:

- Objective: the task's validation gate metric (ROC AUC for binary tasks, macro F1 for multi-class
  ones, perplexity for language models, or ``tasks.<task>.promote.metric``; maximised, or minimised
  for a metric where lower is better, such as perplexity) of a model fitted for
  ``epochs_per_trial`` epochs with the shared ``models.fit`` (early stopping, best weights restored).
- Pruning: after every epoch the trial reports ``val_loss`` (negated when the study maximises)
  to a ``MedianPruner``; a pruned trial stops training at the end of that epoch. A diverged trial
  (NaN loss) is pruned too.
- The study is named ``<task>-<arch>-<fingerprint>``; the fingerprint hashes the search space, the
  base model params (``epochs`` aside, which trials do not use), ``epochs_per_trial``, the seed and
  the encoded train/val arrays. The same config on the same data resumes the same study (an
  interrupted run goes on where it stopped, a finished one runs nothing); a changed space or data
  starts a fresh one. ``n_trials`` is not in the fingerprint: raising it extends the study.
- ``n_trials`` is the study's total of finished (complete + pruned) trials; a worker starts a trial
  only while finished trials plus those in flight elsewhere stay below it, so resuming never
  exceeds it and concurrent workers do not either (except two asking at the very same instant, or
  a worker that joined while another's trial was already running: N workers overshoot by N - 1 at
  most). Failed trials do not count.
- A worker killed mid-trial leaves that trial RUNNING. Every trial runs through
  ``study.optimize(n_trials=1)``, which records its heartbeat every ``heartbeat_s`` and, before
  starting, fails any trial whose heartbeat is older than ``grace_period_s``; failed trials do not
  count, so the other workers run a replacement instead of waiting. Workers started after the
  death do not count the dead trial as in flight: to resume, start the command (or ``dvc repro``)
  again.
- Sampling: TPE, reseeded for every trial from ``seed + trial number``. One worker is exactly
  reproducible, and concurrent workers, which get distinct trial numbers from the storage, draw
  from distinct seeds instead of proposing the same points, with no worker index to hand out.
  (A single seeded sampler per worker would repeat the same points.)
- Keras is seeded with ``seed`` itself in every trial, the seed ``train`` uses: trials differ only
  in their hyperparameters, and ``train`` with the best values repeats the best trial's first
  epochs exactly. (Seeding each trial differently let the search pick a lucky initialisation: on
  IMDB a GRU trial scored 0.949 validation ROC AUC that its retraining under ``seed`` did not
  reach, 0.925.)
- Scale-out: ``python -m pipeline tune TASK ARCH --storage URL [--n-trials N]`` on as many processes
  or machines as wanted, all against one RDB storage (PostgreSQL/MySQL across machines, SQLite on
  one). Optuna's storage hands out trial numbers; there is no scheduler of ours. Each worker writes
  the best it saw when it stopped; once all are done, one more run (``dvc repro`` does it) finds
  the study full, runs nothing and writes the study-wide best.
- MLflow (experiment = task): each worker opens a parent run ``tune-<arch>`` tagged with the study
  name; every trial is a nested run with its params, per-epoch metrics, value and state; the parent
  logs the study's best value and params (``best.<name>``), counts, importances and duration.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.core import paths
from pipeline.core.config import TuneConfig, params
from pipeline.core.errors import DataError
from pipeline.core.io import write_yaml
from pipeline.modeling.best_params import ModelParams, apply_params, tune_config
from pipeline.modeling.search_space import (
    check_space,
    decode_params,
    moved_from_untuned,
    untuned_point,
)
from pipeline.modeling.study import (
    MEDIAN_PRUNER,
    TuneResult,
    claimed_trials,
    data_digest,
    fingerprint,
    finished_trials,
    open_storage,
    open_study,
    redact,
    resolve_storage,
    start_workers,
    study_name,
    study_result,
    wait_workers,
)
from pipeline.modeling.trial import run_trial

if TYPE_CHECKING:
    import optuna

    from pipeline.encoders.dataset import Dataset


# -------------------------------------------------------------------- MLflow set-up
def _setup_experiment(task: str) -> None:
    """``tracking.setup_experiment``, safe when workers start together.

    A SQLite store is set up under ``tracking``'s lock; on a server, a worker that loses the race
    to create the experiment retries and finds it.
    """
    from pipeline.core import tracking

    for attempt in range(5):
        try:
            tracking.setup_experiment(task)
            return
        except Exception:
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1) + random.random() * 0.5)


# ---------------------------------------------------------------------- the search
def _open_search(
    task: str,
    arch: str,
    name: str,
    storage_url: str,
    *,
    base: ModelParams,
    cfg: TuneConfig,
    seed: int,
    maximize: bool,
) -> optuna.Study:
    """The study, created or resumed; a fresh one first gets params.yaml's own point enqueued."""
    storage = open_storage(storage_url, cfg.heartbeat_s, cfg.grace_period_s)
    study = open_study(name, storage, seed, cfg.n_trials, "maximize" if maximize else "minimize")
    for key, val in {"task": task, "arch": arch, "epochs_per_trial": cfg.epochs_per_trial}.items():
        study.set_user_attr(key, val)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(untuned_point(base, cfg.space), user_attrs={"untuned": True}, skip_if_exists=True)
        if moved := moved_from_untuned(base, cfg.space):
            print(
                f"tune {task}/{arch}: params.yaml's {', '.join(moved)} lies outside the search space; "
                "the first trial draws it from the space instead"
            )
    return study


def _run_trials(
    study: optuna.Study,
    trial_args: dict[str, Any],
    *,
    since: datetime,
    started: float,
    limit: int,
    timeout: float | None,
    log: Callable[[str], None],
) -> int:
    """Run trials until this worker's ``limit``, the study's total or ``timeout`` seconds after
    ``started``; return how many ran. ``trial_args`` are ``run_trial``'s."""
    import optuna

    cfg: TuneConfig = trial_args["cfg"]
    deadline = started + timeout if timeout else None
    ran = 0
    while ran < limit and claimed_trials(study, since) < cfg.n_trials:
        if deadline is not None and time.monotonic() >= deadline:
            log(
                f"timeout: {timeout:g} s reached after {ran} trials in this worker; the study's best now "
                "depends on this machine's speed (set n_trials only to rebuild the same model elsewhere)"
            )
            break
        t0 = time.monotonic()
        frozen = run_trial(study, **trial_args)
        ran += 1
        shown = "pruned" if frozen.state == optuna.trial.TrialState.PRUNED else f"{frozen.value:.4f}"
        log(
            f"trial {frozen.number}: {shown} in {time.monotonic() - t0:.1f} s "
            f"{decode_params(cfg.space, frozen.params)}"
        )
    return ran


def _log_search(
    name: str, *, base: ModelParams, cfg: TuneConfig, seed: int, limit: int, timeout: float | None
) -> None:
    """The parent run's params: the study, its budget, sampler, pruner, space and base params."""
    import mlflow

    from pipeline.core import tracking

    mlflow.log_params(
        {
            "study": name,
            "seed": seed,
            "n_trials": cfg.n_trials,
            "worker_n_trials": limit,
            "epochs_per_trial": cfg.epochs_per_trial,
            "timeout_s": timeout,
            "sampler": "TPESampler(seed=seed+trial)",
            "pruner": f"MedianPruner({MEDIAN_PRUNER})",
            **tracking.flatten("space", {k: d.model_dump() for k, d in cfg.space.items()}),
            **tracking.flatten("base", base.model_dump()),
        }
    )


def _log_result(result: TuneResult, ran: int) -> None:
    """The parent run's study-wide best: values, counts, importances and the best-params file."""
    import mlflow

    from pipeline.core import tracking

    mlflow.log_params({f"best.{k}": v for k, v in tracking.flatten("", result.params).items()})
    mlflow.log_metrics(
        {
            "best_value": result.best_value,
            "best_trial": result.best_trial,
            "n_trials": result.n_trials,
            "n_pruned": result.n_pruned,
            "n_failed": result.n_failed,
            "trials_this_worker": ran,
            "duration_s": result.seconds,
            **{f"importance.{k}": v for k, v in result.importance.items()},
        }
    )
    mlflow.log_dict(result.as_yaml(), "best_params.yaml")


def tune(
    task: str,
    arch: str,
    data: Dataset,
    *,
    base: ModelParams,
    cfg: TuneConfig,
    seed: int,
    storage_url: str,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Run this worker's share of the study and return the study-wide best.

    ``n_trials`` caps the trials this worker runs (default: as many as the study still needs);
    ``cfg.n_trials`` caps the study's total over all workers and restarts.
    """
    import mlflow
    import numpy as np
    import optuna

    from pipeline.core import tracking
    from pipeline.core.metrics import gate_metric, higher_is_better

    check_space(task, arch, base, cfg.space)
    if np.unique(data.val.y).size < 2:
        raise DataError(f"{paths.encoded_dir(task) / 'val.npz'}: one class only; ROC AUC needs both")
    maximize = higher_is_better(gate_metric(params().task(task), data.n_classes))
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is printed below instead
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # "retracing" notes: a new model per trial
    started = time.monotonic()
    since = datetime.now()  # Optuna stamps trials with naive local time
    name = study_name(task, arch, fingerprint(base, cfg, seed, data_digest(data)))
    shown_storage = redact(storage_url)
    study = _open_search(task, arch, name, storage_url, base=base, cfg=cfg, seed=seed, maximize=maximize)

    limit = n_trials if n_trials is not None else cfg.n_trials
    timeout = timeout_s if timeout_s is not None else cfg.timeout_s
    already, total = len(finished_trials(study)), cfg.n_trials
    if already >= total or limit <= 0:
        log(f"study {name}: {already} of {total} trials already finished; nothing to run")
        return study_result(study, cfg, shown_storage, 0, time.monotonic() - started)
    log(f"study {name} in {shown_storage}: {already} of {total} trials finished; running up to {limit}")
    _setup_experiment(task)
    worker = {
        "optuna.study": name,
        "optuna.storage": shown_storage,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    tags = tracking.run_tags(task, arch, stage="tune", **worker)
    with mlflow.start_run(run_name=f"tune-{arch}", tags=tags):
        _log_search(name, base=base, cfg=cfg, seed=seed, limit=limit, timeout=timeout)
        trial_args = {"task": task, "arch": arch, "base": base, "cfg": cfg, "data": data, "seed": seed}
        ran = _run_trials(
            study, trial_args, since=since, started=started, limit=limit, timeout=timeout, log=log
        )
        result = study_result(study, cfg, shown_storage, ran, time.monotonic() - started)
        _log_result(result, ran)
        return result


# ----------------------------------------------------------------------------- CLI
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline tune",
        description="Search an architecture's hyperparameters with Optuna and write "
        "params/best/<task>/<arch>.yaml. Start the same command on several processes or machines "
        "with one --storage URL to share the study.",
    )
    parser.add_argument("task")
    parser.add_argument("arch")
    parser.add_argument(
        "--storage",
        help="Optuna RDB storage URL shared by all workers (postgresql://, mysql://, sqlite:///); "
        "default: <task>.tune.<arch>.storage, else .optuna/<task>.db",
    )
    parser.add_argument(
        "--n-trials",
        type=_positive_int,
        help="trials this worker runs at most (default: until the study has <task>.tune.<arch>.n_trials)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds after which this worker starts no new trial (default: <task>.tune.<arch>.timeout_s)",
    )
    parser.add_argument("--one-worker", action="store_true", help=argparse.SUPPRESS)  # a started worker
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    task, arch = args.task, args.arch
    cfg = tune_config(task, arch)
    out = paths.best_params(task, arch)
    p = params()
    if not cfg.enabled:
        trained = p.model_params(task, arch).model_dump()
        write_yaml(out, {"tuned": False, "params": {}, "trained": trained})
        print(f"tune {task}/{arch}: disabled ({task}.tune.{arch}.enabled is false); train uses params.yaml")
        return 0
    base = p.model_params(task, arch)
    check_space(task, arch, base, cfg.space)  # before loading data and TensorFlow

    from pipeline.core.metrics import gate_metric
    from pipeline.encoders.dataset import load_dataset

    data = load_dataset(task)
    gate = gate_metric(p.task(task), data.n_classes)
    storage_url = resolve_storage(task, cfg, args.storage)
    extra = 0 if args.one_worker or args.n_trials is not None else cfg.workers - 1
    workers = start_workers(task, arch, storage_url, extra)
    run = {"base": base, "cfg": cfg, "seed": p.seed, "storage_url": storage_url}
    result = tune(task, arch, data, **run, n_trials=args.n_trials, timeout_s=args.timeout)
    if workers:  # the study-wide best once every worker has finished: a run with nothing to do
        wait_workers(workers)
        result = tune(task, arch, data, **run, n_trials=0, log=lambda _: None)
    trained = apply_params(base, result.params, str(out)).model_dump()
    write_yaml(out, result.as_yaml() | {"trained": trained})
    shown = ", ".join(f"{k}={v}" for k, v in result.params.items())
    print(
        f"tune {task}/{arch}: study {result.study}: {result.n_trials} trials ({result.n_pruned} pruned, "
        f"{result.ran_here} here, {result.seconds:.0f} s); best val {gate} {result.best_value:.4f} "
        f"(trial {result.best_trial}): {shown} -> {out.relative_to(paths.project_root())}"
    )
    return 0
