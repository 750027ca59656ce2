"""A reproducible deep-learning training pipeline: DVC stages, MLflow, Optuna, ONNX Runtime."""

import os

# Before any TensorFlow import: quiet C++ logs, and no oneDNN custom ops, whose results vary
# with the thread schedule (same params, same data must give the same metrics).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
