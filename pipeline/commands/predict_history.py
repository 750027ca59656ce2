"""``predict <task> --history recent.csv``: a forecaster's answer to one history (issue 22).

The CSV holds the series' recent rows, oldest first, in the training columns (with a task's known
covariates, ``horizon`` more rows holding them and the target left blank). The whole file is one
input: the output is the next ``horizon`` steps, a row each, with its ``timestamp`` and ``value``. A
history the model cannot read (too short, a gap, a wrong frequency, a blank value) is refused
naming what is wrong, and nothing is written (exit status 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import DataError
from pipeline.tasks import kind_named


def read_history(path: Path, options: dict[str, Any]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except (OSError, ValueError) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise DataError(f"{path}: cannot read the history as CSV ({exc})") from exc


def forecast_frame(predictor: Any, history: pd.DataFrame, source: str) -> pd.DataFrame:
    """The forecast of ``history`` as a table (a row per step ahead); DataError naming the problem."""
    from pipeline.serving.responses import answer_rows

    kind = kind_named(predictor.kind)
    result = predictor.score_frame(history)
    if result.errors:
        raise DataError(f"{source}: " + "; ".join(e.message for e in result.errors))
    answers = answer_rows(predictor, result.probabilities, None, history)
    return pd.DataFrame(kind.predict_columns(answers, result.probabilities, None))


def predict_history(args: Any, predictor: Any, uri: str) -> int:
    """Print (or write to ``--output``) the forecast of ``--history``."""
    kind = kind_named(predictor.kind)
    table = forecast_frame(predictor, read_history(args.history, kind.csv_read_options()), str(args.history))
    if args.output:
        if str(args.output).endswith(".json"):
            args.output.write_text(table.to_json(orient="records", indent=1) + "\n", encoding="utf-8")
        else:
            table.to_csv(args.output, index=False)
    elif args.format == "csv":
        sys.stdout.write(table.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(table.to_json(orient="records") + "\n")
    else:
        print(table.to_string(index=False))
    print(f"predict {args.task}: the next {len(table)} steps from {args.history} with {uri}", file=sys.stderr)
    return 0
