"""bench: latency and throughput of ONNX Runtime against every way of running the Keras model.

    python -m pipeline bench                                  # every exported model under models/
    python -m pipeline bench --models churn/ann --duration 0.5 --int8

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

Outputs: ``reports/bench.json``, a list of ``{"model", "backend", "batch", "p50_ms", "p99_ms",
"rows_per_s", "calls", "note"}`` rows (``onnxruntime_int8``, ``server_8_clients`` and
``server_8_clients_mixed`` rows included); ``reports/bench_extra.json`` (parity, int8, server,
machine); ``reports/bench.md`` (tables with the ONNX speed-ups), also printed. TensorFlow is
imported only here, lazily.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import paths
from pipeline.core.errors import ModelError, PipelineError
from pipeline.core.io import write_json, write_text
from pipeline.encoders.preprocess import Encoder, TabularEncoder, TextEncoder, load_encoder

BACKENDS = ("onnxruntime", "keras_predict", "keras_call", "keras_function", "tf_savedmodel")
BATCHES = (1, 32, 256)
SERVER_CLIENTS = 8
STREAM_ROWS = 1000  # rows per request of the client that streams big batches (mixed load)
MIN_CALLS = 3
BATCH_VARIETY = 256  # different batches each latency cycles through
REQUIRED = ("model.keras", "model.onnx", "encoder.json")

Fn = Callable[[np.ndarray], Any]


@dataclass
class Row:
    model: str
    backend: str
    batch: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float
    calls: int
    note: str = ""


# --------------------------------------------------------------------------- timing core
def summarize(latencies_ns: list[int], batch: int) -> tuple[float, float, float]:
    """p50 and p99 per call (ms) and rows per second over the timed calls."""
    lat = np.asarray(latencies_ns, dtype=np.float64)
    p50, p99 = np.percentile(lat, [50, 99]) / 1e6
    return float(p50), float(p99), float(batch * len(lat) / (lat.sum() / 1e9))


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


def tile(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows, repeating the split when it is shorter."""
    return np.ascontiguousarray(x[np.arange(n) % len(x)])


# ----------------------------------------------------------------------------- backends
def onnx_runner(model_path: Path, encoder: Encoder, threads: int, parallel: int = 1) -> Fn:
    from pipeline.serving.inference import Predictor

    return Predictor(model_path, encoder, threads=threads, parallel=parallel).predict_encoded


def keras_runners(model: Any, sample: np.ndarray, workdir: Path) -> dict[str, dict[str, Fn]]:
    """Every Keras path, by backend; ``keras_function`` has two candidates."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *sample.shape[1:]), tf.as_dtype(sample.dtype), name="x")

    @tf.function(jit_compile=False, reduce_retracing=True, input_signature=[spec])
    def compiled(x: Any) -> Any:
        return model(x, training=False)

    export_dir = workdir / "savedmodel"
    model.export(str(export_dir), format="tf_saved_model", verbose=False)
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1].keys()

    def saved(x: np.ndarray) -> np.ndarray:
        out = signature(**{input_name: tf.constant(x)})
        return next(iter(out.values())).numpy()

    return {
        "keras_predict": {"": lambda x: model.predict(x, batch_size=len(x), verbose=0)},
        "keras_call": {"": lambda x: np.asarray(model(x, training=False))},
        "keras_function": {
            "tf.function": lambda x: compiled(x).numpy(),
            "predict_on_batch": lambda x: np.asarray(model.predict_on_batch(x)),
        },
        "tf_savedmodel": {"": saved},
    }


def quantize(model_path: Path, out_path: Path) -> Path:
    """Dynamic int8 quantisation (weights int8, activations quantised on the fly)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process and its notes on int inputs
    try:
        with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
            tmp_path = Path(tmp) / out_path.name
            quantize_dynamic(model_path, tmp_path, weight_type=QuantType.QInt8)
            os.replace(tmp_path, out_path)
    finally:
        root.setLevel(level)
    return out_path


def batched(fn: Fn, x: np.ndarray, size: int = 1024) -> np.ndarray:
    """``(n,)`` positive-class probabilities, or ``(n, n_classes)`` for a multi-class model."""
    parts = [
        np.asarray(fn(x[i : i + size]), dtype=np.float64).reshape(min(size, len(x) - i), -1)
        for i in range(0, len(x), size)
    ]
    out = np.concatenate(parts) if parts else np.zeros((0, 1))
    return out[:, 0] if out.shape[1] == 1 else out


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Thresholded at 0.5 for one probability per row, the most probable class for several."""
    if not len(y):
        return float("nan")
    if p.ndim == 2:
        return float(np.mean(np.argmax(p, axis=1) == y))
    return float(np.mean((p >= 0.5) == (y >= 0.5)))


# ------------------------------------------------------------------------------- server
def raw_inputs(encoder: Encoder, x: np.ndarray, n: int) -> list[Any]:
    """Raw rows/texts that encode back to ``x`` (for the server, which takes raw input)."""
    rows = tile(x, n)
    if isinstance(encoder, TextEncoder):
        words = [w if i > 1 else "unk" for i, w in enumerate(encoder.vocabulary)]
        return [" ".join(words[int(t)] for t in row if t != 0) or "unk" for row in rows]
    assert isinstance(encoder, TabularEncoder)
    out = []
    for row in rows:
        record: dict[str, Any] = {}
        j = 0
        for col, s in encoder.numeric.items():
            value = float(np.clip(row[j] * s["std"] + s["mean"], s["min"], s["max"]))
            record[col] = round(value) if s.get("integer") else value  # 52.5 is refused there
            j += 1
        for col, values in encoder.categorical.items():
            if len(values) == 2:
                record[col] = values[int(row[j] >= 0.5)]
                j += 1
            else:
                record[col] = values[int(np.argmax(row[j : j + len(values)]))]
                j += len(values)
        out.append(record)
    return out


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
    import psutil

    from pipeline.commands import loadgen
    from pipeline.commands.serve import serve_settings

    limits, _, _ = serve_settings(task)
    inputs = raw_inputs(encoder, x, 64)
    key = "instances" if isinstance(encoder, TextEncoder) else "dataframe_records"
    bodies = [json.dumps({key: [item]}).encode() for item in inputs]
    big = stream_body(encoder, x, key, limits.max_rows, limits.max_body_bytes)
    batch_rows = len(json.loads(big)[key])
    proc, url = start_server(task, model_dir)
    host, port = url.removeprefix("http://").split(":")
    try:
        wait_healthy(url)
        process = psutil.Process(proc.pid)
        rss_idle = process.memory_info().rss
        lat, wall, failed = hammer(
            url, bodies, clients=SERVER_CLIENTS, requests=requests, duration_s=duration_s
        )
        rss_loaded = process.memory_info().rss
        mixed_lat, mixed_wall, mixed_failed, batch_lat, batch_failed = loadgen.run_mixed(
            host,
            int(port),
            bodies,
            clients=SERVER_CLIENTS,
            requests=requests,
            duration_s=duration_s,
            background=[big],
        )
        loaded = {m.path for m in process.memory_maps()} if hasattr(process, "memory_maps") else set()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    p50, p99, _ = summarize(lat, 1)
    row = Row(name, f"server_{SERVER_CLIENTS}_clients", 1, p50, p99, len(lat) / wall, len(lat))
    row.note = f"rss={rss_loaded / 2**20:.0f}MiB"
    m50, m99, _ = summarize(mixed_lat, 1)
    b50, b99, _ = summarize(batch_lat, batch_rows) if batch_lat else (float("nan"),) * 3
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
    extra = {
        "model": name,
        "clients": SERVER_CLIENTS,
        "requests": len(lat),
        "failed": failed,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests_per_s": len(lat) / wall,
        "rss_idle_mib": rss_idle / 2**20,
        "rss_after_mib": rss_loaded / 2**20,
        "tensorflow_loaded": any("tensorflow" in p for p in loaded),
        "exit_code_after_sigterm": code,
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
    return [row, mixed_row], extra


# ------------------------------------------------------------------------ one model
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
        raise ModelError(f"{path}: not found; run 'dvc repro encode@{task}' first")
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["x"], npz["y"]
    if len(x) == 0:
        raise ModelError(f"{path}: the test split is empty")
    return x, y


def bench_model(
    task: str, arch: str, settings: Settings, log: Callable[[str], None] = print
) -> tuple[list[Row], dict]:
    """Every backend x batch for one model directory, plus parity, int8 and the server."""
    import keras

    name = f"{task}/{arch}"
    model_dir = paths.model_dir(task, arch)
    encoder = load_encoder(model_dir / "encoder.json")
    x, y = load_test_split(task)
    x = x.astype(np.int32 if isinstance(encoder, TextEncoder) else np.float32)
    try:
        model = keras.saving.load_model(model_dir / "model.keras", compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors...
        raise ModelError(f"{model_dir / 'model.keras'}: cannot load: {exc}") from exc
    rows: list[Row] = []
    extra: dict[str, Any] = {"model": name, "test_rows": len(x)}

    def record(backend: str, batch: int, fn: Fn, note: str = "") -> Row:
        p50, p99, rps, calls = time_calls(
            fn, batches_of(x, batch), duration_s=settings.duration_s, repeats=settings.repeats
        )
        return Row(name, backend, batch, p50, p99, rps, calls, note)

    def best(backend: str, batch: int, candidates: dict[str, Fn]) -> Row:
        tried = [record(backend, batch, fn, note) for note, fn in candidates.items()]
        winner = max(tried, key=lambda r: r.rows_per_s)
        if len(tried) > 1:
            others = ", ".join(f"{r.note} {r.rows_per_s:.0f} rows/s" for r in tried if r is not winner)
            winner.note = f"{winner.note} (faster than {others})"
        return winner

    onnx_path = model_dir / "model.onnx"
    ort_1, ort_2 = onnx_runner(onnx_path, encoder, 1), onnx_runner(onnx_path, encoder, 2)
    cores = os.cpu_count() or 1
    ort_split = onnx_runner(onnx_path, encoder, 1, parallel=cores)
    large = {"threads=1": ort_1, "threads=2": ort_2, f"{cores} chunks in parallel": ort_split}
    runners: dict[str, Callable[[int], dict[str, Fn]]] = {
        "onnxruntime": lambda b: large if b >= 256 else {"threads=1": ort_1}
    }
    keras_backends = [b for b in settings.backends if b != "onnxruntime"]
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

    keras_p = batched(lambda b: model.predict(b, batch_size=len(b), verbose=0), x)
    onnx_p = batched(ort_1, x)
    extra["parity"] = {
        "max_abs_diff": float(np.max(np.abs(keras_p - onnx_p))),
        "rows": len(x),
        "accuracy_keras": accuracy(keras_p, y),
        "accuracy_onnx": accuracy(onnx_p, y),
    }

    if settings.int8:
        int8_path = quantize(onnx_path, model_dir / "model.int8.onnx")
        int8 = onnx_runner(int8_path, encoder, 1)
        int8_p = batched(int8, x)
        int8_rows = [record("onnxruntime_int8", b, int8, "threads=1") for b in settings.batches]
        rows += int8_rows
        fp32 = {r.batch: r for r in rows if r.backend == "onnxruntime"}
        extra["int8"] = {
            "path": str(int8_path),
            "size_bytes": int8_path.stat().st_size,
            "fp32_size_bytes": onnx_path.stat().st_size,
            "accuracy_fp32": accuracy(onnx_p, y),
            "accuracy_int8": accuracy(int8_p, y),
            "accuracy_change": accuracy(int8_p, y) - accuracy(onnx_p, y),
            "max_abs_diff_vs_fp32": float(np.max(np.abs(int8_p - onnx_p))),
            "speedup_rows_per_s": {
                str(r.batch): r.rows_per_s / fp32[r.batch].rows_per_s for r in int8_rows if r.batch in fp32
            },
        }

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


# ------------------------------------------------------------------------------ report
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
                    f"{directory}: missing {', '.join(missing)}; run 'dvc repro export@{task}-{arch}'"
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


def speedups(rows: list[Row]) -> list[dict[str, Any]]:
    """ONNX Runtime against keras_predict and keras_function: p50 ratio at batch 1, throughput at 256."""
    index = {(r.model, r.backend, r.batch): r for r in rows}
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        entry: dict[str, Any] = {"model": model}
        for other in ("keras_predict", "keras_function"):
            for batch in (1, 256):
                onnx, keras_row = index.get((model, "onnxruntime", batch)), index.get((model, other, batch))
                if onnx and keras_row:
                    key = f"vs_{other}_batch{batch}"
                    entry[key] = (
                        keras_row.p50_ms / onnx.p50_ms
                        if batch == 1
                        else onnx.rows_per_s / keras_row.rows_per_s
                    )
        out.append(entry)
    return out


def machine() -> dict[str, Any]:
    import onnxruntime

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
    }
    try:
        import importlib.metadata

        info["tensorflow"] = importlib.metadata.version("tensorflow-cpu")
    except Exception:
        pass
    return info


def render_markdown(
    rows: list[Row], extras: list[dict[str, Any]], info: dict[str, Any], settings: Settings
) -> str:
    lines = [
        "# Inference benchmark",
        "",
        f"Machine: {info['cpu_count']} CPU cores, {info['platform']}, Python {info['python']}, "
        f"ONNX Runtime {info['onnxruntime']}, TensorFlow {info.get('tensorflow', '?')}. "
        f"Each cell: up to {settings.repeats} calls or {settings.duration_s:g} s after a warm-up. "
        "ONNX Runtime runs with 1 intra-op thread; at batch 256 also with 2, and with the batch split "
        "into one chunk per core run at once (the fastest is kept, see note). TensorFlow uses its default "
        "pools. The server rows: 8 client processes on raw keep-alive sockets, on the same cores; "
        "mixed: the same 8 while a ninth streams big batches.",
        "",
        "## Speed-up of ONNX Runtime",
        "",
        "batch 1: ratio of p50 latencies; batch 256: ratio of rows/s.",
        "",
        "| model | vs keras_predict @1 | vs keras_function @1 "
        "| vs keras_predict @256 | vs keras_function @256 |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in speedups(rows):
        cells = [s.get(f"vs_{o}_batch{b}") for o in ("keras_predict", "keras_function") for b in (1, 256)]
        cells = [cells[0], cells[2], cells[1], cells[3]]
        lines.append(
            f"| {s['model']} | " + " | ".join("-" if c is None else f"{c:.2f}x" for c in cells) + " |"
        )
    for model in dict.fromkeys(r.model for r in rows):
        lines += ["", f"## {model}", "", "| backend | batch | p50 ms | p99 ms | rows/s | calls | note |"]
        lines.append("|---|---:|---:|---:|---:|---:|---|")
        for r in rows:
            if r.model == model:
                lines.append(
                    f"| {r.backend} | {r.batch} | {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.rows_per_s:,.0f} "
                    f"| {r.calls} | {r.note} |"
                )
        extra = next((e for e in extras if e["model"] == model), {})
        parity = extra.get("parity")
        if parity:
            lines += [
                "",
                f"ONNX vs Keras on {parity['rows']} test rows: max |diff| {parity['max_abs_diff']:.2e}; "
                f"accuracy Keras {parity['accuracy_keras']:.4f}, ONNX {parity['accuracy_onnx']:.4f}.",
            ]
        if "int8" in extra:
            q = extra["int8"]
            speed = ", ".join(f"batch {b}: {v:.2f}x" for b, v in q["speedup_rows_per_s"].items())
            lines.append(
                f"int8 ({q['size_bytes']:,} bytes vs {q['fp32_size_bytes']:,}): "
                f"accuracy {q['accuracy_int8']:.4f} "
                f"({q['accuracy_change']:+.4f}), max |diff| vs fp32 {q['max_abs_diff_vs_fp32']:.2e}; "
                f"speed-up {speed}."
            )
        if "server" in extra:
            s = extra["server"]
            lines.append(
                f"Server, {s['clients']} concurrent keep-alive clients, single-row requests: "
                f"p50 {s['p50_ms']:.2f} ms, "
                f"p99 {s['p99_ms']:.2f} ms, {s['requests_per_s']:,.0f} requests/s ({s['failed']} failed); "
                f"RSS {s['rss_idle_mib']:.0f} MiB idle, {s['rss_after_mib']:.0f} MiB after; "
                f"TensorFlow loaded: {s['tensorflow_loaded']}."
            )
            m = s.get("mixed")
            if m:
                lines.append(
                    f"Mixed load, the same clients while one more streams {m['batch_rows']}-row batches: "
                    f"single-row p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms, "
                    f"{m['requests_per_s']:,.0f} requests/s ({m['failed']} failed); "
                    f"{m['batches']} batches, p50 {m['batch_p50_ms']:.1f} ms, p99 {m['batch_p99_ms']:.1f} ms "
                    f"({m['batches_failed']} failed)."
                )
    return "\n".join(lines) + "\n"


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
    info = machine()
    write_json(out_dir / "bench.json", [asdict(r) for r in rows])
    write_json(
        out_dir / "bench_extra.json", {"machine": info, "settings": asdict(settings), "models": extras}
    )
    markdown = render_markdown(rows, extras, info, settings)
    write_text(out_dir / "bench.md", markdown)
    print(markdown)
    return rows, extras


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str]) -> int:
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
