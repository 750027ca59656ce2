"""tune: Optuna search with pruning, nested MLflow runs, resumable studies, several workers, best params.

Real Optuna on SQLite storages, a real MLflow SQLite store, real Keras fits on a tiny encoded
churn data set written into a temporary project (a copy of params.yaml with a tiny search budget).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as pipeline.modeling.models sets it, before TF loads
pytest.importorskip("tensorflow")
optuna = pytest.importorskip("optuna")
mlflow = pytest.importorskip("mlflow")

from pipeline.core import config, paths  # noqa: E402
from pipeline.core.config import CategoricalDim, ConfigError, FloatDim, load_params  # noqa: E402
from pipeline.core.io import read_yaml  # noqa: E402
from pipeline.stages.encode import encode_frame, write_encoded  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_TOTAL = 4  # the study's total budget in the test project
SPACE = {
    "hidden_units": {"type": "categorical", "choices": [[8, 4], [6], [4, 4]]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    "learning_rate": {"type": "float", "low": 3.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64]},
}


def churn_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows in the Churn_Modelling schema whose label depends on age and activity."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    active = rng.integers(0, 2, n)
    geography = rng.choice(["France", "Germany", "Spain"], n)
    logit = 0.08 * (age - 45) - 1.5 * active + 0.8 * (geography == "Germany") + rng.normal(0, 0.7, n)
    return pd.DataFrame(
        {
            "RowNumber": np.arange(n),
            "CustomerId": np.arange(n) + 1000,
            "Surname": "Doe",
            "CreditScore": rng.integers(350, 850, n),
            "Age": age,
            "Tenure": rng.integers(0, 11, n),
            "Balance": rng.uniform(0, 200_000, n),
            "NumOfProducts": rng.integers(1, 5, n),
            "HasCrCard": rng.integers(0, 2, n),
            "IsActiveMember": active,
            "EstimatedSalary": rng.uniform(0, 200_000, n),
            "Geography": geography,
            "Gender": rng.choice(["Female", "Male"], n),
            "Exited": (logit > 0).astype(int),
        }
    )


def write_params(root: Path, **tune_overrides: Any) -> dict[str, Any]:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tasks"]["churn"]["models"]["ann"].update(epochs=3, patience=2)
    raw["tasks"]["churn"]["tune"]["ann"] = {
        "enabled": True,
        "n_trials": N_TOTAL,
        "timeout_s": None,
        "epochs_per_trial": 2,
        "storage": None,
        "space": SPACE,
        **tune_overrides,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw


def env_for(root: Path, mlflow_db: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        MLFLOW_TRACKING_URI=f"sqlite:///{mlflow_db or root / 'mlflow.db'}",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    return env


def enter(root: Path, mp: pytest.MonkeyPatch) -> None:
    mp.chdir(root)
    mp.delenv("DVC_ROOT", raising=False)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    config.params.cache_clear()


def all_runs(root: Path, db: str = "mlflow.db") -> list[Any]:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / db}")
    experiment = client.get_experiment_by_name("churn")
    return client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []


def finished(study: Any) -> list[Any]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tune") / "project"
    write_params(root)
    p = load_params(root / "params.yaml")
    encoder, labels, frame, arrays = encode_frame(churn_frame(360), p.task("churn"), p.seed)
    write_encoded(root / "data" / "encoded" / "churn", encoder, labels, frame, arrays)
    return root


@pytest.fixture(scope="module")
def first_run(project: Path) -> dict[str, Any]:
    """``python -m pipeline tune churn ann --n-trials 2`` on the default storage, in process."""
    from pipeline.modeling import best_params
    from pipeline.stages import tune

    with pytest.MonkeyPatch.context() as mp:
        enter(project, mp)
        assert tune.main(["churn", "ann", "--n-trials", "2"]) == 0
        best = read_yaml(paths.best_params("churn", "ann"))
        storage = paths.optuna_storage_default("churn")
        merged = best_params.merged_model_params("churn", "ann")
        loaded = best_params.load_best_params("churn", "ann")
        base = config.params().model_params("churn", "ann")
    config.params.cache_clear()
    study = optuna.load_study(study_name=best["study"], storage=storage)
    trials = [(t.number, t.state, t.value, dict(t.params)) for t in study.get_trials()]
    return {
        "best": best,
        "storage": storage,
        "merged": merged,
        "loaded": loaded,
        "base": base,
        "trials": trials,
        "runs": all_runs(project),
    }


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch):
    enter(project, monkeypatch)
    yield project
    config.params.cache_clear()


# ---------------------------------------------------------------- pure pieces (no TF)
def test_list_choices_travel_through_optuna_as_strings_and_come_back_as_lists() -> None:
    from pipeline.modeling.best_params import decode_choice, encode_choice
    from pipeline.modeling.search_space import decode_params

    dim = CategoricalDim(type="categorical", choices=[[64, 32], [32], 16])
    encoded = [encode_choice(c) for c in dim.choices]
    assert all(isinstance(e, (str, int)) for e in encoded)
    assert [decode_choice(dim, e) for e in encoded] == [[64, 32], [32], 16]
    space = {"hidden_units": dim, "dropout": FloatDim(type="float", low=0, high=0.5)}
    assert decode_params(space, {"dropout": 0.25, "hidden_units": "[64, 32]"}) == {
        "hidden_units": [64, 32],
        "dropout": 0.25,
    }


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"hidden_unitz": {"type": "categorical", "choices": [[8]]}}, "space.hidden_unitz: not a parameter"),
        ({"hidden_units": {"type": "categorical", "choices": [[8], [0, "x"]]}}, "hidden_units = [0, 'x']"),
        ({"dropout": {"type": "float", "low": 0.5, "high": 0.1}}, "low 0.5 is above high 0.1"),
        ({"l2": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}, "log scale needs low > 0"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 1.5}}, "dropout = 1.5"),
        ({"epochs": {"type": "int", "low": 1, "high": 5}}, "epochs_per_trial"),
    ],
)
def test_a_bad_search_space_fails_before_any_trial_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], space, expected
) -> None:
    from pipeline.__main__ import main

    write_params(tmp_path, space=space)
    enter(tmp_path, monkeypatch)
    try:
        assert main(["tune", "churn", "ann"]) == 1
    finally:
        config.params.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "churn.tune.ann.space" in err and expected in err
    assert not paths.best_params("churn", "ann").exists()


def test_unusable_storage_urls_get_a_clear_error(tmp_path: Path) -> None:
    from pipeline.modeling.study import open_storage, redact

    with pytest.raises(ConfigError, match="not a database URL"):
        open_storage("not a url")
    assert "s3cret" not in redact("postgresql://optuna:s3cret@db.example:5432/studies")
    storage = open_storage(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'study.db'}")
    assert (tmp_path / "nested" / "dir" / "study.db").exists() and storage is not None


def test_disabled_tuning_writes_untuned_quickly_without_optuna_mlflow_or_tensorflow(tmp_path: Path) -> None:
    write_params(tmp_path, enabled=False)  # no data needed: nothing is searched
    probe = (
        "import sys, time; t = time.perf_counter(); from pipeline.stages.tune import main; "
        "assert main(['churn', 'ann']) == 0; "
        "heavy = [m for m in ('tensorflow', 'keras', 'optuna', 'mlflow') if m in sys.modules]; "
        "print(heavy, round(time.perf_counter() - t, 2))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env_for(tmp_path), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    heavy, seconds = out.stdout.split("\n")[-2].rsplit(" ", 1)
    assert heavy == "[]" and float(seconds) < 5
    written = read_yaml(tmp_path / "params" / "best" / "churn" / "ann.yaml")
    assert written["tuned"] is False and written["params"] == {}
    # what train will use, for `dvc exp show`: params.yaml's own values
    assert (
        written["trained"]
        == config.load_params(tmp_path / "params.yaml").model_params("churn", "ann").model_dump()
    )
    assert not (tmp_path / ".optuna").exists() and not (tmp_path / "mlflow.db").exists()


def test_disabled_tuning_makes_train_use_params_yaml_even_over_a_stale_best_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.core.io import write_yaml
    from pipeline.modeling.best_params import load_best_params, merged_model_params

    write_params(tmp_path, enabled=False)
    write_yaml(
        tmp_path / "params" / "best" / "churn" / "ann.yaml", {"tuned": True, "params": {"dropout": 0.3}}
    )
    enter(tmp_path, monkeypatch)
    try:
        assert load_best_params("churn", "ann") == {}
        assert merged_model_params("churn", "ann") == config.params().model_params("churn", "ann")
    finally:
        config.params.cache_clear()


def test_a_best_file_with_an_invalid_value_fails_train_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.core.io import write_yaml
    from pipeline.modeling.best_params import merged_model_params

    write_params(tmp_path)
    write_yaml(
        tmp_path / "params" / "best" / "churn" / "ann.yaml", {"tuned": True, "params": {"dropout": 2.0}}
    )
    enter(tmp_path, monkeypatch)
    try:
        with pytest.raises(ConfigError, match=r"churn/ann\.yaml: dropout"):
            merged_model_params("churn", "ann")
    finally:
        config.params.cache_clear()


# -------------------------------------------------------------------------- pruning
def test_the_epoch_callback_prunes_a_trial_whose_val_loss_is_worse_than_the_median(tmp_path: Path) -> None:
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from pipeline.modeling.study import MEDIAN_PRUNER
    from pipeline.modeling.trial import epoch_callback

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(**MEDIAN_PRUNER))
    for value in (0.8, 0.82):  # two finished trials with val_loss 0.3 at every epoch
        study.add_trial(
            create_trial(
                value=value,
                params={"x": 0.5},
                distributions={"x": FloatDistribution(0, 1)},
                intermediate_values={0: -0.3, 1: -0.3, 2: -0.3},
                state=TrialState.COMPLETE,
            )
        )

    class Model:
        stop_training = False

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("pruning")  # not whatever experiment an earlier test left active
    with mlflow.start_run() as run:
        good, bad, diverged = (epoch_callback(study.ask()) for _ in range(3))
        for callback in (good, bad, diverged):
            callback.set_model(Model())
        for epoch in range(3):
            good.on_epoch_end(epoch, {"val_loss": 0.2, "loss": 0.2})
        bad.on_epoch_end(0, {"val_loss": 0.9})  # warm-up step: never pruned
        assert bad.pruned_at is None and not bad.model.stop_training
        bad.on_epoch_end(1, {"val_loss": 0.9})
        diverged.on_epoch_end(0, {"val_loss": float("nan")})
    assert good.pruned_at is None and not good.model.stop_training
    assert bad.pruned_at == 2 and bad.model.stop_training
    assert diverged.pruned_at == 1 and diverged.model.stop_training
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "val_loss")
    assert len(history) == 5 and all(math.isfinite(m.value) for m in history)  # the NaN is not logged


# --------------------------------------------------------------------- a real search
def test_best_params_are_written_inside_the_space_and_train_reads_them(first_run: dict[str, Any]) -> None:
    best = first_run["best"]
    assert best["tuned"] is True and best["study"].startswith("churn-ann-")
    assert best["n_trials"] == 2 and 0.5 < best["best_value"] <= 1.0
    tuned = best["params"]
    assert set(tuned) == set(SPACE)
    assert tuned["hidden_units"] in SPACE["hidden_units"]["choices"]  # decoded back to a list
    assert tuned["batch_size"] in SPACE["batch_size"]["choices"]
    assert SPACE["dropout"]["low"] <= tuned["dropout"] <= SPACE["dropout"]["high"]
    assert SPACE["learning_rate"]["low"] <= tuned["learning_rate"] <= SPACE["learning_rate"]["high"]
    values = {n: v for n, state, v, _ in first_run["trials"] if state == optuna.trial.TrialState.COMPLETE}
    assert best["best_value"] == pytest.approx(max(values.values()), abs=1e-6)
    assert best["best_trial"] == max(values, key=values.get)
    assert first_run["loaded"] == tuned
    merged, base = first_run["merged"], first_run["base"]
    assert merged.model_dump() == {**base.model_dump(), **tuned}
    assert merged.epochs == base.epochs  # untuned keys stay as in params.yaml


def test_each_trial_is_a_nested_mlflow_run_under_one_parent_that_records_the_best(
    first_run: dict[str, Any],
) -> None:
    runs, best = first_run["runs"], first_run["best"]
    parents = [r for r in runs if r.data.tags.get("stage") == "tune"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_name == "tune-ann" and parent.info.status == "FINISHED"
    assert parent.data.tags["optuna.study"] == best["study"] and parent.data.tags["arch"] == "ann"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 == len(runs) - 1
    assert sorted(int(c.data.params["trial"]) for c in children) == [0, 1]
    for child in children:
        assert set(SPACE) <= set(child.data.params)
        assert child.data.tags["optuna.state"] in {"complete", "pruned"}
        assert "val_loss" in child.data.metrics and "loss" in child.data.metrics
    assert parent.data.metrics["best_value"] == pytest.approx(best["best_value"], abs=1e-6)
    assert parent.data.metrics["n_trials"] == 2
    assert parent.data.params["best.hidden_units"] == str(best["params"]["hidden_units"])
    assert float(parent.data.params["best.dropout"]) == pytest.approx(best["params"]["dropout"])


def test_resuming_runs_only_what_the_study_still_needs_and_never_exceeds_n_trials(
    first_run: dict[str, Any], in_project: Path
) -> None:
    from pipeline.stages import tune

    study = optuna.load_study(study_name=first_run["best"]["study"], storage=first_run["storage"])
    killed = study.ask()  # a worker killed mid-trial leaves it RUNNING for good
    assert tune.main(["churn", "ann"]) == 0  # 2 of 4 finished: runs the remaining 2
    assert sorted(t.number for t in finished(study)) == [0, 1, 3, 4]
    assert study.get_trials()[killed.number].state == optuna.trial.TrialState.RUNNING
    parents_before = len([r for r in all_runs(in_project) if r.data.tags.get("stage") == "tune"])
    assert tune.main(["churn", "ann", "--n-trials", "3"]) == 0  # the study is full: nothing runs
    assert len(finished(study)) == N_TOTAL and len(study.get_trials()) == N_TOTAL + 1
    assert len([r for r in all_runs(in_project) if r.data.tags.get("stage") == "tune"]) == parents_before
    written = read_yaml(paths.best_params("churn", "ann"))
    assert written["n_trials"] == N_TOTAL and written["best_trial"] == study.best_trial.number
    assert set(written["importance"]) <= set(SPACE)


def test_same_seed_params_and_data_give_the_same_trials(first_run: dict[str, Any], in_project: Path) -> None:
    from pipeline.encoders.dataset import load_dataset
    from pipeline.stages import tune

    p = config.params()
    result = tune.tune(
        "churn",
        "ann",
        load_dataset("churn"),
        base=p.model_params("churn", "ann"),
        cfg=p.task("churn").tune["ann"],
        seed=p.seed,
        storage_url=f"sqlite:///{in_project / 'replay.db'}",
        n_trials=2,
        log=lambda _: None,
    )
    study = optuna.load_study(study_name=result.study, storage=f"sqlite:///{in_project / 'replay.db'}")
    replay = [(t.number, t.state, t.value, dict(t.params)) for t in study.get_trials()]
    assert result.study == first_run["best"]["study"]  # same fingerprint
    assert replay == first_run["trials"][:2]


def test_training_with_a_trials_values_repeats_that_trial(
    first_run: dict[str, Any], in_project: Path
) -> None:
    """Every trial is seeded like `train`, so a winner wins by its values, not a lucky initialisation."""
    from sklearn.metrics import roc_auc_score

    from pipeline.encoders.dataset import load_dataset
    from pipeline.modeling import models
    from pipeline.modeling.best_params import apply_params
    from pipeline.modeling.search_space import decode_params

    data = load_dataset("churn")
    p = config.params()
    cfg = p.task("churn").tune["ann"]
    complete = [(v, params) for _, state, v, params in first_run["trials"] if state.name == "COMPLETE"]
    assert len(complete) >= 2, "the check needs a trial other than trial 0"
    for value, stored in complete:
        merged = apply_params(first_run["base"], decode_params(cfg.space, stored), "test")
        models.keras.backend.clear_session()
        models.seed_everything(p.seed)
        model = models.build_for("ann", merged, data)
        models.fit(model, merged, data, epochs=cfg.epochs_per_trial)
        assert roc_auc_score(data.val.y, models.predict_proba(model, data.val.x)) == pytest.approx(
            value, abs=1e-6
        )


def test_a_changed_search_space_starts_a_fresh_study(
    first_run: dict[str, Any], in_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.encoders.dataset import load_dataset
    from pipeline.modeling.study import data_digest, fingerprint

    p = config.params()
    cfg = p.task("churn").tune["ann"]
    narrower = cfg.model_copy(
        update={"space": {**cfg.space, "dropout": FloatDim(type="float", low=0, high=0.1)}}
    )
    data = load_dataset("churn")
    base = p.model_params("churn", "ann")
    digest = data_digest(data)
    assert fingerprint(base, cfg, p.seed, digest) == first_run["best"]["study"].rsplit("-", 1)[1]
    assert fingerprint(base, narrower, p.seed, digest) != fingerprint(base, cfg, p.seed, digest)
    assert fingerprint(base, cfg, p.seed + 1, digest) != fingerprint(base, cfg, p.seed, digest)
    longer = base.model_copy(update={"epochs": 999})  # train-only: same study
    assert fingerprint(longer, cfg, p.seed, digest) == fingerprint(base, cfg, p.seed, digest)
    flipped = type(data)(data.train, type(data.val)(data.val.x, 1 - data.val.y), data.test)
    assert data_digest(flipped) != digest


# ---------------------------------------------------------------- two workers, one study
def test_two_worker_processes_share_one_study_without_duplicates(
    first_run: dict[str, Any], project: Path
) -> None:
    """Two ``python -m pipeline tune ... --storage URL --n-trials 2`` processes started together.

    Both stores are fresh SQLite files, so the workers also race to create the Optuna tables and
    to set up the MLflow store (racing MLflow migrations can leave it half-migrated: tune locks).
    """
    url = f"sqlite:///{project / 'shared' / 'study.db'}"
    command = [sys.executable, "-m", "pipeline", "tune", "churn", "ann", "--storage", url, "--n-trials", "2"]
    env = env_for(project, mlflow_db=project / "workers.db")
    workers = [
        subprocess.Popen(
            command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    study = optuna.load_study(study_name=first_run["best"]["study"], storage=url)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(finished(study)) == 4 and sorted(numbers) == [0, 1, 2, 3]  # all requested, no duplicates
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # each worker samples new points
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert study.best_trial.value == max(t.value for t in complete)
    # Each worker writes the best it saw when it stopped; one more run (what `dvc repro` does once the
    # workers are done) finds the study full, runs nothing and writes the study-wide best.
    from pipeline.stages import tune

    with pytest.MonkeyPatch.context() as mp:
        enter(project, mp)
        assert tune.main(["churn", "ann", "--storage", url]) == 0
    config.params.cache_clear()
    assert len(study.get_trials()) == 4
    written = read_yaml(project / "params" / "best" / "churn" / "ann.yaml")
    assert written["best_trial"] == study.best_trial.number and written["n_trials"] == 4
    runs = all_runs(project, "workers.db")
    parents = [r for r in runs if r.data.tags.get("stage") == "tune"]
    assert len(parents) == 2 and len({r.data.tags["worker"] for r in parents}) == 2
    assert {r.data.tags["optuna.study"] for r in parents} == {study.study_name}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in {p.info.run_id for p in parents}]
    assert sorted(int(c.data.params["trial"]) for c in children) == [0, 1, 2, 3]


@pytest.mark.slow  # a second tune process, 1.5-2.5 min: `make test-e2e`, which CI runs
@pytest.mark.e2e
def test_workers_2_runs_two_processes_on_one_study_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tune.<arch>.workers: 2``: tune starts one more worker process on this machine against the
    same study, waits for it, and writes the study-wide best; the total stays ``n_trials``."""
    from pipeline.stages import tune

    root = tmp_path / "project"
    write_params(root, workers=2, epochs_per_trial=1)
    p = load_params(root / "params.yaml")
    encoder, labels, frame, arrays = encode_frame(churn_frame(240), p.task("churn"), p.seed)
    write_encoded(root / "data" / "encoded" / "churn", encoder, labels, frame, arrays)
    enter(root, monkeypatch)
    assert tune.main(["churn", "ann"]) == 0
    best = read_yaml(root / "params" / "best" / "churn" / "ann.yaml")
    study = optuna.load_study(study_name=best["study"], storage=paths.optuna_storage_default("churn"))
    config.params.cache_clear()
    assert len(finished(study)) <= N_TOTAL + 1  # two workers overshoot by one at most
    assert sorted(t.number for t in study.get_trials()) == list(range(len(study.get_trials())))
    assert best["n_trials"] == len(finished(study)) and best["best_trial"] == study.best_trial.number
    parents = [r for r in all_runs(root) if r.data.tags.get("stage") == "tune"]
    assert len({r.data.tags["worker"] for r in parents}) == 2  # this process and the one it started
