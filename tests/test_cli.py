import subprocess
import sys
import time

from tests.conftest import REPO


def test_help_lists_every_stage_and_user_command_quickly_without_heavy_imports():
    code = (
        "import sys, time; t = time.perf_counter(); from pipeline.__main__ import main; main(['--help']);"
        "heavy = [m for m in ('tensorflow', 'keras', 'mlflow', 'great_expectations', 'onnxruntime')"
        " if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    elapsed = time.perf_counter() - started
    for name in (
        "ingest",
        "validate",
        "encode",
        "tune",
        "train",
        "evaluate",
        "export",
        "register",
        "predict",
        "promote",
        "serve",
        "bench",
    ):
        assert f"  {name} " in out
    assert "HEAVY []" in out
    assert elapsed < 10  # generous: the figure itself is measured in the README (about 0.05 s)


def test_unknown_command_exits_2():
    proc = subprocess.run([sys.executable, "-m", "pipeline", "fly"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown command 'fly'" in proc.stderr
