"""The cost of one forecast request inside the server, without HTTP: ``ScoringService.invocations``
on the body a client posts (one history as ``dataframe_records``), and its parts: the JSON parse,
reading the history into a window, ONNX Runtime, and the answer. What ``bench``'s server rows pay
per request besides uvicorn and the clients sharing the cores (issue 22: p99 ≤ 10 ms with 8 clients).

    python benchmarks/forecast_request.py models/load/gru data/encoded/load/test.npz

Prints the best and the median of ``--rounds`` rounds of ``--calls`` calls each, in ms per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.serving.big_batches import encode
from pipeline.serving.inference import Predictor
from pipeline.serving.requests import rows_from_json
from pipeline.serving.service import ScoringService
from pipeline.tasks import kind_named


def timed(fn: Callable[[], Any], calls: int, rounds: int) -> tuple[float, float]:
    """The best and the median round, in ms per call, after one warm-up round."""
    per_call = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls * 1e3)
    return min(per_call[1:]), statistics.median(per_call[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="an exported forecaster's folder (model.onnx, encoder.json)")
    parser.add_argument(
        "test_npz", type=Path, help="its task's encoded test windows (data/encoded/<task>/test.npz)"
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    predictor = Predictor.from_dir(str(args.model))
    service, encoder = ScoringService(predictor, str(args.model)), predictor.encoder
    with np.load(args.test_npz, allow_pickle=False) as npz:
        window = npz["x"][:1]
    records = kind_named(encoder.kind).bench_inputs(encoder, window)[0]
    body = json.dumps({"dataframe_records": records}).encode()
    doc = json.loads(body)
    rows, _ = rows_from_json(doc, encoder, service.max_rows)
    x = encoder.transform_records(rows)
    answer = service.invocations(body, "application/json")
    print(f"{args.model}: a history of {len(records)} rows, {len(body):,} bytes")
    parts: dict[str, Callable[[], Any]] = {
        "the whole request (invocations)": lambda: service.invocations(body, "application/json"),
        "JSON parse": lambda: json.loads(body.decode()),
        "history -> window": lambda: encoder.transform_records(rows),
        "ONNX Runtime": lambda: predictor.predict_encoded(x),
        "the forecast's timestamps": lambda: encoder.forecast_times(rows),
        "the answer's JSON": lambda: encode(answer),
    }
    for name, fn in parts.items():
        best, median = timed(fn, args.calls, args.rounds)
        print(f"  {name:<34} best {best:.3f} ms, median {median:.3f} ms")


if __name__ == "__main__":
    main()
