"""bench: latency and throughput of ONNX Runtime against every way of running the Keras model.

    python -m pipeline bench                                  # every exported model under models/
    python -m pipeline bench --models churn/ann --duration 0.5 --int8
    python -m pipeline bench --train                          # training epochs: pipeline.commands.bench_train

For each model directory ``models/<task>/<arch>/`` holding ``model.keras``, ``model.onnx`` and
``encoder.json``, on rows of ``data/encoded/<task>/test.npz`` (each latency cycles through up to 256
different batches of consecutive rows, starting at evenly spaced rows), at batch sizes 1, 32 and 256:

* ``onnxruntime``: :class:`pipeline.serving.inference.Predictor` with
  :func:`pipeline.serving.inference.session_options`,
  one intra-op thread; at batch 256 also two intra-op threads, and the batch split into one chunk
  per core run at once (``Predictor(parallel=...)``); the fastest is kept and named in ``note``;
* ``keras_predict``: ``model.predict(x, batch_size=len(x))``;
* ``keras_call``: eager ``model(x, training=False)``;
* ``keras_function``: the faster of a ``tf.function`` (``jit_compile=False``, ``reduce_retracing``,
  fixed input signature) around the call and ``model.predict_on_batch`` (``note`` says which);
* ``tf_savedmodel``: ``model.export()`` then ``tf.saved_model.load`` and its ``serving_default``
  signature.

Every callable is warmed up, then timed call by call with ``time.perf_counter_ns`` until
``--repeats`` calls or ``--duration`` seconds (at least 3 calls). Every backend returns a NumPy
array, so conversions are timed too. TensorFlow keeps its own thread pools (all cores).

Also: ONNX/Keras parity on the whole test split; with ``--int8`` a dynamically quantised
``model.int8.onnx`` next to ``model.onnx`` (accuracy change and speed-up); and, unless
``--no-server``, ``python -m pipeline serve`` in a subprocess hammered by 8 keep-alive clients
sending single-row requests (p50/p99, requests/s and the server's RSS), then by the same 8 while a
ninth streams batches of 1000 rows (or the most that ``serve.max_rows``/``max_body_bytes`` allow):
the mixed-load row shows whether big batches starve small requests. The clients are separate
processes on raw sockets (:mod:`pipeline.commands.loadgen`) sharing the same cores as the server.

Outputs (:mod:`pipeline.commands.bench_report`): ``reports/bench.json``, a list of ``{"model",
"backend", "batch", "p50_ms", "p99_ms", "rows_per_s", "calls", "note"}`` rows (``onnxruntime_int8``,
``server_8_clients`` and ``server_8_clients_mixed`` rows included); ``reports/bench_extra.json``
(parity, int8, server, machine); ``reports/bench.md`` (tables with the ONNX speed-ups), also
printed. TensorFlow is imported only here, lazily. The server measurement is
:mod:`pipeline.commands.bench_server`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.commands.bench_backends import (
    batched,
    keras_runners,
    onnx_runner,
    quality,
    quantize,
)
from pipeline.commands.bench_report import Row, summarize, write_reports
from pipeline.commands.bench_server import bench_server
from pipeline.core import paths
from pipeline.core.errors import ModelError
from pipeline.core.io import read_json
from pipeline.encoders.base import Encoder
from pipeline.encoders.registry import load_encoder
from pipeline.stages.export import max_abs_diff  # export's parity figure, relative beyond 1
from pipeline.tasks import kind_named

BACKENDS = ("onnxruntime", "keras_predict", "keras_call", "keras_function", "tf_savedmodel")
BATCHES = (1, 32, 256)
MIN_CALLS = 3
BATCH_VARIETY = 256  # different batches each latency cycles through
REQUIRED = ("model.keras", "model.onnx", "encoder.json")

Fn = Callable[[np.ndarray], Any]


# --------------------------------------------------------------------------- timing core
def time_calls(
    fn: Fn, batches: list[np.ndarray], *, duration_s: float, repeats: int, warmup: int = 3
) -> tuple[float, float, float, int]:
    """Warm up, then time single calls, cycling through ``batches`` (same size), until ``repeats``
    calls or ``duration_s`` (>= 3 calls)."""
    for i in range(warmup):
        fn(batches[i % len(batches)])
    latencies: list[int] = []
    deadline = time.perf_counter_ns() + int(duration_s * 1e9)
    while len(latencies) < repeats:
        batch = batches[len(latencies) % len(batches)]
        start = time.perf_counter_ns()
        fn(batch)
        end = time.perf_counter_ns()
        latencies.append(end - start)
        if end >= deadline and len(latencies) >= MIN_CALLS:
            break
    return (*summarize(latencies, len(batches[0])), len(latencies))


def batches_of(x: np.ndarray, size: int, count: int = BATCH_VARIETY) -> list[np.ndarray]:
    """Up to ``count`` different batches of ``size`` consecutive rows of ``x``, starting at evenly
    spaced rows (wrapping around): a latency is then the test split's, not its first rows' (a short
    text costs the ONNX graph less, as it skips the padding, and a split may be sorted by class)."""
    n = min(count, -(-len(x) // size))
    starts = np.arange(n) * len(x) // n
    return [np.ascontiguousarray(x[(np.arange(size) + start) % len(x)]) for start in starts]


@dataclass
class Settings:
    batches: tuple[int, ...] = BATCHES
    backends: tuple[str, ...] = BACKENDS
    repeats: int = 2000
    duration_s: float = 1.0
    int8: bool = False
    server: bool = True
    server_requests: int = 5000
    server_duration_s: float = 5.0


def load_test_split(task: str) -> tuple[np.ndarray, np.ndarray]:
    path = paths.encoded_dir(task) / "test.npz"
    if not path.exists():
        raise ModelError(f"{path}: not found; run 'python -m pipeline repro encode@{task}' first")
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["x"], npz["y"]
    if len(x) == 0:
        raise ModelError(f"{path}: the test split is empty")
    return x, y


def bench_model(
    task: str, arch: str, settings: Settings, log: Callable[[str], None] = print
) -> tuple[list[Row], dict]:
    """Every backend x batch for one model directory, plus parity, int8 and the server."""
    name = f"{task}/{arch}"
    model_dir = paths.model_dir(task, arch)
    encoder = load_encoder(model_dir / "encoder.json")
    x, y = load_test_split(task)
    x = x.astype(kind_named(encoder.kind).encoded_dtype())
    model = load_keras(model_dir / "model.keras")
    onnx_path = model_dir / "model.onnx"
    ort_1 = onnx_runner(onnx_path, encoder, 1)
    rows = time_backends(name, model, ort_1, onnx_path, encoder, x, settings, log)
    extra: dict[str, Any] = {"model": name, "test_rows": len(x)}
    keras_p = batched(lambda b: model.predict(b, batch_size=len(b), verbose=0), x)
    onnx_p = batched(ort_1, x)
    numeric = "target" in read_json(model_dir / "encoder.json")  # a value, not probabilities
    metric, keras_figure = quality(keras_p, y, numeric)
    extra["parity"] = {
        "max_abs_diff": max_abs_diff(keras_p, onnx_p),
        "rows": len(x),
        "metric": metric,
        "keras": keras_figure,
        "onnx": quality(onnx_p, y, numeric)[1],
    }
    if settings.int8:
        int8_rows, extra["int8"] = bench_int8(
            name, onnx_path, encoder, (x, y, numeric), onnx_p, rows, settings
        )
        rows += int8_rows
    if settings.server:
        server_rows, server = bench_server(
            name,
            task,
            model_dir,
            encoder,
            x,
            requests=settings.server_requests,
            duration_s=settings.server_duration_s,
        )
        rows += server_rows
        extra["server"] = server
        for row in server_rows:
            log(
                f"  {name:<16} {row.backend}: p50 {row.p50_ms:.3f} ms, p99 {row.p99_ms:.3f} ms, "
                f"{row.rows_per_s:.0f} req/s"
            )
    return rows, extra


def load_keras(path: Path) -> Any:
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors...
        raise ModelError(f"{path}: cannot load: {exc}") from exc


def timed(
    name: str, backend: str, batch: int, fn: Fn, x: np.ndarray, settings: Settings, note: str = ""
) -> Row:
    """One cell: ``fn`` timed on batches of ``batch`` rows of ``x``."""
    p50, p99, rps, calls = time_calls(
        fn, batches_of(x, batch), duration_s=settings.duration_s, repeats=settings.repeats
    )
    return Row(name, backend, batch, p50, p99, rps, calls, note)


def time_backends(
    name: str,
    model: Any,
    ort_1: Fn,
    onnx_path: Path,
    encoder: Encoder,
    x: np.ndarray,
    settings: Settings,
    log: Callable[[str], None],
) -> list[Row]:
    """Every backend at every batch size; where a backend has several candidates, the fastest
    (its ``note`` names the others)."""

    def best(backend: str, batch: int, candidates: dict[str, Fn]) -> Row:
        tried = [timed(name, backend, batch, fn, x, settings, note) for note, fn in candidates.items()]
        winner = max(tried, key=lambda r: r.rows_per_s)
        if len(tried) > 1:
            others = ", ".join(f"{r.note} {r.rows_per_s:.0f} rows/s" for r in tried if r is not winner)
            winner.note = f"{winner.note} (faster than {others})"
        return winner

    ort_2 = onnx_runner(onnx_path, encoder, 2)
    cores = os.cpu_count() or 1
    ort_split = onnx_runner(onnx_path, encoder, 1, parallel=cores)
    large = {"threads=1": ort_1, "threads=2": ort_2, f"{cores} chunks in parallel": ort_split}
    runners: dict[str, Callable[[int], dict[str, Fn]]] = {
        "onnxruntime": lambda b: large if b >= 256 else {"threads=1": ort_1}
    }
    keras_backends = [b for b in settings.backends if b != "onnxruntime"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        if keras_backends:
            keras_fns = keras_runners(model, x[:1], Path(tmp))
            for backend in keras_backends:
                runners[backend] = lambda b, fns=keras_fns[backend]: fns
        for backend in settings.backends:
            for batch in settings.batches:
                row = best(backend, batch, runners[backend](batch))
                rows.append(row)
                log(
                    f"  {name:<16} {backend:<15} batch {batch:>3}: "
                    f"p50 {row.p50_ms:8.3f} ms, {row.rows_per_s:10.0f} rows/s"
                )
    return rows


def bench_int8(
    name: str,
    onnx_path: Path,
    encoder: Encoder,
    test: tuple[np.ndarray, np.ndarray, bool],
    onnx_p: np.ndarray,
    rows: list[Row],
    settings: Settings,
) -> tuple[list[Row], dict[str, Any]]:
    """A dynamically quantised ``model.int8.onnx``: its rows, and its accuracy (a numeric target's
    RMSE) and speed-up against the fp32 ``rows``; ``test`` is the encoded test rows, their labels
    and whether those are values."""
    x, y, numeric = test
    metric, fp32_figure = quality(onnx_p, y, numeric)
    int8_path = quantize(onnx_path, onnx_path.parent / "model.int8.onnx")
    int8 = onnx_runner(int8_path, encoder, 1)
    int8_p = batched(int8, x)
    int8_rows = [timed(name, "onnxruntime_int8", b, int8, x, settings, "threads=1") for b in settings.batches]
    fp32 = {r.batch: r for r in rows if r.backend == "onnxruntime"}
    return int8_rows, {
        "path": str(int8_path),
        "size_bytes": int8_path.stat().st_size,
        "fp32_size_bytes": onnx_path.stat().st_size,
        "metric": metric,
        "fp32": fp32_figure,
        "int8": quality(int8_p, y, numeric)[1],
        "change": quality(int8_p, y, numeric)[1] - fp32_figure,
        "max_abs_diff_vs_fp32": max_abs_diff(onnx_p, int8_p),
        "speedup_rows_per_s": {
            str(r.batch): r.rows_per_s / fp32[r.batch].rows_per_s for r in int8_rows if r.batch in fp32
        },
    }


# ------------------------------------------------------------------------------ the command
def find_models(selection: list[str] | None) -> list[tuple[str, str]]:
    """``task/arch`` names of the complete model directories (or check the ones asked for)."""
    if selection:
        found = []
        for item in selection:
            task, _, arch = item.partition("/")
            if not task or not arch:
                raise ModelError(f"--models: {item!r} is not <task>/<arch> (e.g. churn/ann)")
            directory = paths.model_dir(task, arch)
            missing = [f for f in REQUIRED if not (directory / f).is_file()]
            if missing:
                raise ModelError(
                    f"{directory}: missing {', '.join(missing)}; "
                    f"run 'python -m pipeline repro export@{task}-{arch}'"
                )
            found.append((task, arch))
        return found
    root = paths.project_root() / "models"
    found = [
        (d.parent.name, d.name)
        for d in sorted(root.glob("*/*"))
        if d.is_dir() and all((d / f).is_file() for f in REQUIRED)
    ]
    if not found:
        raise ModelError(
            f"{root}: no model directory with {', '.join(REQUIRED)}; run 'dvc repro export' first"
        )
    return found


def run(
    models: list[tuple[str, str]], settings: Settings, out_dir: Path
) -> tuple[list[Row], list[dict[str, Any]]]:
    rows: list[Row] = []
    extras: list[dict[str, Any]] = []
    for task, arch in models:
        print(f"bench {task}/{arch}", flush=True)
        model_rows, extra = bench_model(task, arch, settings)
        rows += model_rows
        extras.append(extra)
    print(write_reports(rows, extras, settings, out_dir))
    return rows, extras


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str]) -> int:
    if "--train" in argv:  # the training benchmark: its own arguments and report
        from pipeline.commands import bench_train

        return bench_train.main([a for a in argv if a != "--train"])
    parser = argparse.ArgumentParser(
        prog="python -m pipeline bench",
        description="Latency/throughput of ONNX Runtime against every Keras path (see reports/bench.md).",
    )
    parser.add_argument(
        "--models", type=_csv_list, help="e.g. churn/ann,sentiment/lstm (default: all exported)"
    )
    parser.add_argument("--repeats", type=int, default=Settings.repeats, help="most timed calls per cell")
    parser.add_argument("--duration", type=float, default=Settings.duration_s, help="seconds per cell")
    parser.add_argument(
        "--batches", type=_csv_list, default=[str(b) for b in BATCHES], help="default 1,32,256"
    )
    parser.add_argument("--backends", type=_csv_list, default=list(BACKENDS), help=",".join(BACKENDS))
    parser.add_argument("--int8", action="store_true", help="also quantise to model.int8.onnx and compare")
    parser.add_argument("--no-server", action="store_true", help="skip the HTTP server measurement")
    parser.add_argument("--server-requests", type=int, default=Settings.server_requests, help="per client")
    parser.add_argument(
        "--server-duration", type=float, default=Settings.server_duration_s, help="seconds of server load"
    )
    parser.add_argument("--output-dir", type=Path, help="default: reports/")
    args = parser.parse_args(argv)

    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    try:
        batches = tuple(int(b) for b in args.batches)
    except ValueError:
        parser.error(f"--batches must be integers, got {','.join(args.batches)}")
    if args.repeats < MIN_CALLS or args.duration <= 0 or min(batches) < 1:
        parser.error(f"--repeats must be >= {MIN_CALLS}, --duration > 0 and batches >= 1")
    settings = Settings(
        batches=batches,
        backends=tuple(b for b in BACKENDS if b in args.backends),
        repeats=args.repeats,
        duration_s=args.duration,
        int8=args.int8,
        server=not args.no_server,
        server_requests=args.server_requests,
        server_duration_s=args.server_duration,
    )
    models = find_models(args.models)
    run(models, settings, args.output_dir or paths.project_root() / "reports")
    return 0
