"""The user commands: what ``python -m pipeline <command>`` runs beyond the stages.

Each entry is (module, one line of help); ``pipeline/__main__.py`` imports the module only when its
command runs, so ``--help`` and the light commands start without TensorFlow.
"""

USER_COMMANDS = {
    "predict": ("pipeline.commands.predict", "score rows or texts with ONNX Runtime (default: @champion)"),
    "score": (
        "pipeline.commands.score",
        "stream a big CSV or Parquet file through a model, in chunks (--stage: score@<task>)",
    ),
    "spark": (
        "pipeline.commands.spark_score",
        "score a Parquet dataset on Spark with the registered model (mlflow.pyfunc.spark_udf)",
    ),
    "promote": (
        "pipeline.commands.promote",
        "move 'champion' to the challenger if it is not worse; --rollback; --history: the record",
    ),
    "report": (
        "pipeline.commands.report",
        "a task's models and baselines on one screen: test figures with intervals (metrics/<task>/)",
    ),
    "monitor": (
        "pipeline.commands.monitor",
        "compare a batch (or serve's request log) with the validation split: drift tests, exit 4 on drift",
    ),
    "serve": ("pipeline.commands.serve", "HTTP server speaking MLflow's scoring protocol (ONNX Runtime)"),
    "bench": (
        "pipeline.commands.bench",
        "latency/throughput of ONNX Runtime against every Keras path; --train: training epochs",
    ),
    "ui": (
        "pipeline.commands.ui",
        "MLflow's UI on mlflow.db, after the links that open each task's runs table and model",
    ),
    "services": (
        "pipeline.commands.services",
        "up|down|env: a local PostgreSQL + S3 (moto) + MLflow server stack, for work beyond one machine",
    ),
    "repro": (
        "pipeline.commands.repro",
        "dvc repro, the tasks side by side on the cores (make repro), or stages by name; --jobs, --force",
    ),
    "real-data": (
        "pipeline.commands.real_data",
        "point params.yaml at the real data sets (params/real/*.yaml); in a copy or on a branch",
    ),
}
