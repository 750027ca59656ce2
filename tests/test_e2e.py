"""End to end: a real `dvc repro` of the churn and sentiment tasks in a temporary git repository,
with tiny params (the other tasks: tests/test_e2e_more_tasks.py, in `make test-e2e`).

One pipeline run serves several checks, in the order a user meets them: everything is built and
registered; a second `dvc repro` does nothing; a param change marks only what depends on it;
promote and predict work on what was registered; a broken CSV stops the pipeline at validation
and leaves every model and metric built before untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import edit_params, stage_address, stage_names
from tests.e2e_project import check_built, check_second_repro_does_nothing, run, tiny_project

pytestmark = pytest.mark.e2e
TASKS = ["churn", "sentiment"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return tiny_project(tmp_path_factory.mktemp("e2e"), TASKS)


def test_repro_builds_metrics_models_and_registry(repo: tuple[Path, dict[str, str]]):
    root, _ = repo
    check_built(root, TASKS)
    baselines = json.loads((root / "metrics" / "churn" / "baselines.json").read_text())
    assert set(baselines) == {"logistic_regression", "hist_gradient_boosting"}
    assert "tfidf_logreg" in json.loads((root / "metrics" / "sentiment" / "baselines.json").read_text())


def test_second_repro_does_nothing(repo: tuple[Path, dict[str, str]]):
    check_second_repro_does_nothing(*repo)


def test_a_param_change_marks_only_its_dependants(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    original = (root / "params.yaml").read_text()
    try:
        edit_params(root / "params.yaml", sentiment={"models": {"gru": {"learning_rate": 0.002}}})
        stale = stage_names(json.loads(run(["dvc", "status", "--json"], root, env).stdout))
        assert {"tune@sentiment-gru", "train@sentiment-gru"} <= stale
        # only sentiment's stages: export reads the whole task section (the bundle records its
        # serving settings), so a sibling architecture's export would be marked too, and rewrite
        # the same bundle in seconds
        assert not any(task in s for s in stale for task in ("churn", "topics", "nextword")), stale
        assert not any(s.split("@")[0] in {"ingest", "validate", "encode", "baselines"} for s in stale), stale
    finally:
        (root / "params.yaml").write_text(original)


def test_a_text_setting_change_re_encodes_sentiment_only(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    original = (root / "params.yaml").read_text()
    try:
        edit_params(root / "params.yaml", sentiment={"encode": {"sequence_length": 40}})
        stale = stage_names(json.loads(run(["dvc", "status", "--json"], root, env).stdout))
        assert "encode@sentiment" in stale
        assert not any("churn" in s for s in stale), stale
    finally:
        (root / "params.yaml").write_text(original)


def test_promote_then_predict_with_the_champion(repo: tuple[Path, dict[str, str]], tmp_path: Path):
    root, env = repo
    assert "promoted" in run([sys.executable, "-m", "pipeline", "promote", "churn"], root, env).stdout
    rows = root / "data" / "raw" / "churn.parquet"
    import pandas as pd

    sample = pd.read_parquet(rows).head(5).astype({"Geography": object})
    sample.loc[2, "Geography"] = "Atlantis"
    sample.to_csv(tmp_path / "rows.csv", index=False)
    proc = run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "predict",
            "churn",
            "--input",
            str(tmp_path / "rows.csv"),
            "--output",
            str(tmp_path / "preds.csv"),
        ],
        root,
        env,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr  # some rows invalid, the others scored
    assert "Atlantis" in proc.stderr
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert preds["probability"].notna().sum() == 4 and preds["probability"].isna().sum() == 1

    proc = run([sys.executable, "-m", "pipeline", "promote", "sentiment"], root, env)
    out = run(
        [sys.executable, "-m", "pipeline", "predict", "sentiment", "--text", "a great film"], root, env
    ).stdout
    assert any(label in out for label in ("Positive", "Negative", "Neutral"))


def stale_stages(root: Path, env: dict[str, str]) -> set[str]:
    return stage_names(json.loads(run(["dvc", "status", "--json"], root, env).stdout))


@pytest.mark.slow  # two `dvc repro` runs and two status checks (30-70 s): `make test-e2e`, which CI runs
def test_a_module_edit_reruns_exactly_the_stages_that_import_it(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    module = root / "pipeline" / "stages" / "compare.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# touched\n")
        compares = {f"compare@{task}" for task in TASKS}
        assert stale_stages(root, env) == compares
        out = run(["dvc", "repro"], root, env).stdout
        assert sorted(line for line in out.splitlines() if line.startswith("Running stage")) == sorted(
            f"Running stage '{stage}':" for stage in compares
        )
        # a shared layer reaches further, but not upstream of its first user
        (root / "pipeline" / "modeling" / "onnx_builder.py").write_text(
            (root / "pipeline" / "modeling" / "onnx_builder.py").read_text() + "\n# touched\n"
        )
        stale = {s.split("@")[0] for s in stale_stages(root, env)}
        assert {"tune", "train", "evaluate", "export"} <= stale
        assert not stale & {"synthesize", "ingest", "validate", "encode", "baselines"}, stale
    finally:
        module.write_text(original)
        run(["git", "checkout", "--", "pipeline/modeling/onnx_builder.py"], root, env)
    assert stale_stages(root, env) == {f"compare@{task}" for task in TASKS}  # built by the touched file
    run(["dvc", "repro"], root, env)


@pytest.mark.slow  # reruns a task's stages (1.5-3.5 min): `make test-e2e`, which CI runs
def test_a_data_file_fixed_in_place_reaches_the_metrics(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    import pandas as pd

    original = (root / "params.yaml").read_text()
    rows = pd.read_csv(root / "data" / "synthetic" / "churn.csv")
    rows.to_csv(root / "customers.csv", index=False)
    try:
        edit_params(root / "params.yaml", churn={"data": {"source": "customers.csv"}})
        run(["dvc", "repro", stage_address("export@churn-ann")], root, env)
        before = json.loads((root / "metrics" / "churn" / "ann.json").read_text())
        assert stale_stages(root, env) <= {"compare@churn", "register@churn", "baselines@churn", "cv@churn"}

        rows.head(600).to_csv(root / "customers.csv", index=False)  # the file edited in place
        status = json.loads(run(["dvc", "status", "--json"], root, env).stdout)
        assert {"changed deps": {"customers.csv": "modified"}} in status[stage_address("ingest@churn")]
        run(["dvc", "repro", stage_address("export@churn-ann")], root, env)
        after = json.loads((root / "metrics" / "churn" / "ann.json").read_text())
        assert after != before
        meta = json.loads((root / "data" / "raw" / "churn.source.json").read_text())
        assert meta["rows"] == 600
    finally:
        (root / "params.yaml").write_text(original)
        run(["dvc", "repro"], root, env)


def test_a_failed_ingest_keeps_the_raw_data_built_before(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    raw = root / "data" / "raw" / "churn.parquet"
    before = raw.read_bytes()
    original = (root / "params.yaml").read_text()
    (root / "empty.csv").write_text("")
    try:
        edit_params(root / "params.yaml", churn={"data": {"source": "empty.csv"}})
        proc = run(["dvc", "repro", stage_address("ingest@churn")], root, env, check=False)
        assert proc.returncode != 0 and "empty.csv: empty file" in proc.stdout + proc.stderr
        assert raw.read_bytes() == before
    finally:
        (root / "params.yaml").write_text(original)
    assert stale_stages(root, env) == set()


@pytest.mark.slow  # reruns a task's stages (1.5-3.5 min): `make test-e2e`, which CI runs
def test_a_rebuild_of_the_same_inputs_leaves_the_git_tree_clean(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "built"], root, env)
    # as on a fresh clone: every churn stage runs again, MLflow gets new runs and versions
    run(
        ["dvc", "repro", "--force", stage_address("register@churn"), stage_address("compare@churn")],
        root,
        env,
    )
    assert run(["git", "status", "--porcelain"], root, env).stdout == ""


def test_exp_show_lists_the_values_train_used(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    import mlflow

    shown = json.loads(run(["dvc", "exp", "show", "--json"], root, env).stdout)
    workspace = next(e for e in shown if e.get("rev") == "workspace")
    trained = workspace["data"]["params"]["params/best/churn/ann.yaml"]["data"]["trained"]
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    (latest,) = mlflow.search_runs(
        experiment_names=["churn"],
        filter_string="tags.stage = 'train' and tags.arch = 'ann'",
        order_by=["start_time DESC"],
        max_results=1,
        output_format="list",
    )
    assert float(latest.data.params["dropout"]) == trained["dropout"]
    assert float(latest.data.params["learning_rate"]) == trained["learning_rate"]
    assert latest.data.tags["git_dirty"] in {"true", "false"}


def test_bad_csv_stops_at_validation_and_keeps_what_was_built(repo: tuple[Path, dict[str, str]]):
    root, env = repo
    import pandas as pd

    built = {
        p: p.read_bytes() for p in [*root.glob("models/churn/ann/*"), *root.glob("metrics/churn/*.json")]
    }
    bad = pd.read_parquet(root / "data" / "raw" / "churn.parquet").drop(columns=["Age"])
    bad.to_csv(root / "bad.csv", index=False)
    original = (root / "params.yaml").read_text()
    try:
        edit_params(root / "params.yaml", churn={"data": {"source": "bad.csv"}})
        proc = run(["dvc", "repro"], root, env, check=False)
        assert proc.returncode != 0
        assert "Age" in proc.stdout + proc.stderr
        assert {p: p.read_bytes() for p in built} == built
    finally:
        (root / "params.yaml").write_text(original)


def test_a_failed_exp_run_keeps_every_output_built_before(repo: tuple[Path, dict[str, str]]):
    """`dvc exp run -S` with a value encode refuses: DVC would delete data/encoded/churn before the
    stage runs; every output is `persist`, so it is still there, byte for byte."""
    root, env = repo
    encoded = root / "data" / "encoded" / "churn"
    built = {p: p.read_bytes() for p in [*encoded.iterdir(), *root.glob("models/churn/ann/*")]}
    original = (root / "params.yaml").read_text()
    try:
        proc = run(["dvc", "exp", "run", "-S", "tasks.churn.split.val_fraction=0.9"], root, env, check=False)
        assert proc.returncode != 0 and "val_fraction" in proc.stdout + proc.stderr
        assert {p: p.read_bytes() for p in built} == built
    finally:
        (root / "params.yaml").write_text(original)


@pytest.mark.slow  # a forced register and three score@churn runs (about 1 min): `make test-e2e`
def test_the_score_stage_reruns_when_its_input_or_the_champion_changes(repo: tuple[Path, dict[str, str]]):
    """score@churn: the champion scores a file named in params; `dvc repro` reruns it when the file
    or the champion changes, and only then."""
    import pandas as pd

    root, env = repo
    pipeline = [sys.executable, "-m", "pipeline"]
    run([*pipeline, "promote", "churn"], root, env)  # the first champion (or it already is)
    incoming = root / "incoming" / "customers.csv"
    incoming.parent.mkdir(exist_ok=True)
    customers = pd.read_parquet(root / "data" / "raw" / "churn.parquet").head(30)
    customers.to_csv(incoming, index=False)
    original = (root / "params.yaml").read_text()
    try:
        edit_params(root / "params.yaml", scoring={"churn": {"input": "incoming/customers.csv"}})
        run(["dvc", "repro", stage_address("score@churn")], root, env)
        scored = pd.read_parquet(root / "scores" / "churn" / "scored.parquet")
        assert len(scored) == 30 and scored["probability"].between(0, 1).all()
        assert "score@churn" not in stale_stages(root, env)

        customers.head(20).to_csv(incoming, index=False)  # new data: scored again
        assert "score@churn" in stale_stages(root, env)
        run(["dvc", "repro", stage_address("score@churn")], root, env)
        assert len(pd.read_parquet(root / "scores" / "churn" / "scored.parquet")) == 20

        # a new champion: the same model registered again is a new version, promoted as not worse
        run(["dvc", "repro", "--force", "--single-item", stage_address("register@churn")], root, env)
        run([*pipeline, "promote", "churn"], root, env)
        assert "score@churn" in stale_stages(root, env)
        out = run(["dvc", "repro", stage_address("score@churn")], root, env).stdout
        assert f"Running stage '{stage_address('score@churn')}'" in out
        summary = json.loads((root / "reports" / "scoring" / "churn.json").read_text())
        record = json.loads((root / "reports" / "registry" / "churn.champion.json").read_text())
        assert summary["model"] == f"models:/churn/{record['version']}" and record["version"] != "1"
    finally:
        (root / "params.yaml").write_text(original)
