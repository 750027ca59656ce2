"""Tiny model directories for the predict, serve and bench tests, built with ``onnx.helper``.

No TensorFlow and no dependency on the export stage: churn is a logistic regression
(MatMul + Add + Sigmoid) over the real churn encoder's 12 features; sentiment is the mean of
one learned score per token (Gather + ReduceMean + MatMul + Add + Sigmoid), so "great" reads
positive, "awful" negative and "movie" neutral; topics is the softmax of the mean of one score
row per token (Gather + ReduceMean + Softmax), so "oil" reads crude and "profit" earn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from pipeline.core.config import load_params
from pipeline.core.io import write_json
from pipeline.encoders.base import OOV, PAD
from pipeline.encoders.tabular import TabularEncoder
from pipeline.encoders.text import TextEncoder

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_params(REPO / "params.yaml").task("churn").schema_
WORDS = {"great": 3.0, "good": 2.0, "fine": 1.0, "movie": 0.0, "plot": 0.0, "bad": -2.0, "awful": -3.0}
SEQUENCE_LENGTH = 6
TOPICS = ["earn", "acq", "crude", "trade"]
TOPIC_WORDS = {  # word -> its score for each topic (the order of TOPICS)
    "profit": [3.0, 0.5, 0.0, 0.0],
    "shares": [1.0, 2.5, 0.0, 0.0],
    "oil": [0.0, 0.0, 3.0, 0.5],
    "barrels": [0.0, 0.0, 2.0, 0.0],
    "tariffs": [0.0, 0.0, 0.5, 3.0],
}


def churn_encoder() -> TabularEncoder:
    numeric = {
        col: {
            "mean": (s.min + s.max) / 2,
            "std": (s.max - s.min) / 4,
            "min": s.min,
            "max": s.max,
            "integer": s.integer,
        }
        for col, s in SCHEMA.numeric.items()
    }
    categorical = {col: list(values) for col, values in SCHEMA.categorical.items()}
    return TabularEncoder(numeric, categorical, passthrough=[*SCHEMA.drop, SCHEMA.target])


def text_encoder() -> TextEncoder:
    return TextEncoder([PAD, OOV, *WORDS], SEQUENCE_LENGTH)


def churn_weights(encoder: TabularEncoder) -> tuple[np.ndarray, np.ndarray]:
    """Older, inactive, German customers with a balance leave: a readable, non-trivial signal."""
    signal = {
        "Age": 1.2,
        "IsActiveMember": -0.8,
        "Balance": 0.5,
        "Geography=Germany": 0.9,
        "Gender=Male": -0.3,
    }
    w = np.array([[signal.get(name, 0.05)] for name in encoder.feature_names], dtype=np.float32)
    return w, np.array([-0.4], dtype=np.float32)


def _save(graph: onnx.GraphProto, path: Path, task: str, arch: str) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"task": task, "arch": arch})
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def churn_onnx(path: Path, w: np.ndarray, b: np.ndarray, arch: str = "ann") -> None:
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "W"], ["logits_mm"]),
            helper.make_node("Add", ["logits_mm", "B"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probability"]),
        ],
        "churn_logreg",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    _save(graph, path, "churn", arch)


def sentiment_onnx(path: Path, encoder: TextEncoder, arch: str = "lstm", oov_score: float = 0.0) -> None:
    """``oov_score``: what an unknown word weighs (a real model's OOV embedding is rarely neutral)."""
    table = np.array([[0.0], [oov_score], *([v] for v in WORDS.values())], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "tokens"], ["embedded"], axis=0),
            helper.make_node("ReduceMean", ["embedded"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probability"]),
        ],
        "sentiment_bag",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", encoder.sequence_length])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            numpy_helper.from_array(table, "E"),
            numpy_helper.from_array(np.array([[4.0]], np.float32), "W"),
            numpy_helper.from_array(np.array([0.0], np.float32), "B"),
        ],
    )
    _save(graph, path, "sentiment", arch)


def topics_onnx(path: Path, encoder: TextEncoder, arch: str = "lstm") -> None:
    table = np.array([[0.0] * len(TOPICS)] * 2 + list(TOPIC_WORDS.values()), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "tokens"], ["embedded"], axis=0),
            helper.make_node("ReduceMean", ["embedded"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("Softmax", ["pooled"], ["probabilities"], axis=-1),
        ],
        "topics_bag",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", encoder.sequence_length])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(TOPICS)])],
        initializer=[numpy_helper.from_array(table, "E")],
    )
    _save(graph, path, "topics", arch)


def churn_model_dir(root: Path, arch: str = "ann") -> Path:
    directory = root / "models" / "churn" / arch
    encoder = churn_encoder()
    churn_onnx(directory / "model.onnx", *churn_weights(encoder), arch=arch)
    write_json(directory / "encoder.json", encoder.to_dict())
    write_churn_background(directory, encoder)
    return finish_bundle(directory, "churn", arch, encoder)


def write_churn_background(directory: Path, encoder: TabularEncoder) -> None:
    """``explain.json`` as export writes it: SHAP's background, sampled from 200 encoded rows."""
    from pipeline.tasks import tabular

    rows = churn_rows(200, seed=1)
    write_json(directory / "explain.json", tabular.explanation_setup(lambda: encoder.transform(rows), 0))


def balance_config() -> Any:
    """The task section of :func:`balance_model_dir`'s model: churn's table, ``Balance`` the target."""
    from pipeline.core.config import TabularTaskConfig

    schema = SCHEMA.model_copy(
        update={"numeric": {c: s for c, s in SCHEMA.numeric.items() if c != "Balance"}}
    )
    return TabularTaskConfig.model_validate(
        {
            "kind": "tabular",
            "data": {"source": "balance.csv"},
            "schema": schema.model_dump(by_alias=True)
            | {"target": "Balance", "labels": {"type": "number", "units": "EUR", "min": 0}},
            "models": {"ann": {}},
        }
    )


def balance_model_dir(root: Path, arch: str = "ann", half_width: float = 5000.0) -> Path:
    """A numeric target: the churn table's ``Balance`` (EUR, at least 0) predicted from the other
    columns by a linear model in euros (MatMul + Add, no squashing), with a 90% conformal interval
    of +-``half_width``; the manifest is written from the tabular kind's output contract."""
    from pipeline.serving.bundle import write_manifest
    from pipeline.tasks import tabular

    directory = root / "models" / "balance" / arch
    encoder = TabularEncoder(
        churn_encoder().numeric | {},
        {col: list(values) for col, values in SCHEMA.categorical.items()},
        passthrough=[*SCHEMA.drop, SCHEMA.target, "Balance"],
    )
    encoder.numeric.pop("Balance")
    # bounds a schema may leave out: the salary has no ceiling, the credit score no range at all
    encoder.numeric["EstimatedSalary"] = encoder.numeric["EstimatedSalary"] | {"max": None}
    encoder.numeric["CreditScore"] = encoder.numeric["CreditScore"] | {"min": None, "max": None}
    w = np.array([[20_000.0 if n == "Age" else 1_000.0] for n in encoder.feature_names], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["value"]),
        ],
        "balance_linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.array([60_000.0], np.float32), "B"),
        ],
    )
    _save(graph, directory / "model.onnx", "balance", arch)
    target = {
        "column": "Balance",
        "transform": "none",
        "loss": "mse",
        "center": 0.0,
        "scale": 1.0,
        "units": "EUR",
    }
    write_json(directory / "encoder.json", encoder.to_dict() | {"classes": None, "target": target})
    config = balance_config()
    measured = {"interval": {"level": 0.9, "half_width": half_width}}
    write_manifest(
        directory,
        task="balance",
        kind="tabular",
        arch=arch,
        output=tabular.output_contract(config, [], measured),
        input_spec=tabular.input_spec(encoder, config),
        metrics={},
    )
    return directory


def stars_config() -> Any:
    """The task section of :func:`stars_model_dir`'s model: a text whose label is a 1-10 rating."""
    from pipeline.core.config import TextTaskConfig

    return TextTaskConfig.model_validate(
        {
            "kind": "text",
            "data": {"source": "stars.csv"},
            "schema": {
                "label": "rating",
                "labels": {"type": "number", "units": "stars", "min": 1, "max": 10},
            },
            "models": {"gru": {}},
        }
    )


def stars_model_dir(root: Path, arch: str = "gru", half_width: float = 1.5) -> Path:
    """A text's numeric target: a star rating, 5.5 plus 1.5 times the sum of the tokens' scores
    (Gather + ReduceSum + MatMul + Add: "great" raises it, "awful" lowers it), with a 90% conformal
    interval of +-``half_width`` clipped to 1-10 stars; the manifest from the text kind's contract."""
    from pipeline.serving.bundle import write_manifest
    from pipeline.tasks import text

    directory = root / "models" / "stars" / arch
    encoder = text_encoder()
    table = np.array([[0.0], [0.0], *([v] for v in WORDS.values())], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "tokens"], ["embedded"], axis=0),
            helper.make_node("ReduceSum", ["embedded", "axes"], ["summed"], keepdims=0),
            helper.make_node("MatMul", ["summed", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["probability"]),
        ],
        "stars_bag",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", encoder.sequence_length])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            numpy_helper.from_array(table, "E"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(np.array([[1.5]], np.float32), "W"),
            numpy_helper.from_array(np.array([5.5], np.float32), "B"),
        ],
    )
    _save(graph, directory / "model.onnx", "stars", arch)
    target = {"column": "rating", "transform": "none", "loss": "mse", "center": 5.5, "scale": 1.0}
    write_json(directory / "encoder.json", encoder.to_dict() | {"classes": None, "target": target})
    config = stars_config()
    write_manifest(
        directory,
        task="stars",
        kind="text",
        arch=arch,
        output=text.output_contract(config, [], {"interval": {"level": 0.9, "half_width": half_width}}),
        input_spec=text.input_spec(encoder, config),
        metrics={},
    )
    return directory


def sentiment_model_dir(
    root: Path, arch: str = "lstm", oov_score: float = 0.0, neutral_band: float | None = None
) -> Path:
    """``neutral_band``: the bundle's, instead of params.yaml's."""
    directory = root / "models" / "sentiment" / arch
    encoder = text_encoder()
    sentiment_onnx(directory / "model.onnx", encoder, arch=arch, oov_score=oov_score)
    write_json(directory / "encoder.json", encoder.to_dict())
    output = {} if neutral_band is None else {"neutral_band": neutral_band}
    return finish_bundle(directory, "sentiment", arch, encoder, output)


def finish_bundle(
    directory: Path, task: str, arch: str, encoder: Any, output: dict[str, Any] | None = None
) -> Path:
    """The manifest that makes ``directory`` a bundle, as export writes it (the output contract of
    params.yaml's task, updated with ``output``)."""
    from pipeline.serving.bundle import write_manifest
    from pipeline.tasks import kind_of

    config = load_params(REPO / "params.yaml").task(task)
    kind = kind_of(config)
    classes = json.loads((directory / "encoder.json").read_text()).get("classes") or [0, 1]
    write_manifest(
        directory,
        task=task,
        kind=config.kind,
        arch=arch,
        output=kind.output_contract(config, classes, {}) | (output or {}),
        input_spec=kind.input_spec(encoder, config),
        metrics={},
    )
    return directory


def topics_model_dir(root: Path, arch: str = "lstm") -> Path:
    directory = root / "models" / "topics" / arch
    encoder = TextEncoder([PAD, OOV, *TOPIC_WORDS], SEQUENCE_LENGTH)
    topics_onnx(directory / "model.onnx", encoder, arch=arch)
    write_json(directory / "encoder.json", {**encoder.to_dict(), "classes": TOPICS})
    return finish_bundle(directory, "topics", arch, encoder)


def churn_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Raw, valid customer rows in Churn_Modelling.csv's layout (ids and target included)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "RowNumber": np.arange(1, n + 1),
            "CustomerId": 15_600_000 + np.arange(n),
            "Surname": [f"Name{i}" for i in range(n)],
            "CreditScore": rng.integers(350, 850, n),
            "Geography": rng.choice(["France", "Germany", "Spain"], n),
            "Gender": rng.choice(["Female", "Male"], n),
            "Age": rng.integers(18, 92, n),
            "Tenure": rng.integers(0, 11, n),
            "Balance": np.round(rng.uniform(0, 250_000, n), 2),
            "NumOfProducts": rng.integers(1, 5, n),
            "HasCrCard": rng.integers(0, 2, n),
            "IsActiveMember": rng.integers(0, 2, n),
            "EstimatedSalary": np.round(rng.uniform(10, 200_000, n), 2),
            "Exited": rng.integers(0, 2, n),
        }
    )


# A next-word model small enough to write by hand: the next word depends on the last word only
# (a bigram table of logits), so a test knows what the page must suggest.
LM_FOLLOWS = {"to": "be", "be": "or", "or": "not", "not": "to", "that": "is", "is": "the", "the": "question"}
LM_WINDOW = 4


def nextword_model_dir(root: Path, arch: str = "gru") -> Path:
    from pipeline.encoders.language_model import LanguageModelEncoder

    directory = root / "models" / "nextword" / arch
    words = sorted({*LM_FOLLOWS, *LM_FOLLOWS.values()})
    vocabulary = [PAD, OOV, *words]
    encoder = LanguageModelEncoder(vocabulary, LM_WINDOW, "pre", "pre", True, "text", "language_model")
    logits = np.full((len(vocabulary), len(vocabulary)), -2.0, dtype=np.float32)
    for word, following in LM_FOLLOWS.items():
        logits[vocabulary.index(word), vocabulary.index(following)] = 3.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["tokens", "last"], ["last_word"], axis=1),
            helper.make_node("Gather", ["L", "last_word"], ["scores"], axis=0),
            helper.make_node("Softmax", ["scores"], ["probabilities"], axis=-1),
        ],
        "bigram",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", LM_WINDOW])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(vocabulary)])],
        initializer=[
            numpy_helper.from_array(logits, "L"),
            numpy_helper.from_array(np.array(LM_WINDOW - 1, dtype=np.int64), "last"),
        ],
    )
    _save(graph, directory / "model.onnx", "nextword", arch)
    write_json(directory / "encoder.json", encoder.to_dict() | {"classes": vocabulary})
    return finish_bundle(directory, "nextword", arch, encoder)


LOAD_HOURS = 24 * 10  # the generated load series, hourly: a tiny forecasting task's data


def load_config() -> Any:
    """A forecasting task on the generated load series: 24 hours in, the next 6 out."""
    from pipeline.core.timeseries_config import TimeseriesTaskConfig

    return TimeseriesTaskConfig.model_validate(
        {
            "kind": "timeseries",
            "data": {"source": "data/synthetic/load.csv"},
            "schema": {
                "time": "timestamp",
                "target": "load",
                "covariates": {"temperature": {"role": "past"}},
            },
            "encode": {"lookback": 24, "horizon": 6, "season_length": 24, "calendar": ["hour_of_day"]},
            "models": {"gru": {}},
        }
    )


def load_rows(hours: int = LOAD_HOURS) -> pd.DataFrame:
    from pipeline.generators.load_series import load_frame

    return load_frame(hours, seed=3).drop(columns=["holiday"]).astype(str)


def load_model_dir(root: Path, arch: str = "gru") -> Path:
    """A forecaster's bundle: the window encoder fitted on the generated series, and a graph that
    forecasts every step ahead as the window's last load (the naive forecast), in the target's units:
    Flatten, MatMul picking the last step's scaled load, Add the mean back."""
    from pipeline.serving.bundle import write_manifest
    from pipeline.tasks import series_stages, timeseries

    config, directory = load_config(), root / "models" / "load" / arch
    encoder = series_stages.fit_encoder(load_rows(), config)
    lookback, width, horizon = encoder.lookback, encoder.n_features, encoder.horizon
    center, scale = encoder.scales["load"]
    w = np.zeros((lookback * width, horizon), np.float32)
    w[(lookback - 1) * width, :] = scale  # the last step's first feature: the scaled load
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["window"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["forecast"]),
        ],
        "load_naive",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", lookback, width])],
        [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["batch", horizon])],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.full(horizon, center, np.float32), "B"),
        ],
    )
    _save(graph, directory / "model.onnx", "load", arch)
    write_json(directory / "encoder.json", encoder.to_dict())
    write_manifest(
        directory,
        task="load",
        kind="timeseries",
        arch=arch,
        output=timeseries.output_contract(config, [], {"val": {"mase": 1.0}}),
        input_spec=timeseries.input_spec(encoder, config) | timeseries.page_example(load_rows, config),
        metrics={},
    )
    return directory
