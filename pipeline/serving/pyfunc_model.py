"""The registered MLflow model: raw rows or texts in, ONNX Runtime probabilities out.

Logged with MLflow's "models from code" (this file is the model), so nothing is pickled. The
model bundle (``model.onnx``, ``encoder.json``, ``manifest.json``) travels as the artifact
``model_dir`` and the ``pipeline`` package's serving layers as code, so
``mlflow.pyfunc.load_model("models:/churn@champion")`` and ``mlflow models serve``
need neither TensorFlow nor this repository.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from pipeline.core.errors import DataError

# the answers' columns whose None stays None (null in JSON), not NaN
NULLABLE = ("warning", "top", "label", "class_name", "unknown_words", "explanation")


class InvalidInputError(MlflowException, DataError):
    """Invalid input rows. An MlflowException, so that ``mlflow models serve`` answers 400 with
    this message (it hides any other exception behind "an unexpected error"); a DataError for
    everyone else."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class OnnxPipelineModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from pipeline.serving.inference import Predictor

        self.predictor = Predictor.from_dir(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):
        from pipeline.serving.responses import answer_rows, check_request_params, explain_rows

        if isinstance(model_input, pd.DataFrame):
            frame = model_input
        elif isinstance(model_input, (list, tuple, pd.Series)) or getattr(model_input, "ndim", 2) == 1:
            # a 1-D input (e.g. {"instances": ["a review", ...]} from `mlflow models serve`)
            frame = self.predictor.encoder.records_to_frame(list(model_input))
        else:
            frame = pd.DataFrame(model_input)
        result = self.predictor.score_frame(frame)
        if result.errors:
            shown = "; ".join(str(e) for e in result.errors[:20])
            raise InvalidInputError(f"{len(result.errors)} invalid input row(s): {shown}")
        given = {k: v for k, v in (params or {}).items() if v is not None}
        explain = bool(given.pop("explain", False))  # each row's explanation (serve's "explain": true)
        try:
            options = check_request_params(self.predictor, given)
            explanations = explain_rows(self.predictor, frame, result.probabilities) if explain else None
        except ValueError as exc:
            raise InvalidInputError(f"params: {exc}") from exc
        answers = answer_rows(self.predictor, result.probabilities, result.known_token_share, frame, options)
        for answer, explanation in zip(answers, explanations or [], strict=False):
            answer["explanation"] = explanation
        out = pd.DataFrame(answers)
        for column in NULLABLE:
            if column in out.columns:
                out[column] = pd.Series([a[column] for a in answers], dtype=object)
        return out


mlflow.models.set_model(OnnxPipelineModel())
