"""The scoring service behind ``serve``: one loaded model, its limits, and what a request needs.

:class:`ScoringService` parses a request (:mod:`pipeline.serving.requests`), scores its valid rows
with ONNX Runtime and answers exactly what the registered pyfunc returns
(:mod:`pipeline.serving.responses`): churn ``{"probability": p, "prediction": 0|1}``, sentiment
``{"probability": p, "label": "Positive"|"Negative"|"Neutral", "known_token_share": s, "warning":
null|"..."}`` (Neutral with a warning when no word of the text is known), a multi-class model
``{"label": class, "probability": p, "top": [...]}``, a next-word model the same plus
``"unknown_words"``, ``"known_token_share"``, ``"warning"`` and, with ``generate``, ``"generated"``.

Policy: a request with any invalid row is refused whole (400) and every bad row is listed. This is
what ``mlflow models serve`` does (the pyfunc raises on bad input), so a client sees the same
all-or-nothing behaviour from both, and never has to match partial results to rows.

A big batch runs the same :meth:`ScoringService.invocations` in a worker process of its own
(:mod:`pipeline.serving.big_batches`), so that small requests are not kept waiting behind it.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from pipeline.encoders.base import RowError
from pipeline.serving.inference import ScoreResult
from pipeline.serving.requests import (
    CSV_TYPE,
    RequestError,
    content_type_of,
    csv_lines,
    frame_from_csv,
    parse_explain,
    parse_params,
    rows_from_json,
)


def parse_json(text: str) -> Any:
    """``json.loads(text)``: by orjson, a few times faster, when it accepts the text (RFC 8259 JSON,
    which both read alike, except an integer past 64 bits: a float here, as the model reads it
    anyway); else by json itself, whose leniency (NaN, Infinity, lone surrogates) and error
    messages the checks after it rely on."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


@dataclass
class ScoringService:
    """Everything a request needs: the predictor, its limits, and what /health reports."""

    predictor: Any
    model_uri: str
    neutral_band: float | None = None  # None: the bundle's (a binary text model's output contract)
    max_rows: int = 1_000
    max_body_bytes: int = 1_048_576
    max_generate: int | None = None  # None: the bundle's most generated words per request
    request_log: Any = None  # serve --log-requests: a RequestLog (pipeline.serving.request_log)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        overrides = {"neutral_band": self.neutral_band, "max_generate": self.max_generate}
        for key, value in overrides.items():  # only where the bundle's contract has the setting
            if value is not None and key in self.predictor.output:
                self.predictor.output = self.predictor.output | {key: value}
        source = self.predictor.source  # what Predictor.load resolved the URI to
        self.identity = {  # computed once: /health answers without touching the disk
            "registered_model": source.registered_model,
            "model_version": source.version,
            "alias": source.alias,
            "run_id": source.run_id,
            "onnx_sha256": self.predictor.onnx_sha256,
        }

    @property
    def task(self) -> str:
        return self.predictor.task or self.predictor.kind

    @functools.cached_property
    def page(self) -> bytes:
        """The HTML page of ``GET /``, filled once from the model's encoder."""
        from pipeline.serving.page import page_config, render_page

        band = self.predictor.output.get("neutral_band")
        return render_page(page_config(self.predictor, self.identity, band))

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "task": self.predictor.task,
            "arch": self.predictor.arch,
            "model": self.model_uri,
            **self.identity,
        }

    def version(self) -> dict[str, Any]:
        import importlib.metadata

        import onnxruntime

        try:
            version = importlib.metadata.version("dl-pipeline")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return {
            "version": version,
            "onnxruntime": onnxruntime.__version__,
            "python": sys.version.split()[0],
            **self.health(),
        }

    def invocations(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        """Score one request; raises :class:`RequestError` for anything the client must fix."""
        batch = self.parse(body, content_type)
        n = len(batch.index)
        return self.answer(batch, [(0, batch.score(0, n))] if n else [])

    def parse(self, body: bytes, content_type: str | None) -> Batch:
        """The request's rows, ready to score, and its structural errors."""
        mime = content_type_of(content_type)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(400, f"the body is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
        encoder = self.predictor.encoder
        if mime == CSV_TYPE:
            frame = frame_from_csv(text, encoder, self.max_rows)
            n = len(frame)
            return Batch(
                n,
                list(range(n)),
                lambda lo, hi: self.predictor.score_frame(frame.iloc[lo:hi]),
                csv_text=text,
                inputs=frame,
            )
        try:
            doc = parse_json(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
        options = parse_params(doc, self.predictor)
        explain = parse_explain(doc)
        rows, errors = rows_from_json(doc, encoder, self.max_rows)
        bad = {e.row for e in errors}
        index = [i for i in range(len(rows)) if i not in bad]
        valid = [rows[i] for i in index]
        return Batch(
            len(rows),
            index,
            lambda lo, hi: self.predictor.score_records(valid[lo:hi]),
            errors,
            options,
            inputs=valid,
            explain=explain,
        )

    def answer(self, batch: Batch, results: list[tuple[int, ScoreResult]]) -> dict[str, Any]:
        """The predictions from the scored chunks ``(first valid row, result)``; or the 400 that
        lists every invalid row."""
        from pipeline.serving.responses import answer_rows

        if batch.n_rows == 0:
            return {"predictions": []}
        errors = list(batch.errors)
        for lo, result in results:  # chunk rows -> request rows
            errors += [RowError(batch.index[lo + e.row], e.message, e.column) for e in result.errors]
        if errors or not batch.index:
            if batch.csv_text is not None:
                errors = csv_lines(errors, batch.csv_text, batch.n_rows)
            errors.sort(key=lambda e: e.row)
            n_bad = len({e.row for e in errors})
            message = f"{n_bad} of {batch.n_rows} rows are invalid; nothing was scored (fix or drop them)"
            raise RequestError(400, message, errors)
        if len(results) == 1:  # one chunk: its results are the batch's (the usual request)
            probabilities, shares = results[0][1].probabilities, results[0][1].known_token_share
        else:  # (n,) or (n, n_classes) probabilities, and text's known-token shares, chunk by chunk
            probabilities = np.concatenate([r.probabilities for _, r in results])
            has_shares = results[0][1].known_token_share is not None
            shares = np.concatenate([r.known_token_share for _, r in results]) if has_shares else None
        answers = answer_rows(self.predictor, probabilities, shares, batch.inputs, batch.options)
        if batch.explain:  # only then: a request without it does no more than before
            add_explanations(self.predictor, answers, batch.inputs, probabilities)
        return {"predictions": answers}


@dataclass
class Batch:
    """A parsed request: ``score(lo, hi)`` scores its valid rows ``lo`` to ``hi``; ``index`` maps
    each valid row to its position in the request."""

    n_rows: int
    index: list[int]
    score: Callable[[int, int], ScoreResult]
    errors: list[RowError] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    csv_text: str | None = None  # a CSV body: to give each invalid row its line
    inputs: Any = None  # the valid rows (records, or a CSV's DataFrame): a language model reads their texts
    explain: bool = False  # the request's "explain": each answer gets its "explanation"


def add_explanations(predictor: Any, answers: list[dict[str, Any]], inputs: Any, probabilities: Any) -> None:
    """Each answer's ``explanation``, as the model's kind gives it; a kind that cannot explain is the
    client's 400 (the request asked for what this model does not offer)."""
    from pipeline.serving.responses import explain_rows

    try:
        explanations = explain_rows(predictor, inputs, probabilities)
    except ValueError as exc:
        raise RequestError(400, str(exc)) from exc
    for answer, explanation in zip(answers, explanations, strict=True):
        answer["explanation"] = explanation
