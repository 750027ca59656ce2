"""Beyond one machine, with the real servers: PostgreSQL, moto's S3 server and ``mlflow server``.

``python -m pipeline services up`` starts the stack once for the module; one tiny churn-only
project then runs through it in the order a team meets it: ``dvc repro`` against the tracking
server (models in the registry, artifacts in the bucket, nothing in a local ``mlartifacts/``),
promote/rollback, serving ``models:/churn@champion``; tuning workers sharing one study on
PostgreSQL, one of them killed mid-trial; a DVC remote on the same bucket, pushed, pulled back and
pulled by a second clone. Skipped when PostgreSQL's ``pg_ctl`` or moto are not installed
(``pip install -e .[services]``, ``apt-get install postgresql``); CI installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, copy_stages, edit_params
from tests.e2e_project import run

pytestmark = pytest.mark.services


def missing_services() -> str | None:
    try:
        from pipeline.commands.services import pg_bin_dir

        pg_bin_dir()
    except Exception as exc:
        return str(exc)
    for module in ("moto.server", "boto3", "psycopg2", "dvc_s3"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: pip install -e '.[services]'"
    return None


if reason := missing_services():
    pytest.skip(f"services stack unavailable: {reason}", allow_module_level=True)

import boto3  # noqa: E402
import optuna  # noqa: E402

TINY = {
    "synthetic": {"churn": {"generator": "churn", "rows": 600}},
    "churn": {
        "models": {"ann": {"hidden_units": [8], "epochs": 2, "patience": 1}},
        "tune": {"ann": {"enabled": False}},  # the workers' test tunes; repro need not
    },
}
WORKER_BUDGET = 4  # the tuning study's n_trials, shared by the workers


def only_churn(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    data["synthetic"] = {"churn": data["synthetic"]["churn"]}
    data["tasks"] = {"churn": data["tasks"]["churn"]}
    data["models"] = {k: v for k, v in data["models"].items() if v["task"] == "churn"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def pipeline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Path, dict[str, str]]]:
    """The stack in a folder the ``postgres`` user can reach (pytest's are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="pipeline-services-"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "DVC_ROOT"}}
    env["PYTHONPATH"] = str(REPO)
    services = folder / "stack"
    up = run(pipeline_cmd("services", "up", "--dir", str(services)), REPO, env)
    try:
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in up.stdout.splitlines()
            if line.startswith("export ")
        )
        yield services, exported
    finally:
        run(pipeline_cmd("services", "down", "--dir", str(services)), REPO, env)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def repo(
    stack: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A tiny churn-only project built by ``dvc repro`` against the tracking server, committed."""
    _, exported = stack
    root = tmp_path_factory.mktemp("services") / "project"
    root.mkdir()
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    copy_stages(root)
    for name in ("params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    edit_params(root / "params.yaml", **TINY)
    only_churn(root / "params.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DVC_ROOT"},
        **exported,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root),
        "GX_ANALYTICS_ENABLED": "false",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "ci@example.com"],
        ["git", "config", "user.name", "CI"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["dvc", "repro"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "tiny project, built"],
    ):
        run(cmd, root, env)
    return root, env


def client(env: dict[str, str]) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])


def s3(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def bucket_keys(env: dict[str, str], prefix: str) -> list[str]:
    pages = s3(env).get_paginator("list_objects_v2").paginate(Bucket="pipeline", Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


# ------------------------------------------------------------------------ the stack
def test_up_refuses_a_second_stack_and_env_prints_the_exports(stack: tuple[Path, dict[str, str]]) -> None:
    services, exported = stack
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    again = run(pipeline_cmd("services", "up", "--dir", str(services)), REPO, env, check=False)
    assert again.returncode == 1 and "already running" in again.stderr
    shown = run(pipeline_cmd("services", "env", "--dir", str(services)), REPO, env).stdout
    assert f"export MLFLOW_TRACKING_URI={exported['MLFLOW_TRACKING_URI']}" in shown
    assert exported["OPTUNA_STORAGE"].startswith("postgresql+psycopg2://") and "dvc remote add" in shown
    with urllib.request.urlopen(f"{exported['MLFLOW_TRACKING_URI']}/health", timeout=10) as answer:
        assert answer.status == 200


# ------------------------------------------------------------- tracking server + S3
def test_repro_registers_through_the_server_with_artifacts_in_the_bucket(
    repo: tuple[Path, dict[str, str]],
) -> None:
    root, env = repo
    mlflow = client(env)
    challenger = mlflow.get_model_version_by_alias("churn", "challenger")
    assert challenger.tags["arch"] == "ann"
    assert mlflow.get_run(challenger.run_id).info.artifact_uri.startswith("mlflow-artifacts:/")
    keys = bucket_keys(env, "mlartifacts/")
    assert any(k.endswith("model.onnx") for k in keys), keys[:20]
    assert not (root / "mlartifacts").exists() and not (root / "mlflow.db").exists()


def test_promote_rollback_and_serve_the_champion_through_the_server(
    repo: tuple[Path, dict[str, str]],
) -> None:
    root, env = repo
    assert "promoted version" in run(pipeline_cmd("promote", "churn"), root, env).stdout
    first = client(env).get_model_version_by_alias("churn", "champion").version
    run(pipeline_cmd("register", "churn"), root, env)  # a second version, same scores: the challenger
    run(["git", "checkout", "--", "reports"], root, env)  # as it was (dvc status stays clean)
    assert "promoted version" in run(pipeline_cmd("promote", "churn"), root, env).stdout
    assert client(env).get_model_version_by_alias("churn", "champion").version != first
    out = run(pipeline_cmd("promote", "churn", "--rollback"), root, env).stdout
    assert f"to version {first}" in out
    assert client(env).get_model_version_by_alias("churn", "champion").version == first

    from pipeline.commands.services import free_port

    port = free_port()
    server = subprocess.Popen(
        pipeline_cmd("serve", "churn", "--model", "models:/churn@champion", "--port", str(port)),
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import pandas as pd

        rows = pd.read_csv(root / "data" / "synthetic" / "churn.csv").head(3).drop(columns=["Exited"])
        body = json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))}).encode()
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    predictions = json.loads(answer.read())["predictions"]
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 120 s"
                time.sleep(0.5)
        assert len(predictions) == 3 and all(0 <= p["probability"] <= 1 for p in predictions)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert not (root / "mlartifacts").exists()


# ------------------------------------------------------------------- tuning workers
def test_workers_share_one_study_on_postgresql_and_a_killed_workers_trial_is_failed(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """One worker is SIGKILLed mid-trial; two more then finish the study's budget together.

    The killed trial stops sending heartbeats: the first trial another worker starts after the
    grace period fails it, so it neither blocks the budget nor stays RUNNING.
    """
    root, env = repo
    work = tmp_path / "workers"  # a copy: the workers' best-params file is a DVC output of the project
    (work / "data").mkdir(parents=True)
    shutil.copytree(root / "data" / "encoded", work / "data" / "encoded")
    shutil.copy(root / "params.yaml", work / "params.yaml")
    tune = {
        "enabled": True,
        "n_trials": WORKER_BUDGET,
        "epochs_per_trial": 2,
        "timeout_s": None,
        "heartbeat_s": 1,
        "grace_period_s": 2,
    }
    edit_params(work / "params.yaml", churn={"tune": {"ann": tune}})
    storage = env["OPTUNA_STORAGE"]
    command = pipeline_cmd("tune", "churn", "ann", "--storage", storage)
    env = {**env, "PYTHONPATH": str(REPO)}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    victim = start()
    deadline = time.monotonic() + 180
    running = None
    while running is None:
        assert victim.poll() is None and time.monotonic() < deadline, "no trial started in time"
        time.sleep(0.5)
        running = _running_trial(storage)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    study_name, killed = running
    study = optuna.load_study(study_name=study_name, storage=storage)

    workers = [start() for _ in range(2)]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]

    trials = study.get_trials()
    by_number = {t.number: t for t in trials}
    assert len(by_number) == len(trials)  # unique trial numbers across the three workers
    assert by_number[killed].state == optuna.trial.TrialState.FAIL
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    finished = [t for t in trials if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL]
    assert WORKER_BUDGET <= len(finished) <= WORKER_BUDGET + 1  # two racing workers overshoot by 1 at most
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert study.best_trial.value == max(t.value for t in complete)
    best = yaml.safe_load((work / "params" / "best" / "churn" / "ann.yaml").read_text())
    assert best["study"] == study.study_name and best["best_trial"] == study.best_trial.number


def _running_trial(storage: str) -> tuple[str, int] | None:
    """The study name and number of a RUNNING trial, read with plain SQL.

    Opening an Optuna storage here would create Optuna's tables, racing the worker that is
    creating them on the fresh database (a duplicate ``alembic_version`` type in PostgreSQL).
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(storage)
    try:
        with engine.connect() as connection:
            if not sqlalchemy.inspect(connection).has_table("trials"):
                return None
            row = connection.execute(
                sqlalchemy.text(
                    "SELECT s.study_name, t.number FROM trials t JOIN studies s ON s.study_id = t.study_id "
                    "WHERE t.state = 'RUNNING' ORDER BY t.number LIMIT 1"
                )
            ).first()
    finally:
        engine.dispose()
    return (str(row[0]), int(row[1])) if row else None


# ---------------------------------------------------------------------- DVC remote
def test_dvc_remote_on_the_bucket_push_pull_and_a_second_clone(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = repo
    run(["dvc", "remote", "add", "-d", "stack", "s3://pipeline/dvc"], root, env)
    run(["dvc", "remote", "modify", "stack", "endpointurl", env["AWS_ENDPOINT_URL"]], root, env)
    run(["git", "commit", "-qam", "DVC remote on the stack's bucket"], root, env)
    run(["dvc", "push"], root, env)
    assert bucket_keys(env, "dvc/files/md5/")
    model = (root / "models" / "churn" / "ann" / "model.onnx").read_bytes()

    run(["git", "clean", "-fdqX"], root, env)  # every git-ignored file: the DVC cache and outputs
    assert (
        not (root / ".dvc" / "cache").exists()
        and not (root / "models" / "churn" / "ann" / "model.onnx").exists()
    )
    run(["dvc", "pull"], root, env)
    assert (root / "models" / "churn" / "ann" / "model.onnx").read_bytes() == model
    assert "Cache and remote 'stack' are in sync" in run(["dvc", "status", "-c"], root, env).stdout
    out = run(["dvc", "repro"], root, env).stdout
    assert "Running stage" not in out and "up to date" in out

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(root), str(clone)], tmp_path, env)
    run(["dvc", "pull"], clone, {**env, "PYTHONPATH": str(clone)})
    assert (clone / "models" / "churn" / "ann" / "model.onnx").read_bytes() == model
    assert json.loads(run(["dvc", "status", "--json"], clone, {**env, "PYTHONPATH": str(clone)}).stdout) == {}
