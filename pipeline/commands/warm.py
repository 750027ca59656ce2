"""A warm process for the stages of one ``python -m pipeline repro``: the imports are paid once.

A stage is a fresh ``python -m pipeline <stage>`` that DVC starts, and most of a small stage's time
is its imports: TensorFlow and Keras (about 5 s of one core), MLflow, Great Expectations, shap,
scikit-learn. The default run has 88 stages, 32 of which import TensorFlow. So the runner starts
this process first: it imports those libraries once, then listens on a Unix socket (in a private
temporary folder) whose path it passes down in ``PIPELINE_WARM_SOCKET``. A stage's ``python -m
pipeline`` that finds the variable hands its arguments, working folder, environment and its
stdin, stdout and stderr (as file descriptors) to this process, which forks a child that runs the
stage there and reports its exit status. Nothing else changes: DVC starts, hashes and records
every stage as before, and the child runs the same ``pipeline.__main__.main`` with the same
arguments and environment.

A fork after these imports is safe because none of them ran a TensorFlow op, opened an MLflow
store or started a thread pool of their own: each child starts its runtimes itself, seeded by the
stage. Variables read when a library is imported (``TF_*``, ``OPENBLAS_*``...) must be those the
stage would have imported it with; when they differ, or when the process is not there (not started,
still importing, stopped), the stage runs as a plain process. ``python -m pipeline repro
--no-warm`` turns it off.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

SOCKET_ENV = "PIPELINE_WARM_SOCKET"
# libraries imported ahead of the stages, in this order (pipeline first: it sets TensorFlow's flags)
PRELOAD = (
    "pipeline",
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.metrics",
    "matplotlib.pyplot",
    "yaml",
    "git",
    "mlflow",
    "mlflow.pyfunc",
    "optuna",
    "onnx",
    "onnxruntime",
    "tensorflow",
    "keras",
    "tf2onnx",
    "great_expectations",
    "shap",
)
# variables a library reads when it is imported: a stage whose values differ runs as a plain process
IMPORT_TIME_PREFIXES = (
    "TF_",
    "TENSORFLOW_",
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "NUMBA_",
    "GX_",
    "MPLBACKEND",
    "PYTHON",
)
MAX_REQUEST_BYTES = 4 * 1024 * 1024
STAGE_LINE = "warm: ran "


def import_time_settings(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith(IMPORT_TIME_PREFIXES)}


# ------------------------------------------------------------------------------------ the client
def run_in_warm_process(argv: list[str]) -> int | None:
    """Run ``python -m pipeline <argv>`` in the warm process; its exit status, or None when there is
    no warm process to run it (the caller then runs the stage itself)."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        env = {key: value for key, value in os.environ.items() if key != SOCKET_ENV}
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": env}).encode("utf-8")
        socket.send_fds(connection, [len(request).to_bytes(8, "big")], [0, 1, 2])
        connection.sendall(request)
        answers = connection.makefile("r", encoding="utf-8")
        first = answers.readline().split()
    except OSError:
        connection.close()
        return None
    if not first or first[0] != "pid":
        connection.close()
        return None  # refused (import-time settings differ): run it here
    child = int(first[1])

    def forward(signum: int, _frame: Any) -> None:  # Ctrl-C, or DVC stopping the stage
        with suppress(ProcessLookupError):
            os.kill(child, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        last = answers.readline().split()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        connection.close()
    if not last or last[0] != "exit":
        print(f"error: the stage's process {child} stopped without an exit status (killed?)", file=sys.stderr)
        return 1
    return int(last[1])


# ------------------------------------------------------------------------------------ the runner
@contextmanager
def warm_process(root: Path, enabled: bool = True) -> Iterator[list[str]]:
    """The warm process, started for the ``dvc repro`` commands run inside the block (they inherit
    ``PIPELINE_WARM_SOCKET``) and stopped after it; yields the list of the stages it ran, filled in
    when the block ends."""
    ran: list[str] = []
    if not enabled or os.name != "posix":
        yield ran
        return
    folder = Path(tempfile.mkdtemp(prefix="pipeline-warm-"))  # 0700: only this user can connect
    log = folder / "stages.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.commands.warm", str(folder / "socket"), str(os.getpid())],
            cwd=root,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches the stages through their clients, not twice
        )
    os.environ[SOCKET_ENV] = str(folder / "socket")
    try:
        yield ran
    finally:
        os.environ.pop(SOCKET_ENV, None)
        process.terminate()
        process.wait(30)
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        ran += [line.removeprefix(STAGE_LINE) for line in lines if line.startswith(STAGE_LINE)]
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------ the server
def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(connection, 8, 3)
    size = int.from_bytes(header, "big")
    if len(header) != 8 or size > MAX_REQUEST_BYTES:
        raise ValueError("not a warm-process request")
    body = b""
    while len(body) < size:
        chunk = connection.recv(size - len(body))
        if not chunk:
            raise ValueError("request cut short")
        body += chunk
    return json.loads(body), list(fds)


def _child(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the stage's process, run it, report its exit status, exit."""
    code = 1
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
        sys.stderr.reconfigure(line_buffering=True)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [sys.argv[0], *request["argv"]]
        connection.sendall(f"pid {os.getpid()}\n".encode())
        from pipeline.__main__ import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the stage's own traceback, as a plain process shows it
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        try:
            connection.sendall(f"exit {code}\n".encode())
        finally:
            os._exit(code)


def serve(path: Path, runner: int) -> None:
    """Import PRELOAD, then fork a child per request on the socket at ``path``, until stopped or
    until the runner (process ``runner``) is gone, killed before it could stop this process."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    settings = import_time_settings(dict(os.environ))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))  # only now: a stage that comes earlier runs as a plain process
    listener.listen(16)
    listener.settimeout(1.0)
    while os.getppid() == runner:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(None)
        fds: list[int] = []
        try:
            request, fds = _receive(connection)
            if len(fds) != 3 or import_time_settings(request["env"]) != settings:
                connection.sendall(b"cold\n")
                continue
            print(STAGE_LINE + " ".join(request["argv"]), flush=True)  # the runner counts these
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _child(connection, request, fds)
        except (OSError, ValueError, KeyError):
            pass
        finally:
            connection.close()
            for fd in fds:
                os.close(fd)
    shutil.rmtree(path.parent, ignore_errors=True)  # the runner was killed: nobody else will


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
