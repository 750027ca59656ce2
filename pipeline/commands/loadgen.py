"""A small closed-loop HTTP load generator for ``bench``: N client processes, one keep-alive
connection each, a new request as soon as the previous answer is in.

Processes with raw sockets and pre-built requests, in the manner of ``wrk``: the clients share
the machine's cores with the server under test, so they must cost little and never queue for
their own GIL, or their overhead would be counted as the server's latency. Standard library only,
so that each spawned client starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def request_bytes(host: str, port: int, body: bytes, path: str = "/invocations") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def read_response(sock: socket.socket, pending: bytes) -> tuple[int, bytes]:
    """Read one HTTP response that has a Content-Length; its status and the bytes after it."""
    while (end := pending.find(b"\r\n\r\n")) < 0:
        pending += _recv(sock)
    head = pending[:end].decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in head[1:])
    length = next((int(v) for k, _, v in fields if k.strip().lower() == "content-length"), 0)
    total = end + 4 + length
    while len(pending) < total:
        pending += _recv(sock)
    return int(head[0].split()[1]), pending[total:]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def _client(
    address: tuple[str, int],
    requests: list[bytes],
    first: int,
    limit: int,
    duration_s: float,
    ready: Any,
    results: Any,
    stop: Any = None,
) -> None:
    """One connection in a closed loop: up to ``limit`` requests or ``duration_s`` seconds, or,
    given ``stop`` (a background client), until that event is set."""
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    for request in requests[:3]:  # connect and warm up before the clock starts
        sock.sendall(request)
        _, pending = read_response(sock, pending)
    ready.wait()
    stop_at = time.perf_counter() + duration_s
    latencies, failed = [], 0
    i, background = first, stop is not None
    while (not stop.is_set()) if background else i < first + limit:
        start = time.perf_counter_ns()
        sock.sendall(requests[i % len(requests)])
        status, pending = read_response(sock, pending)
        latencies.append(time.perf_counter_ns() - start)
        failed += status != 200
        i += 1
        if not background and time.perf_counter() >= stop_at:
            break
    sock.close()
    results.put((latencies, failed))


def run(
    host: str, port: int, bodies: list[bytes], *, clients: int, requests: int, duration_s: float
) -> tuple[list[int], float, int]:
    """``clients`` processes send POST requests with ``bodies`` in turn, each up to ``requests``
    times or for ``duration_s`` seconds. Returns every latency (ns), the wall time of the timed
    part and the number of answers other than 200."""
    latencies, wall, failed, _, _ = run_mixed(
        host, port, bodies, clients=clients, requests=requests, duration_s=duration_s
    )
    return latencies, wall, failed


def run_mixed(
    host: str,
    port: int,
    bodies: list[bytes],
    *,
    clients: int,
    requests: int,
    duration_s: float,
    background: list[bytes] | None = None,
    background_clients: int = 1,
) -> tuple[list[int], float, int, list[int], int]:
    """:func:`run`, while ``background_clients`` more processes send ``background`` bodies (e.g.
    big batches) in a closed loop from before the clock starts until the timed clients are done.
    Returns the timed clients' latencies (ns), wall time and failures, then the background
    clients' latencies and failures."""
    prepared = [request_bytes(host, port, body) for body in bodies]
    streamed = [request_bytes(host, port, body) for body in background or []]
    n_background = background_clients if streamed else 0
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
    ready = context.Barrier(clients + n_background + 1)  # all connected and warm before the clock
    results, background_results, stop = context.Queue(), context.Queue(), context.Event()
    address = (host, int(port))
    procs = [
        context.Process(
            target=_client,
            args=(address, prepared, k * requests, requests, duration_s, ready, results),
            daemon=True,
        )
        for k in range(clients)
    ]
    procs += [
        context.Process(
            target=_client,
            args=(address, streamed, k, 0, duration_s, ready, background_results, stop),
            daemon=True,
        )
        for k in range(n_background)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    start = time.perf_counter()
    collected = [results.get(timeout=duration_s + 60) for _ in range(clients)]
    wall = time.perf_counter() - start
    stop.set()
    behind = [background_results.get(timeout=120) for _ in range(n_background)]
    for proc in procs:
        proc.join(10)
    return (
        [v for lat, _ in collected for v in lat],
        wall,
        sum(f for _, f in collected),
        [v for lat, _ in behind for v in lat],
        sum(f for _, f in behind),
    )


# ------------------------------------------------------------------------ stalled clients
@dataclass
class StalledClient:
    """A connection that sent ``kind``'s first bytes and then stalls, or trickles ``drip``."""

    kind: str
    sock: socket.socket
    start: float
    drip: bytes = b""
    reply: bytes = b""
    closed_after: float | None = None  # seconds from opening until the server closed it

    @property
    def answer(self) -> str:
        """The HTTP statuses the server sent before closing (``408``, ``503``), or ``nothing``."""
        if not self.reply:
            return "nothing"
        statuses = [line.split()[1] for line in self.reply.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
        return "+".join(s.decode() for s in statuses)


class Stalls:
    """Many stalled connections to one server, watched until the server has closed them all."""

    DRIP_EVERY_S = 0.1

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.clients: list[StalledClient] = []

    def open(self, address: tuple[str, int], kind: str, first: bytes, drip: bytes = b"") -> None:
        sock = socket.create_connection(address, timeout=5)
        sock.sendall(first)
        client = StalledClient(kind, sock, time.monotonic(), drip)
        self.selector.register(sock, selectors.EVENT_READ, client)
        self.clients.append(client)

    def watch(self, deadline: float, tick: Callable[[], None], poll_s: float = 0.02) -> None:
        """Until every connection is closed or ``deadline`` (monotonic) passes: keep what the server
        sends, note when it closes each one, trickle the drips, and call ``tick`` every turn."""
        next_drip = 0.0
        while any(c.closed_after is None for c in self.clients) and time.monotonic() < deadline:
            for key, _ in self.selector.select(poll_s):
                client = key.data
                try:
                    chunk = client.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                client.reply += chunk
                if not chunk:
                    client.closed_after = time.monotonic() - client.start
                    self.selector.unregister(client.sock)
            if time.monotonic() >= next_drip:
                next_drip = time.monotonic() + self.DRIP_EVERY_S
                for client in self.clients:
                    if client.drip and client.closed_after is None:
                        with contextlib.suppress(OSError):  # closed meanwhile: select sees it
                            client.sock.sendall(client.drip)
            tick()

    def close(self) -> None:
        for client in self.clients:
            client.sock.close()
