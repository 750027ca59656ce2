"""Tuning a forecaster (issue 22): the study minimises the validation MASE (the `load` task's gate,
lower is better), its first trial is params.yaml's own point, and the best trial's values are what
``params/best`` records. Real Optuna, real Keras training of a small GRU on the generated series."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("tensorflow")

import optuna
from test_tune import enter
from tiny_models import REPO

from pipeline.core import config, paths
from pipeline.core.config import load_params
from pipeline.core.io import read_yaml
from pipeline.generators.load_series import load_frame
from pipeline.stages.encode import encode_frame, write_encoded

SPACE = {
    "units": {"type": "categorical", "choices": [4, 8]},
    "learning_rate": {"type": "float", "low": 0.001, "high": 0.02, "log": True},
}


def test_a_forecaster_study_minimises_validation_mase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pipeline.stages import tune

    root = tmp_path / "project"
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tasks"]["load"]["models"]["gru"].update(units=4, epochs=2, patience=1)
    raw["tasks"]["load"]["tune"]["gru"] = {
        "enabled": True,
        "n_trials": 3,
        "timeout_s": None,
        "epochs_per_trial": 2,
        "space": SPACE,
    }
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    p = load_params(root / "params.yaml")
    write_encoded(
        root / "data" / "encoded" / "load", *encode_frame(load_frame(24 * 28, p.seed), p.task("load"), p.seed)
    )
    enter(root, monkeypatch)
    try:
        assert tune.main(["load", "gru"]) == 0
        best = read_yaml(paths.best_params("load", "gru"))
        study = optuna.load_study(study_name=best["study"], storage=paths.optuna_storage_default("load"))
    finally:
        config.params.cache_clear()

    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.trials) == 3 and values
    assert best["tuned"] is True and best["best_value"] == pytest.approx(min(values), rel=1e-5)
    assert study.trials[0].params["units"] == 4  # params.yaml's own point first
    assert best["untuned_value"] == pytest.approx(study.trials[0].value, rel=1e-5)
    assert set(best["params"]) >= set(SPACE) and best["params"]["units"] in (4, 8)
    assert best["best_value"] > 0  # a MASE: the forecast's error against the seasonal naive's
