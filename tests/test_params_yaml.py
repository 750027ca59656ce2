"""params.yaml as DVC reads and rewrites it: YAML 1.2, and values that dvc.lock records unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.config import ConfigError, load_params
from pipeline.core.yamlio import load_yaml, lock_safe, round_trip_drift
from tests.conftest import REPO, edit_params

SHIPPED = sorted([REPO / "params.yaml", *REPO.glob("params/*/*.yaml"), *REPO.glob("params/best/*/*.yaml")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_value_survives_dvcs_round_trip(path: Path):
    assert round_trip_drift(path.read_text()) == []


def test_the_drift_is_found_by_key():
    text = "tasks:\n  churn:\n    models:\n      ann: {l2: 1.329291894316217e-05, dropout: 0.1}\n"
    assert round_trip_drift(text) == [
        ("tasks.churn.models.ann.l2", 1.329291894316217e-05, 1.329291894316216e-05)
    ]


def _params_with(tmp_path: Path, key: str, value: str) -> Path:
    """The repository's params with one churn ANN value written as ``value`` (text, as in a file)."""
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"models": {"ann": {key: "PLACEHOLDER"}}})
    path.write_text(path.read_text().replace("PLACEHOLDER", value))
    assert load_yaml(path.read_text())["tasks"]["churn"]["models"]["ann"][key] is not None
    return path


def test_loading_refuses_a_value_dvc_writes_back_differently_naming_its_key(tmp_path: Path):
    path = _params_with(tmp_path, "l2", "1.329291894316217e-05")
    with pytest.raises(ConfigError) as error:
        load_params(path)
    message = str(error.value)
    assert "tasks.churn.models.ann.l2: 1.329291894316217e-05 is written back by DVC as" in message
    assert "e.g. 1.329e-05" in message
    assert load_params(_params_with(tmp_path, "l2", "1.329e-05")).model_params("churn", "ann").l2 == 1.329e-05


@pytest.mark.parametrize("value", [1.329291894316217e-05, 5.046868558173903e-05, 0.04602182655591158, 0.1])
def test_a_tuned_value_is_written_so_that_dvc_keeps_it(value: float):
    safe = lock_safe(value)
    assert round_trip_drift(f"v: {safe!r}\n") == [] and abs(safe - value) <= 1e-12 * abs(value)


def test_params_read_as_yaml_1_2_so_dvc_rewritten_no_yes_stay_strings(tmp_path: Path):
    """`dvc exp run -S` writes YAML 1.2, which leaves No/Yes unquoted: they must still be strings."""
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"schema": {"categorical": {"Gender": ["No", "Yes"]}}})
    with modify_yaml(str(path)) as data:  # what `dvc exp run -S` does to the file
        data["tasks"]["churn"]["models"]["ann"]["dropout"] = 0.2
    assert "- No\n" in path.read_text() or "[No, Yes]" in path.read_text()  # quotes gone
    params = load_params(path)
    assert params.task("churn").schema_.categorical["Gender"] == ["No", "Yes"]
    assert params.model_params("churn", "ann").dropout == 0.2


def test_an_unquoted_true_false_category_is_refused_quoting_what_was_written(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"schema": {"categorical": {"Gender": "PLACEHOLDER"}}})
    path.write_text(path.read_text().replace("PLACEHOLDER", "[False, Maybe, true]"))
    with pytest.raises(ConfigError, match=r'quote them: \["False", "Maybe", "true"\]'):
        load_params(path)


def test_yaml_errors_name_the_file(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("tasks: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: not valid YAML"):
        load_params(path)
    assert load_yaml("a: off\nb: 1e-3\n") == {"a": "off", "b": 0.001}
