"""The kind contract: what every kind module in ``pipeline/tasks/`` answers, training and serving.

A kind module satisfies :class:`TaskKind` structurally: ``KINDS`` in ``pipeline/tasks/__init__.py``
is typed ``dict[str, TaskKind]``, so mypy (``make lint``) checks each module against it, and
``tests/test_kind_contract.py`` runs every registered kind through it on tiny data. The stages,
``serving/`` and ``commands/`` ask the kind through this contract and never branch on its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class TaskKind(Protocol):
    # ---------------------------------------------------------------- training side
    def label_column(self, config: Any) -> str:
        """The column the model learns to predict."""

    def read(self, path: Path, name: str, config: Any) -> tuple[Any, str]:
        """The raw rows of a fetched file or folder (``CsvRows``), and the format read."""

    def describe(self, frame: Any, config: Any) -> dict[str, Any]:
        """What ingest notes about the rows (splits, class counts)."""

    def expectations(self, config: Any, exp: Any) -> list[Any]:
        """The Great Expectations checks of the raw data."""

    def prepare(self, frame: Any, config: Any) -> None:
        """Add, in place, the helper columns those checks read."""

    def number_columns(self, config: Any) -> list[str]:
        """Columns whose values validate parses as numbers."""

    def usable_rows(self, frame: Any, config: Any) -> Any:
        """The rows encode keeps (a table's missing-value policy)."""

    def assign_splits(self, frame: Any, config: Any, seed: int) -> Any:
        """Each row's split: ``train``, ``val`` or ``test``."""

    def fit_encoder(self, train: Any, config: Any) -> Any:
        """The encoder, fitted on the training split only."""

    def encode_splits(self, frame: Any, encoder: Any, config: Any) -> tuple[Any, dict[str, Any]]:
        """The labels and the model-ready arrays of each split."""

    def classes_note(self) -> str:
        """What encode's report adds after the number of classes."""

    def metrics(
        self, y_true: Any, proba: Any, n_classes: int, target: dict[str, Any] | None = None
    ) -> dict[str, float]:
        """One split's metrics, as evaluate, tune and the baselines report them; ``target``: the
        ``Dataset``'s record of the values the network answers (encoder.json's numeric ``target`` or
        a series' ``forecast``, whose ``mase_scale`` MASE divides by), None for classes."""

    def cross_validation_off(self) -> str | None:
        """Why the cv stage leaves this kind out, or None when it cross-validates it."""

    def evaluation_extras(
        self, config: Any, y_val: Any, p_val: Any, y_test: Any, p_test: Any, settings: Any, seed: int
    ) -> dict[str, Any]:
        """What evaluate adds to metrics.json beyond the metrics (a ``test`` key: to the test section):
        a numeric target's conformal interval and its test coverage; empty for classifiers."""

    def evaluation_reports(
        self, config: Any, folder: Any, title: str, y_test: Any, p_test: Any, evaluation: Any
    ) -> Any:
        """The kind's own evaluation tables and figures written to ``folder`` (the figures' paths), or
        None: evaluate then writes the classifier's curves, confusion matrix and figures."""

    def examples(self, predict: Any, encoder_data: dict[str, Any], config: Any) -> list[dict[str, Any]]:
        """A model's answers to fixed inputs for the evaluate report (empty for classifiers)."""

    def examples_markdown(self, title: str, items: list[dict[str, Any]]) -> str:
        """Those answers as Markdown."""

    def baselines(self, task: str, config: Any, seed: int) -> dict[str, dict[str, Any]]:
        """The classical models' metrics on the same split."""

    def input_example(self, frame: Any, config: Any) -> Any:
        """Raw inputs the registered model is shown with."""

    def signature_inputs(self, example: Any) -> Any:
        """The registered model's declared inputs (an MLflow Schema)."""

    def signature_params(self) -> Any:
        """The inference params the registered model declares (an MLflow ParamSchema, or None)."""

    # ---------------------------------------------------------------- the bundle's contract
    def output_contract(self, config: Any, classes: list[Any], measured: dict[str, Any]) -> dict[str, Any]:
        """What the model answers, as its bundle records it (classes and their names, threshold, band,
        top-k; a numeric target's units and interval), from the params, the classes and evaluate's
        ``measured`` metrics."""

    def input_spec(self, encoder: Any, config: Any) -> dict[str, Any]:
        """What the model reads, as its bundle records it: dtype, width, the input schema (and a
        table's column labels)."""

    def page_example(self, rows: Any, config: Any) -> dict[str, Any]:
        """What export adds to the bundle's input spec for the page to start from, as JSON (``rows()``
        loads the task's rows as encode kept them): a forecaster's latest history, so that a local
        model folder carries it; ``{}`` for a kind whose page starts from its own fields."""

    def explanation_setup(self, train_rows: Any, seed: int) -> dict[str, Any]:
        """What export writes to the bundle's ``explain.json``: the method and, for a table, a seeded
        background sample of the encoded training rows (``train_rows()`` loads them; what an absent column
        takes its values from)."""

    # ---------------------------------------------------------------- serving side
    def explain(self, predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[Any]:
        """Each scored row's explanation (None for an invalid row): its ``top`` columns or words and
        what each changed; ValueError ("not supported for <kind> models") for a kind that cannot."""

    def answers(
        self, predictor: Any, probabilities: Any, known_shares: Any, inputs: Any, options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """One JSON-ready answer per row, from the bundle's output contract and the request's options."""

    def check_request_params(self, given: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
        """A request's params checked against the kind's and the bundle's limits (ValueError)."""

    def text_column(self, encoder: Any) -> str | None:
        """The input column holding a raw text; None for a table."""

    def request_columns(self, encoder: Any) -> list[str]:
        """The column order of a row sent as a list of values."""

    def instance_row(self, item: Any, encoder: Any) -> dict[str, Any] | None:
        """An ``instances`` item that is neither an object nor a list, as a row; None refuses it."""

    def instance_expected(self, encoder: Any) -> str:
        """What the refusal of such an item says it should be."""

    def csv_read_options(self) -> dict[str, Any]:
        """``pandas.read_csv`` options for a CSV request body."""

    def answers_next_words(self) -> bool:
        """Whether ``predict`` takes the next-word path."""

    def row_scoring_refusal(self) -> str | None:
        """Why ``spark`` (scoring on Spark) cannot score this kind one row at a time, or None when it can."""

    def predict_columns(
        self, answers: list[dict[str, Any]], probabilities: Any, shares: Any
    ) -> dict[str, Any]:
        """``predict``'s output columns, from the rows' answers."""

    def answer_columns(
        self, predictor: Any, probabilities: Any, shares: Any, inputs: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        """``score``'s output columns for its valid rows: the values ``predict_columns`` makes of
        ``answers``, built a column at a time (arrays, no dict per row) where the kind can."""

    def page_mode(self, n_classes: int) -> str:
        """The page's widget: ``form``, ``binary_text``, ``classes_text`` or ``next_word``."""

    def page_fields(self, encoder: Any, spec: dict[str, Any]) -> dict[str, Any]:
        """What that widget needs beyond the classes; ``spec`` is the bundle's input (``{}`` if none)."""

    def request_key(self) -> str:
        """The MLflow JSON format a client sends rows in (``dataframe_records`` or ``instances``)."""

    def encoded_dtype(self) -> Any:
        """The numpy dtype of the model's encoded input."""

    def bench_inputs(self, encoder: Any, rows: Any) -> list[Any]:
        """Raw inputs that encode back to the encoded ``rows`` (the benchmark's server load)."""

    # ---------------------------------------------------------------- behavioural checks (register)
    def behaviour_input(self, given: Any, change: Any) -> Any:
        """A check's input as one request record: ``change`` (None, or what the check alters)
        applied to ``given``; ValueError saying what the kind takes, or that it has no checks."""

    def behaviour_answers(self, predictor: Any, records: list[Any]) -> list[Any]:
        """Each record's ``BehaviourAnswer`` (``pipeline.tasks.behaviour_answers``): its class or
        value and its scores; ValueError naming a record the encoder refuses."""

    # ---------------------------------------------------------------- drift monitoring
    def drift_columns(self, encoder: Any) -> dict[str, str]:
        """Each input column ``monitor`` tests, with its type: ``number``, ``category`` or ``text``
        (ValueError "not supported for <kind>" where a kind cannot be monitored)."""

    def drift_tokens(self, encoder: Any, text: str) -> list[tuple[str, bool]]:
        """A text's tokens as the model reads them, each with whether the vocabulary knows it."""


MEMBERS = tuple(name for name in vars(TaskKind) if not name.startswith("_"))
