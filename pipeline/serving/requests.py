"""Request parsing for ``serve``: an MLflow scoring request's body to rows, or the error to answer.

* ``POST /invocations`` with ``Content-Type: application/json`` and exactly one of
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
  ``{"dataframe_records": [{...}, ...]}``, ``{"instances": [...]}`` or ``{"inputs": [...]}``
  (a list of records, of value lists in the encoder's column order, of texts, or a dict of
  columns), optionally with ``"params": {"neutral_band": 0.2}`` (sentiment) or ``{"top_k": 5,
  "generate": 10, "temperature": 0.8, "seed": 1}`` (a next-word model), and ``"explain": true``
  for each row's top contributions (a table's columns, a text's words); or ``text/csv``.

What an item of ``instances``/``inputs`` may be, and how a CSV body's cells are read, is the
kind's answer (``pipeline.tasks.<kind>``, its serving side): a text task takes bare texts.

Errors are JSON, ``{"error_code": "BAD_REQUEST", "message": "...", "errors": [{"row": i, "column":
..., "message": ...}, ...]}``: 400 for invalid JSON, an unknown or ambiguous format, a missing
field, a wrong type or an invalid row; 413 for more than ``serve.max_rows`` rows; 415 for another
content type. Rows are numbered as everywhere in the pipeline (:mod:`pipeline.core.rows`): ``row``
counts the request's rows from 1 (the first row, record, instance or text is row 1); for a CSV body
it is the data row (counted from 1 under the header, a blank line being a row too) and ``line`` is
its line in the body (the header is line 1).
"""

from __future__ import annotations

import functools
import io
from typing import Any

import pandas as pd

from pipeline.core.rows import csv_header, header_problem, scan_rows
from pipeline.encoders.base import RowError
from pipeline.tasks import kind_named

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPE, CSV_TYPE = "application/json", "text/csv"

Rows = tuple[list[dict[str, Any]], list[RowError]]


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and per-row details."""

    def __init__(
        self, status: int, message: str, errors: list[RowError] | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.close = close  # end the connection after answering

    def body(self) -> dict[str, Any]:
        return error_body(self.message, [e.as_dict() for e in self.errors])


def error_body(message: str, errors: list[dict[str, Any]] | None = None, code: str = "BAD_REQUEST") -> dict:
    return {"error_code": code, "message": message, "errors": errors or []}


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def rows_from_json(doc: Any, encoder: Any, max_rows: int) -> Rows:
    """The rows of an MLflow JSON payload as dicts, plus structural errors of single rows.

    Raises :class:`RequestError` when the payload as a whole is unusable.
    """
    if not isinstance(doc, dict):
        raise RequestError(
            400, f"the body must be a JSON object with one of {', '.join(FORMATS)}; got {_kind(doc)}"
        )
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = ", ".join(map(str, doc)) or "none"
        raise RequestError(
            400, f"the body must hold exactly one of {', '.join(FORMATS)}; found keys: {found}"
        )
    fmt = keys[0]
    if fmt == "dataframe_split":
        return _split_rows(doc[fmt], max_rows)
    if fmt == "dataframe_records":
        return _record_rows(doc[fmt], max_rows)
    return _instance_rows(fmt, doc[fmt], encoder, max_rows)


def _split_rows(value: Any, max_rows: int) -> Rows:
    """``dataframe_split``: column names and rows of values."""
    if not isinstance(value, dict):
        raise RequestError(
            400, f"dataframe_split must be an object with 'columns' and 'data'; got {_kind(value)}"
        )
    for name in ("columns", "data"):
        if name not in value:
            raise RequestError(400, f"dataframe_split is missing the field {name!r}")
    names, data = value["columns"], value["data"]
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
        raise RequestError(400, "dataframe_split.columns must be a list of column names (strings)")
    if len(set(names)) != len(names):
        raise RequestError(400, f"dataframe_split.columns: {header_problem(names)}")
    if not isinstance(data, list):
        raise RequestError(400, f"dataframe_split.data must be a list of rows; got {_kind(data)}")
    _check_count(len(data), max_rows)
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            errors.append(RowError(i, f"expected a list of {len(names)} values (one per column), got {got}"))
            rows.append({})
        else:
            rows.append(dict(zip(names, row, strict=True)))
    return rows, errors


def _record_rows(value: Any, max_rows: int) -> Rows:
    """``dataframe_records``: a list of objects."""
    if not isinstance(value, list):
        raise RequestError(400, f"dataframe_records must be a list of objects; got {_kind(value)}")
    _check_count(len(value), max_rows)
    rows, errors = [], []
    for i, row in enumerate(value):
        if isinstance(row, dict):
            rows.append(row)
        else:
            errors.append(RowError(i, f"expected an object mapping column names to values, got {_kind(row)}"))
            rows.append({})
    return rows, errors


def _instance_rows(fmt: str, value: Any, encoder: Any, max_rows: int) -> Rows:
    """``instances``/``inputs``: a list of rows, a dict of columns, or (a text kind) a single text."""
    kind = kind_named(encoder.kind)
    if isinstance(value, str) and kind.instance_row(value, encoder) is not None:
        value = [value]
    if isinstance(value, dict):
        lengths = {len(v) if isinstance(v, list) else None for v in value.values()}
        if lengths == {None}:  # one row given as {column: value}
            value = [value]
        elif None in lengths or len(lengths) != 1:
            raise RequestError(400, f"{fmt} as an object must map every column to a list of the same length")
        else:
            n = lengths.pop() or 0
            _check_count(n, max_rows)
            return [{k: v[i] for k, v in value.items()} for i in range(n)], []
    if not isinstance(value, list):
        raise RequestError(400, f"{fmt} must be a list of rows or an object of columns; got {_kind(value)}")
    _check_count(len(value), max_rows)
    columns = kind.request_columns(encoder)
    rows, errors = [], []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            row: dict[str, Any] | None = item
        elif isinstance(item, list):
            row = dict(zip(columns, item, strict=True)) if len(item) == len(columns) else None
        else:
            row = kind.instance_row(item, encoder)
        if row is None:
            got = f"a list of {len(item)} values" if isinstance(item, list) else _kind(item)
            errors.append(RowError(i, f"expected {kind.instance_expected(encoder)}, got {got}"))
            row = {}
        rows.append(row)
    return rows, errors


def _check_count(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise RequestError(413, f"{n} rows in one request; at most {max_rows} (serve.max_rows)")


def frame_from_csv(text: str, encoder: Any, max_rows: int) -> pd.DataFrame:
    """The rows of a CSV body. A blank line is a row (refused as empty), so that no later row
    number shifts; blank lines at the end are not rows."""
    text = text.rstrip("\r\n") + "\n"
    problem = header_problem(csv_header(text))  # before pandas renames a second 'Age' to 'Age.1'
    if problem:
        raise RequestError(400, f"the CSV body: {problem}")
    options = kind_named(encoder.kind).csv_read_options()
    try:
        frame = pd.read_csv(io.StringIO(text), **options, skip_blank_lines=False)
    except pd.errors.EmptyDataError as exc:
        raise RequestError(400, "the CSV body is empty; expected a header line and rows") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise RequestError(400, f"the body is not a readable CSV: {exc}") from exc
    _check_count(len(frame), max_rows)
    return frame


def csv_lines(errors: list[RowError], text: str, n_rows: int) -> list[RowError]:
    """The errors of a CSV body with the body line of each row (computed only when there are errors)."""
    rows = scan_rows(text.rstrip("\r\n") + "\n", keep_blank=True, expected=n_rows)
    if rows is None:
        return errors
    return [RowError(e.row, e.message, e.column, rows.line(e.row)) for e in errors]


def parse_params(doc: Any, predictor: Any) -> dict[str, Any]:
    """MLflow's optional ``params``, as the model's kind takes them: ``neutral_band`` (a classifier);
    ``top_k``, ``generate``, ``temperature`` and ``seed`` (a language model)."""
    from pipeline.serving.responses import check_request_params

    if not isinstance(doc, dict) or doc.get("params") is None:
        return {}
    params = doc["params"]
    if not isinstance(params, dict):
        raise RequestError(400, f"params must be an object; got {_kind(params)}")
    try:  # "explain" is every kind's (parse_explain), the others the kind's
        return check_request_params(predictor, {k: v for k, v in params.items() if k != "explain"})
    except ValueError as exc:
        message = str(exc)
        raise RequestError(400, message if message.startswith("unknown") else f"params.{message}") from exc


def parse_explain(doc: Any) -> bool:
    """The request's ``"explain"`` flag, at the top or in ``params`` (as ``mlflow models serve``
    passes it to the pyfunc): false when absent, else it must be a boolean."""
    if not isinstance(doc, dict):
        return False
    params: dict[str, Any] = doc["params"] if isinstance(doc.get("params"), dict) else {}
    value = doc.get("explain", params.get("explain", False))
    if not isinstance(value, bool):
        raise RequestError(400, f"explain must be true or false; got {_kind(value)}")
    return value


@functools.lru_cache(maxsize=64)  # clients send the same header on every request
def content_type_of(header: str | None) -> str:
    """The media type, checked like MLflow: only UTF-8, no other parameters."""
    if not header:
        return JSON_TYPE  # curl-style clients that send none get JSON
    mime, *rest = (part.strip() for part in header.split(";"))
    extra = {}
    for part in rest:
        key, _, value = part.partition("=")
        extra[key.strip().lower()] = value.strip().strip('"').lower()
    if extra.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise RequestError(415, f"only UTF-8 bodies are supported; got charset {extra['charset']}")
    if set(extra) - {"charset"}:
        raise RequestError(
            415, f"unsupported content type parameters: {', '.join(sorted(set(extra) - {'charset'}))}"
        )
    mime = mime.lower()
    if mime not in (JSON_TYPE, CSV_TYPE):
        raise RequestError(415, f"content type {mime!r} is not supported; use {JSON_TYPE} or {CSV_TYPE}")
    return mime
