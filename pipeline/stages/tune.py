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
import hashlib
import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.core import paths
from pipeline.core.config import (
    CategoricalDim,
    ConfigError,
    FloatDim,
    IntDim,
    SearchDim,
    TuneConfig,
    params,
)
from pipeline.core.errors import DataError, PipelineError
from pipeline.core.io import write_yaml
from pipeline.core.yamlio import lock_safe
from pipeline.modeling.best_params import (
    ModelParams,
    apply_params,
    decode_choice,
    encode_choice,
    tune_config,
)

if TYPE_CHECKING:
    import optuna

    from pipeline.encoders.dataset import Dataset

T = TypeVar("T")

MEDIAN_PRUNER = {"n_startup_trials": 2, "n_warmup_steps": 1}
SQLITE_TIMEOUT_S = 60  # concurrent SQLite writers wait this long for the lock instead of failing


# ------------------------------------------------------------------------- config
def untuned_point(base: ModelParams, space: dict[str, SearchDim]) -> dict[str, Any]:
    """params.yaml's own values for the searched keys that lie inside the space.

    Enqueued as the study's first trial, so the search always measures the untuned settings
    under the same budget and the best it reports is never worse than them on validation.
    """
    point: dict[str, Any] = {}
    values = base.model_dump()
    for key, dim in space.items():
        value = values.get(key)
        if isinstance(dim, CategoricalDim):
            encoded = encode_choice(value)
            if encoded in [encode_choice(c) for c in dim.choices]:
                point[key] = encoded
        elif isinstance(value, (int, float)) and dim.low <= value <= dim.high:
            point[key] = value
    return point


def moved_from_untuned(base: ModelParams, space: dict[str, SearchDim]) -> list[str]:
    """The searched keys whose params.yaml value the first trial cannot take (outside the space)."""
    values, point = base.model_dump(), untuned_point(base, space)
    return [f"{key} = {values.get(key)!r}" for key in space if key not in point]


def check_space(task: str, arch: str, base: ModelParams, space: dict[str, SearchDim]) -> None:
    """Fail before any trial on a key the model does not have or a bound/choice it rejects."""
    where = f"params.yaml {task}.tune.{arch}.space"
    if not space:
        raise ConfigError(f"{where}: empty; add dimensions or set {task}.tune.{arch}.enabled: false")
    fields = set(type(base).model_fields)
    for name, dim in space.items():
        at = f"{where}.{name}"
        if name == "epochs":
            raise ConfigError(f"{at}: trials train for {task}.tune.{arch}.epochs_per_trial epochs")
        embedding = getattr(base, "embedding", None)
        if name == "embedding_dim" and embedding is not None and embedding.init == "word2vec":
            raise ConfigError(f"{at}: the word2vec vectors (embed stage) fix embedding_dim; do not search it")
        if name not in fields:
            raise ConfigError(
                f"{at}: not a parameter of {task}.models.{arch} (expected one of {', '.join(sorted(fields))})"
            )
        if isinstance(dim, (FloatDim, IntDim)):
            if dim.low > dim.high:
                raise ConfigError(f"{at}: low {dim.low} is above high {dim.high}")
            if dim.log and dim.low <= 0:
                raise ConfigError(f"{at}: log scale needs low > 0, got {dim.low}")
            if isinstance(dim, IntDim) and (dim.step < 1 or (dim.log and dim.step != 1)):
                raise ConfigError(f"{at}: step must be >= 1, and 1 on a log scale; got {dim.step}")
            candidates = [dim.low, dim.high]
        else:
            if not dim.choices:
                raise ConfigError(f"{at}: no choices")
            encoded = [encode_choice(c) for c in dim.choices]
            if len(set(map(repr, encoded))) != len(encoded):
                raise ConfigError(f"{at}: duplicate choices in {dim.choices}")
            candidates = list(dim.choices)
        for value in candidates:
            apply_params(base, {name: value}, f"{at} = {value!r}")


def suggest(trial: optuna.trial.Trial, space: dict[str, SearchDim]) -> dict[str, Any]:
    """One value per dimension, decoded back to what params.yaml means (e.g. ``[64, 32]``)."""
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, FloatDim):
            values[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, IntDim):
            values[name] = trial.suggest_int(name, dim.low, dim.high, step=dim.step, log=dim.log)
        else:
            picked = trial.suggest_categorical(name, [encode_choice(c) for c in dim.choices])
            values[name] = decode_choice(dim, picked)
    return values


def decode_params(space: dict[str, SearchDim], stored: dict[str, Any]) -> dict[str, Any]:
    """A finished trial's stored params as plain YAML values, in the space's order."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if name not in stored:
            continue
        value = stored[name]
        if isinstance(dim, CategoricalDim):
            value = decode_choice(dim, value)
        elif isinstance(dim, IntDim):
            value = int(value)
        else:
            value = lock_safe(float(value))  # train's params: dvc.lock must record them unchanged
        out[name] = value
    return out


# ---------------------------------------------------------------------- identity
def data_digest(data: Dataset) -> str:
    """Content hash of the arrays a trial sees (npz files carry timestamps, so not their bytes)."""
    digest = hashlib.sha256()
    for split in (data.train, data.val):
        for array in (split.x, split.y):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    digest.update(str(data.vocab_size).encode())
    return digest.hexdigest()


def fingerprint(base: ModelParams, cfg: TuneConfig, seed: int, data_hash: str) -> str:
    """12 hex digits identifying everything a trial's outcome depends on."""
    identity = {
        "space": {name: dim.model_dump() for name, dim in cfg.space.items()},
        "base": base.model_dump(exclude={"epochs"}),
        "epochs_per_trial": cfg.epochs_per_trial,
        "seed": seed,
        "data": data_hash,
        "trial_seeding": "fixed",  # trials once used seed + trial number: those studies do not resume
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def study_name(task: str, arch: str, fp: str) -> str:
    return f"{task}-{arch}-{fp}"


# ----------------------------------------------------------------------- storage
def resolve_storage(task: str, cfg: TuneConfig, override: str | None = None) -> str:
    """``--storage``, else ``<task>.tune.<arch>.storage``, else a SQLite file under ``.optuna/``."""
    return override or cfg.storage or paths.optuna_storage_default(task)


def redact(url: str) -> str:
    """The URL with its password hidden, for logs, tags and messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@", 1)[-1] if "@" in url else url


def _retry(action: Callable[[], T], attempts: int = 6) -> T:
    """Retry a database call that races with another worker starting on a fresh storage."""
    from sqlalchemy import exc as sa_exc

    for attempt in range(attempts):
        try:
            return action()
        except (sa_exc.OperationalError, sa_exc.IntegrityError, sa_exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.3 * (attempt + 1) + random.random() * 0.3)
    raise AssertionError("unreachable")


def open_storage(
    url: str, heartbeat_s: int | None = None, grace_period_s: int | None = None
) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage; a SQLite file's folder is created and writers wait for its lock.

    With ``heartbeat_s``, each trial run by ``study.optimize`` records a heartbeat that often, and
    a trial whose heartbeat is older than ``grace_period_s`` (its worker was killed) is failed by
    the next trial start of any worker (``optuna.storages.fail_stale_trials``).
    """
    import warnings

    import optuna
    from sqlalchemy import exc as sa_exc

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        file = url.split(":///", 1)[1] if ":///" in url else ""
        if file and file != ":memory:":
            Path(file).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _retry(
                lambda: optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=grace_period_s if heartbeat_s else None,
                )
            )
    except sa_exc.ArgumentError as exc:
        raise ConfigError(f"storage {redact(url)!r}: not a database URL ({exc})") from exc
    except ImportError as exc:
        raise ConfigError(
            f"storage {redact(url)!r}: its database driver is not installed "
            f"({exc.__cause__ or exc}); e.g. psycopg2-binary for PostgreSQL with a "
            f"postgresql+psycopg2:// URL (SQLAlchemy 2.1 reads postgresql:// as psycopg 3), "
            f"PyMySQL for MySQL"
        ) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise PipelineError(f"storage {redact(url)!r}: cannot open it: {getattr(exc, 'orig', exc)}") from exc


def _sampler(seed: int, n_startup: int) -> optuna.samplers.TPESampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)


def startup_trials(total: int) -> int:
    """Random trials before TPE models the results: Optuna's 10, fewer for small budgets."""
    return max(2, min(10, total // 3))


def open_study(
    name: str, storage: optuna.storages.BaseStorage, seed: int, total: int, direction: str = "maximize"
) -> optuna.Study:
    import optuna

    return _retry(
        lambda: optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,
            sampler=_sampler(seed, startup_trials(total)),
            pruner=optuna.pruners.MedianPruner(**MEDIAN_PRUNER),
            load_if_exists=True,
        )
    )


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances; empty below 2 completed trials or when they cannot be told."""
    import optuna

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(completed) < 2:
        return {}
    try:
        scores = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}
    return {name: round(float(v), 6) for name, v in scores.items() if math.isfinite(float(v))}


# ---------------------------------------------------------------------- the search
@dataclass
class TuneResult:
    study: str
    storage: str  # redacted
    best_value: float
    best_trial: int
    params: dict[str, Any]
    n_trials: int  # finished in the study: complete + pruned (all workers)
    n_pruned: int
    n_failed: int
    ran_here: int  # trials this worker ran
    seconds: float
    importance: dict[str, float] = field(default_factory=dict)
    untuned_value: float | None = None  # the enqueued params.yaml point, when it completed

    def as_yaml(self) -> dict[str, Any]:
        return {
            "tuned": True,
            "study": self.study,
            "best_value": round(self.best_value, 6),
            "untuned_value": None if self.untuned_value is None else round(self.untuned_value, 6),
            "best_trial": self.best_trial,
            "n_trials": self.n_trials,
            "n_pruned": self.n_pruned,
            "params": self.params,
            "importance": self.importance,
        }


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def _claimed(study: optuna.Study, since: datetime) -> int:
    """Finished trials plus those other workers started since this one did.

    Counting trials in flight keeps concurrent workers from overshooting ``n_trials``; trials
    left RUNNING by a worker killed before this one started are not counted, so they cannot
    block a resumed study.
    """
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return len(_finished(study)) + sum(1 for t in running if t.datetime_start and t.datetime_start >= since)


@contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise MLflow store set-up between processes sharing one SQLite file.

    MLflow migrates a fresh SQLite store when it first opens it; two workers doing that at once
    leave it half-migrated and unusable. An exclusive ``flock`` on the folder holding the file
    (no lock file is left behind) makes the second worker wait. Other stores need no lock.
    """
    if not uri.startswith("sqlite:///") or os.name != "posix":
        yield
        return
    import fcntl

    folder = Path(uri[len("sqlite:///") :]).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _setup_experiment(task: str) -> None:
    """``tracking.setup_experiment``, safe when workers start together.

    A SQLite store is set up under a lock; on a server, a worker that loses the race to create
    the experiment retries and finds it.
    """
    from pipeline.core import tracking

    with _sqlite_init_lock(paths.tracking_uri()):
        for attempt in range(5):
            try:
                tracking.setup_experiment(task)
                return
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1) + random.random() * 0.5)


def _epoch_callback(trial: optuna.trial.Trial, maximize: bool = True) -> Any:
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
    import mlflow
    import numpy as np
    import optuna

    from pipeline import tasks
    from pipeline.core import tracking
    from pipeline.core.metrics import gate_metric, higher_is_better
    from pipeline.encoders.word2vec import initial_table
    from pipeline.modeling import models

    keras = models.keras

    def objective(trial: optuna.trial.Trial) -> float:
        # Reseed per trial: reproducible alone, distinct proposals across concurrent workers.
        study.sampler = _sampler(seed + trial.number, startup_trials(cfg.n_trials))
        values = suggest(trial, cfg.space)
        model_params = apply_params(base, values, f"trial {trial.number} of study {study.study_name}")
        keras.backend.clear_session()
        models.seed_everything(seed)  # the weights and batches `train` will use: only the values differ
        tags = tracking.run_tags(
            task,
            arch,
            stage="tune-trial",
            **{"optuna.study": study.study_name, "optuna.trial": str(trial.number)},
        )
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, tags=tags) as run:
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            mlflow.log_params({"trial": trial.number, **tracking.flatten("", values)})
            table = initial_table(task, arch, model_params, data.vocab_size)
            model = models.build_for(arch, model_params, data, table)
            config = params().task(task)
            gate = gate_metric(config, data.n_classes)
            report = _epoch_callback(trial, higher_is_better(gate))
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
                    value = float(tasks.kind_of(config).metrics(data.val.y, proba, data.n_classes)[gate])
                    summary[f"val_{gate}"] = value
            mlflow.log_metrics(summary)
            mlflow.set_tag("optuna.state", "pruned" if report.pruned_at is not None else "complete")
            if report.pruned_at is not None:
                mlflow.set_tag("optuna.pruned_at_epoch", str(report.pruned_at))
        if report.pruned_at is not None:
            raise optuna.TrialPruned()
        return value

    done: list[optuna.trial.FrozenTrial] = []
    study.optimize(objective, n_trials=1, callbacks=[lambda _study, trial: done.append(trial)])
    return done[0]


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
    total = cfg.n_trials
    name = study_name(task, arch, fingerprint(base, cfg, seed, data_digest(data)))
    shown_storage = redact(storage_url)
    storage = open_storage(storage_url, cfg.heartbeat_s, cfg.grace_period_s)
    study = open_study(name, storage, seed, total, "maximize" if maximize else "minimize")
    for key, val in {"task": task, "arch": arch, "epochs_per_trial": cfg.epochs_per_trial}.items():
        study.set_user_attr(key, val)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(untuned_point(base, cfg.space), user_attrs={"untuned": True}, skip_if_exists=True)
        if moved := moved_from_untuned(base, cfg.space):
            print(
                f"tune {task}/{arch}: params.yaml's {', '.join(moved)} lies outside the search space; "
                "the first trial draws it from the space instead"
            )

    limit = n_trials if n_trials is not None else total
    timeout = timeout_s if timeout_s is not None else cfg.timeout_s
    deadline = started + timeout if timeout else None
    already = len(_finished(study))
    ran = 0
    if already >= total or limit <= 0:
        log(f"study {name}: {already} of {total} trials already finished; nothing to run")
    else:
        log(f"study {name} in {shown_storage}: {already} of {total} trials finished; running up to {limit}")
        _setup_experiment(task)
        tags = tracking.run_tags(
            task,
            arch,
            stage="tune",
            **{
                "optuna.study": name,
                "optuna.storage": shown_storage,
                "worker": f"{socket.gethostname()}:{os.getpid()}",
            },
        )
        with mlflow.start_run(run_name=f"tune-{arch}", tags=tags):
            mlflow.log_params(
                {
                    "study": name,
                    "seed": seed,
                    "n_trials": total,
                    "worker_n_trials": limit,
                    "epochs_per_trial": cfg.epochs_per_trial,
                    "timeout_s": timeout,
                    "sampler": "TPESampler(seed=seed+trial)",
                    "pruner": f"MedianPruner({MEDIAN_PRUNER})",
                    **tracking.flatten("space", {k: d.model_dump() for k, d in cfg.space.items()}),
                    **tracking.flatten("base", base.model_dump()),
                }
            )
            while ran < limit and _claimed(study, since) < total:
                if deadline is not None and time.monotonic() >= deadline:
                    log(f"timeout: {timeout:g} s reached after {ran} trials in this worker")
                    break
                t0 = time.monotonic()
                frozen = run_trial(study, task=task, arch=arch, base=base, cfg=cfg, data=data, seed=seed)
                ran += 1
                shown = "pruned" if frozen.state == optuna.trial.TrialState.PRUNED else f"{frozen.value:.4f}"
                log(
                    f"trial {frozen.number}: {shown} in {time.monotonic() - t0:.1f} s "
                    f"{decode_params(cfg.space, frozen.params)}"
                )
            result = _result(study, cfg, shown_storage, ran, time.monotonic() - started)
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
            return result
    return _result(study, cfg, shown_storage, ran, time.monotonic() - started)


def _result(study: optuna.Study, cfg: TuneConfig, storage: str, ran: int, seconds: float) -> TuneResult:
    import optuna

    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
    complete = count[optuna.trial.TrialState.COMPLETE]
    pruned = count[optuna.trial.TrialState.PRUNED]
    if complete == 0:
        raise PipelineError(
            f"study {study.study_name} ({storage}): no trial completed ({pruned} pruned, "
            f"{count[optuna.trial.TrialState.FAIL]} failed); raise n_trials or timeout_s"
        )
    best = study.best_trial
    untuned = [
        t.value for t in trials if t.user_attrs.get("untuned") and t.state == optuna.trial.TrialState.COMPLETE
    ]
    return TuneResult(
        study=study.study_name,
        storage=storage,
        best_value=float(best.value),
        best_trial=best.number,
        params=decode_params(cfg.space, best.params),
        n_trials=complete + pruned,
        n_pruned=pruned,
        n_failed=count[optuna.trial.TrialState.FAIL],
        ran_here=ran,
        seconds=seconds,
        importance=importances(study),
        untuned_value=float(untuned[0]) if untuned else None,
    )


# ----------------------------------------------------------------------------- CLI
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str]) -> int:
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
    args = parser.parse_args(argv)
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
    result = tune(
        task,
        arch,
        data,
        base=base,
        cfg=cfg,
        seed=p.seed,
        storage_url=resolve_storage(task, cfg, args.storage),
        n_trials=args.n_trials,
        timeout_s=args.timeout,
    )
    trained = apply_params(base, result.params, str(out)).model_dump()
    write_yaml(out, result.as_yaml() | {"trained": trained})
    shown = ", ".join(f"{k}={v}" for k, v in result.params.items())
    print(
        f"tune {task}/{arch}: study {result.study}: {result.n_trials} trials ({result.n_pruned} pruned, "
        f"{result.ran_here} here, {result.seconds:.0f} s); best val {gate} {result.best_value:.4f} "
        f"(trial {result.best_trial}): {shown} -> {out.relative_to(paths.project_root())}"
    )
    return 0
