"""A reproducible deep-learning training pipeline: DVC stages, MLflow, Optuna, ONNX Runtime."""

import os

# Before any TensorFlow import: no C++ log lines (TF 2.21's tf.data prints a harmless "NodeDef
# mentions attribute use_unbounded_threadpool" error on every epoch; real failures still raise in
# Python), and no oneDNN custom ops, whose results vary with the thread schedule (same params, same
# data must give the same metrics). Set TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's own logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
