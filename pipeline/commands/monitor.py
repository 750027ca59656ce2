"""monitor: has a batch drifted from the data the model was built on? (issue 24; docs/monitoring.md)

    python -m pipeline monitor churn --input batch.parquet          # or batch.csv
    python -m pipeline monitor sentiment --requests logs/requests.jsonl   # serve --log-requests' log

The reference is a split of the task as encode wrote it (``data/encoded/<task>/splits.parquet``):
``monitor.reference``, by default the validation rows (``split`` is ``val``), held out from the
fitting of the model and its vocabulary as a new batch is (the training rows are closer to both
than any new data, and find drift in unaltered held-out data); read with pandas, a seeded sample
of ``monitor.sample_rows`` rows (a bigger batch is sampled alike). Each input column the kind
names (``drift_columns``) is tested (:mod:`pipeline.commands.drift`), and both samples are scored
by the same ONNX bundle (``models:/<task>@champion`` unless ``--model``) to compare the predictions.

Writes ``drift.json`` (every test's statistic, p-value and decision) and ``drift.html`` (offline) to
``--output-dir`` (default ``reports/monitor/<task>/<UTC time>/``) and logs both, with the p-values
as metrics, to a run of the MLflow experiment ``<task>-monitoring``.

Exit status: 0 no drift; 4 drift past ``monitor`` in params.yaml; 1 an unreadable file, a missing
column or no reference split; 2 bad arguments or a kind that cannot be monitored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.commands.drift import (
    DriftTest,
    TextSettings,
    category_test,
    number_test,
    prediction_tests,
    text_tests,
)
from pipeline.core.errors import DataError

EXIT_OK, EXIT_FAILED, EXIT_UNSUPPORTED, EXIT_DRIFT = 0, 1, 2, 4
EXPERIMENT_SUFFIX = "-monitoring"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline monitor",
        description="Compare a batch with a split of the task (monitor.reference: its validation "
        "split by default): per-column drift tests and the shift of the model's predictions.",
        epilog="Exit status: 0 no drift; 4 drift past params.yaml's monitor section; 1 unreadable "
        "input, a missing column or no reference split; 2 bad arguments or a kind that cannot be monitored.",
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="the batch: a .csv or .parquet file of raw rows")
    source.add_argument(
        "--requests", type=Path, metavar="LOG", help="serve --log-requests' JSONL log (with LOG.1, ...)"
    )
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    parser.add_argument(
        "--output-dir", type=Path, help="default: reports/monitor/<task>/<UTC time>/ in the project"
    )
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: one per core)")
    return parser


# ------------------------------------------------------------------------------- reading
SPLIT_OF_REFERENCE = {"validation": "val", "train": "train"}  # monitor.reference -> encode's name


def read_reference(task: str, reference: str) -> tuple[pd.DataFrame, Path]:
    """The split ``monitor.reference`` names as encode recorded it: the raw rows whose ``split`` is
    ``val`` (or ``train``). No such rows is an error, not a silent fallback to the training rows:
    those find drift in any held-out data (docs/monitoring.md)."""
    from pipeline.core import paths

    path = paths.encoded_dir(task) / "splits.parquet"
    if not path.is_file():
        raise DataError(
            f"{path}: not found; the reference split comes from 'python -m pipeline repro encode@{task}'"
        )
    frame = pd.read_parquet(path)
    if "split" not in frame.columns:
        raise DataError(f"{path}: no 'split' column; rerun 'python -m pipeline repro encode@{task}'")
    split = SPLIT_OF_REFERENCE[reference]
    rows = frame[frame["split"] == split].drop(columns="split").reset_index(drop=True)
    if rows.empty:
        raise DataError(
            f"{path}: no rows of split {split!r} (monitor.reference: {reference}); give the task a "
            f"validation split and rerun 'python -m pipeline repro encode@{task}', or set "
            f"monitor.tasks.{task}.reference: train (expect false alarms on held-out data)"
        )
    return rows, path


def read_batch(args: argparse.Namespace, encoder: Any, text_column: str | None) -> tuple[pd.DataFrame, str]:
    if args.requests is not None:
        from pipeline.serving.request_log import read_request_log

        try:
            return read_request_log(args.requests, encoder), str(args.requests)
        except (ValueError, OSError) as exc:
            raise DataError(str(exc)) from exc
    from pipeline.commands.score import file_format, read_chunks

    file_format(args.input, "--input")
    chunks = list(read_chunks(args.input, 65_536, text_column))
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise DataError(f"{args.input}: no data rows")
    return pd.concat(chunks, ignore_index=True), str(args.input)


def sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows, the same ones for the same seed."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def check_columns(batch: pd.DataFrame, columns: dict[str, str], source: str) -> None:
    missing = [c for c in columns if c not in batch.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; the model reads {', '.join(columns)}"
        )


# ------------------------------------------------------------------------------- testing
def drift_tests(
    kind: Any, encoder: Any, reference: pd.DataFrame, batch: pd.DataFrame, settings: Any, seed: int = 0
) -> list[DriftTest]:
    """Every column's tests, by the type the kind gives it (``seed``: the texts' permutations)."""
    text = TextSettings(settings.p_value, settings.top_tokens, settings.permutations, seed)
    tests: list[DriftTest] = []
    for column, kind_of_column in kind.drift_columns(encoder).items():
        ref, new = reference[column], batch[column]
        if kind_of_column == "number":
            tests.append(number_test(column, ref, new, settings.p_value))
        elif kind_of_column == "category":
            tests.append(category_test(column, ref, new, settings.p_value))
        else:
            tokens_of = lambda text: kind.drift_tokens(encoder, text)  # noqa: E731
            tests += text_tests(column, ref, new, tokens_of, text)
    return tests


def predicted(predictor: Any, frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The model's scores of ``frame``'s rows (NaN where it refuses a row) and how many it refused."""
    from pipeline.commands.predict import score_in_chunks

    probabilities, _, errors = score_in_chunks(predictor, frame)
    return probabilities, len({e.row for e in errors})


# ------------------------------------------------------------------------------- outputs
def output_dir(task: str, given: Path | None, now: dt.datetime) -> Path:
    from pipeline.core import paths

    folder = given or paths.project_root() / "reports" / "monitor" / task / now.strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def metric_key(test: DriftTest) -> str:
    """An MLflow metric name for a test's p-value (letters, digits, ``_-./``)."""
    return re.sub(r"[^A-Za-z0-9_./-]+", "_", f"p_value.{test.column}.{test.measure}")


def log_to_mlflow(task: str, report: dict[str, Any], tests: list[DriftTest], folder: Path) -> str:
    """A run of ``<task>-monitoring`` with the settings, the p-values and both files; its id."""
    import mlflow

    from pipeline.core.tracking import run_tags, setup_experiment

    setup_experiment(task + EXPERIMENT_SUFFIX)
    verdict = report["verdict"]
    tags = run_tags(task, drift=str(verdict["drift"]).lower(), model=report["model"])
    with mlflow.start_run(run_name=f"monitor {Path(report['batch']['source']).name}", tags=tags) as run:
        mlflow.log_params(report["settings"] | {"input": report["batch"]["source"]})
        metrics = {metric_key(t): t.p_value for t in tests}
        metrics |= {
            "drifted_share": verdict["drifted_share"],
            "batch_rows": report["batch"]["rows"],
            "reference_rows": report["reference"]["rows"],
        }
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(folder / "drift.json"), "monitor")
        mlflow.log_artifact(str(folder / "drift.html"), "monitor")
        return str(run.info.run_id)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.core.config import params
    from pipeline.serving.inference import Predictor, check_model
    from pipeline.tasks import kind_named

    p = params()
    p.task(args.task)
    settings = p.monitor.for_task(args.task)
    uri = args.model or f"models:/{args.task}@champion"
    predictor = Predictor.load(uri, threads=args.threads)
    check_model(predictor, args.task, uri)
    kind = kind_named(predictor.kind)
    try:
        columns = kind.drift_columns(predictor.encoder)
    except ValueError as exc:
        print(f"monitor {args.task}: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    split, split_path = read_reference(args.task, settings.reference)
    batch, source = read_batch(args, predictor.encoder, kind.text_column(predictor.encoder))
    check_columns(batch, columns, source)
    check_columns(split, columns, str(split_path))
    reference = sample(split, settings.sample_rows, p.seed)
    batch = sample(batch, settings.sample_rows, p.seed)
    report, tests = compare(args.task, uri, predictor, kind, reference, batch, settings, p.seed)
    report["reference"] |= {
        "source": str(split_path),
        "split": SPLIT_OF_REFERENCE[settings.reference],
        "split_rows": len(split),
    }
    report["batch"]["source"] = source
    folder = output_dir(args.task, args.output_dir, dt.datetime.fromisoformat(report["created"]))
    (folder / "drift.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    from pipeline.commands.drift_report import render_html

    (folder / "drift.html").write_text(render_html(report), encoding="utf-8")
    run_id = log_to_mlflow(args.task, report, tests, folder)
    print_summary(args.task, report, tests, folder, run_id)
    return EXIT_DRIFT if report["verdict"]["drift"] else EXIT_OK


def compare(
    task: str,
    uri: str,
    predictor: Any,
    kind: Any,
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    settings: Any,
    seed: int = 0,
) -> tuple[dict[str, Any], list[DriftTest]]:
    """Pure core: every test, the verdict, and the report that ``drift.json`` holds."""
    from pipeline.commands.drift import verdict

    tests = drift_tests(kind, predictor.encoder, reference, batch, settings, seed)
    ref_scores, _ = predicted(predictor, reference)
    batch_scores, refused = predicted(predictor, batch)
    tests += prediction_tests(ref_scores, batch_scores, settings.p_value)
    found = verdict(tests, settings.max_drifted_share, settings.predictions)
    report = {
        "task": task,
        "model": uri,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": settings.model_dump(),
        "reference": {"rows": len(reference)},
        "batch": {"rows": len(batch), "invalid_rows": refused},
        "verdict": vars(found),
        "tests": [t.as_dict() for t in tests],
    }
    return report, tests


def print_summary(
    task: str, report: dict[str, Any], tests: list[DriftTest], folder: Path, run_id: str
) -> None:
    for test in tests:
        mark = "DRIFT" if test.drifted else "ok"
        what = f"{test.column} {test.measure}"
        print(f"  {mark:5} {what}: {test.test} {test.statistic:.4g}, p = {test.p_value:.3g}")
    verdict = report["verdict"]
    said = "; ".join(verdict["reasons"]) if verdict["drift"] else "no drift"
    print(
        f"monitor {task}: {said}; wrote {folder}/drift.json and drift.html "
        f"(MLflow run {run_id} in {task}{EXPERIMENT_SUFFIX})"
    )
