"""`python -m pipeline real-data`: the shipped real-data settings, merged over params.yaml (no training)."""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.commands import real_data
from pipeline.core.config import load_params
from pipeline.core.errors import DataError, PipelineError
from tests.conftest import REPO, copy_stages

SETS = REPO / "params" / "real"


def _merged(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    real_data.deep_merge(out, update)
    return out


@pytest.fixture
def fake_data(project: Path) -> Path:
    """A data folder with two small files, and a set file `fake` pinning their sha256."""
    folder = project / "datasets"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nsome story,earn\n")
    (folder / "test.csv").write_text("text,label\nanother story,acq\n")
    sets = project / "params" / "real"
    sets.mkdir(parents=True)
    files = ("train.csv", "test.csv")
    sha = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files}
    (sets / "fake.yaml").write_text(
        yaml.safe_dump(
            {
                "requires": sha,
                "tasks": {
                    "topics": {
                        "data": {"source": "{data}", "train_file": "train.csv", "test_file": "test.csv"},
                        "encode": {"max_tokens": 500, "sequence_length": 30},
                        "models": {"gru": {"units": 16, "pooling": "mean"}},
                        "tune": {"gru": {"enabled": False}},
                    }
                },
            }
        )
    )
    return folder


def test_merges_the_set_exactly_and_keeps_comments(project: Path, fake_data: Path):
    before_text = (project / "params.yaml").read_text()
    before = yaml.safe_load(before_text)
    _, partial = real_data.read_set(project / "params" / "real" / "fake.yaml")

    assert real_data.main(["datasets"]) == 0

    after_text = (project / "params.yaml").read_text()
    expected = _merged(before, real_data.substitute(partial, "datasets"))
    expected["tasks"]["topics"]["data"]["source"] = "data/linked/topics"
    assert yaml.safe_load(after_text) == expected
    topics = yaml.safe_load(after_text)["tasks"]["topics"]
    # the folder source is a folder of links to its two files: DVC depends on those only
    links = project / "data" / "linked" / "topics"
    assert sorted(p.name for p in links.iterdir()) == ["test.csv", "train.csv"]
    assert (links / "train.csv").resolve() == (fake_data / "train.csv").resolve()
    assert not (links / "train.csv").readlink().is_absolute()  # DATA_DIR was given relative
    assert topics["models"]["gru"]["units"] == 16 and topics["models"]["gru"]["embedding_dim"] == 32
    assert "requires" not in yaml.safe_load(after_text)
    # the rest of the file, comments included, is as it was
    for line in before_text.splitlines():
        if line.lstrip().startswith("#"):
            assert line in after_text
    load_params(project / "params.yaml")


def test_refuses_a_missing_file_naming_it_and_writes_nothing(project: Path, fake_data: Path):
    before = (project / "params.yaml").read_text()
    (fake_data / "test.csv").unlink()
    with pytest.raises(DataError, match=r"datasets/test\.csv: not found; the set 'fake'"):
        real_data.main([str(fake_data)])
    assert (project / "params.yaml").read_text() == before


def test_refuses_a_wrong_checksum_and_writes_nothing(project: Path, fake_data: Path):
    before = (project / "params.yaml").read_text()
    (fake_data / "train.csv").write_text("text,label\nedited story,earn\n")
    with pytest.raises(DataError, match=r"train\.csv: sha256 [0-9a-f]{64} is not the published"):
        real_data.main([str(fake_data)])
    assert (project / "params.yaml").read_text() == before


def test_unknown_set_and_missing_folder_are_refused(project: Path, fake_data: Path):
    with pytest.raises(PipelineError, match=r"unknown set\(s\) \['nope'\]; available: \['fake'\]"):
        real_data.main([str(fake_data), "--only", "nope"])
    with pytest.raises(DataError, match="not a folder"):
        real_data.main([str(fake_data / "absent")])


def test_merged_params_that_do_not_load_leave_params_yaml_unchanged(project: Path, fake_data: Path):
    before = (project / "params.yaml").read_text()
    bad = project / "params" / "real" / "fake.yaml"
    bad.write_text(bad.read_text().replace("units: 16", "units: 0"))
    with pytest.raises(PipelineError, match=r"params\.yaml left unchanged"):
        real_data.main([str(fake_data)])
    assert (project / "params.yaml").read_text() == before
    assert not list(project.glob(".params.yaml*"))


@pytest.mark.parametrize("name", ["churn", "imdb", "r52", "hamlet", "stars", "nyse", "demand"])
def test_each_shipped_set_merges_into_loadable_params(name: str, tmp_path: Path):
    requires, partial = real_data.read_set(SETS / f"{name}.yaml")
    assert requires and all(sha and len(sha) == 64 for sha in requires.values())  # all pinned
    merged = _merged(yaml.safe_load((REPO / "params.yaml").read_text()), real_data.substitute(partial, "/d"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merged))
    params = load_params(tmp_path / "params.yaml")
    for task in partial["tasks"]:
        source = params.task(task).data.source
        assert source.startswith("/d")
        assert all(tune.enabled is False for tune in params.task(task).tune.values())


def test_the_r52_set_reads_the_shared_folder_layout():
    requires, partial = real_data.read_set(SETS / "r52.yaml")
    data = partial["tasks"]["topics"]["data"]
    assert data["source"] == "{data}"
    assert (
        {data["train_file"], data["test_file"]}
        == set(requires)
        == {
            "reuters_r52_train.csv",
            "reuters_r52_test.csv",
        }
    )


def test_the_shipped_sets_apply_to_the_real_files(project: Path, shared_data: Path):
    shutil.copytree(SETS, project / "params" / "real")
    assert real_data.main([str(shared_data)]) == 0  # the published checksums match the files
    params = load_params(project / "params.yaml")
    assert params.task("topics").data.source == "data/linked/topics"
    links = project / "data" / "linked" / "topics"
    assert (links / "reuters_r52_test.csv").resolve() == (shared_data / "reuters_r52_test.csv").resolve()
    assert params.task("churn").data.source == f"{shared_data}/Churn_Modelling.csv"


def test_the_shipped_sets_apply_after_dvc_exp_run_rewrote_params_yaml(project: Path, shared_data: Path):
    """`dvc exp run -S` rewrites params.yaml in block style, comments kept on the keys' lines; a set
    that replaces such a list must not glue two keys onto one line (`dropout: 0.1 l2: 1.329e-05`)."""
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` runs on params.yaml

    shutil.copytree(SETS, project / "params" / "real")
    apply_overrides(project / "params.yaml", ["tasks.churn.card.limits=Generated customers only."])
    rewritten = (project / "params.yaml").read_text()
    assert "hidden_units:              # the course" in rewritten and "\n        - 64\n" in rewritten
    assert real_data.main([str(shared_data)]) == 0
    text = (project / "params.yaml").read_text()
    assert "\n        l2: 1.329e-05" in text and "dropout: 0.1 l2" not in text
    merged = load_params(project / "params.yaml")
    assert merged.task("churn").models["ann"].l2 == 1.329e-05
    assert merged.task("churn").card.limits == "Generated customers only."


def test_the_command_imports_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys\nfrom pipeline.__main__ import main\n"
        "try: main(['real-data', '--help'])\nexcept SystemExit: pass\n"
        "print('HEAVY', [m for m in ('tensorflow', 'keras', 'mlflow', 'onnxruntime') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout
    assert "run it in a copy of the repository or on a branch" in " ".join(out.split())
    assert "HEAVY []" in out


@pytest.mark.parametrize("name", ["caravan", "telco"])
def test_an_untuned_set_with_yes_no_classes_and_another_sets_dir(project: Path, fake_data: Path, name: str):
    """Strings that YAML 1.1 reads as booleans ("No", "Yes") stay strings in the written params.yaml,
    --sets-dir reads the sets from another folder, and a missing-value policy arrives as written."""
    folder = project / "params" / "untuned"
    folder.mkdir(parents=True)
    source = yaml.safe_load((REPO / "params" / "untuned" / f"{name}.yaml").read_text())
    source["requires"] = {"train.csv": None}
    source["tasks"][name]["data"] = {"source": "{data}/train.csv", "sha256": None}
    (folder / "bank.yaml").write_text(yaml.safe_dump(source))
    assert real_data.main([str(fake_data), "--sets-dir", "params/untuned"]) == 0
    params = load_params(project / "params.yaml")
    schema = params.task(name).schema_
    assert (schema.labels.classes, schema.labels.positive) == (["No", "Yes"], "Yes")
    assert params.models[f"{name}-ann"].task == name
    assert len(schema.categorical) >= 15
    assert schema.missing == source["tasks"][name]["schema"]["missing"]


def test_applying_again_or_after_editing_the_set_equals_applying_once(project: Path, fake_data: Path):
    committed = (project / "params.yaml").read_text()
    set_file = project / "params" / "real" / "fake.yaml"
    assert real_data.main(["datasets"]) == 0
    once = (project / "params.yaml").read_text()
    assert real_data.main(["datasets"]) == 0
    assert (project / "params.yaml").read_text() == once
    # a key removed from the set goes from params.yaml too
    edited_set = yaml.safe_load(set_file.read_text())
    del edited_set["tasks"]["topics"]["models"]["gru"]["pooling"]
    set_file.write_text(yaml.safe_dump(edited_set))
    assert real_data.main(["datasets"]) == 0
    edited = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(committed)
    (project / real_data.STATE_FILE).unlink()
    assert real_data.main(["datasets"]) == 0
    assert (project / "params.yaml").read_text() == edited
    committed_pooling = yaml.safe_load(committed)["tasks"]["topics"]["models"]["gru"]["pooling"]
    assert (
        yaml.safe_load(edited)["tasks"]["topics"]["models"]["gru"]["pooling"] == committed_pooling != "mean"
    )


def test_a_params_yaml_edited_since_is_the_new_base(project: Path, fake_data: Path):
    assert real_data.main(["datasets"]) == 0
    path = project / "params.yaml"
    path.write_text(path.read_text().replace("seed: 42", "seed: 7"))
    assert real_data.main(["datasets"]) == 0
    assert yaml.safe_load(path.read_text())["seed"] == 7


def test_a_sets_dir_outside_the_repository_works(project: Path, fake_data: Path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("my-sets")
    shutil.copy(project / "params" / "real" / "fake.yaml", outside / "mine.yaml")
    lines = real_data.apply_sets(project, "datasets", [], Path(outside))
    assert any(f"mine: tasks.topics from {outside / 'mine.yaml'}" in line for line in lines)
    assert (
        yaml.safe_load((project / "params.yaml").read_text())["tasks"]["topics"]["encode"]["max_tokens"]
        == 500
    )


def test_a_sets_dir_that_is_not_a_folder_is_one_line_naming_it(project: Path, fake_data: Path):
    with pytest.raises(PipelineError, match=r"/nowhere: not a folder \(--sets-dir must name a folder"):
        real_data.main(["datasets", "--sets-dir", "/nowhere"])


def test_dvc_depends_on_the_linked_files_only(project: Path, fake_data: Path):
    """The reason for data/linked: DVC follows the links, so an unrelated file added to DATA_DIR
    reruns nothing, and an edit of a linked file does."""
    import json
    import subprocess

    def dvc(*args: str) -> str:
        proc = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True, check=True)
        return proc.stdout

    assert real_data.main(["datasets"]) == 0
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc("init", "-q")
    (project / "dvc.yaml").write_text(
        "stages:\n  ingest:\n    cmd: cat data/linked/topics/* > raw.txt\n"
        "    deps: [data/linked/topics]\n    outs: [raw.txt]\n"
    )
    dvc("repro", "-q")
    (fake_data / "unrelated.csv").write_text("a,b\n1,2\n")
    assert json.loads(dvc("status", "--json")) == {}
    (fake_data / "test.csv").write_text("text,label\nan edited story,acq\n")
    assert "ingest" in json.loads(dvc("status", "--json"))


def test_a_set_with_only_data_schema_and_models_runs_through_dvc(project: Path, fake_data: Path, capsys):
    """DVC refuses a stage whose params key is missing, defaults or not: real-data writes every key
    the task's stages depend on, with the values the loader would have taken."""
    import subprocess

    bare = {
        "kind": "text",
        "data": {"source": "{data}/train.csv"},
        "schema": {"text": "text", "label": "label", "labels": {"classes": "learn"}},
        "models": {"gru": {}},
    }
    sets = project / "params" / "mine"
    sets.mkdir(parents=True)
    (sets / "bare.yaml").write_text(
        yaml.safe_dump(
            {
                "requires": {"train.csv": None},
                "models": {"bare-gru": {"task": "bare", "arch": "gru"}},
                "tasks": {"bare": bare},
            }
        )
    )
    assert real_data.main([str(fake_data), "--sets-dir", "params/mine"]) == 0
    written = yaml.safe_load((project / "params.yaml").read_text())["tasks"]["bare"]
    filled = {k: written[k] for k in ("split", "encode", "card", "behaviour")}
    assert filled == {"split": {}, "encode": {}, "card": {}, "behaviour": {}}  # dvc.yaml's keys, defaults
    assert written["tune"] == {"gru": {"enabled": False}} and written["baselines"] == ["tfidf_logreg"]
    loaded = load_params(project / "params.yaml").task("bare")
    assert loaded.encode.max_tokens == "auto" and loaded.tune["gru"].enabled is False

    # every params key that a stage of the new task depends on, as `dvc repro` reads it
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    copy_stages(project)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    Repo.init(str(project))
    with Repo(str(project)) as repo:
        stages = [s for s in repo.index.stages if s.name.endswith("@bare") or "@bare-" in s.name]
        for stage in stages:
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency) and dep.def_path == "params.yaml":
                    dep.get_hash()  # raises MissingParamsError as repro would
    assert len(stages) >= 12  # ingest ... register, and the model's tune ... export


def test_ingest_names_the_keys_dvc_needs_that_a_section_lacks(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A section written by hand with only data, schema and models fails at its first stage with the
    lines to add, not at encode with DVC's "Parameters ... are missing"."""
    from pipeline.core.config import params
    from pipeline.stages import ingest

    text = (project / "params.yaml").read_text()
    data = yaml.safe_load(text)
    for key in ("split", "encode", "tune", "baselines", "card"):
        del data["tasks"]["topics"][key]
    (project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    params.cache_clear()
    from pipeline.core.config import ConfigError

    monkeypatch.setenv("DVC_STAGE", "ingest@topics")  # as dvc repro runs it
    with pytest.raises(ConfigError) as err:
        ingest.main(["topics"])
    message = str(err.value)
    assert "tasks.topics: missing split, encode, baselines, card, tune.gru:" in message
    assert "gru: {enabled: false}" in message and "tfidf_linear_svm" not in message

    monkeypatch.delenv("DVC_STAGE")  # run by hand, the loader's defaults do: a warning, then on
    capsys.readouterr()
    with pytest.raises(DataError):  # (this project has no data file to ingest)
        ingest.main(["topics"])
    assert "warning: params.yaml tasks.topics: missing split" in capsys.readouterr().err
