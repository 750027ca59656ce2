"""``make ui`` (``python -m pipeline ui``): the links it prints open a task's runs table, not MLflow's
GenAI overview, and the clicks docs/mlflow.md describes lead where it says, in a real headless
Chromium against the real ``mlflow ui`` server the command starts on a small store.

MLflow 3.17 opens an experiment in a fresh browser on its GenAI "Overview" whatever the experiment's
``mlflow.experimentKind`` tag says: the side bar's GenAI | Model training switch (kept in the
browser, overridden by ``?workflowType=``) decides. The browser is the system's Chromium, as in
tests/test_page.py; the browser tests are skipped with the reason when there is none. They start a
real MLflow server (1 to 2 minutes on 2 busy cores), so they are marked ``services`` like
tests/test_services.py's: ``make test-services`` (and ``.ci/run``) runs them, ``make test`` does not.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.commands.ui import links, model_url, runs_url
from pipeline.core import tracking

CARD = "Model card: churn / ann\n\nONNX Runtime pyfunc over raw inputs (tabular task)."
WAIT_MS = 60_000  # one page of MLflow's UI on a loaded 2-core machine


def make_store(root: Path) -> SimpleNamespace:
    """What the pipeline leaves in MLflow, in small: a task's experiment (made by an older version,
    untagged, then tagged by the next stage's set-up), a run, a registered version with its card;
    and an experiment another tool made."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(root)
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment_id = client.create_experiment("churn", artifact_location=(root / "art").as_uri())
        assert tracking.setup_experiment("churn") == experiment_id
        client.create_experiment("made-elsewhere", artifact_location=(root / "other").as_uri())
        run = client.create_run(experiment_id, run_name="churn-ann", tags={"task": "churn", "arch": "ann"})
        client.log_metric(run.info.run_id, "val_roc_auc", 0.87)
        client.set_terminated(run.info.run_id)
        client.create_registered_model("churn")
        client.create_model_version(
            "churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id, description=CARD
        )
    return SimpleNamespace(uri=uri, experiment_id=experiment_id)


# ----------------------------------------------------------------------- the links (no server)
def test_links_name_each_task_of_the_pipeline_with_its_runs_table_and_model(tmp_path):
    store = make_store(tmp_path)
    printed = links("http://127.0.0.1:5001", store.uri)
    assert printed == [
        f"  churn      runs   http://127.0.0.1:5001/#/experiments/{store.experiment_id}/runs"
        "?workflowType=machine_learning",
        "             model  http://127.0.0.1:5001/#/models/churn?workflowType=machine_learning",
    ]  # "made-elsewhere" is not the pipeline's: no line


def test_setup_tags_an_existing_experiment_as_model_training(tmp_path):
    import mlflow

    store = make_store(tmp_path)
    tags = mlflow.MlflowClient(tracking_uri=store.uri).get_experiment(store.experiment_id).tags
    assert tags[tracking.EXPERIMENT_KIND_TAG] == tracking.CUSTOM_MODEL_KIND


def test_links_say_what_to_do_without_a_store(tmp_path):
    assert links("http://h:1", f"sqlite:///{tmp_path / 'mlflow.db'}") == [
        f"no MLflow store at {tmp_path / 'mlflow.db'} yet: `make repro` fills it"
    ]
    assert not (tmp_path / "mlflow.db").exists()  # looking did not create an empty store


def test_ui_starts_no_server_on_a_store_that_does_not_exist(tmp_path, monkeypatch):
    from pipeline.commands import ui

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(ui.os, "execv", lambda *args: pytest.fail(f"started {args}"))
    assert ui.main(["--port", "5001"]) == 1
    assert not (tmp_path / "mlflow.db").exists()  # `make repro` still sees a clone without a store


# ------------------------------------------------------------------ the server and the browser
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_server(process: subprocess.Popen, log: Path, url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"`python -m pipeline ui` exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"no MLflow UI at {url} after {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """``python -m pipeline ui`` on a small store, as ``make ui`` runs it: its output and its server."""
    root = tmp_path_factory.mktemp("ui")
    store = make_store(root)
    port, log = free_port(), root / "ui.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "ui", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(process, log, base)
        yield SimpleNamespace(base=base, output=log.read_text(), experiment_id=store.experiment_id)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """The UI and its workers (one process group), SIGTERM first."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def fresh_tab(browser) -> Iterator:
    """A tab in a new browser context: no localStorage, as in a browser that never saw MLflow."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    yield tab
    context.close()


def see(tab, text: str) -> None:
    tab.get_by_text(text, exact=True).first.wait_for(state="visible")


@pytest.mark.services
def test_the_printed_link_opens_the_runs_table_not_the_genai_overview(ui, fresh_tab):
    link = runs_url(ui.base, ui.experiment_id)
    assert f"  churn      runs   {link}" in ui.output.splitlines()
    assert f"model  {model_url(ui.base, 'churn')}" in ui.output
    fresh_tab.goto(link)
    see(fresh_tab, "churn-ann")  # a row of the runs table
    assert re.search(rf"/#/experiments/{ui.experiment_id}/runs\?", fresh_tab.url)
    body = fresh_tab.inner_text("body")
    assert "Runs" in body and "Model registry" in body  # Model training's side bar
    assert "Detect Issues" not in body and "Overview" not in body and "Training runs" not in body


@pytest.mark.services
def test_a_fresh_browser_opens_an_experiment_on_genai_overview_whatever_its_tag(ui, fresh_tab):
    """Why the links carry workflowType: the plain address of the experiment, tagged
    custom_model_development, still opens on Overview. When MLflow honours the tag again, this
    fails: docs/mlflow.md's directions then need a look."""
    fresh_tab.goto(f"{ui.base}/#/experiments/{ui.experiment_id}")
    see(fresh_tab, "Detect Issues in Your Traces")
    assert re.search(rf"/#/experiments/{ui.experiment_id}/overview", fresh_tab.url)


@pytest.mark.services
def test_the_clicks_in_the_docs_lead_to_the_runs_table_and_the_model_card(ui, fresh_tab):
    """docs/mlflow.md: Model training (top of the side bar), Experiments, the task: the runs table;
    Model registry, the task, Version 1: the card is its Description."""
    fresh_tab.goto(ui.base + "/")
    fresh_tab.get_by_text("Model training", exact=True).first.click()
    fresh_tab.get_by_role("link", name="Experiments", exact=True).first.click()
    fresh_tab.get_by_role("link", name="churn", exact=True).first.click()
    see(fresh_tab, "churn-ann")
    assert f"/#/experiments/{ui.experiment_id}/runs?" in fresh_tab.url
    assert "Detect Issues" not in fresh_tab.inner_text("body")

    fresh_tab.get_by_role("link", name="Model registry", exact=True).first.click()
    dismiss = fresh_tab.get_by_role("button", name="Try it now")  # first visit: "the new Model Registry UI"
    try:
        dismiss.wait_for(state="visible", timeout=10_000)
        dismiss.click()
    except pytest.importorskip("playwright.sync_api").TimeoutError:
        pass  # no such dialog this time: nothing to dismiss
    fresh_tab.locator('main a[href$="/models/churn"]').first.click()  # not the side bar's experiment
    see(fresh_tab, "Aliases")  # the versions table's column the card points to
    fresh_tab.locator('main a[href$="/models/churn/versions/1"]').first.click()
    see(fresh_tab, "Model card: churn / ann")
    assert fresh_tab.url.endswith("/#/models/churn/versions/1")
