"""``python -m pipeline <command> ...``: one entry point for every stage and user command.

Commands are imported only when run, so ``--help`` and the light commands start
without TensorFlow, MLflow or Great Expectations.
"""

from __future__ import annotations

import importlib
import sys

from pipeline.errors import PipelineError

STAGES = {
    "ingest": ("pipeline.ingest", "fetch a task's raw data (synthetic, a path or a URL) and check it"),
    "validate": ("pipeline.validate", "run the task's Great Expectations suite; fail on a bad expectation"),
    "encode": ("pipeline.encode", "split, fit encoders/vocabulary on train, write model-ready arrays"),
    "tune": ("pipeline.tune", "search hyperparameters with Optuna (one or many workers, one study)"),
    "train": ("pipeline.train", "train a Keras model and log it to MLflow"),
    "evaluate": ("pipeline.evaluate", "test/val metrics and plots for a trained model"),
    "baselines": ("pipeline.baselines", "scikit-learn baselines on the same split"),
    "export": ("pipeline.export", "export to ONNX and check parity with Keras"),
    "compare": ("pipeline.compare", "table and plot data comparing a task's models and baselines"),
    "register": ("pipeline.register", "register the ONNX pyfunc in MLflow and set 'challenger'"),
}
USER_COMMANDS = {
    "predict": ("pipeline.predict", "score rows or texts with ONNX Runtime (default: @champion)"),
    "promote": ("pipeline.promote", "move 'champion' to the challenger if it is not worse; --rollback"),
    "serve": ("pipeline.serve", "HTTP server speaking MLflow's scoring protocol (ONNX Runtime)"),
    "bench": ("pipeline.bench", "latency/throughput of ONNX Runtime against every Keras path"),
}


def usage() -> str:
    lines = ["usage: python -m pipeline <command> [args...]", "", "pipeline stages (run by dvc repro):"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in STAGES.items()]
    lines += ["", "user commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in USER_COMMANDS.items()]
    lines += ["", "'python -m pipeline <command> --help' describes a command's arguments."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    commands = {**STAGES, **USER_COMMANDS}
    if name not in commands:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[name][0])
    try:
        return int(module.main(rest) or 0)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
