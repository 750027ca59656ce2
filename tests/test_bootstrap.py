"""Bootstrap intervals and paired differences (pipeline/core/bootstrap.py), and the cv stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.core import bootstrap
from pipeline.core.metrics import classification_metrics
from tests.conftest import REPO, edit_params


def binary_case(n: int = 600, seed: int = 0, noise: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    return y, np.clip(0.3 + 0.3 * y + rng.normal(0, noise, n), 0, 1).round(2)  # rounded: ties


def multiclass_case(n: int = 400, k: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k - 1, n)  # the last class never occurs: as on a small test split
    proba = rng.random((n, k))
    proba[np.arange(n), y] += 0.3
    return y, proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("case", [binary_case, multiclass_case])
def test_every_row_once_gives_exactly_the_reported_metrics(case) -> None:
    y, proba = case()
    n_classes = 2 if proba.ndim == 1 else proba.shape[1]
    once = bootstrap.metric_samples(y, proba, n_classes, np.ones((1, len(y))))
    expected = classification_metrics(y, proba, n_classes)
    assert {name: pytest.approx(float(v[0]), abs=1e-12) for name, v in once.items()} == expected


@pytest.mark.parametrize("case", [binary_case, multiclass_case])
def test_an_interval_holds_its_point_estimate_and_is_seeded(case) -> None:
    y, proba = case()
    n_classes = 2 if proba.ndim == 1 else proba.shape[1]
    point = classification_metrics(y, proba, n_classes)
    cis = bootstrap.intervals(y, proba, n_classes, resamples=400, level=0.95, seed=7)
    assert set(cis) == set(point)
    for name, (low, high) in cis.items():
        assert low <= point[name] <= high and low < high, name
    assert bootstrap.intervals(y, proba, n_classes, resamples=400, level=0.95, seed=7) == cis
    assert bootstrap.intervals(y, proba, n_classes, resamples=400, level=0.95, seed=8) != cis
    narrow = bootstrap.intervals(y, proba, n_classes, resamples=400, level=0.5, seed=7)
    assert all(narrow[m][1] - narrow[m][0] < high - low for m, (low, high) in cis.items())


def test_a_paired_difference_finds_a_real_gap_and_not_a_zero_one() -> None:
    y, good = binary_case(noise=0.15)
    _, worse = binary_case(seed=1, noise=0.15)
    rng = np.random.default_rng(2)
    worse = np.clip(good + rng.normal(0, 0.25, len(y)), 0, 1)  # the same model with noise added
    gap = bootstrap.paired_difference(y, good, worse, 2, "roc_auc", resamples=500, level=0.95, seed=3)
    assert gap.difference > 0 and gap.distinguishable and gap.low > 0
    assert "leaves out zero" in gap.words("ann", "baseline")

    twin = np.clip(good + rng.normal(0, 0.05, len(y)), 0, 1)  # as good, scored differently
    same = bootstrap.paired_difference(y, good, twin, 2, "roc_auc", resamples=500, level=0.95, seed=3)
    assert same.low < 0 < same.high and not same.distinguishable
    assert "not distinguishable from zero" in same.words()
    # pairing is what makes the gap visible: the separate intervals overlap
    separate = [
        bootstrap.intervals(y, p, 2, resamples=500, level=0.95, seed=3)["roc_auc"] for p in (good, worse)
    ]
    assert gap.high - gap.low < (separate[0][1] - separate[0][0]) + (separate[1][1] - separate[1][0])


def encoded_churn(project: Path, rows: int) -> None:
    """data/encoded/churn as encode writes it, from the generated churn table (no GX, no DVC)."""
    from pipeline.core.config import params
    from pipeline.generators.synthetic import churn_frame
    from pipeline.stages.encode import encode_frame, write_encoded

    encoder, labels, frame, arrays = encode_frame(churn_frame(rows, 0), params().task("churn"), 42)
    write_encoded(project / "data" / "encoded" / "churn", encoder, labels, frame, arrays)


def test_cv_off_writes_that_it_is_off_without_tensorflow(project: Path) -> None:
    code = (
        "import sys; from pipeline.__main__ import main; rc = main(['cv', 'churn']); "
        "assert rc == 0 and 'tensorflow' not in sys.modules and 'sklearn' not in sys.modules"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((project / "reports" / "cv" / "churn.json").read_text()) == {
        "folds": 0,
        "reason": "evaluate.cv_folds is 0",
    }


def test_cv_on_scores_every_model_and_baseline_fold_by_fold(project: Path, capsys) -> None:
    from pipeline.__main__ import main as cli
    from pipeline.core.config import params

    edit_params(
        project / "params.yaml",
        evaluate={"cv_folds": 2, "cv_repeats": 1},
        churn={
            "models": {"ann": {"hidden_units": [8], "epochs": 2, "patience": 1}},
            "tune": {"ann": {"enabled": False}},
        },
    )
    params.cache_clear()
    encoded_churn(project, 400)
    assert cli(["cv", "churn"]) == 0
    report = json.loads((project / "reports" / "cv" / "churn.json").read_text())
    assert report["folds"] == 2 and report["gate_metric"] == "roc_auc" and report["rows"] == 340
    assert set(report["models"]) == {"ann", "logistic_regression", "hist_gradient_boosting"}
    for result in report["models"].values():
        folds = [f["roc_auc"] for f in result["per_fold"]]
        assert len(folds) == 2 and result["mean"]["roc_auc"] == pytest.approx(np.mean(folds), abs=1e-6)
        assert result["sd"]["roc_auc"] == pytest.approx(np.std(folds, ddof=1), abs=1e-6)
    assert "cv churn/hist_gradient_boosting: roc_auc" in capsys.readouterr().out

    from pipeline.stages.compare import cv_markdown

    table = cv_markdown(report)
    assert "2-fold x 1" in table and "| ann | neural |" in table and " ± " in table
