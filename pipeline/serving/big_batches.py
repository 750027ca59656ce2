"""Big batches for ``serve``, scored in a worker process of their own at a low CPU priority.

Small requests must not wait for big ones. On the event loop a 1000-row batch holds the GIL for
everything but the model itself: parsing its JSON (2 ms for churn's 200 kB), checking and encoding
its rows (about 1 ms per 64 rows), building its 1000 answers and their JSON (1 ms each). In
slices or whole, a single-row request that arrives meanwhile waits for it, and the batch's CPU
time is the loop's (``bench``'s ``server_8_clients_mixed`` row: single-row p99 about twice its
p99 alone, docs/benchmark.md). A worker thread does no better: it shares the GIL.

So a body over :data:`pipeline.serving.app.OFFLOAD_BYTES` goes, as bytes, to one worker process
that holds its own ONNX Runtime session (one intra-op thread) and a copy of the service's settings,
runs :meth:`ScoringService.invocations` (the same code as a small request: same answers, same 4xx
errors and row numbers) and sends back the status and the encoded JSON answer. The loop only
passes bytes along. The worker lowers its own scheduling priority (``nice`` +:data:`WORKER_NICE`),
so that on a busy machine the kernel runs the event loop and its clients first and gives the
worker the time they leave; on an idle one the worker has a core to itself.

One big batch is scored at a time (the app queues the others). The worker starts with the first
big batch, or at start-up with :meth:`BigBatchWorker.start` (``serve`` does); if it dies (killed,
out of memory) its request gets a 500 and the next big batch starts a new one. Once started, it
loads what explaining the bundle's rows needs (shap's import, ~3 s, for a table) before it takes
a request, so that the first explained request does not pay for it; ``serve`` does not wait for it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

WORKER_NICE = 10  # added to the worker's niceness: the kernel favours the event loop's process

_service: Any = None  # the worker process's ScoringService


class BigBatchWorker:
    """The worker process of one :class:`ScoringService`, started on first use."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self._pool: ProcessPoolExecutor | None = None
        self.pid: int | None = None  # the worker process's, once started
        self.warmed: Future[list[str]] | None = None  # what the worker loaded ahead of explanations

    def recipe(self) -> dict[str, Any]:
        """What the worker rebuilds the service from: the bundle's files and the settings in force."""
        predictor, service = self.service.predictor, self.service
        return {
            "model_path": str(predictor.model_path),
            "encoder": predictor.encoder.to_dict(),
            "classes": predictor.classes,
            "output": predictor.output,  # the bundle's contract with serve's overrides applied
            "task": predictor.task,
            "arch": predictor.arch,
            "model_uri": service.model_uri,
            "max_rows": service.max_rows,
            "max_body_bytes": service.max_body_bytes,
            # the bundle's folder: its explain.json (a table's SHAP background) for explained requests
            "bundle_dir": str(predictor.bundle.directory) if predictor.bundle is not None else None,
        }

    def start(self) -> ProcessPoolExecutor:
        """The worker, started and its model loaded (a no-op call waits for that)."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")  # never fork a process holding ORT threads
            self._pool = ProcessPoolExecutor(1, context, initializer=_load, initargs=(self.recipe(),))
            self.pid = self._pool.submit(os.getpid).result()
            self.warmed = self._pool.submit(_warm)  # the first request queues behind it, not waits twice
        return self._pool

    async def invocations(self, body: bytes, content_type: str | None) -> tuple[int, bytes, bool]:
        """The worker's answer to one big request: HTTP status, JSON bytes, close the connection."""
        loop = asyncio.get_running_loop()
        try:
            pool = await loop.run_in_executor(None, self.start) if self._pool is None else self._pool
            return await loop.run_in_executor(pool, _invocations, body, content_type)
        except BrokenProcessPool:  # the worker died: this request fails, the next starts another
            self.close(wait=False)
            raise RuntimeError("the big-batch worker process stopped (killed, or out of memory?)") from None

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            pool, self._pool, self.pid = self._pool, None, None
            pool.shutdown(wait=wait, cancel_futures=not wait)


def _load(recipe: dict[str, Any]) -> None:
    """The worker's initializer: a low priority, Ctrl-C left to the server, then the model."""
    global _service
    from pipeline.encoders.registry import encoder_from_dict
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C: the server drains, then stops us
    os.nice(WORKER_NICE)
    encoder = encoder_from_dict(recipe["encoder"])
    predictor = Predictor(
        Path(recipe["model_path"]), encoder, 1, classes=recipe["classes"], output=recipe["output"]
    )
    predictor.task, predictor.arch = recipe["task"], recipe["arch"]
    if recipe.get("bundle_dir"):
        from pipeline.serving.bundle import read_bundle

        predictor.bundle = read_bundle(recipe["bundle_dir"])
    _service = ScoringService(
        predictor, recipe["model_uri"], max_rows=recipe["max_rows"], max_body_bytes=recipe["max_body_bytes"]
    )


def _warm() -> list[str]:
    """In the worker: load what explaining the bundle's rows needs; the modules it loaded."""
    from pipeline.tasks.explanations import warm_up

    return warm_up(_service.predictor)


def _invocations(body: bytes, content_type: str | None) -> tuple[int, bytes, bool]:
    """In the worker: :meth:`ScoringService.invocations`, its answer or 4xx encoded as JSON."""
    from pipeline.serving.requests import RequestError

    try:
        status, payload, close = 200, _service.invocations(body, content_type), False
    except RequestError as exc:
        status, payload, close = exc.status, exc.body(), exc.close
    return status, encode(payload), close


def encode(payload: Any) -> bytes:
    """A JSON answer as the server sends it."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
