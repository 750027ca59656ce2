"""An Optuna study of tune: its identity (name and fingerprint), its storage, its sampler and
pruner, the trials it counts, and the result it reports.

The study is named ``<task>-<arch>-<fingerprint>``; the same config on the same data resumes the
same study. See ``pipeline.stages.tune`` for how a search runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.core import paths
from pipeline.core.config import ConfigError, TuneConfig
from pipeline.core.errors import PipelineError
from pipeline.modeling.best_params import ModelParams
from pipeline.modeling.search_space import decode_params

if TYPE_CHECKING:
    import optuna

    from pipeline.encoders.dataset import Dataset

T = TypeVar("T")

MEDIAN_PRUNER = {"n_startup_trials": 2, "n_warmup_steps": 1}
SQLITE_TIMEOUT_S = 60  # concurrent SQLite writers wait this long for the lock instead of failing


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


def tpe_sampler(seed: int, n_startup: int) -> optuna.samplers.TPESampler:
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
            sampler=tpe_sampler(seed, startup_trials(total)),
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


# ------------------------------------------------------------ trials and the result
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


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def claimed_trials(study: optuna.Study, since: datetime) -> int:
    """Finished trials plus those other workers started since this one did.

    Counting trials in flight keeps concurrent workers from overshooting ``n_trials``; trials
    left RUNNING by a worker killed before this one started are not counted, so they cannot
    block a resumed study.
    """
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return len(finished_trials(study)) + sum(
        1 for t in running if t.datetime_start and t.datetime_start >= since
    )


def study_result(study: optuna.Study, cfg: TuneConfig, storage: str, ran: int, seconds: float) -> TuneResult:
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


# ----------------------------------------------------------------------- workers
def start_workers(task: str, arch: str, storage_url: str, count: int) -> list[subprocess.Popen]:
    """``count`` more ``python -m pipeline tune`` processes on this machine against the study in
    ``storage_url`` (each runs trials until the study has its ``n_trials``); ``--one-worker`` keeps
    them from starting workers of their own. Their output goes to this process's."""
    command = [sys.executable, "-m", "pipeline", "tune", task, arch, "--storage", storage_url, "--one-worker"]
    return [subprocess.Popen(command) for _ in range(count)]


def wait_workers(workers: list[subprocess.Popen]) -> None:
    """Wait for every worker; a worker that failed fails the search (its trials may be missing)."""
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        raise PipelineError(f"{len(failed)} of {len(workers)} extra tune workers failed (output above)")
