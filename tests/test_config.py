from pathlib import Path

import pytest

from pipeline.core.config import ConfigError, load_params
from tests.conftest import REPO, edit_params


def test_repo_params_load_and_name_every_task_model():
    p = load_params(REPO / "params.yaml")
    assert list(p.churn.models) == ["ann"]
    assert list(p.sentiment.models) == ["rnn", "lstm", "gru"]
    assert set(p.churn.tune) == {"ann"} and set(p.sentiment.tune) == {"rnn", "lstm", "gru"}


def test_a_typo_in_params_fails_at_load_time_naming_the_key(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"models": {"ann": {"dropuot": 0.1}}})
    with pytest.raises(ConfigError, match=r"churn\.models\.ann\.dropuot"):
        load_params(path)


def test_out_of_range_value_is_refused(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, sentiment={"models": {"gru": {"dropout": 1.5}}})
    with pytest.raises(ConfigError, match=r"sentiment\.models\.gru\.dropout"):
        load_params(path)


def test_unknown_task_and_arch_are_named(tmp_path: Path):
    p = load_params(REPO / "params.yaml")
    with pytest.raises(ConfigError, match="unknown task 'fraud'"):
        p.task("fraud")
    with pytest.raises(ConfigError, match="unknown architecture 'lstm' for task 'churn'"):
        p.model_params("churn", "lstm")
