"""The ``score@<task>`` DVC stage (``python -m pipeline score <task> --stage``), issue 24.

A scoring job a scheduler can run with ``dvc repro``: the champion scores the file that
``scoring.<task>.input`` names. Its dependencies are that file and the champion record
(``reports/registry/<task>.champion.json``, written by ``promote`` and ``--rollback``), so the stage
reruns when the data or the champion changes and is skipped otherwise. The model is the version the
record names, not whatever ``@champion`` points to at run time: a record and a registry that
disagree (the alias moved by hand) give the record's version, which DVC has hashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.errors import DataError, ModelError
from pipeline.core.io import atomic_folder, read_json, write_json

SCORED, REJECTS = "scored.parquet", "rejects.csv"


def champion_version(task: str) -> dict[str, Any]:
    """The champion record ``promote`` wrote: a clear error when there is none."""
    record_path = paths.champion_record(task)
    if not record_path.is_file():
        raise ModelError(
            f"{record_path}: not found; score@{task} scores with the champion, and 'python -m pipeline "
            f"promote {task}' writes this record when it sets one"
        )
    record = read_json(record_path)
    if not isinstance(record, dict) or not str(record.get("version", "")).isdigit():
        raise ModelError(f"{record_path}: expected a JSON object with the champion's 'version' number")
    return record


def rejected_share_problem(task: str, tally: Any, limit: float, source: Path) -> str | None:
    """Why the stage fails on its rejects, or None when their share is tolerated."""
    share = tally.rejected / tally.rows if tally.rows else 0.0
    if share <= limit:
        return None
    reasons = "; ".join(dict.fromkeys(tally.first_reasons))
    return (
        f"{source}: {tally.rejected} of {tally.rows} rows rejected ({share:.2%}), above "
        f"scoring.{task}.max_rejected_share {limit:g}; the earlier scores are kept. First reasons: "
        f"{reasons}. 'python -m pipeline score {task} --input {source} --output OUT' lists every row"
    )


def run_stage(task: str, threads: int = 0) -> int:
    from pipeline.commands.score import answer_options, score_file
    from pipeline.core.config import params
    from pipeline.serving.inference import Predictor, check_model

    settings = params().scoring.get(task)
    if settings is None:
        raise DataError(f"params.yaml has no scoring.{task} section: score@{task} scores the file it names")
    record = champion_version(task)
    uri = f"models:/{task}/{record['version']}"
    predictor = Predictor.load(uri, threads=threads)
    check_model(predictor, task, uri)
    source = paths.project_root() / settings.input
    with atomic_folder(paths.scores_dir(task)) as folder:
        tally = score_file(
            predictor,
            source,
            folder / SCORED,
            folder / REJECTS,
            ids=list(settings.ids) or None,
            chunk_rows=settings.chunk_rows,
            options=answer_options(predictor, None),
        )
        problem = rejected_share_problem(task, tally, settings.max_rejected_share, Path(settings.input))
        if problem:
            raise DataError(problem)
    summary = {
        "model": uri,
        "arch": record.get("arch"),
        "input": settings.input,
        "rows": tally.rows,
        "scored": tally.scored,
        "rejected": tally.rejected,
        "rejected_share": round(tally.rejected / tally.rows, 6) if tally.rows else 0.0,
    }
    write_json(paths.scoring_summary(task), summary)
    print(
        f"score@{task}: {tally.scored} of {tally.rows} rows scored with {uri} into {paths.scores_dir(task)}"
    )
    return 0
