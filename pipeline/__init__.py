"""A reproducible deep-learning training pipeline: DVC stages, MLflow, Optuna, ONNX Runtime."""

import os
import platform

# Before any TensorFlow import: no C++ log lines (TF 2.21's tf.data prints a harmless "NodeDef
# mentions attribute use_unbounded_threadpool" error on every epoch; real failures still raise in
# Python), and no oneDNN custom ops, whose results vary with the thread schedule (same params, same
# data must give the same metrics). Set TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's own logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The same params on the same data give the same metrics on another machine of the same kind, not
# only on this one: the kernels must not follow the CPU's instruction set. TensorFlow runs its
# matrix products through oneDNN's sgemm, which picks AVX-512 or AVX2 code (and its own blocking)
# per CPU, so two machines' float sums differ and training drifts apart after a few epochs; with
# its custom contraction kernel off, Eigen's products (compiled into the wheel for one instruction
# set) do the same sums everywhere. NumPy's and SciPy's OpenBLAS likewise pick a kernel per CPU:
# on x86-64 it is pinned to the Haswell (AVX2) kernels that every AVX2 machine runs. Measured on an
# AVX-512 machine: without these, a fresh clone's `make repro` changed 77 tracked files against a
# build made on an AVX2 machine. Both are defaults: a variable already set wins.
os.environ.setdefault("TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL", "0")
if platform.machine().lower() in {"x86_64", "amd64"}:
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
