"""``python -m pipeline repro``'s warm process: a stage runs in a forked child of a process that
imported the heavy libraries once, with the stage's own arguments, output and exit status, and a
stage that cannot use it runs as a plain process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.commands.warm import SOCKET_ENV, warm_process

ROOT = Path(__file__).resolve().parents[1]
STAGE = [sys.executable, "-m", "pipeline", "synthesize"]


def wait_for(path: Path, present: bool = True, seconds: float = 240) -> None:
    """Until ``path`` exists (the warm process listens once its imports are done) or is gone."""
    deadline = time.monotonic() + seconds
    while path.exists() != present:
        assert time.monotonic() < deadline, f"{path} {'never appeared' if present else 'stayed'}"
        time.sleep(0.2)


def stage(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STAGE, *args], cwd=ROOT, env=os.environ | env, capture_output=True, text=True)


def test_a_stage_runs_in_the_warm_process_with_its_own_output_and_exit_status():
    plain = stage(["--help"])
    with warm_process(ROOT) as ran:
        wait_for(Path(os.environ[SOCKET_ENV]))
        helped = stage(["--help"])
        refused = stage(["churn", "--no-such-flag"])
        other_flags = stage(["--help"], TF_CPP_MIN_LOG_LEVEL="1")  # TensorFlow read "3" at its import
    assert helped.returncode == 0 and helped.stdout == plain.stdout
    assert refused.returncode == 2 and "unrecognized arguments: --no-such-flag" in refused.stderr
    assert other_flags.returncode == 0 and other_flags.stdout == plain.stdout
    assert ran == ["synthesize --help", "synthesize churn --no-such-flag"]  # the third ran as a plain process
    assert SOCKET_ENV not in os.environ


def test_without_a_warm_process_a_stage_runs_as_a_plain_process(tmp_path):
    missing = stage(["--help"], **{SOCKET_ENV: str(tmp_path / "no-socket")})
    assert missing.returncode == 0 and "usage: python -m pipeline synthesize" in missing.stdout


def test_the_warm_process_stops_when_its_runner_is_killed():
    script = (
        "import os, time; from pathlib import Path\n"
        "from pipeline.commands.warm import SOCKET_ENV, warm_process\n"
        "with warm_process(Path.cwd()):\n"
        "    print(os.environ[SOCKET_ENV], flush=True); time.sleep(600)"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert runner.stdout is not None
    socket_path = Path(runner.stdout.readline().strip())
    try:
        wait_for(socket_path)
    finally:
        runner.send_signal(signal.SIGKILL)  # no `finally` of its own runs
        runner.wait()
    wait_for(socket_path.parent, present=False, seconds=30)  # the warm process saw it go, and left
