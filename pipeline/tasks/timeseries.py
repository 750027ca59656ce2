"""Forecasting tasks (``kind: timeseries``, issue 22): a series in, the next ``horizon`` values out.

The whole :class:`~pipeline.tasks.contract.TaskKind` contract, from the pieces each in a module of
its own: the training side (:mod:`pipeline.tasks.series_stages`: the read, the periods, the window
encoder, the baselines), validate's checks (:mod:`pipeline.tasks.series_checks`), evaluate's tables
and figures (:mod:`pipeline.tasks.series_reports`) and the bundle's records and answers
(:mod:`pipeline.tasks.series_answers`).

A forecast's labels are ``[origins, horizon]`` values in the target's units and its model's output
the same; there are no classes (``n_classes`` 1). MASE divides by the training period's mean
absolute seasonal difference, which encode records in encoder.json's ``forecast`` (the
``Dataset``'s ``target`` record): the contract's ``metrics`` takes that record, as every kind's does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import DataError
from pipeline.core.timeseries_config import TimeseriesTaskConfig
from pipeline.tasks import answers as shapes
from pipeline.tasks import series_answers, series_checks, series_stages

# ------------------------------------------------------------------------ training side
label_column = series_stages.label_column
read = series_stages.read
describe = series_stages.describe
number_columns = series_stages.number_columns
usable_rows = series_stages.usable_rows
assign_splits = series_stages.assign_splits
fit_encoder = series_stages.fit_encoder
encode_splits = series_stages.encode_splits
prepare = series_checks.prepare
expectations = series_checks.expectations


def classes_note() -> str:
    """What encode's report adds after the number of classes: a forecast has none."""
    return " (a forecast: values, no classes)"


def mase_scale(target: dict[str, Any] | None) -> float:
    """MASE's denominator from encoder.json's ``forecast`` record; a clear error without one."""
    if not target or "mase_scale" not in target:
        raise DataError(
            "a forecast's metrics need encoder.json's 'forecast' record (its mase_scale); "
            f"got {target!r}: run encode again"
        )
    return float(target["mase_scale"])


def metrics(
    y_true: Any, proba: Any, n_classes: int, target: dict[str, Any] | None = None
) -> dict[str, float]:
    """MAE, RMSE, R², MAPE (a positive target), sMAPE and MASE over every origin and step ahead;
    ``target``: encoder.json's ``forecast`` record, whose ``mase_scale`` MASE divides by."""
    from pipeline.core.forecast_metrics import FORECAST_METRIC_NAMES, forecast_metrics

    figures = forecast_metrics(y_true, proba, mase_scale(target))
    return {name: float(figures[name]) for name in FORECAST_METRIC_NAMES if name in figures}


def cross_validation_off() -> str | None:
    """Random folds would train on the future: a series is scored by rolling origin instead."""
    return (
        "a series has no cross-validation folds here: random folds would train on the future; "
        "evaluate scores it by rolling origin over the test period"
    )


def evaluation_extras(
    config: TimeseriesTaskConfig, y_val: Any, p_val: Any, y_test: Any, p_test: Any, settings: Any, seed: int
) -> dict[str, Any]:
    """Each period's error by step ahead (MAE and RMSE, step 1 first) and its number of origins (the
    bootstrap's unit: whole origins are resampled)."""
    from pipeline.core.forecast_metrics import forecast_metrics

    def per_step(y: Any, p: Any) -> dict[str, Any]:
        figures = forecast_metrics(y, p, 1.0)  # MASE's scale plays no part in the errors by step
        return {"by_step": figures["by_step"], "origins": figures["origins"]}

    return {"val_by_step": per_step(y_val, p_val), "test": per_step(y_test, p_test)}


def evaluation_reports(
    config: TimeseriesTaskConfig, folder: Any, title: str, y_test: Any, p_test: Any, evaluation: Any
) -> Any:
    """The last origins' forecasts against what followed, and the error by step ahead."""
    from pipeline.tasks.series_reports import write_reports

    return write_reports(folder, title, y_test, p_test, evaluation)


def examples(predict: Any, encoder_data: dict[str, Any], config: Any) -> list[dict[str, Any]]:
    return []  # the forecast figure shows the model's answers


def examples_markdown(title: str, items: list[dict[str, Any]]) -> str:
    return ""


def baselines(task: str, config: TimeseriesTaskConfig, seed: int) -> dict[str, dict[str, Any]]:
    """The baselines of ``config.baselines`` on the models' origins, from encode's folder."""
    return series_stages.baselines(task, config, seed)


def input_example(frame: pd.DataFrame, config: TimeseriesTaskConfig) -> pd.DataFrame:
    """A history the registered model answers: the series' last ``lookback`` rows, and ``horizon``
    more rows holding the known covariates (their target blank) when the task has any."""
    schema, encode = config.schema_, config.encode
    known = [c for c, spec in schema.covariates.items() if spec.role == "known"]
    past = [c for c, spec in schema.covariates.items() if spec.role == "past"]
    columns = [schema.time, schema.target, *past, *known]
    rows = encode.lookback + (encode.horizon if known else 0)
    history = frame[columns].tail(rows).reset_index(drop=True)
    if known:
        history[schema.target] = history[schema.target].astype("float64")
        history.loc[len(history) - encode.horizon :, schema.target] = np.nan
    return history


def signature_inputs(example: pd.DataFrame) -> Any:
    """Every column as MLflow's ``Any``: the encoder's own checks read the values (as a table's)."""
    from pipeline.tasks import tabular

    return tabular.signature_inputs(example)


def signature_params() -> Any:
    return None  # a forecast takes no inference params


# ------------------------------------------------------------------------ the bundle's contract
def output_contract(
    config: TimeseriesTaskConfig, classes: list[Any], measured: dict[str, Any]
) -> dict[str, Any]:
    """The target, horizon and season, and the validation MASE the model was chosen on."""
    return series_answers.output_contract(config, measured)


def input_spec(encoder: Any, config: TimeseriesTaskConfig) -> dict[str, Any]:
    """The history a request must post: columns, frequency, at least ``lookback`` steps."""
    return series_answers.input_spec(encoder, config)


def page_example(rows: Any, config: TimeseriesTaskConfig) -> dict[str, Any]:
    """The history register shows the model with (:func:`input_example`: the series' latest steps),
    as JSON records in the bundle, so that the page starts with a history the model answers and a
    local model folder needs nothing else to show it."""
    return {"example": series_answers.example_records(input_example(rows(), config), config.schema_.time)}


# ------------------------------------------------------------------------ serving side
def answers(
    predictor: Any, probabilities: Any, known_shares: Any, inputs: Any, options: dict[str, Any]
) -> list[dict[str, Any]]:
    """``{"timestamps": [...], "values": [...]}``: the posted history's next ``horizon`` steps, their
    timestamps stepped at the series' frequency from the history's last (``None`` when refused)."""
    encoder = predictor.encoder
    values = np.asarray(probabilities, dtype="float64").reshape(-1, encoder.horizon)
    refused = [{"timestamps": None, "values": None} for _ in values]
    if np.isnan(values).any():  # a history the model could not read: nothing to time
        return refused
    try:
        times = encoder.forecast_times(inputs)
    except DataError:
        return refused
    return series_answers.forecast_answers(values, [times] * len(values))


def check_request_params(given: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    return shapes.check_params(given, ())


def text_column(encoder: Any) -> str | None:
    return None  # a history is a table of steps


def request_columns(encoder: Any) -> list[str]:
    """A step's columns, in order, when sent as a list of values: time, target, past, known."""
    return list(encoder.input_columns)


def instance_row(item: Any, encoder: Any) -> dict[str, Any] | None:
    return None  # a step is an object or a list


def instance_expected(encoder: Any) -> str:
    columns = request_columns(encoder)
    listed = f"{len(columns)} values in the order {', '.join(columns)}"
    return f"a step of the history: an object or a list of {listed}"


def csv_read_options() -> dict[str, Any]:
    """A history's CSV as a table's: values typed, empty cells missing (a forecast step's target)."""
    return {"dtype": None, "keep_default_na": True}


def answers_next_words() -> bool:
    return False


def row_scoring_refusal() -> str | None:
    """Why a distributed engine cannot score this kind row by row: a forecast reads a whole
    history, which a partition of the rows would cut."""
    return "a forecast reads a whole history of rows, not one row at a time; use predict"


def predict_columns(answers: list[dict[str, Any]], probabilities: Any, shares: Any) -> dict[str, Any]:
    """predict's columns: a row per step ahead, its ``timestamp`` and ``value`` (the first history's)."""
    first = answers[0] if answers else {}
    return {"timestamp": list(first.get("timestamps") or []), "value": list(first.get("values") or [])}


def answer_columns(
    predictor: Any, probabilities: Any, shares: Any, inputs: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """score's columns: those of the answer (one forecast), as predict writes them."""
    return predict_columns(answers(predictor, probabilities, shares, inputs, options), probabilities, shares)


def page_mode(n_classes: int) -> str:
    """The page's widget: ``forecast`` (a history in, the forecast drawn after it)."""
    return "forecast"


def page_fields(encoder: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What the forecast widget needs: the history's columns and length, the horizon, and the
    bundle's example history as the CSV its box starts with (empty from a bundle without one)."""
    columns = list(encoder.input_columns)
    return {
        "time_column": encoder.time,
        "target": encoder.target,
        "columns": columns,
        "min_history": encoder.lookback,
        "horizon": encoder.horizon,
        "frequency": encoder.frequency,
        "example_csv": series_answers.example_csv(spec.get("example"), columns),
    }


def request_key() -> str:
    """A history is posted as ``dataframe_records``: one record per step."""
    return "dataframe_records"


def encoded_dtype() -> Any:
    return np.float32


def bench_inputs(encoder: Any, rows: Any) -> list[Any]:
    """One history per window of ``rows``, each the records of a whole request (a history is
    answered once: :func:`pipeline.tasks.series_answers.history_records`)."""
    return [series_answers.history_records(encoder, window) for window in rows]


# --- explanations ---
NO_EXPLANATION = "a forecast reads a whole history window; there is no row of columns to attribute"


def explanation_setup(train_rows: Any, seed: int) -> dict[str, Any]:
    return {"method": None, "why": NO_EXPLANATION}


def explain(predictor: Any, inputs: Any, probabilities: Any, top: int) -> list[Any]:
    from pipeline.tasks.explanations import not_supported

    raise not_supported("timeseries", NO_EXPLANATION)


def behaviour_input(given: Any, change: Any) -> Any:
    """Not supported: a forecast answers a whole history, not one row a check could alter."""
    raise ValueError(
        "behavioural checks are not supported for timeseries tasks (a forecast reads a whole "
        "history, not one row); leave the section empty"
    )


def behaviour_answers(predictor: Any, records: list[Any]) -> list[Any]:
    return behaviour_input(None, None)


# ------------------------------------------------------------------------- drift monitoring
def drift_columns(encoder: Any) -> dict[str, str]:
    """A forecaster reads one ordered history: its drift is the series changing, not rows to compare."""
    raise ValueError(
        "drift monitoring is not supported for timeseries tasks: a forecaster reads one ordered "
        "history; its drift is the series changing over time, not rows to compare"
    )


def drift_tokens(encoder: Any, text: str) -> list[tuple[str, bool]]:
    return []
