"""The tiny projects of the end-to-end tests: the repository's own pipeline, dvc.yaml and params
in a temporary git repository, with tiny data and models, built by a real `dvc repro`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, copy_stages, edit_params

TINY_RECURRENT = {
    "encode": {"max_tokens": 300, "sequence_length": 16},
    "models": {
        arch: {"embedding_dim": 8, "units": 8, "epochs": 2, "patience": 1} for arch in ("rnn", "lstm", "gru")
    },
    "tune": {arch: {"n_trials": 1, "epochs_per_trial": 1} for arch in ("rnn", "lstm", "gru")},
}
TINY = {
    "synthetic": {
        "churn": {"generator": "churn", "rows": 800},
        "sentiment": {"generator": "reviews", "rows": 500},
        "topics": {"generator": "topics", "rows": 400},
        "nextword": {"generator": "script", "rows": 300},
        "bikeshare": {"generator": "bikeshare", "rows": 400},
        "load": {"generator": "load", "rows": 720},  # 30 days: 4 test origins at midnight
    },
    "churn": {
        "models": {"ann": {"epochs": 3, "patience": 2}},
        "tune": {"ann": {"n_trials": 2, "epochs_per_trial": 2}},
    },
    "sentiment": TINY_RECURRENT,
    "topics": TINY_RECURRENT,
    "nextword": {"models": TINY_RECURRENT["models"], "tune": TINY_RECURRENT["tune"]},
    "bikeshare": {"models": {"ann": {"epochs": 3, "patience": 2}}},
    "load": {"models": {"gru": {"units": 8, "epochs": 3, "patience": 2}}},
}
# one model of each task: each costs about 40 s of stages, most of it importing TensorFlow in each
# stage's process (tests/test_dvc_deps.py checks every stage's deps, sibling architectures included)
ARCHS = {
    "churn": ["ann"],
    "sentiment": ["gru"],
    "topics": ["gru"],
    "nextword": ["gru"],
    "bikeshare": ["ann"],
    "load": ["gru"],
}
BINARY = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"}
MULTICLASS = {"accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro", "top_k_accuracy"}
LANGUAGE_MODEL = {"perplexity", "top1_accuracy", "top5_accuracy"}
NUMBER = {"mae", "rmse", "r2", "mape"}  # a count of at least 1: MAPE too
FORECAST = {"mae", "rmse", "r2", "mape", "smape", "mase"}
EXPECTED = {
    "churn": BINARY,
    "sentiment": BINARY,
    "topics": MULTICLASS,
    "nextword": LANGUAGE_MODEL,
    "bikeshare": NUMBER,
    "load": FORECAST,
}


def keep_archs(path: Path, task: str, archs: list[str]) -> None:
    """Keep only ``archs`` of ``task`` (params.yaml's models list included)."""
    data = yaml.safe_load(path.read_text())
    section = data["tasks"][task]
    section["models"] = {arch: section["models"][arch] for arch in archs}
    section["tune"] = {arch: section["tune"][arch] for arch in archs}
    data["models"] = {k: v for k, v in data["models"].items() if v["task"] != task or v["arch"] in archs}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def keep_tasks(path: Path, tasks: list[str]) -> None:
    """Keep only ``tasks`` (their synthetic data and models list too): one project per test file,
    so that `pytest -n 2 --dist loadfile` builds two at once."""
    data = yaml.safe_load(path.read_text())
    data["tasks"] = {name: section for name, section in data["tasks"].items() if name in tasks}
    data["synthetic"] = {name: spec for name, spec in data["synthetic"].items() if name in tasks}
    data["models"] = {k: v for k, v in data["models"].items() if v["task"] in tasks}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def repo_env(root: Path) -> dict[str, str]:
    """The environment the pipeline's commands run in, in a project at ``root``."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root),
        "GX_ANALYTICS_ENABLED": "false",
        "MPLBACKEND": "Agg",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # the default: sqlite:///<repo>/mlflow.db
    env.pop("DVC_ROOT", None)
    return env


def tiny_project(root: Path, tasks: list[str]) -> tuple[Path, dict[str, str]]:
    """A git + DVC project at ``root`` with the tiny params, only ``tasks`` in it, built as `make repro`
    builds: `python -m pipeline repro`, the tasks side by side (a fresh MLflow store included)."""
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    copy_stages(root)
    for name in ("params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    edit_params(root / "params.yaml", **TINY)
    for task, archs in ARCHS.items():  # the quick suite stays quick
        keep_archs(root / "params.yaml", task, archs)
    keep_tasks(root / "params.yaml", tasks)
    env = repo_env(root)
    run(["git", "init", "-q", "-b", "main"], root, env)
    run(["git", "config", "user.email", "ci@example.com"], root, env)
    run(["git", "config", "user.name", "CI"], root, env)
    run(["dvc", "init", "-q"], root, env)
    run(["dvc", "config", "core.analytics", "false"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "tiny project"], root, env)
    run(["python", "-m", "pipeline", "repro", "--jobs", "2"], root, env)
    return root, env


def check_built(root: Path, tasks: list[str]) -> None:
    """Every model of ``tasks`` has its metrics, bundle, best params, data docs and registry record."""
    for task in tasks:
        for arch in ARCHS[task]:
            metrics = json.loads((root / "metrics" / task / f"{arch}.json").read_text())
            for section in ("val", "test"):
                assert EXPECTED[task] <= set(metrics[section])
            assert metrics["onnx_parity_bound"] == 1e-5  # export fails past it
            assert (root / "models" / task / arch / "model.onnx").stat().st_size > 0
            assert (root / "models" / task / arch / "encoder.json").exists()
            assert (root / "params" / "best" / task / f"{arch}.yaml").exists()
        assert (root / "reports" / "validation" / task / "data_docs" / "index.html").exists()
        registry = json.loads((root / "reports" / "registry" / f"{task}.json").read_text())
        assert [m["arch"] for m in registry["models"]] == ARCHS[task]
    assert (root / "mlflow.db").exists()


def check_second_repro_does_nothing(root: Path, env: dict[str, str]) -> None:
    """A built project's `dvc repro` and `python -m pipeline repro` run no stage and leave `dvc status`
    empty."""
    out = run(["dvc", "repro"], root, env).stdout
    assert "Running stage" not in out
    out = run(["python", "-m", "pipeline", "repro"], root, env).stdout
    assert "nothing changed" in out and "Running stage" not in out
    assert json.loads(run(["dvc", "status", "--json"], root, env).stdout) == {}
