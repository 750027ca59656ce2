"""Explanations (issue 24): do the churn ANN's SHAP importances agree with HistGradientBoosting's
permutation importances, and what does one explained request cost at batch 1?

    python benchmarks/explanations.py [--source /work/main] [--requests 200] [--no-http] [--latency-only]

Reads a built checkout read-only (``--source``: its ``models/churn/ann`` bundle and
``data/encoded/churn``) and works in a temporary copy: the bundle gets the ``explain.json`` export
would write (the background sample of the training split, seed 42). Prints:

(a) the top columns by mean |SHAP| over 200 seeded test rows (ANN, ONNX Runtime) beside the drop in
    test ROC AUC when a column is permuted (all its one-hot features together, 5 repeats) for a
    HistGradientBoosting fitted on the same training rows; and the direction of each column's effect
    (the correlation of its first encoded feature with its SHAP value, the same explainer run on each
    model: for a category, the first one-hot level's effect);
(b) the time an explained request adds at batch 1: in process (the scoring service's
    ``invocations``) and through ``serve``'s HTTP server, median and p99 over ``--requests``
    requests, with and without ``"explain": true``; and the no-explain p99 of the main branch's
    server on the same bundle (``git archive`` of ``--base``), so that a regression would show.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEED = 42  # params.yaml's seed: what export samples the background with


def bundle_copy(source: Path, folder: Path) -> Path:
    """The churn ANN's bundle in ``folder``, with the explain.json export now writes."""
    from pipeline.serving.bundle import write_manifest
    from pipeline.tasks import tabular

    model = folder / "models" / "churn" / "ann"
    model.mkdir(parents=True)
    for name in ("model.onnx", "encoder.json"):
        shutil.copy(source / "models" / "churn" / "ann" / name, model / name)
    manifest = json.loads((source / "models" / "churn" / "ann" / "manifest.json").read_text())
    with np.load(source / "data" / "encoded" / "churn" / "train.npz", allow_pickle=False) as npz:
        train_x = npz["x"]
    setup = tabular.explanation_setup(lambda: train_x, SEED)
    (model / "explain.json").write_text(json.dumps(setup))
    write_manifest(
        model,
        task="churn",
        kind="tabular",
        arch="ann",
        output=manifest["output"],
        input_spec=manifest["input"],
        metrics=manifest["metrics"],
    )
    return model


def split(source: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(source / "data" / "encoded" / "churn" / f"{name}.npz", allow_pickle=False) as npz:
        return npz["x"], npz["y"]


def directions(x: np.ndarray, values: np.ndarray, groups: list[np.ndarray]) -> list[float]:
    """Per column, the correlation of its first encoded feature with a per-row quantity."""
    out = []
    for j, features in enumerate(groups):
        feature = x[:, features[0]]
        out.append(float(np.corrcoef(feature, values[:, j])[0, 1]) if feature.std() > 0 else 0.0)
    return out


def agreement(source: Path, model: Path) -> None:
    """(a): the ANN's SHAP importances beside HGB's permutation importances, per user column."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from pipeline.serving.inference import Predictor
    from pipeline.tasks.explanations import column_contributions

    predictor = Predictor.from_dir(model)
    names, groups = predictor.encoder.input_columns, predictor.encoder.column_features()
    train_x, train_y = split(source, "train")
    test_x, test_y = split(source, "test")
    rng = np.random.default_rng(SEED)
    sample = test_x[np.sort(rng.choice(len(test_x), 200, replace=False))]
    background = np.asarray(predictor.explanation["background"], dtype=np.float32)
    started = time.perf_counter()
    _, shap_values, _ = column_contributions(predictor.predict_encoded, sample, background, groups)
    seconds = time.perf_counter() - started
    shap_mean = np.abs(shap_values).mean(axis=0)
    shap_direction = directions(sample, shap_values, groups)

    hgb = HistGradientBoostingClassifier(random_state=SEED).fit(train_x, train_y)
    base_auc = roc_auc_score(test_y, hgb.predict_proba(test_x)[:, 1])
    _, hgb_values, _ = column_contributions(lambda x: hgb.predict_proba(x)[:, 1], sample, background, groups)
    hgb_direction = directions(sample, hgb_values, groups)
    drops = []
    for features in groups:
        scores = []
        for _ in range(5):
            permuted = test_x.copy()
            permuted[:, features] = test_x[rng.permutation(len(test_x))][:, features]
            scores.append(base_auc - roc_auc_score(test_y, hgb.predict_proba(permuted)[:, 1]))
        drops.append(float(np.mean(scores)))

    print(f"(a) churn ANN: SHAP over 200 test rows in {seconds:.1f} s; HGB test ROC AUC {base_auc:.4f}")
    header = f"{'column':<16} {'mean|SHAP|':>10} {'rank':>4} {'dir':>5}"
    print(f"    {header}   {'HGB perm. drop':>14} {'rank':>4} {'dir':>5}")
    shap_rank = {j: r + 1 for r, j in enumerate(np.argsort(-shap_mean))}
    hgb_rank = {j: r + 1 for r, j in enumerate(np.argsort(-np.asarray(drops)))}
    for j in np.argsort(-shap_mean):
        print(
            f"    {names[j]:<16} {shap_mean[j]:>10.4f} {shap_rank[j]:>4} {shap_direction[j]:>+5.2f}   "
            f"{drops[j]:>14.4f} {hgb_rank[j]:>4} {hgb_direction[j]:>+5.2f}"
        )
    top_shap = [names[j] for j in np.argsort(-shap_mean)[:3]]
    top_hgb = [names[j] for j in np.argsort(-np.asarray(drops))[:3]]
    same_sign = all(
        np.sign(shap_direction[names.index(c)]) == np.sign(hgb_direction[names.index(c)]) for c in top_shap
    )
    print(
        f"    top three: SHAP {top_shap}, HGB {top_hgb}; same order: {top_shap == top_hgb}; "
        f"same set: {set(top_shap) == set(top_hgb)}; same directions on SHAP's top three: {same_sign}"
    )
    effects(top_shap, names, groups, sample, shap_values, hgb_values)


def effects(
    columns: list[str],
    names: list[str],
    groups: list[np.ndarray],
    sample: np.ndarray,
    shap_values: np.ndarray,
    hgb_values: np.ndarray,
) -> None:
    """A direction summarises a monotone effect: for a column of few values, show the effect itself."""
    for column in columns:
        j = names.index(column)
        feature = sample[:, groups[j][0]]
        if len(np.unique(feature)) > 5:
            continue
        cells = [
            f"{v:+.2f}: ANN {shap_values[at, j].mean():+.3f}, HGB {hgb_values[at, j].mean():+.3f}"
            for v in np.unique(feature)
            for at in [feature == v]
        ]
        print(f"    {column}, mean SHAP by its first feature's value: " + "; ".join(cells))


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"median {np.median(ms):6.2f} ms, p99 {np.percentile(ms, 99):6.2f} ms"


def in_process(model: Path, records: list[dict[str, Any]]) -> None:
    """(b) in process: the service's invocations on one row, with and without explain."""
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    service = ScoringService(Predictor.from_dir(model), "churn")
    started = time.perf_counter()
    service.invocations(json.dumps({"dataframe_records": records[:1], "explain": True}).encode(), None)
    print(f"(b) first explained request in a process (imports shap): {time.perf_counter() - started:.2f} s")
    for explain in (False, True):
        times = []
        for record in records:
            body = json.dumps({"dataframe_records": [record], "explain": explain}).encode()
            started = time.perf_counter()
            service.invocations(body, "application/json")
            times.append(time.perf_counter() - started)
        print(f"    in process, explain={str(explain).lower():<5}: {percentiles(times)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def through_http(checkout: Path, model: Path, records: list[dict[str, Any]], modes: tuple[bool, ...]) -> None:
    """(b) through ``serve`` started from ``checkout``: one row per request, sequential."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "churn", "--model", str(model), "--port", str(port)],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        connection = wait_for(port)
        for explain in modes:
            times = []
            for record in [records[0], *records]:  # the first: warm-up (shap's import), not counted
                doc = {"dataframe_records": [record], **({"explain": True} if explain else {})}
                started = time.perf_counter()
                connection.request(
                    "POST", "/invocations", json.dumps(doc), {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                response.read()
                times.append(time.perf_counter() - started)
                assert response.status == 200, response.status
            label = "main" if checkout != REPO else "this branch"
            print(f"    HTTP ({label}), explain={str(explain).lower():<5}: {percentiles(times[1:])}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(port: int, seconds: float = 60.0) -> http.client.HTTPConnection:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/health")
            connection.getresponse().read()
            return connection
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server on port {port} did not start in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=Path("/work/main"), help="a built checkout (read only)"
    )
    parser.add_argument("--base", default="main", help="the branch whose server is the no-explain baseline")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-http", action="store_true", help="in process only")
    parser.add_argument("--latency-only", action="store_true", help="(b) only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = bundle_copy(args.source, Path(folder))
        frame = pd.read_parquet(args.source / "data" / "encoded" / "churn" / "splits.parquet")
        rows = frame[frame["split"] == "test"].drop(columns=["split", "Exited"])
        records = rows.sample(args.requests, random_state=SEED).to_dict("records")
        in_process(model, records)  # first: its first request pays shap's import
        if not args.latency_only:
            agreement(args.source, model)
        if args.no_http:
            return
        base = Path(folder) / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.base], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        for checkout, modes in ((base, (False,)), (REPO, (False, True)), (base, (False,))):
            through_http(checkout, model, records, modes)  # main twice: before and after, for the noise


if __name__ == "__main__":
    main()
