"""Clients that send huge headers to ``python -m pipeline serve``: does the server's memory stay put,
and does ``/health`` keep answering?

Starts the server (on ``--model``, else on a tiny churn model built from ``tests/tiny_models.py``
in a temporary directory), reads its RSS, then runs ``--rounds`` rounds of ``--clients`` threads,
each sending a request whose one header is ``--header-mb`` MB long in 64 KiB writes (stopping when
the server answers or closes). Prints, per round, what the clients got back, how many bytes they
managed to send, the server's RSS after the round, and ``GET /health``.

    python benchmarks/big_headers.py                                  # 16 clients x 30 MB, 2 rounds
    python benchmarks/big_headers.py --model models/sentiment/lstm --task sentiment
    python benchmarks/big_headers.py --max-header-bytes 100000000     # without the cap, for contrast

Before ``serve.max_header_bytes``, 16 clients x 30 MB took the sentiment server from 291 MB to
1.01 GB (issue 25). Exits 1 when the RSS grew by more than ``--budget-mb`` or /health failed.
Writes nothing outside a temporary directory.
"""

from __future__ import annotations

import argparse
import http.client
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITE = 65_536


def start_server(task: str, model: Path, extra: list[str]) -> tuple[subprocess.Popen, str, int]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "pipeline", "serve", task, "--model", str(model), "--port", "0", *extra]
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if " on http://" not in line:
        proc.kill()
        sys.exit(f"the server did not start: {line}")
    host, port = line.split(" on http://")[1].split()[0].split(":")
    return proc, host, int(port)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def big_header_client(address: tuple[str, int], size: int, results: list[tuple[str, int]]) -> None:
    """Send the big header in writes, looking for an answer after each; the first line of the
    answer (or what ended the exchange) and the bytes sent before it."""
    sent, status = 0, "no answer"
    chunk = b"a" * WRITE
    try:
        with socket.create_connection(address, timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < size:
                if select.select([sock], [], [], 0)[0]:  # the server answered before the end
                    break
                sock.sendall(chunk)
                sent += WRITE
            else:
                sock.sendall(b"\r\n\r\n")
            status = sock.recv(200).split(b"\r\n")[0].decode() or "closed"
    except OSError as exc:
        status = f"{type(exc).__name__}"
    results.append((status, sent))


def health(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/health")
        return str(conn.getresponse().status)
    except OSError as exc:
        return f"failed: {exc}"
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: a tiny churn model)")
    parser.add_argument("--task", default="churn")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--header-mb", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--budget-mb", type=float, default=50, help="allowed RSS growth")
    parser.add_argument("--max-header-bytes", type=int, help="passed to serve")
    args = parser.parse_args()
    extra = [] if args.max_header_bytes is None else ["--max-header-bytes", str(args.max_header_bytes)]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            sys.path.insert(0, str(ROOT / "tests"))
            sys.path.insert(0, str(ROOT))
            from tiny_models import churn_model_dir

            model = churn_model_dir(Path(tmp))
        proc, host, port = start_server(args.task, model, extra)
        try:
            return run_rounds(args, proc.pid, host, port)
        finally:
            proc.terminate()
            proc.wait(30)


def run_rounds(args: argparse.Namespace, pid: int, host: str, port: int) -> int:
    print(f"health {health(host, port)}")  # one request first, so that the start is warm
    start = rss_mb(pid)
    print(f"server RSS at start: {start:.1f} MB")
    size, worst, ok = int(args.header_mb * 1e6), start, True
    for n in range(1, args.rounds + 1):
        results: list[tuple[str, int]] = []
        threads = [
            threading.Thread(target=big_header_client, args=((host, port), size, results))
            for _ in range(args.clients)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - began
        time.sleep(0.5)
        now, answer = rss_mb(pid), health(host, port)
        worst, ok = max(worst, now), ok and answer == "200"
        statuses = sorted({status for status, _ in results})
        print(
            f"round {n}: {args.clients} clients x {args.header_mb:g} MB header in {took:.1f} s; "
            f"they got {statuses}; sent at most {max(s for _, s in results) / 1e6:.2f} MB each before it; "
            f"server RSS {now:.1f} MB ({now - start:+.1f}); /health {answer}"
        )
    grew, verdict = worst - start, "ok" if ok else "FAILED"
    print(f"largest RSS growth: {grew:+.1f} MB (budget {args.budget_mb:g} MB); /health {verdict}")
    return 0 if ok and grew <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
