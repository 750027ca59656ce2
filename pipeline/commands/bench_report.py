"""bench's report: its rows, and the files it writes from them.

``reports/bench.json``, a list of ``{"model", "backend", "batch", "p50_ms", "p99_ms", "rows_per_s",
"calls", "note"}`` rows (:class:`Row`); ``reports/bench_extra.json`` (parity, int8, server,
machine); ``reports/bench.md`` (tables with the ONNX speed-ups, :func:`render_markdown`).
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.io import write_json, write_text


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


def summarize(latencies_ns: list[int], batch: int) -> tuple[float, float, float]:
    """p50 and p99 per call (ms) and rows per second over the timed calls."""
    lat = np.asarray(latencies_ns, dtype=np.float64)
    p50, p99 = np.percentile(lat, [50, 99]) / 1e6
    return float(p50), float(p99), float(batch * len(lat) / (lat.sum() / 1e9))


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
    rows: list[Row], extras: list[dict[str, Any]], info: dict[str, Any], settings: Any
) -> str:
    """``reports/bench.md``: the machine, the speed-ups, and per model its rows and extras."""
    lines = header_lines(info, settings)
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
        lines += extra_lines(next((e for e in extras if e["model"] == model), {}))
    return "\n".join(lines) + "\n"


def header_lines(info: dict[str, Any], settings: Any) -> list[str]:
    """The report's title, how it was measured, and the head of the speed-up table."""
    return [
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


def extra_lines(extra: dict[str, Any]) -> list[str]:
    """A model's parity, int8 and server sentences (those it has)."""
    lines: list[str] = []
    parity = extra.get("parity")
    if parity:
        lines += [
            "",
            f"ONNX vs Keras on {parity['rows']} test rows: max |diff| {parity['max_abs_diff']:.2e} "
            f"(relative beyond 1); {parity['metric']} Keras {parity['keras']:.4f}, "
            f"ONNX {parity['onnx']:.4f}.",
        ]
    if "int8" in extra:
        q = extra["int8"]
        speed = ", ".join(f"batch {b}: {v:.2f}x" for b, v in q["speedup_rows_per_s"].items())
        lines.append(
            f"int8 ({q['size_bytes']:,} bytes vs {q['fp32_size_bytes']:,}): "
            f"{q['metric']} {q['int8']:.4f} "
            f"({q['change']:+.4f}), max |diff| vs fp32 {q['max_abs_diff_vs_fp32']:.2e}; "
            f"speed-up {speed}."
        )
    if "server" in extra:
        s = extra["server"]
        lines.append(
            f"Server, {s['clients']} concurrent keep-alive clients, single-row requests: "
            f"p50 {s['p50_ms']:.2f} ms, "
            f"p99 {s['p99_ms']:.2f} ms, {s['requests_per_s']:,.0f} requests/s ({s['failed']} failed); "
            f"RSS {s['rss_idle_mib']:.0f} MiB idle, {s['rss_after_mib']:.0f} MiB after"
            f" (big-batch worker {s.get('rss_worker_mib', 0):.0f} MiB); "
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
    return lines


def write_reports(rows: list[Row], extras: list[dict[str, Any]], settings: Any, out_dir: Path) -> str:
    """Write ``bench.json``, ``bench_extra.json`` and ``bench.md`` under ``out_dir``; the markdown."""
    info = machine()
    write_json(out_dir / "bench.json", [asdict(r) for r in rows])
    write_json(
        out_dir / "bench_extra.json", {"machine": info, "settings": asdict(settings), "models": extras}
    )
    markdown = render_markdown(rows, extras, info, settings)
    write_text(out_dir / "bench.md", markdown)
    return markdown
