"""A table with a numeric target by params only (``schema.labels.type: number``): the settings a
user may write and the ones refused, validation naming the rows whose target is not a usable
number, the metrics and the conformal interval, and the whole way from the CSV to a bundle whose
answers are values with an interval in the target's units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from pipeline.__main__ import main as cli
from pipeline.core.config import TabularTaskConfig, TextSchema, params
from pipeline.core.value_metrics import conformal_half_width, value_metrics

NUMERIC = {"x1": {"min": 0, "max": 10}, "x2": {"min": -1, "max": 1}}


def count_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Rentals per hour: a count whose log is linear in x1, x2 and the category."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(0, 10, n), rng.uniform(-1, 1, n)
    c = rng.choice(["a", "b", "c"], n)
    mean = np.exp(0.5 + 0.25 * x1 + 0.5 * x2 + np.where(c == "b", 0.7, 0.0))
    y = rng.poisson(mean)
    return pd.DataFrame({"id": range(n), "x1": x1.round(3), "x2": x2.round(3), "c": c, "rentals": y})


def task_section(**labels: object) -> dict:
    return {
        "kind": "tabular",
        "data": {"source": "rentals.csv"},
        "schema": {
            "target": "rentals",
            "labels": {"type": "number", **labels},
            "drop": ["id"],
            "numeric": NUMERIC,
            "categorical": {"c": ["a", "b", "c"]},
            "min_rows": 50,
        },
        "models": {"ann": {"hidden_units": [16], "epochs": 40, "patience": 5}},
    }


@pytest.fixture
def rentals(project: Path) -> Path:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["tasks"] = {"rentals": task_section(transform="log1p", units="bikes per hour")}
    raw["models"] = {"rentals-ann": {"task": "rentals", "arch": "ann"}}
    raw["evaluate"]["bootstrap_resamples"] = 200
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    count_rows(600).to_csv(project / "rentals.csv", index=False)
    params.cache_clear()
    return project


def test_a_numeric_target_takes_its_defaults_and_refuses_what_does_not_fit() -> None:
    config = TabularTaskConfig.model_validate(task_section())
    assert config.promote.metric == "rmse"  # validation RMSE picks and gates, lower is better
    assert config.baselines == ["ridge", "hist_gradient_boosting"]
    assert config.schema_.labels.lowest is None
    poisson = TabularTaskConfig.model_validate(task_section(loss="poisson"))
    assert poisson.schema_.labels.lowest == 0.0  # a count is never negative
    refused = {
        "exponential head": task_section(loss="poisson", transform="log1p"),
        "no classes": task_section(classes=[0, 1]),
        "below max": task_section(min=5, max=1),
        "do not predict a numeric target": task_section() | {"baselines": ["logistic_regression"]},
        "not a numeric target's": task_section() | {"promote": {"metric": "roc_auc"}},
    }
    for message, section in refused.items():
        with pytest.raises(ValidationError, match=message):
            TabularTaskConfig.model_validate(section)
    with pytest.raises(ValidationError, match="only for a numeric target"):
        TabularTaskConfig.model_validate(
            task_section() | {"schema": task_section()["schema"] | {"labels": {"loss": "huber"}}}
        )
    assert TextSchema.model_validate({"labels": {"type": "number"}}).target == "label"  # a text's too


def test_the_metrics_and_the_conformal_interval_are_the_textbook_ones() -> None:
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score

    rng = np.random.default_rng(1)
    y = rng.uniform(1, 100, 500)
    p = y + rng.normal(0, 5, 500)
    got = value_metrics(y, p)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))
    assert got["r2"] == pytest.approx(r2_score(y, p))
    assert got["mape"] == pytest.approx(mean_absolute_percentage_error(y, p))
    assert "mape" not in value_metrics(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 2.0]))
    # 19 residuals 1..19: at 90%, the ceil(20 * 0.9) = 18th smallest
    assert conformal_half_width(np.arange(1, 20), np.zeros(19), 0.9) == 18
    assert conformal_half_width(np.arange(1, 5), np.zeros(4), 0.9) == float("inf")  # too few rows
    # fresh rows' errors from the same distribution fall inside about 90% of the time
    half = conformal_half_width(y, p, 0.9)
    covered = np.mean(np.abs(rng.normal(0, 5, 20_000)) <= half)
    assert 0.86 <= covered <= 0.94


def test_validate_names_the_rows_whose_target_is_not_a_usable_number(rentals: Path, capsys) -> None:
    rows = count_rows(200).astype({"rentals": "object"})
    rows.loc[4, "rentals"] = "many"
    rows.loc[9, "rentals"] = -3  # below log1p's 0
    rows.to_csv(rentals / "rentals.csv", index=False)
    assert cli(["ingest", "rentals"]) == 0
    assert cli(["validate", "rentals"]) == 1
    err = capsys.readouterr().err
    assert "column 'rentals'" in err
    assert "data row 5 (file line 6)" in err and "data row 10 (file line 11)" in err


def test_a_numeric_table_goes_from_its_csv_to_a_bundle_answering_values_with_intervals(
    rentals: Path, capsys
) -> None:
    for stage in (["ingest"], ["validate"], ["encode"], ["train", "ann"], ["evaluate", "ann"], ["baselines"]):
        assert cli([stage[0], "rentals", *stage[1:]]) == 0, capsys.readouterr()
    assert cli(["export", "rentals", "ann"]) == 0, capsys.readouterr()

    encoder = json.loads((rentals / "data/encoded/rentals/encoder.json").read_text())
    assert encoder["classes"] is None and encoder["target"]["transform"] == "log1p"
    metrics = json.loads((rentals / "metrics/rentals/ann.json").read_text())
    test = metrics["test"]
    for name in ("mae", "rmse", "r2", "interval_coverage"):
        low, high = test[f"{name}_ci"]
        assert low <= test[name] <= high
    assert metrics["interval"]["level"] == 0.9 and metrics["interval"]["half_width"] > 0
    assert test["r2"] > 0.5  # the signal is strong
    assert 0.75 <= test["interval_coverage"] <= 1.0
    assert metrics["onnx_parity_bound"] == 1e-5  # export fails past it
    baselines = json.loads((rentals / "metrics/rentals/baselines.json").read_text())
    assert set(baselines) == {"ridge", "hist_gradient_boosting"}
    assert all("rmse_ci" in b["test"] for b in baselines.values())
    figures = rentals / "reports/eval/rentals/ann/figures"
    assert {"predicted_vs_actual.png", "residual_vs_predicted.png", "residual_histogram.png"} <= {
        f.name for f in figures.iterdir()
    }
    table = pd.read_csv(figures.parent / "predictions.csv")  # a DVC plot of evaluate (dvc.yaml)
    assert (table["interval_low"] >= 0).all()  # clipped to the target's range: log1p needs >= 0

    from pipeline.serving.inference import Predictor
    from pipeline.serving.responses import answer_rows

    predictor = Predictor.from_dir(rentals / "models/rentals/ann")
    manifest_output = predictor.output
    assert manifest_output["units"] == "bikes per hour" and manifest_output["interval_level"] == 0.9
    rows = count_rows(5, seed=7).drop(columns=["rentals"])
    result = predictor.score_frame(rows)
    answers = answer_rows(predictor, result.probabilities, None, rows)
    half = manifest_output["interval_half_width"]
    for answer in answers:
        assert answer["value"] > 0
        assert answer["interval"] == pytest.approx([max(answer["value"] - half, 0.0), answer["value"] + half])


def test_cross_validation_and_the_comparison_take_a_numeric_target(rentals: Path, capsys) -> None:
    raw = yaml.safe_load((rentals / "params.yaml").read_text())
    raw["evaluate"]["cv_folds"] = 2
    raw["tasks"]["rentals"]["models"]["ann"]["epochs"] = 10
    (rentals / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params.cache_clear()
    for stage in (["ingest"], ["validate"], ["encode"], ["train", "ann"], ["evaluate", "ann"], ["baselines"]):
        assert cli([stage[0], "rentals", *stage[1:]]) == 0, capsys.readouterr()
    assert cli(["export", "rentals", "ann"]) == 0
    assert cli(["cv", "rentals"]) == 0, capsys.readouterr()
    report = json.loads((rentals / "reports/cv/rentals.json").read_text())
    assert report["gate_metric"] == "rmse" and report["folds"] == 2
    assert set(report["models"]) == {"ann", "ridge", "hist_gradient_boosting"}
    assert all(len(m["per_fold"]) == 2 and m["mean"]["rmse"] > 0 for m in report["models"].values())
    assert cli(["compare", "rentals"]) == 0
    comparison = (rentals / "reports/rentals/comparison.md").read_text()
    assert "| val rmse | test mae | test rmse | test r2 |" in comparison
    assert "Test rmse of the model minus hist_gradient_boosting's" in comparison
    assert "Repeated 2-fold x 1" in comparison  # plain folds: a number has no classes to stratify
