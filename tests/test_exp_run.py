"""A real `dvc exp run -S` on a task with Yes/No categories and a blank-cell column (issue 23).

DVC rewrites params.yaml as YAML 1.2 when it sets a value: quotes go from "No"/"Yes", and a
loader with YAML 1.1's rules would read them as booleans. The experiment must train what it shows
and leave every output in place. Slow (a task's whole chain, twice), so it runs in `make test-e2e`.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, copy_stages, stage_address
from tests.e2e_project import repo_env, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

YES_NO = ["No", "Yes"]
SECTION = {
    "kind": "tabular",
    "data": {"source": "plans.csv", "sha256": None},
    "schema": {
        "target": "churn",
        "labels": {"classes": YES_NO, "positive": "Yes"},
        "numeric": {
            "tenure": {"min": 0, "max": 72, "integer": True},
            "total_charges": {"min": 0, "max": 10000},
        },
        "categorical": {"partner": YES_NO, "internet": ["DSL", "Fiber optic", "No"]},
        "missing": {"total_charges": "median"},
        "min_rows": 100,
    },
    "split": {},
    "encode": {},
    "models": {"ann": {"hidden_units": [8], "epochs": 3, "patience": 2, "dropout": 0.1}},
    "tune": {"ann": {"enabled": False}},
    "baselines": ["logistic_regression"],
    "card": {},
    "behaviour": {},
}


def plans(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A Telco-like table as Kaggle writes it: Yes/No cells, and " " for a blank total_charges."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, rows)
    partner = rng.choice(YES_NO, rows)
    internet = rng.choice(["DSL", "Fiber optic", "No"], rows)
    risk = 1.5 - tenure / 24 + (internet == "Fiber optic") - 0.5 * (partner == "Yes")
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-risk)), "Yes", "No")
    charges = [" " if t == 0 else f"{t * rng.uniform(20, 110):.2f}" for t in tenure]
    return pd.DataFrame(
        {"tenure": tenure, "total_charges": charges, "partner": partner, "internet": internet, "churn": churn}
    )


def test_exp_run_set_keeps_yes_no_strings_trains_what_it_shows_and_keeps_outputs(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "pipeline", root / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    copy_stages(root)
    for name in (".gitignore", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synthetic"] = {"churn": params["synthetic"]["churn"]}  # the file is not needed; kept small
    params["tasks"] = {"plans": SECTION}
    params["models"] = {"plans-ann": {"task": "plans", "arch": "ann"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert '- "No"' in (root / "params.yaml").read_text() or "'No'" in (root / "params.yaml").read_text()
    plans().to_csv(root / "plans.csv", index=False)

    env = repo_env(root)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "ci@example.com"],
        ["git", "config", "user.name", "CI"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "plans"],
        ["dvc", "repro", stage_address("register@plans")],
    ):
        run(command, root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "built"], root, env)
    built = [
        root / "data" / "encoded" / "plans" / "encoder.json",
        root / "models" / "plans" / "ann" / "model.onnx",
        root / "metrics" / "plans" / "ann.json",
    ]
    encoder_before = built[0].read_bytes()

    done = run(
        ["dvc", "exp", "run", "-S", "tasks.plans.models.ann.dropout=0.3", stage_address("register@plans")],
        root,
        env,
    )
    assert "train plans/ann" in done.stdout, done.stdout[-3000:]

    text = (root / "params.yaml").read_text()
    assert "dropout: 0.3" in text
    assert '"No"' not in text and "'No'" not in text  # DVC wrote YAML 1.2: the quotes are gone
    from pipeline.core.config import load_params

    loaded = load_params(root / "params.yaml").task("plans")
    assert loaded.schema_.labels.classes == YES_NO and loaded.schema_.categorical["partner"] == YES_NO
    assert all(path.exists() for path in built)
    assert built[0].read_bytes() == encoder_before  # encode did not rerun: its params are unchanged
    trained = yaml.safe_load((root / "params" / "best" / "plans" / "ann.yaml").read_text())["trained"]
    assert trained["dropout"] == 0.3  # what `dvc exp show` shows is what train used
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root, env).stdout)
    assert "0.3" in json.dumps(shown)
    status = run(["dvc", "status", stage_address("register@plans")], root, env).stdout
    assert "changed" not in status, status  # nothing left stale
