"""``python -m pipeline <command> ...``: one entry point for every stage and user command.

Commands are imported only when run, so ``--help`` and the light commands start
without TensorFlow, MLflow or Great Expectations.

Every stage in dvc.yaml depends on this file, so the user commands' table lives in
``pipeline/commands/__init__.py`` and is imported by name only when a user command (or the usage)
is asked for: adding or renewing a command leaves every stage's outputs current.
"""

from __future__ import annotations

import importlib
import os
import sys

from pipeline.core.errors import PipelineError

STAGES = {
    "synthesize": (
        "pipeline.stages.synthesize",
        "write an embedded generated data set (the offline default)",
    ),
    "ingest": ("pipeline.stages.ingest", "read a task's raw data (a path or a URL) and check it"),
    "validate": (
        "pipeline.stages.validate",
        "run the task's Great Expectations suite; fail on a bad expectation",
    ),
    "encode": ("pipeline.stages.encode", "split, fit encoders/vocabulary on train, write model-ready arrays"),
    "embed": ("pipeline.stages.embed", "train a model's word2vec Embedding table (embedding.init: word2vec)"),
    "tune": ("pipeline.stages.tune", "search hyperparameters with Optuna (one or many workers, one study)"),
    "train": ("pipeline.stages.train", "train a Keras model and log it to MLflow"),
    "evaluate": ("pipeline.stages.evaluate", "test/val metrics and plots for a trained model"),
    "baselines": ("pipeline.stages.baselines", "scikit-learn baselines on the same split"),
    "cv": (
        "pipeline.stages.crossval",
        "cross-validate a tabular task's models and baselines (evaluate.cv_folds)",
    ),
    "export": ("pipeline.stages.export", "export to ONNX and check parity with Keras"),
    "compare": ("pipeline.stages.compare", "table and plot data comparing a task's models and baselines"),
    "register": ("pipeline.stages.register", "register the ONNX pyfunc in MLflow and set 'challenger'"),
}


def user_commands() -> dict[str, tuple[str, str]]:
    """The user commands' table (module, help); never imported by a stage's run."""
    return dict(importlib.import_module("pipeline.commands").USER_COMMANDS)


def usage() -> str:
    lines = ["usage: python -m pipeline <command> [args...]", "", "pipeline stages (run by dvc repro):"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in STAGES.items()]
    lines += ["", "user commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in user_commands().items()]
    lines += ["", "'python -m pipeline <command> --help' describes a command's arguments."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    commands = STAGES if argv[0] in STAGES else user_commands()
    if name not in commands:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if name in STAGES and os.environ.get("PIPELINE_WARM_SOCKET"):  # run by `python -m pipeline repro`
        code = importlib.import_module("pipeline.commands.warm").run_in_warm_process(argv)
        if code is not None:
            return int(code)
    module = importlib.import_module(commands[name][0])
    try:
        return int(module.main(rest) or 0)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
