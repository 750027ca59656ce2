"""Every stage in dvc.yaml depends on all the project code it runs.

The imports of a stage's module are followed statically (function-level imports included, since
the stages import heavy libraries lazily), transitively through the ``pipeline`` package. Each
module reached must sit under one of the stage's ``deps``, or an edit to it would leave the
stage's outputs stale without ``dvc status`` noticing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pipeline.__main__ import STAGES, user_commands
from tests.conftest import REPO


def module_file(name: str) -> Path:
    path = REPO / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def project_imports(name: str) -> set[str]:
    """Modules of the ``pipeline`` package that ``name`` imports, anywhere in its body."""
    tree = ast.parse(module_file(name).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from pipeline.core import paths`` imports the module pipeline.core.paths
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    # importing pipeline.a.b runs pipeline/__init__.py and pipeline/a/__init__.py first
    found |= {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return {m for m in found if m.split(".")[0] == "pipeline" and module_file(m).exists()}


def closure(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += project_imports(current)
    return seen


def stage_commands() -> dict[str, tuple[str, list[str]]]:
    """Each stage of dvc.yaml and dag/*/dvc.yaml: the pipeline command it runs and its deps (as written)."""
    stages = {}
    for path in [REPO / "dvc.yaml", *sorted((REPO / "dag").glob("*/dvc.yaml"))]:
        stages.update(yaml.safe_load(path.read_text())["stages"])
    out = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        words = body["cmd"].split()
        assert words[:3] == ["python", "-m", "pipeline"], f"{name}: unexpected cmd {body['cmd']!r}"
        out[name] = (words[3], body.get("deps", []))
    return out


@pytest.mark.parametrize("stage", sorted(stage_commands()))
def test_a_stage_depends_on_every_project_module_it_imports(stage: str) -> None:
    command, deps = stage_commands()[stage]
    module = STAGES[command][0] if command in STAGES else user_commands()[command][0]  # score@<task>
    modules = closure("pipeline.__main__") | closure(module)
    covered = [REPO / d for d in deps if not d.startswith("${")]
    missing = sorted(
        str(module_file(m).relative_to(REPO))
        for m in modules
        if not any(module_file(m) == c or c in module_file(m).parents for c in covered)
    )
    assert not missing, f"dvc.yaml stage {stage!r} runs code it does not depend on: {missing}"


def test_the_import_walk_sees_function_level_imports() -> None:
    # train imports TensorFlow-side code only inside its functions; the walk must still see it
    assert "pipeline.modeling.models" in closure("pipeline.stages.train")


def test_a_stage_run_never_imports_the_user_commands(tmp_path: Path) -> None:
    # every stage depends on pipeline/__main__.py but not on pipeline/commands: adding a user
    # command must not make every stage stale, so a stage's run must not read that table either
    import subprocess
    import sys

    probe = (
        "import sys\nfrom pipeline.__main__ import main\ntry:\n    main(['validate', '--help'])\n"
        "except SystemExit:\n    pass\nprint('pipeline.commands' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
