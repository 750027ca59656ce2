"""The docs' commands run as written: the README's quick start and --help block, the walk-through.

A command block that a test runs is marked in the Markdown by an HTML comment just above it,
``<!-- doc-test: NAME -->`` (invisible on GitHub and on the mkdocs site). The quick suite runs the
walk-through against a throw-away MLflow registry holding a tiny churn model (the text tasks'
lines against tiny local models); the slow test runs the quick start and then the walk-through
verbatim in a fresh clone of this repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from tests.conftest import REPO
from tests.test_registry import _trained
from tests.tiny_models import nextword_model_dir, sentiment_model_dir, topics_model_dir

MARKED_BLOCK = re.compile(r"^<!-- doc-test: (\S+) -->\n(?:<!--.*-->\n)*```bash\n(.*?)^```", re.S | re.M)
DOC_PORT = "5000"  # the port the docs serve on, replaced by a free one here
BIN = Path(sys.executable).parent


def marked_blocks() -> dict[str, str]:
    """Every marked command block of the README and docs/, by name."""
    blocks: dict[str, str] = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for name, body in MARKED_BLOCK.findall(path.read_text()):
            assert name not in blocks, f"{name} is marked twice"
            blocks[name] = body
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(script: str, cwd: Path, timeout: float, env: dict[str, str] | None = None):
    """``script`` under bash -e in ``env`` (default: this one), with this environment's python first
    on the PATH, as `source .venv/bin/activate` leaves it; background jobs it leaves (a server,
    when a later line failed) are stopped on the way out."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    wrapped = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    return subprocess.run(
        ["bash", "-c", wrapped], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def check_walk_through_output(result: subprocess.CompletedProcess, cwd: Path) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scored = pd.read_csv(cwd / "scored.csv")
    assert len(scored) == len(pd.read_csv(REPO / "examples" / "churn.csv"))
    assert scored["probability"].between(0, 1).all() and set(scored["prediction"]) <= {0, 1}
    answer = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert 0 <= answer["predictions"][0]["probability"] <= 1, answer
    for text in ["not good at all", "oil prices rose", "to be or not to"]:  # one line of each example
        assert text in result.stdout


def test_the_readme_help_block_is_the_real_output():
    readme = (REPO / "README.md").read_text()
    shown = re.search(r"^`python -m pipeline --help`.*\n\n```\n(.*?)^```", readme, re.S | re.M)
    assert shown, "the README has no --help block"
    real = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert shown.group(1) == real.stdout


def test_the_quick_start_and_the_walk_through_are_marked_for_these_tests():
    blocks = marked_blocks()
    assert blocks["quickstart"].split("\n")[0].startswith("make repro")
    walk = blocks["walkthrough"]
    for command in ["promote churn", "predict churn --input examples/", "serve churn --port 5000", "curl"]:
        assert command in walk
    for name in re.findall(r"examples/[\w.]+", walk):
        assert (REPO / name).is_file(), f"the walk-through names {name}, which does not ship"


def test_the_walk_through_runs_against_a_registry(project: Path):
    """Every line of the walk-through, with the churn model registered as `make repro` leaves it
    (a challenger, no champion) in a throw-away registry; promote and predict of the text tasks,
    whose registration needs a trained model, are run on tiny local models instead."""
    _trained(project, val_auc=0.86, test_auc=0.85)
    assert cli(["register", "churn"]) == 0
    shutil.copytree(REPO / "examples", project / "examples")
    local = {
        "sentiment": sentiment_model_dir(project),
        "topics": topics_model_dir(project),
        "nextword": nextword_model_dir(project),
    }
    lines = []
    for line in marked_blocks()["walkthrough"].replace(DOC_PORT, str(free_port())).splitlines():
        task = re.match(r"python -m pipeline (promote|predict) (\w+)", line)
        if task and task.group(2) in local:
            if task.group(1) == "promote":
                continue
            line = line.replace(task.group(0), f"{task.group(0)} --model {local[task.group(2)]}")
        lines.append(line)
    result = run_script("\n".join(lines), project, timeout=180)
    check_walk_through_output(result, project)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_fresh_clone_runs_the_quick_start_and_the_walk_through(tmp_path: Path):
    """The README's quick start (`make repro`; `make test` is what runs this) and then the
    walk-through, verbatim but for the port, in a clone of this commit. The clone uses this
    checkout's environment: its pyproject.toml is dated before the install stamp, so make
    installs nothing."""
    clone = tmp_path / "clone"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", head.stdout.strip()], cwd=clone, check=True)
    (clone / ".venv").symlink_to(BIN.parent)
    os.utime(clone / "pyproject.toml", (0, 0))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MLFLOW_", "DVC_"))}
    quick_start = [
        line for line in marked_blocks()["quickstart"].splitlines() if not line.startswith("make test")
    ]
    steps = "\n".join(quick_start) + "\n" + marked_blocks()["walkthrough"].replace(DOC_PORT, str(free_port()))
    result = run_script(steps, clone, timeout=1800, env=env)
    check_walk_through_output(result, clone)
