"""validate: check a task's raw data against a Great Expectations suite built from params.yaml.

The suite is built in code from the task's schema (``<task>.schema``), so bringing a new CSV means
editing params.yaml, never a JSON suite. ``validate_frame`` is the pure core: it runs the suite on
a DataFrame and returns a ``ValidationSummary``; ``main`` reads ``data/raw/<task>.parquet`` and
writes ``reports/validation/<task>/result.json`` (stable: no timestamps or run ids, so unchanged
data gives an identical file) and the Data Docs site ``reports/validation/<task>/data_docs/``.

Reports are written on failure too: they describe the data now in ``data/raw`` (the previous
reports would describe data that no longer exists, and ``dvc repro`` deletes a stage's outputs
before running it anyway), so the user can open Data Docs to see what is wrong. The stage then
exits non-zero, so DVC records nothing and runs nothing downstream.

Rows are named as everywhere in the pipeline (:mod:`pipeline.rows`): data rows count from 1 under
the source CSV's header (blank lines count, though ingest does not store them), and file lines count
every line from 1 with the header as line 1. The file lines come from the ``row_map`` that ingest
writes to ``data/raw/<task>.source.json``; without one (generated data, an archive) rows are the
data rows of ``data/raw/<task>.parquet``, counted from 1. ``result.json`` (the summary next to the
Data Docs, which list unexpected values and counts but no rows) says which in ``row_numbers``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import tasks
from pipeline.core import paths
from pipeline.core.config import TaskConfig, params
from pipeline.core.errors import DataError
from pipeline.core.io import read_json, write_json
from pipeline.core.rows import RowMap
from pipeline.data.validation import Outcome, ValidationSummary, plain, row_numbers_note
from pipeline.tasks.base import HELPER_SUFFIXES

if TYPE_CHECKING:
    import great_expectations as gx

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 5}


def _gx() -> Any:
    """Import Great Expectations only when validating (it takes seconds), with analytics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


# ---------------------------------------------------------------------------------------- suite
def build_suite(task_config: TaskConfig, name: str = "raw_data") -> gx.ExpectationSuite:
    """The task's expectations, from its schema in params.yaml.

    Each expectation's ``meta`` names the user's column (range, whole-number and mean checks run
    on a helper column, see ``prepare_frame``) and, for aggregates, what is measured.
    """
    gx = _gx()
    checks = tasks.kind_of(task_config).expectations(task_config, gx.expectations)
    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        suite.add_expectation(check)
    return suite


# ---------------------------------------------------------------------------------------- frame
def prepare_frame(frame: pd.DataFrame, task_config: TaskConfig, rows: RowMap | None = None) -> pd.DataFrame:
    """The frame the suite runs on: data rows as the index, numbers parsed, helper columns added.

    The index is each row's data row number (from ``rows``, else the position counted from 1),
    so that Great Expectations reports unexpected rows as the user counts them.

    A numeric column read as text (one non-numeric value makes pandas read the whole column as
    strings) is turned into an object column holding numbers where a value parses and the
    original string where it does not, so the type check counts only the bad values.
    """
    out = frame.reset_index(drop=True).copy()
    positions = np.arange(len(out))
    out.index = pd.Index([rows.data_row(i) for i in positions] if rows is not None else positions + 1)
    kind = tasks.kind_of(task_config)
    for col in kind.number_columns(task_config):
        if col in out.columns:
            out[col] = _parse_numbers(out[col])
    kind.prepare(out, task_config)
    return out


def _parse_numbers(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        if pd.api.types.is_extension_array_dtype(column):  # nullable Int64/Float64: <NA> -> NaN
            return column.astype("float64")
        return column
    parsed = pd.to_numeric(column, errors="coerce")
    values = column.astype(object)
    keep = parsed.isna().to_numpy()
    numbers = parsed.astype(object).to_numpy()
    return pd.Series(np.where(keep, values.to_numpy(), numbers), index=column.index, dtype=object)


def _summarise(
    result: Any, suite: Any, frame: pd.DataFrame, rows: RowMap | None = None, source: str | None = None
) -> ValidationSummary:
    order = {e.id: i for i, e in enumerate(suite.expectations)}
    results = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    outcomes = [_outcome(r, frame, rows) for r in results]
    note = row_numbers_note(source if rows is not None else None)
    return ValidationSummary(
        success=bool(result.success), rows=len(frame), outcomes=outcomes, row_numbers=note
    )


def _outcome(r: Any, frame: pd.DataFrame, rows: RowMap | None = None) -> Outcome:
    config = r.expectation_config
    meta = config.meta or {}
    column = meta.get("column")
    skip = {"column", "batch_id", "type_list"}  # type_list: always NUMBER_TYPES, long
    kwargs = {k: plain(v) for k, v in config.kwargs.items() if k not in skip}
    if "column_set" in kwargs:  # helper columns are not the user's business
        kwargs["column_set"] = [c for c in kwargs["column_set"] if not _is_helper(c)]
    res = r.result or {}
    error = _exception_message(r.exception_info)
    missing = bool(column) and column not in frame.columns and config.type != "expect_column_to_exist"
    mismatched = (res.get("details") or {}).get("mismatched") or {}
    count = res.get("unexpected_count")
    data_rows = [int(i) for i in res.get("partial_unexpected_index_list") or []]
    observed = res.get("observed_value")
    if config.type == "expect_table_columns_to_match_set":
        observed = None  # the columns are listed as missing/unexpected instead
    return Outcome(
        expectation=config.type,
        column=column,
        success=bool(r.success),
        kwargs=kwargs,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if count is None else round(float(res.get("unexpected_percent") or 0.0), 4),
        observed_value=plain(observed),
        unexpected_values=[plain(v) for v in res.get("partial_unexpected_list") or []],
        unexpected_rows=data_rows,
        unexpected_lines=[rows.line_of_data_row(i) for i in data_rows] if rows is not None else [],
        # sorted: GX builds these from sets, whose order changes between processes
        missing_columns=sorted(c for c in mismatched.get("missing") or [] if not _is_helper(c)),
        unexpected_columns=sorted(mismatched.get("unexpected") or []),
        measure=meta.get("measure"),
        error=None if missing or r.success else error,
        column_missing=missing and not r.success,
    )


def _is_helper(column: str) -> bool:
    return column.endswith(HELPER_SUFFIXES)


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX nests exceptions per metric; return the first message."""
    if not info:
        return None
    if "exception_message" in info:
        return info["exception_message"] if str(info.get("raised_exception")) == "True" else None
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


# ------------------------------------------------------------------------------------- validate
def validate_frame(
    frame: pd.DataFrame,
    task_config: TaskConfig,
    docs_dir: Path | None = None,
    name: str = "raw_data",
    rows: RowMap | None = None,
    source: str | None = None,
) -> ValidationSummary:
    """Run the task's suite on ``frame``; with ``docs_dir``, also build the Data Docs site there.

    ``docs_dir`` must not exist yet: the site is built by a file-mode GX project in a temporary
    directory and copied there. ``rows``: where the rows are in ``source``, the CSV they were read
    from (ingest's ``row_map``), so that failures name data rows and file lines of that file.
    """
    gx = _gx()
    data = prepare_frame(frame, task_config, rows)
    with _context(gx, docs=docs_dir is not None) as (context, root):
        suite = context.suites.add(build_suite(task_config, name=name))
        asset = context.data_sources.add_pandas(name).add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe(name)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        if docs_dir is None:
            result = definition.run(batch_parameters={"dataframe": data}, result_format=RESULT_FORMAT)
        else:
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                    result_format=RESULT_FORMAT,
                )
            )
            run = checkpoint.run(batch_parameters={"dataframe": data})
            (result,) = run.run_results.values()
            site = root / "gx" / "uncommitted" / "data_docs" / "local_site"
            if not (site / "index.html").is_file():
                raise DataError(f"Great Expectations built no Data Docs in {site}")
            shutil.copytree(site, docs_dir)
    return _summarise(result, suite, data, rows, source)


@contextmanager
def _context(gx: Any, docs: bool) -> Iterator[tuple[Any, Path]]:
    """An ephemeral context, or a file one in a temporary project when Data Docs are wanted."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    with tempfile.TemporaryDirectory(prefix="gx-") as tmp:
        context = (
            gx.get_context(mode="file", project_root_dir=tmp) if docs else gx.get_context(mode="ephemeral")
        )
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        yield context, Path(tmp)


# ------------------------------------------------------------------------------------------ cli
def read_row_map(meta_path: Path) -> tuple[RowMap | None, str | None]:
    """Ingest's ``row_map`` and the source it describes, if the note has them."""
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError):
        return None, None
    rows = RowMap.from_json(meta.get("row_map")) if isinstance(meta, dict) else None
    return (rows, str(meta.get("source"))) if rows is not None else (None, None)


def read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found; run 'python -m pipeline ingest <task>' (or 'dvc repro') first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable parquet file: {exc}") from exc


def publish(summary: ValidationSummary, staged_docs: Path, out_dir: Path, source: str) -> None:
    """Swap the new Data Docs in and write result.json atomically."""
    target = out_dir / "data_docs"
    old = out_dir / f".data_docs.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(staged_docs, target)
    shutil.rmtree(old, ignore_errors=True)
    write_json(out_dir / "result.json", {"data": source, **summary.as_dict()})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline validate",
        description="Validate data/raw/<task>.parquet against the task's Great Expectations suite "
        "(built from <task>.schema in params.yaml); write result.json and Data Docs under "
        "reports/validation/<task>/ (on failure too), and exit 1 if an expectation fails.",
    )
    parser.add_argument("task", help="a task of params.yaml")
    args = parser.parse_args(argv)
    config = params().task(args.task)
    path = paths.raw_data(args.task)
    source = _relative(path)
    frame = read_raw(path)
    rows, origin = read_row_map(paths.raw_meta(args.task))
    out_dir = paths.validation_dir(args.task)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        summary = validate_frame(
            frame, config, docs_dir=staging / "data_docs", name=args.task, rows=rows, source=origin
        )
        publish(summary, staging / "data_docs", out_dir, source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = _relative(out_dir)
    if not summary.success:
        raise DataError(
            f"{summary.message(source)}\nreports: {report}/result.json, {report}/data_docs/index.html"
        )
    print(f"{source}: {len(frame)} rows passed {len(summary.outcomes)} expectations -> {report}/")
    return 0


def _relative(path: Path) -> str:
    try:
        return path.relative_to(paths.project_root()).as_posix()
    except ValueError:
        return str(path)
