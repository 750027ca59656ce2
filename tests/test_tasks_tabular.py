"""A user's own table through ingest, validate and encode by params only: a Yes/No target, blank
numeric and categorical cells under a missing-value policy, and the policy applied again by the
encoder that predict, serve and the registered model load from encoder.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.__main__ import main as cli
from pipeline.core.config import params
from pipeline.encoders.registry import load_encoder

CATEGORIES = {f"Feature{i}": ["a", "b", "c"] for i in range(15)}


def telco_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "CustomerID": [f"C{i:04d}" for i in range(n)],
            "Tenure": rng.integers(0, 72, n).astype(float),
            "MonthlyCharges": rng.uniform(20, 120, n).round(2),
            "Contract": rng.choice(["Month", "OneYear", "TwoYear"], n),
            **{col: rng.choice(values, n) for col, values in CATEGORIES.items()},
        }
    )
    frame["Churn"] = np.where(rng.random(n) < 0.3, "Yes", "No")
    if n < 30:
        return frame
    frame.loc[[3, 10, 17], "MonthlyCharges"] = np.nan  # filled with the training median
    frame.loc[[5, 12], "Contract"] = None  # filled with the training mode
    frame.loc[[7, 21], "Tenure"] = np.nan  # the row is dropped
    return frame


@pytest.fixture
def telco(project: Path) -> Path:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["tasks"] = {
        "telco": {
            "kind": "tabular",
            "data": {"source": "telco.csv"},
            "schema": {
                "target": "Churn",
                "labels": {"classes": ["No", "Yes"], "positive": "Yes"},
                "drop": ["CustomerID"],
                "numeric": {
                    "Tenure": {"min": 0, "max": 100, "integer": True},
                    "MonthlyCharges": {"min": 0, "max": 500},
                },
                "categorical": {"Contract": ["Month", "OneYear", "TwoYear"], **CATEGORIES},
                "missing": {"MonthlyCharges": "median", "Contract": "mode", "Tenure": "drop"},
                "min_rows": 50,
            },
            "models": {"ann": {"hidden_units": [8], "epochs": 2}},
        }
    }
    raw["models"] = {"telco-ann": {"task": "telco", "arch": "ann"}}
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    telco_rows(400).to_csv(project / "telco.csv", index=False)
    params.cache_clear()
    return project


def test_a_yes_no_table_with_blank_cells_is_encoded_by_its_policy(telco: Path, capsys) -> None:
    for stage in ("ingest", "validate", "encode"):
        assert cli([stage, "telco"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "2 of 400 rows dropped by schema.missing" in out

    encoded = telco / "data" / "encoded" / "telco"
    encoder_data = json.loads((encoded / "encoder.json").read_text())
    assert encoder_data["classes"] == ["No", "Yes"] and encoder_data["drop_missing"] == ["Tenure"]
    splits = pd.read_parquet(encoded / "splits.parquet")
    train = splits[splits["split"] == "train"]
    assert encoder_data["fills"]["MonthlyCharges"] == pytest.approx(train["MonthlyCharges"].median())
    assert encoder_data["fills"]["Contract"] == train["Contract"].mode()[0]
    blank = splits.loc[splits["MonthlyCharges"].isna(), "split"].value_counts()
    counts = ", ".join(f"{name} {blank.get(name, 0)}" for name in ("train", "val", "test"))
    assert (
        f"3 blank MonthlyCharges cell(s) ({counts}) filled with {encoder_data['fills']['MonthlyCharges']!r}"
        in out
    )
    assert "2 blank Contract cell(s) (" in out
    total = 0
    for name in ("train", "val", "test"):
        with np.load(encoded / f"{name}.npz", allow_pickle=False) as npz:
            assert np.isfinite(npz["x"]).all()
            part = splits[splits["split"] == name]
            assert npz["y"].tolist() == (part["Churn"] == "Yes").astype(float).tolist()  # Yes is 1
            total += len(npz["y"])
    assert total == 398

    encoder = load_encoder(encoded / "encoder.json")
    row = telco_rows(1).drop(columns=["Churn"]).iloc[0].to_dict()
    filled = encoder.transform_records([row | {"MonthlyCharges": None, "Contract": None}])
    explicit = encoder.transform_records(
        [
            row
            | {
                "MonthlyCharges": encoder_data["fills"]["MonthlyCharges"],
                "Contract": encoder_data["fills"]["Contract"],
            }
        ]
    )
    np.testing.assert_array_equal(filled, explicit)
    frame = pd.DataFrame([row | {"MonthlyCharges": np.nan}, row | {"Tenure": np.nan}])
    errors = encoder.check(frame)
    assert [(e.row, e.column) for e in errors] == [(1, "Tenure")]
    assert "schema.missing drops rows" in errors[0].message
    # the DataFrame path (predict, the pyfunc) fills as the records path (serve) does
    np.testing.assert_array_equal(
        encoder.transform(frame.iloc[[0]]), encoder.transform_records([row | {"MonthlyCharges": None}])
    )


def test_a_blank_cell_without_a_policy_still_fails_validation_by_row(telco: Path, capsys) -> None:
    raw = yaml.safe_load((telco / "params.yaml").read_text())
    del raw["tasks"]["telco"]["schema"]["missing"]["MonthlyCharges"]
    (telco / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params.cache_clear()
    assert cli(["ingest", "telco"]) == 0
    assert cli(["validate", "telco"]) == 1
    err = capsys.readouterr().err
    assert "column 'MonthlyCharges'" in err and "data rows 4, 11, 18 (file lines 5, 12, 19)" in err


def test_a_label_outside_the_classes_is_named_by_its_data_row(telco: Path, capsys) -> None:
    rows = telco_rows(400)
    rows.loc[250, "Churn"] = "Maybe"
    rows.to_csv(telco / "telco.csv", index=False)
    raw = yaml.safe_load((telco / "params.yaml").read_text())
    raw["tasks"]["telco"]["schema"]["missing"]["Tenure"] = "median"  # no dropped rows: row 251 is row 251
    (telco / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params.cache_clear()
    assert cli(["ingest", "telco"]) == 0
    assert cli(["encode", "telco"]) == 1  # validate would refuse it too; encode must not guess
    assert "'Maybe' in data row 251" in capsys.readouterr().err
