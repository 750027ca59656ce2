import re
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from pipeline.core.config import ConfigError, LabelValue, load_params
from pipeline.core.yamlio import load_yaml
from tests.conftest import REPO, edit_params


def test_repo_params_load_and_name_every_task_model():
    p = load_params(REPO / "params.yaml")
    churn, sentiment = p.task("churn"), p.task("sentiment")
    assert (churn.kind, sentiment.kind) == ("tabular", "text")
    assert list(churn.models) == ["ann"]
    assert list(sentiment.models) == ["rnn", "lstm", "gru"]
    assert set(churn.tune) == {"ann"} and set(sentiment.tune) == {"rnn", "lstm", "gru"}


def test_the_shipped_studies_budget_trials_not_seconds():
    """A deadline makes the trials a study finishes depend on the machine's speed, so the same params
    would train another model on a slower machine; the shipped defaults budget trials only."""
    p = load_params(REPO / "params.yaml")
    budgets = {(name, arch): cfg for name in p.tasks for arch, cfg in p.task(name).tune.items()}
    assert budgets and all(cfg.n_trials >= 1 for cfg in budgets.values())
    assert {key: cfg.timeout_s for key, cfg in budgets.items() if cfg.timeout_s is not None} == {}


def test_a_typo_in_params_fails_at_load_time_naming_the_key(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"models": {"ann": {"dropuot": 0.1}}})
    with pytest.raises(ConfigError, match=r"tasks\.churn\.models\.ann\.dropuot"):
        load_params(path)


def test_out_of_range_value_is_refused(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, sentiment={"models": {"gru": {"dropout": 1.5}}})
    with pytest.raises(ConfigError, match=r"tasks\.sentiment\.models\.gru\.dropout"):
        load_params(path)


def test_unknown_task_and_arch_are_named(tmp_path: Path):
    p = load_params(REPO / "params.yaml")
    with pytest.raises(ConfigError, match=r"unknown task 'fraud': params\.yaml defines churn, sentiment"):
        p.task("fraud")
    with pytest.raises(ConfigError, match="unknown architecture 'lstm' for task 'churn'"):
        p.model_params("churn", "lstm")


def test_a_task_without_a_kind_is_refused_by_name(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text().replace("    kind: tabular\n", "", 1))
    with pytest.raises(ConfigError, match=r"tasks\.churn: .*'kind'"):
        load_params(path)


def test_the_old_synthetic_keyword_says_what_to_write_instead(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"data": {"source": "synthetic"}})
    with pytest.raises(ConfigError, match=r"data/synthetic/<name>\.csv"):
        load_params(path)


def test_the_models_list_must_match_the_tasks_architectures(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"models": {"wide": {"hidden_units": [128]}}})
    with pytest.raises(ConfigError, match=r"add:\n  churn-wide: \{task: churn, arch: wide\}"):
        load_params(path)


# ------------------------------------------------------------------ YAML booleans
def _written_as(tmp_path: Path, text: str, unnamed: str | None = None, **sections: dict) -> Path:
    """The repository's params with ``sections`` merged in, where the string PLACEHOLDER is then
    replaced by ``text`` as written in a file; whatever the layout of params.yaml. ``unnamed``: a
    task whose ``display`` section is left out (its class names would name the old classes)."""
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    if unnamed is not None:
        data = load_yaml(path.read_text())
        del data["tasks"][unnamed]["display"]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    edit_params(path, **sections)
    path.write_text(path.read_text().replace("PLACEHOLDER", text))
    return path


def _with_gender(tmp_path: Path, values: str) -> Path:
    return _written_as(tmp_path, values, churn={"schema": {"categorical": {"Gender": "PLACEHOLDER"}}})


def test_unquoted_no_yes_categories_are_strings_as_dvc_reads_them(tmp_path: Path):
    schema = load_params(_with_gender(tmp_path, "[No, Yes]")).task("churn").schema_
    assert schema.categorical["Gender"] == ["No", "Yes"]


def test_unquoted_true_false_categories_fail_at_load_time_saying_to_quote_them(tmp_path: Path):
    path = _with_gender(tmp_path, "[false, true]")
    expected = (
        "tasks.churn.schema.categorical.Gender: [false, true] are YAML booleans (an unquoted true or false); "
        'quote them: ["false", "true"]'
    )
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_params(path)


def test_the_suggestion_quotes_what_was_written(tmp_path: Path):
    path = _with_gender(tmp_path, "[FALSE, Maybe, True]")
    with pytest.raises(ConfigError, match=re.escape('[false, "Maybe", true] holds YAML booleans')) as error:
        load_params(path)
    assert 'quote them: ["FALSE", "Maybe", "True"]' in str(error.value)


def test_quoted_categories_load_as_strings_and_integer_categories_stay_integers(tmp_path: Path):
    schema = load_params(_with_gender(tmp_path, '["No", "Yes"]')).task("churn").schema_
    assert schema.categorical["Gender"] == ["No", "Yes"]
    products = schema.categorical["NumOfProducts"]
    assert products == [1, 2, 3, 4] and all(type(v) is int for v in products)


def test_a_label_value_refuses_a_boolean_outside_params_yaml_too():
    """The rule for a future ``positive:`` value: no file to quote from, so "true"/"false" is suggested."""
    expected = 'true is a YAML boolean (an unquoted true or false); quote it: "true"'
    with pytest.raises(ValidationError, match=re.escape(expected)):
        TypeAdapter(LabelValue).validate_python(True)
    assert TypeAdapter(LabelValue).validate_python("Yes") == "Yes"
    assert TypeAdapter(LabelValue).validate_python(1) == 1


def test_label_classes_that_yaml_made_booleans_are_refused(tmp_path: Path):
    labels = {"schema": {"labels": "PLACEHOLDER"}}
    path = _written_as(tmp_path, "{classes: [false, true], positive: true}", "churn", churn=labels)
    with pytest.raises(ConfigError, match=r"tasks\.churn\.schema\.labels\.classes: .*quote them"):
        load_params(path)
    path = _written_as(tmp_path, '{classes: ["No", "Yes"], positive: "Yes"}', "churn", churn=labels)
    parsed = load_params(path).task("churn").schema_.labels
    assert parsed.classes == ["No", "Yes"] and parsed.positive == "Yes" and parsed.binary


def test_a_search_without_a_space_gets_the_kinds_default_including_model_size():
    """`tune: {gru: {}}` in a new section searches size as well as rates, within what check_space
    accepts for the model; a model whose word2vec vectors fix embedding_dim does not search it."""
    from pipeline.core.task_config import TabularTaskConfig, TextTaskConfig
    from pipeline.modeling.search_space import check_space

    text = TextTaskConfig.model_validate(
        {
            "kind": "text",
            "data": {"source": "x.csv"},
            "models": {"gru": {}, "lstm": {"embedding": {"init": "word2vec"}}},
            "tune": {"gru": {}, "lstm": {"n_trials": 3}},
        }
    )
    assert {"embedding_dim", "units", "learning_rate"} <= set(text.tune["gru"].space)
    assert "embedding_dim" not in text.tune["lstm"].space and "units" in text.tune["lstm"].space
    for arch in ("gru", "lstm"):
        check_space("t", arch, text.models[arch], text.tune[arch].space)
    table = TabularTaskConfig.model_validate(
        {
            "kind": "tabular",
            "data": {"source": "x.csv"},
            "schema": {"target": "y", "numeric": {"x": {"min": 0, "max": 1}}},
            "models": {"ann": {}},
            "tune": {"ann": {}},
        }
    )
    assert "hidden_units" in table.tune["ann"].space
    check_space("t", "ann", table.models["ann"], table.tune["ann"].space)
    given = load_params(REPO / "params.yaml").task("topics").tune["gru"].space
    assert set(given) == {"dropout", "learning_rate"}  # a given space is searched as written


# ------------------------------------------------------------------ display: the classes' names
def test_the_shipped_tasks_name_their_classes_and_columns():
    p = load_params(REPO / "params.yaml")
    assert p.task("churn").display.classes == {0: "stays", 1: "leaves"}
    assert p.task("churn").display.columns["NumOfProducts"] == "Products held"
    assert p.task("sentiment").display.classes == {0: "negative", 1: "positive"}
    assert p.task("topics").display.classes == {}  # learned classes: called by their values


@pytest.mark.parametrize(
    ("display", "message"),
    [
        (
            {"classes": {2: "maybe"}},
            r"tasks\.churn\.display: .*classes: 2 is not a class of this task \(its classes: 0, 1\)",
        ),
        ({"classes": {0: "gone", 1: "gone"}}, r"tasks\.churn\.display: .*two classes share a name"),
        ({"classes": {1: ""}}, r"tasks\.churn\.display\.classes\.1: .*at least 1 character"),
        (
            {"columns": {"Salary": "Pay"}},
            r"tasks\.churn\.display: .*columns: 'Salary' is not a feature column",
        ),
        ({"colours": {}}, r"tasks\.churn\.display\.colours"),
    ],
)
def test_a_bad_display_mapping_is_refused_naming_the_key(tmp_path: Path, display: dict, message: str):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, churn={"display": display})
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_a_text_tasks_names_are_checked_against_its_listed_classes(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, sentiment={"display": {"classes": {"pos": "positive"}}})
    with pytest.raises(ConfigError, match=r"tasks\.sentiment\.display: .*'pos' is not a class"):
        load_params(path)
    path.write_text((REPO / "params.yaml").read_text())
    edit_params(path, sentiment={"display": {"columns": {"text": "Review"}}})
    with pytest.raises(ConfigError, match=r"tasks\.sentiment\.display\.columns"):  # a table's only
        load_params(path)


def test_names_follow_a_change_of_classes(tmp_path: Path):
    """Classes renamed in the schema (No/Yes) are named by those values; the old 0/1 names are refused."""
    labels = {"schema": {"labels": {"classes": ["No", "Yes"], "positive": "Yes"}}}
    path = _written_as(tmp_path, "", churn=labels)
    with pytest.raises(
        ConfigError,
        match=r"tasks\.churn\.display: .*0, 1 are not classes of this task \(its classes: No, Yes\)",
    ):
        load_params(path)
    path = _written_as(tmp_path, "", "churn", churn=labels | {"display": {"classes": {"Yes": "leaves"}}})
    assert load_params(path).task("churn").display.classes == {"Yes": "leaves"}


def test_a_class_named_as_a_number_and_as_text_is_refused(tmp_path: Path):
    path = _written_as(
        tmp_path, "{0: stays, 1: leaves, '1': quits}", "churn", churn={"display": {"classes": "PLACEHOLDER"}}
    )
    with pytest.raises(ConfigError, match=r"tasks\.churn\.display: .*classes: 1 named twice"):
        load_params(path)


def test_a_class_name_keyed_by_a_yaml_boolean_is_refused(tmp_path: Path):
    path = _written_as(
        tmp_path, "{false: stays, true: leaves}", "churn", churn={"display": {"classes": "PLACEHOLDER"}}
    )
    with pytest.raises(ConfigError, match=r"tasks\.churn\.display\.classes\..*YAML boolean"):
        load_params(path)
