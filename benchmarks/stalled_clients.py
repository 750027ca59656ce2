"""Slow and idle clients against ``python -m pipeline serve``: are they all closed in time, and does
``/health`` keep answering meanwhile?

Starts the server on a model directory with every timeout set to ``--timeout`` seconds, opens
``--connections`` sockets that stall in turn in each of five ways (send nothing; half the headers;
the headers and half the body; one request then idle on keep-alive; one request then blank lines
every 0.1 s), and polls ``GET /health`` on a new connection every 50 ms until every stalled socket
is closed. Prints, per kind, what the server answered and how long after the stall it closed the
connection, the /health answers and their worst latency, and the server's open file descriptors.

    python benchmarks/stalled_clients.py --model models/churn/ann              # 500 connections
    python benchmarks/stalled_clients.py --model models/sentiment/lstm --task sentiment --timeout 5

Exits 1 when a socket is still open ``--timeout`` + ``--slack`` seconds after its stall, or a
/health check failed. Needs only the standard library and the ``pipeline`` package; writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the stalled-client helpers are the ones tests/test_serve.py uses

from pipeline.commands.loadgen import Stalls  # noqa: E402  (standard library only)

POST = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
GET = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
KINDS = {  # what the client sends first, then what it drips every 0.1 s (if anything)
    "silent": (b"", b""),
    "half-headers": (POST + b"Content-Le", b""),
    "half-body": (POST + b'Content-Length: 100\r\n\r\n{"instances": [', b""),
    "idle-keep-alive": (GET, b""),
    "blank-lines": (GET, b"\r\n"),
}


def start_server(task: str, model: Path, timeout: float, connections: int) -> tuple[subprocess.Popen, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "pipeline", "serve", task, "--model", str(model), "--port", "0"]
    for flag in ("--header-timeout", "--body-timeout", "--idle-timeout"):
        cmd += [flag, str(timeout)]
    cmd += ["--max-connections", str(connections)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if " on http://" not in line:
        proc.kill()
        sys.exit(f"the server did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split(" on http://")[1].split()[0]


def health(address: tuple[str, int]) -> tuple[int, float]:
    """The status of GET /health on a new connection (0 when it failed) and its latency (s)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    except OSError:
        return 0, time.perf_counter() - start
    finally:
        conn.close()


def open_fds(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return None


def run(args: argparse.Namespace) -> int:
    proc, hostport = start_server(args.task, args.model, args.timeout, args.max_connections)
    host, port = hostport.rsplit(":", 1)
    address = (host, int(port))
    stalls = Stalls()
    checks: list[tuple[int, float]] = []
    fds: dict[str, int | None] = {"before": open_fds(proc.pid)}
    peak, next_check = 0, 0.0

    def check() -> None:  # /health on a new connection, and the server's open files, every 50 ms
        nonlocal peak, next_check
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + 0.05
            checks.append(health(address))
            peak = max(peak, open_fds(proc.pid) or 0)

    try:
        names = list(KINDS)
        for i in range(args.connections):
            kind = names[i % len(names)]
            first, drip = KINDS[kind]
            stalls.open(address, kind, first, drip)
        stalls.watch(time.monotonic() + args.timeout + args.slack, check, poll_s=0.01)
        checks.append(health(address))
        fds["peak"] = peak
        time.sleep(0.5)
        fds["0.5 s after the last close"] = open_fds(proc.pid)
    finally:
        stalls.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    print(f"{args.connections} stalled connections, timeouts {args.timeout:g} s, {args.task} at {args.model}")
    header = f"{'kind':<16} {'n':>4}  {'answer':<10} {'closed after (s): min':>22}"
    print(f"{header} {'median':>7} {'max':>6}  open")
    failed = False
    for kind in KINDS:
        group = [c for c in stalls.clients if c.kind == kind]
        closed = sorted(c.closed_after for c in group if c.closed_after is not None)
        answers = sorted({c.answer for c in group})
        still_open = len(group) - len(closed)
        failed |= still_open > 0
        stats = f"{closed[0]:22.2f} {closed[len(closed) // 2]:7.2f} {closed[-1]:6.2f}" if closed else " " * 37
        print(f"{kind:<16} {len(group):>4}  {','.join(answers):<10} {stats}  {still_open}")
    statuses = [s for s, _ in checks]
    bad = sum(s != 200 for s in statuses)
    failed |= bad > 0
    worst = max(t for _, t in checks) * 1e3
    print(f"/health: {len(checks)} checks on new connections, {bad} not 200, slowest {worst:.1f} ms")
    print("server file descriptors: " + ", ".join(f"{k} {v}" for k, v in fds.items()))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/churn/ann"), help="a model directory")
    parser.add_argument("--task", default="churn", choices=("churn", "sentiment"))
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=2.0, help="header, body and idle timeout (s)")
    parser.add_argument("--max-connections", type=int, default=1000, help="serve.max_connections")
    parser.add_argument("--slack", type=float, default=2.0, help="seconds allowed past the timeout")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
