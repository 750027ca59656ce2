"""The answer of ``predict``, ``serve`` and the registered pyfunc, asked of the model's kind.

Each kind module puts its answer together (``answers``) from the shapes in
:mod:`pipeline.tasks.answers` and the bundle's output contract (``predictor.output``: classes,
threshold, neutral band, top-k, generation limits), and checks a request's params against it
(``check_request_params``). So every way of serving a bundle answers alike, wherever it is started.
"""

from __future__ import annotations

from typing import Any

from pipeline.tasks import kind_named


def answer_rows(
    predictor: Any,
    probabilities: Any,
    known_shares: Any,
    inputs: Any,
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready answer per row; ``inputs`` are the scored records or DataFrame (a language model
    reads their texts again), ``options`` a request's checked params."""
    kind = kind_named(predictor.kind)
    return kind.answers(predictor, probabilities, known_shares, inputs, options or {})


def check_request_params(predictor: Any, given: dict[str, Any]) -> dict[str, Any]:
    """A request's ``params`` checked for the model; raises ValueError naming the parameter."""
    return kind_named(predictor.kind).check_request_params(given, predictor.output)


def explain_rows(
    predictor: Any, inputs: Any, probabilities: Any, top: int | None = None
) -> list[dict[str, Any] | None]:
    """Each row's explanation (None for an invalid row), as the model's kind computes it; ValueError
    when the kind cannot explain (a language model, a forecaster)."""
    from pipeline.tasks.explanations import TOP_CONTRIBUTIONS

    kind = kind_named(predictor.kind)
    return kind.explain(predictor, inputs, probabilities, top or TOP_CONTRIBUTIONS)
