"""Shared fixtures: a throw-away project directory with the repo's params.yaml, an MLflow store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.core.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def copy_stages(root: Path) -> None:
    """The pipeline's stage definitions (dvc.yaml and dag/*/dvc.yaml) into the project at ``root``,
    without the dvc.lock files: its stages have never run."""
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "dag", root / "dag", ignore=shutil.ignore_patterns("dvc.lock"))


def stage_address(name: str) -> str:
    """DVC's address of a stage: ``dag/train/dvc.yaml:train@churn-ann`` for ``train@churn-ann``, the
    name alone for a stage of the root dvc.yaml (``register@churn``)."""
    folder = REPO / "dag" / name.split("@")[0]
    return f"dag/{folder.name}/dvc.yaml:{name}" if folder.is_dir() else name


def stage_names(status: dict) -> set[str]:
    """The stages of a ``dvc status --json`` answer, by name (``train@churn-ann``)."""
    from pipeline.commands.repro import stage_name

    return {stage_name(address) for address in status}


def edit_params(path: Path, **sections: dict) -> None:
    """Deep-merge ``sections`` into the params.yaml at ``path``; a task's name stands for its section
    under ``tasks:`` (``churn={...}`` edits ``tasks.churn``)."""
    data = load_yaml(path.read_text())  # as DVC reads it: a file `dvc exp run -S` rewrote too
    tasks = {name: sections.pop(name) for name in list(sections) if name in data.get("tasks", {})}
    if tasks:
        sections["tasks"] = tasks

    def merge(base: dict, update: dict) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(data, sections)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables made, once per test process: creating them (MLflow's
    migrations) takes 3-6 s, copying the file a few milliseconds."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-store") / "mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store: Path) -> Path:
    """A temporary project root (cwd) holding a copy of params.yaml, with its own MLflow store."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(empty_mlflow_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    from pipeline.core.config import params

    params.cache_clear()
    yield tmp_path
    params.cache_clear()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium through Playwright (the page and MLflow UI tests); skips without either."""
    from pipeline.commands.browser import find_chromium, launch

    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's `chromium` (.ci/run does) or set $CHROMIUM to a binary")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, executable)
        yield browser
        browser.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiny e2e projects first (a real `dvc repro` each, minutes long): with `make test`'s
    `--dist loadfile --no-loadscope-reorder` a worker starts on one at once and the short files fill
    in behind, instead of a project starting last. A stable sort: each file's order holds."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/test_e2e"))
