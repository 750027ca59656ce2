"""report: a task's models and baselines on one narrow screen, from hand-written metrics files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.__main__ import main as cli
from pipeline.core.io import write_json
from tests.conftest import REPO


def _metrics(project: Path) -> None:
    folder = project / "metrics" / "churn"
    test = {
        "roc_auc": 0.8673,
        "roc_auc_ci": [0.8402, 0.8887],
        "pr_auc": 0.6799,
        "pr_auc_ci": [0.6218, 0.7302],
        "f1": 0.5896,
        "f1_ci": [0.5344, 0.6378],
        "accuracy": 0.8627,
        "accuracy_ci": [0.8453, 0.88],
        "precision": 0.7184,
        "recall": 0.5,
    }
    write_json(
        folder / "ann.json",
        {
            "val": {"roc_auc": 0.87},
            "test": test,
            "test_ci": {"method": "percentile bootstrap", "resamples": 1000, "level": 0.9},
            "n": {"val": 1500, "test": 1500},
            "onnx_operators": ["Add", "MatMul"],
        },
    )
    write_json(
        folder / "baselines.json",
        {
            "a_very_long_baseline_name": {"val": {}, "test": {"roc_auc": 0.9012, "pr_auc": 0.7}},
            "logistic_regression": {"val": {}, "test": {"roc_auc": 0.8533, "roc_auc_ci": [0.8275, 0.8761]}},
        },
    )


def test_report_prints_the_gate_metric_with_intervals_in_a_narrow_table(project: Path, capsys):
    _metrics(project)
    assert cli(["report", "churn"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(map(len, lines)) <= 110, out
    assert "1,500 test rows" in lines[0] and "90% bootstrap interval" in lines[0]
    assert "gate metric roc_auc" in lines[1]
    header = next(line for line in lines if line.startswith("model"))
    assert header.split()[:4] == ["model", "kind", "roc_auc", "(gate)"]  # the gate metric first
    body = lines[lines.index(header) + 2 :]
    names = [line.split()[0] for line in body[:3]]
    assert names == ["a_very_long_baseline_name", "ann", "logistic_regression"]  # by roc_auc, best first
    assert "ann                        model     0.8673 [0.8402, 0.8887]" in out
    assert body[0].split()[1:4] == ["baseline", "0.9012", "0.7000"]  # no interval in the file: none shown
    assert "0.8533 [0.8275, 0.8761]" in body[2]
    assert "not shown:" in out and "precision, recall" in out  # what did not fit is named

    assert cli(["report", "churn", "--metrics", "recall", "--width", "200"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split()[2:] == ["roc_auc", "(gate)", "recall"] and "not shown" not in out


def test_report_says_what_to_run_without_metrics_and_names_unknown_figures(project: Path, capsys):
    assert cli(["report", "churn"]) == 1
    assert "python -m pipeline repro compare@churn" in capsys.readouterr().err
    _metrics(project)
    assert cli(["report", "churn", "--metrics", "bogus"]) == 1
    assert "no test figure ['bogus']" in capsys.readouterr().err


def test_report_imports_no_heavy_library(project: Path):
    _metrics(project)
    code = (
        "import sys; from pipeline.__main__ import main; rc = main(['report', 'churn']);"
        "heavy = {'tensorflow', 'mlflow', 'dvc', 'onnxruntime', 'sklearn'} & set(sys.modules);"
        "assert not heavy, heavy; sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
