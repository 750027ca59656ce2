"""bench's server measurement: ``python -m pipeline serve`` in a subprocess under load.

:data:`SERVER_CLIENTS` keep-alive clients send single-row requests (p50/p99, requests/s and the
server's RSS), then the same clients while one more streams batches of :data:`STREAM_ROWS` rows (or
the most that ``serve.max_rows``/``max_body_bytes`` allow): the mixed-load row shows whether big
batches starve small requests (its single-row p99 should stay within 1.3 times the p99 alone). The
clients are separate processes on raw sockets (:mod:`pipeline.commands.loadgen`) sharing the same
cores as the server. The raw inputs are the
test split's encoded rows turned back into what a client sends, by the task's kind
(``pipeline.tasks.<kind>.bench_inputs``).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.commands.bench_report import Row, summarize
from pipeline.core.errors import PipelineError
from pipeline.encoders.base import Encoder
from pipeline.tasks import kind_named

SERVER_CLIENTS = 8
STREAM_ROWS = 1000  # rows per request of the client that streams big batches (mixed load)


def tile(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows, repeating the split when it is shorter."""
    return np.ascontiguousarray(x[np.arange(n) % len(x)])


def raw_inputs(encoder: Encoder, x: np.ndarray, n: int) -> list[Any]:
    """Raw rows/texts that encode back to ``x`` (for the server, which takes raw input)."""
    return kind_named(encoder.kind).bench_inputs(encoder, tile(x, n))


def start_server(task: str, model_dir: Path, threads: int = 1) -> tuple[subprocess.Popen, str]:
    root = str(Path(__file__).resolve().parents[2])  # the checkout holding the pipeline package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pipeline", "serve", task, "--model", str(model_dir)]
    cmd += ["--host", "127.0.0.1", "--port", "0", "--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if " on http://" not in line:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise PipelineError(f"the server for {model_dir} did not start: {line}{err}")
    return proc, line.split(" on ")[1].split()[0]


def wait_healthy(url: str, timeout_s: float = 30) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise PipelineError(f"{url}/health did not answer within {timeout_s:g} s")
        time.sleep(0.1)


def hammer(
    url: str, bodies: list[bytes], *, clients: int, requests: int, duration_s: float
) -> tuple[list[int], float, int]:
    """Closed-loop load from ``clients`` processes (:mod:`pipeline.commands.loadgen`); latencies (ns),
    wall time and failed requests."""
    from pipeline.commands import loadgen

    host, port = url.removeprefix("http://").split(":")
    return loadgen.run(host, int(port), bodies, clients=clients, requests=requests, duration_s=duration_s)


def stream_body(encoder: Encoder, x: np.ndarray, key: str, max_rows: int, max_body_bytes: int) -> bytes:
    """The biggest batch of up to :data:`STREAM_ROWS` rows that the server's limits accept."""
    n = min(STREAM_ROWS, max_rows)
    items = raw_inputs(encoder, x, n)
    while True:
        body = json.dumps({key: items[:n]}).encode()
        if len(body) <= max_body_bytes or n == 1:
            return body
        n = max(1, n * max_body_bytes // len(body) * 9 // 10)


def bench_server(
    name: str,
    task: str,
    model_dir: Path,
    encoder: Encoder,
    x: np.ndarray,
    *,
    requests: int,
    duration_s: float,
) -> tuple[list[Row], dict[str, Any]]:
    """The server under :data:`SERVER_CLIENTS` single-row clients; then the same clients while
    one more streams big batches (mixed load: are small requests starved by big ones?)."""
    from pipeline.commands.serve import serve_settings

    limits = serve_settings()
    key = kind_named(encoder.kind).request_key()
    items = raw_inputs(encoder, x, 64)
    if encoder.whole_request:  # an item is a whole request (a series' history): no bigger batch
        bodies = [json.dumps({key: item}).encode() for item in items]
        big = bodies[0]
    else:
        bodies = [json.dumps({key: [item]}).encode() for item in items]
        big = stream_body(encoder, x, key, limits.max_rows, limits.max_body_bytes)
    batch_rows = len(json.loads(big)[key])
    load = measure_server(task, model_dir, bodies, big, requests=requests, duration_s=duration_s)
    return server_rows(name, load, batch_rows), server_extra(name, load, batch_rows)


def measure_server(
    task: str, model_dir: Path, bodies: list[bytes], big: bytes, *, requests: int, duration_s: float
) -> dict[str, Any]:
    """Start the server, load it with single-row ``bodies`` alone and then beside a client
    streaming ``big``, stop it with SIGTERM: the raw latencies, walls, failures and memory."""
    import psutil

    from pipeline.commands import loadgen

    proc, url = start_server(task, model_dir)
    host, port = url.removeprefix("http://").split(":")
    load: dict[str, Any] = {}
    try:
        wait_healthy(url)
        process = psutil.Process(proc.pid)
        load["rss_idle"] = process.memory_info().rss
        load["single"] = hammer(url, bodies, clients=SERVER_CLIENTS, requests=requests, duration_s=duration_s)
        load["rss_loaded"] = process.memory_info().rss
        load["rss_worker"] = sum(child.memory_info().rss for child in process.children(recursive=True))
        load["mixed"] = loadgen.run_mixed(
            host,
            int(port),
            bodies,
            clients=SERVER_CLIENTS,
            requests=requests,
            duration_s=duration_s,
            background=[big],
        )
        maps = process.memory_maps() if hasattr(process, "memory_maps") else []
        load["loaded"] = {m.path for m in maps}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            load["code"] = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            load["code"] = proc.wait()
    return load


def server_rows(name: str, load: dict[str, Any], batch_rows: int) -> list[Row]:
    """The ``server_8_clients`` and ``server_8_clients_mixed`` rows of a :func:`measure_server`."""
    lat, wall, _ = load["single"]
    mixed_lat, mixed_wall, _, batch_lat, _ = load["mixed"]
    p50, p99, _ = summarize(lat, 1)
    row = Row(name, f"server_{SERVER_CLIENTS}_clients", 1, p50, p99, len(lat) / wall, len(lat))
    row.note = (
        f"rss={load['rss_loaded'] / 2**20:.0f}MiB, big-batch worker {load['rss_worker'] / 2**20:.0f}MiB"
    )
    m50, m99, _ = summarize(mixed_lat, 1)
    b50, _, _ = summarize(batch_lat, batch_rows) if batch_lat else (float("nan"),) * 3
    mixed_row = Row(
        name,
        f"server_{SERVER_CLIENTS}_clients_mixed",
        1,
        m50,
        m99,
        len(mixed_lat) / mixed_wall,
        len(mixed_lat),
        f"+1 client streaming {batch_rows}-row batches: {len(batch_lat) / mixed_wall:.1f}/s, "
        f"p50 {b50:.1f} ms",
    )
    return [row, mixed_row]


def server_extra(name: str, load: dict[str, Any], batch_rows: int) -> dict[str, Any]:
    """``bench_extra.json``'s ``server`` entry of a :func:`measure_server`."""
    lat, wall, failed = load["single"]
    mixed_lat, mixed_wall, mixed_failed, batch_lat, batch_failed = load["mixed"]
    p50, p99, _ = summarize(lat, 1)
    m50, m99, _ = summarize(mixed_lat, 1)
    b50, b99, _ = summarize(batch_lat, batch_rows) if batch_lat else (float("nan"),) * 3
    return {
        "model": name,
        "clients": SERVER_CLIENTS,
        "requests": len(lat),
        "failed": failed,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests_per_s": len(lat) / wall,
        "rss_idle_mib": load["rss_idle"] / 2**20,
        "rss_after_mib": load["rss_loaded"] / 2**20,
        "rss_worker_mib": load["rss_worker"] / 2**20,  # the big-batch worker process (and its helpers)
        "tensorflow_loaded": any("tensorflow" in p for p in load["loaded"]),
        "exit_code_after_sigterm": load["code"],
        "mixed": {
            "batch_rows": batch_rows,
            "requests": len(mixed_lat),
            "failed": mixed_failed,
            "p50_ms": m50,
            "p99_ms": m99,
            "requests_per_s": len(mixed_lat) / mixed_wall,
            "batches": len(batch_lat),
            "batches_failed": batch_failed,
            "batch_p50_ms": b50,
            "batch_p99_ms": b99,
        },
    }
