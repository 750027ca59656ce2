"""services: a throwaway local stack for working beyond one machine, all on loopback.

``up`` starts, in a project-local folder (default ``.services/``, git-ignored):

- a PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` + ``pg_ctl``) with one
  database for Optuna studies (``optuna``) and one for the MLflow server (``mlflow``);
- an S3-compatible server, moto (``moto[server]``), with the bucket ``pipeline``;
- ``mlflow server`` with its backend store on PostgreSQL and ``--artifacts-destination
  s3://pipeline/mlartifacts`` (clients log artifacts through the server, which writes them to the
  bucket; nothing goes to a local ``mlartifacts/``).

It prints the environment to export (``eval "$(python -m pipeline services env)"``) and refuses
to start over a running stack. ``down`` stops everything and deletes the folder: the stack is
throwaway (moto keeps its objects in memory, so runs in PostgreSQL would point at lost artifacts).

PostgreSQL refuses to run as root: as root, the cluster is created and run as the ``postgres``
user (``runuser``), which must be able to reach the folder. Ports are free ones picked at ``up``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core import paths
from pipeline.core.errors import PipelineError

BUCKET = "pipeline"
DB_USER = "pipeline"
DATABASES = ("optuna", "mlflow")
# moto accepts any credentials; real S3 gets real ones from the usual AWS variables or files
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
STATE_FILE = "stack.json"
START_TIMEOUT_S = 300  # mlflow server migrating a fresh database takes a while on a busy machine


class ServicesError(PipelineError):
    pass


@dataclass(frozen=True)
class Stack:
    """What ``up`` started: enough for ``env`` to print and ``down`` to stop it."""

    folder: str
    pg_bin: str
    pg_port: int
    s3_port: int
    mlflow_port: int
    s3_pid: int
    mlflow_pid: int

    @property
    def pg_data(self) -> Path:
        return Path(self.folder) / "postgres"

    def database_url(self, name: str) -> str:
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the group installs psycopg2
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.pg_port}/{name}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "OPTUNA_STORAGE": self.database_url("optuna"),
            **S3_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.s3_endpoint,  # boto3 and DVC's S3 remote
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,  # MLflow's own S3 client
        }


def default_folder() -> Path:
    return paths.project_root() / ".services"


# ------------------------------------------------------------------ processes
def pg_bin_dir() -> Path:
    """The folder holding ``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    if not versions:
        raise ServicesError("pg_ctl not found: install PostgreSQL (Debian: apt-get install -y postgresql)")
    return versions[0].parent


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL's server programs refuse root; as root they run as the ``postgres`` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    if pid <= 0:  # never started (os.kill(0, ...) would signal our own group)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(cmd: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        hint = f"; see {log}" if log else ""
        raise ServicesError(f"{what} failed (exit {proc.returncode}): {tail}{hint}")


def wait_http(url: str, what: str, pid: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive(pid):
            raise ServicesError(f"{what} exited at start; see {log}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise ServicesError(f"{what} did not answer {url} within {START_TIMEOUT_S} s; see {log}")


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start a server in its own process group (``down`` stops the group: workers included)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return proc.pid


def stop_group(pid: int, timeout_s: float = 5) -> None:
    """SIGTERM to the group, SIGKILL after ``timeout_s`` (the stack is throwaway)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        _reap(pid)
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@contextmanager
def stopped_on_error(pid: int) -> Iterator[None]:
    """A server that started but failed its checks is stopped before the error goes on."""
    try:
        yield
    except BaseException:
        stop_group(pid)
        raise


def _reap(pid: int) -> None:
    """Collect our own child's exit status (when ``up`` and ``down`` run in one process)."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# ----------------------------------------------------------------- the stack
def start_postgres(folder: Path, bin_dir: Path, port: int) -> None:
    data, log = folder / "postgres", folder / "postgres.log"
    data.mkdir(mode=0o700)
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(log, "postgres", "postgres")
        reach = subprocess.run(as_postgres(["test", "-w", str(data)]), check=False)
        if reach.returncode != 0:
            raise ServicesError(
                f"{data}: the postgres user cannot reach it (PostgreSQL does not run as root); "
                f"make its parent folders traversable (chmod o+x) or pass --dir elsewhere"
            )
    run(
        as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        "initdb",
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    run(
        as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
        "pg_ctl start",
        log,
    )
    for name in DATABASES:
        run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, name], "createdb")


def start_s3(folder: Path, port: int) -> int:
    log = folder / "moto.log"
    pid = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log)
    endpoint = f"http://127.0.0.1:{port}"
    with stopped_on_error(pid):
        wait_http(f"{endpoint}/moto-api/", "moto", pid, log)
        create_bucket(endpoint)
    return pid


def create_bucket(endpoint: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    s3.create_bucket(Bucket=BUCKET)


def start_mlflow(folder: Path, stack: Stack) -> int:
    log = folder / "mlflow.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        stack.database_url("mlflow"),
        "--artifacts-destination",
        f"s3://{BUCKET}/mlartifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(stack.mlflow_port),
        "--workers",
        "1",
    ]
    env = {**os.environ, **stack.env()}
    env.pop("MLFLOW_TRACKING_URI")
    pid = spawn(cmd, log, env)
    with stopped_on_error(pid):
        wait_http(f"{stack.tracking_uri}/health", "mlflow server", pid, log)
    return pid


def read_stack(folder: Path) -> Stack | None:
    state = folder / STATE_FILE
    if not state.is_file():
        return None
    return Stack(**json.loads(state.read_text()))


def is_running(stack: Stack) -> bool:
    return alive(stack.s3_pid) or alive(stack.mlflow_pid) or (stack.pg_data / "postmaster.pid").is_file()


def up(folder: Path) -> Stack:
    """Start the stack in ``folder``; refuse when one is running there."""
    folder = folder.resolve()
    existing = read_stack(folder)
    if existing is not None and is_running(existing):
        raise ServicesError(
            f"a stack is already running from {folder} (mlflow {existing.tracking_uri}); "
            f"'python -m pipeline services down' first"
        )
    if folder.exists():
        shutil.rmtree(folder)  # what a stopped or failed stack left
    bin_dir = pg_bin_dir()
    folder.mkdir(parents=True)
    (folder / ".gitignore").write_text("*\n")
    ports = {name: free_port() for name in ("pg_port", "s3_port", "mlflow_port")}
    stack = Stack(folder=str(folder), pg_bin=str(bin_dir), s3_pid=0, mlflow_pid=0, **ports)
    try:
        start_postgres(folder, bin_dir, stack.pg_port)
        stack = Stack(**{**asdict(stack), "s3_pid": start_s3(folder, stack.s3_port)})
        (folder / STATE_FILE).write_text(json.dumps(asdict(stack), indent=2))
        stack = Stack(**{**asdict(stack), "mlflow_pid": start_mlflow(folder, stack)})
    except BaseException:
        stop(stack)  # the logs stay in the folder for a look
        raise
    (folder / STATE_FILE).write_text(json.dumps(asdict(stack), indent=2))
    return stack


def stop(stack: Stack) -> None:
    for pid in (stack.mlflow_pid, stack.s3_pid):
        if pid:
            stop_group(pid)
    if (stack.pg_data / "postmaster.pid").is_file():
        run(
            as_postgres(
                [str(Path(stack.pg_bin) / "pg_ctl"), "-D", str(stack.pg_data), "-m", "fast", "-w", "stop"]
            ),
            "pg_ctl stop",
        )


def down(folder: Path) -> bool:
    """Stop whatever the stack in ``folder`` runs and delete the folder; False when there was none."""
    folder = folder.resolve()
    stack = read_stack(folder)
    if stack is None:
        return False
    stop(stack)
    shutil.rmtree(folder)
    return True


def exports(stack: Stack) -> str:
    lines = [f"export {key}={shlex.quote(value)}" for key, value in stack.env().items()]
    lines += [
        '# tune workers: python -m pipeline tune TASK ARCH --storage "$OPTUNA_STORAGE"',
        f"# DVC remote:   dvc remote add -d stack s3://{BUCKET}/dvc && "
        f"dvc remote modify stack endpointurl {stack.s3_endpoint}",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("up", "down", "env"))
    parser.add_argument("--dir", type=Path, help="the stack's folder (default: .services/ in the project)")
    args = parser.parse_args(argv)
    folder = (args.dir or default_folder()).resolve()
    if args.action == "up":
        stack = up(folder)
        print(f"# stack running from {folder}; stop it with 'python -m pipeline services down'")
        print(exports(stack))
    elif args.action == "down":
        print(f"stopped the stack in {folder}" if down(folder) else f"no stack in {folder}; nothing to stop")
    else:
        stack = read_stack(folder)
        if stack is None or not is_running(stack):
            raise ServicesError(f"no stack running from {folder}; 'python -m pipeline services up' first")
        print(exports(stack))
    return 0
