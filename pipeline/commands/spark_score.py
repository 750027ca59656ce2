"""spark: score a Parquet dataset on Spark with the registered model, through MLflow's
``mlflow.pyfunc.spark_udf`` (issue 24).

    python -m pipeline spark churn --input customers.parquet --output scored.parquet \\
        [--model champion|challenger|VERSION|URI] [--master local[2]] [--id CustomerId]

For a file that outgrows one machine: ``score`` streams it through one process, this command
hands it to Spark, which splits it into partitions and scores them on every executor at once. The
model is the one ``register`` logged (``pipeline/serving/pyfunc_model.py``), loaded by MLflow in
each Python worker with ``env_manager="local"`` (the workers' Python already has what the model
needs), and called on Arrow batches of rows, its input columns passed by name.

A separate command, not ``score --engine spark``, because a Spark user expects Spark's ways, which
are not ``score``'s: the input is any path Spark reads (a Parquet file, a folder of part files,
``s3a://...``), the output a folder of part files that Spark, pandas and pyarrow read as one
table, the session's master and settings come from ``--master`` or ``spark-submit``, and there is
no chunk size, progress bar or rejects file.

The output has the ``--id`` columns (default: the id and target columns the model's encoder
carries through, where the input has them) and the model's answer columns, the ones its MLflow
signature declares, which are ``score``'s for a classifier: ``probability``, ``prediction`` or
``label``, ``class_name`` (and a text's ``known_token_share`` and ``warning``). A numeric target
answers ``value`` and ``interval`` as one ``[low, high]`` array column; a multi-class model's
``top`` is an array of structs. The registered model refuses a batch with an invalid row, so an
invalid row fails the job (nothing is left behind): ``score`` lists each one in a rejects file.
Exit status: 0 every row scored; 1 nothing written; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.core.errors import DataError, ModelError, PipelineError
from pipeline.tasks import kind_named

ALIASES = ("champion", "challenger")
APP_NAME = "pipeline spark"


# --------------------------------------------------------------------------- the model
def model_uri(task: str, model: str | None) -> str:
    """``champion``/``challenger`` (default champion) as the task's alias, a number as its version,
    anything else as an MLflow model URI (``models:/...``, ``runs:/...``, a model folder)."""
    model = model or "champion"
    if model in ALIASES:
        return f"models:/{task}@{model}"
    if model.isdigit():
        return f"models:/{task}/{model}"
    return model


def answer_type(output_schema: Any) -> Any:
    """The UDF's result type: a struct with one field per answer column the model's signature
    declares, each of MLflow's column types as Spark's; a column of type ``any`` (a text's
    ``warning``: a sentence or nothing) as a string, where MLflow would make it a variant."""
    from pyspark.sql.types import StructField, StructType

    if output_schema is None:
        raise ModelError("the model has no output signature: register it again with this pipeline")
    return StructType([StructField(spec.name, spark_type(spec.type)) for spec in output_schema.inputs])


def spark_type(column_type: Any) -> Any:
    from mlflow.types.schema import Array, DataType, Map, Object
    from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType

    if isinstance(column_type, DataType):
        return column_type.to_spark()
    if isinstance(column_type, Array):
        return ArrayType(spark_type(column_type.dtype))
    if isinstance(column_type, Object):
        return StructType([StructField(p.name, spark_type(p.dtype)) for p in column_type.properties])
    if isinstance(column_type, Map):
        return MapType(StringType(), spark_type(column_type.value_type))
    return StringType()  # mlflow's AnyType


# --------------------------------------------------------------------------- the session
def spark_session(master: str | None) -> Any:
    """The session: ``--master``, else the one ``spark-submit`` or spark-defaults set, else
    pyspark's ``local[*]``. Arrow carries the rows to and from the Python workers. On a local
    master started here they run this Python unless ``PYSPARK_PYTHON`` names another: Spark's
    default, ``python3`` on the PATH, may lack the model's packages, which ``env_manager="local"``
    counts on. Under ``spark-submit`` (its gateway already running) the cluster's setting holds."""
    import os

    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise PipelineError(
            "pyspark is not installed: pip install -e '.[services]' (and Java 17 or 21)"
        ) from exc
    if (master or "local").startswith("local") and "PYSPARK_GATEWAY_PORT" not in os.environ:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(APP_NAME).config("spark.ui.showConsoleProgress", "false")
    if master:
        builder = builder.master(master)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark's JAVA_GATEWAY_EXITED when there is no Java
        raise PipelineError(
            f"Spark did not start ({first_line(exc)}); it needs Java 17 or 21 on the PATH or in "
            "JAVA_HOME (Debian: apt-get install default-jre-headless)"
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _is_local(path: str) -> bool:
    """A path on this machine's disk, not a URI Spark's file systems resolve (``s3a://``, ``hdfs://``)."""
    return "://" not in path and not path.startswith("file:")


def check_paths(source: str, output: str) -> None:
    """A local input must exist and a local output must not: Spark's write would refuse it after
    the model is loaded, or overwrite what a user built."""
    if _is_local(source) and not Path(source).exists():
        raise DataError(f"{source}: not found")
    if _is_local(output) and Path(output).exists():
        raise DataError(f"{output}: already exists; remove it or name another --output")


def input_columns(
    frame: Any, model_inputs: list[str], ids: list[str] | None, source: str, passthrough: list[str]
) -> list[str]:
    """The id columns to keep, after checking that the input has the model's columns and the ids."""
    missing = [c for c in model_inputs if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; the model reads "
            f"{', '.join(model_inputs)}"
        )
    if ids is None:
        return [c for c in passthrough if c in frame.columns]
    unknown = [c for c in ids if c not in frame.columns]
    if unknown:
        raise DataError(f"{source}: --id column(s) {', '.join(map(repr, unknown))} not in the file")
    return ids


# --------------------------------------------------------------------------- the run
def score_on_spark(
    spark: Any,
    uri: str,
    source: str,
    output: str,
    ids: list[str] | None,
    passthrough: list[str],
    partitions: int | None = None,
) -> int:
    """Score ``source`` into ``output`` with the model at ``uri``; the number of rows written."""
    import mlflow
    from pyspark.sql.functions import struct

    metadata = mlflow.models.get_model_info(uri)
    model_inputs = metadata.signature.inputs.input_names() if metadata.signature else []
    result_type = answer_type(metadata.signature.outputs if metadata.signature else None)
    try:
        frame = spark.read.parquet(source)
    except Exception as exc:  # pyspark's AnalysisException: not Parquet, or no such path
        raise DataError(f"{source}: not a readable Parquet file or folder: {first_line(exc)}") from exc
    if partitions:
        frame = frame.repartition(partitions)
    if not model_inputs:
        raise ModelError(f"{uri}: the model has no input signature: register it again with this pipeline")
    kept = input_columns(frame, model_inputs, ids, source, passthrough)
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=result_type, env_manager="local")
    answered = frame.select(*kept, udf(struct(*model_inputs)).alias("answer"))
    scored = answered.select(*kept, *(missing_as_null(f"answer.{f.name}", f) for f in result_type.fields))
    try:
        scored.write.parquet(output)
    except Exception as exc:
        if _is_local(output):
            shutil.rmtree(output, ignore_errors=True)
        raise DataError(f"{source}: {job_failure(exc)}; nothing was written") from exc
    return int(spark.read.parquet(output).count())


def missing_as_null(path: str, field: Any) -> Any:
    """An answer column; a string column's missing values as null again. MLflow's UDF casts a
    string column with numpy's ``str``, which writes a missing value (a Neutral text's class, a
    text with no warning) as the text "None"; no answer of this pipeline is that word."""
    from pyspark.sql.functions import col, lit, when
    from pyspark.sql.types import StringType

    if not isinstance(field.dataType, StringType):
        return col(path).alias(field.name)
    return when(col(path) == lit("None"), lit(None)).otherwise(col(path)).alias(field.name)


def job_failure(exc: BaseException) -> str:
    """The line that says why the Spark job failed: the model's refusal of invalid rows (their
    numbers are within one Arrow batch of a partition, not the file's), else the error's first line."""
    text = str(exc)
    refused = re.search(r"\d+ invalid input row\(s\): [^\n]*", text)
    if refused:
        return (
            f"the model refused a batch: {refused.group(0)} (rows counted within the batch); "
            "'python -m pipeline score' lists every invalid row of the file in a rejects file"
        )
    return f"the Spark job failed: {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline spark",
        description="Score a Parquet dataset on Spark with the registered model (mlflow.pyfunc.spark_udf).",
        epilog="Exit status: 0 every row scored, 1 nothing written (an invalid row fails the job).",
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    parser.add_argument("--input", required=True, help="a Parquet file or folder (any path Spark reads)")
    parser.add_argument("--output", required=True, help="the folder of Parquet part files to write")
    parser.add_argument(
        "--model", help="champion (default), challenger, a version number, or an MLflow model URI"
    )
    parser.add_argument(
        "--master", help="Spark's master, e.g. local[2] (default: spark-submit's, else local[*])"
    )
    parser.add_argument(
        "--id", action="append", dest="ids", metavar="COLUMN", help="an id column kept (repeatable)"
    )
    parser.add_argument("--partitions", type=int, help="repartition the input into this many partitions")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.partitions is not None and args.partitions < 1:
        raise DataError(f"--partitions must be at least 1, got {args.partitions}")
    check_paths(args.input, args.output)
    # the JVM resolves a relative path against its own working folder, not this process's
    source, output = (str(Path(p).resolve()) if _is_local(p) else p for p in (args.input, args.output))
    from pipeline.serving.inference import Predictor, check_model

    uri = model_uri(args.task, args.model)
    predictor = Predictor.load(uri)  # the bundle: its task and kind, checked before Spark starts
    check_model(predictor, args.task, uri)
    refusal = kind_named(predictor.kind).row_scoring_refusal()
    if refusal:
        raise ModelError(f"spark is not supported for {predictor.kind} models: {refusal}")
    found = getattr(predictor, "source", None)
    pinned = f"models:/{found.registered_model}/{found.version}" if found and found.version else uri
    started = time.perf_counter()
    spark = spark_session(args.master)
    passthrough = list(getattr(predictor.encoder, "passthrough", []))
    rows = score_on_spark(spark, pinned, source, output, args.ids, passthrough, args.partitions)
    print(
        f"spark {args.task}: {rows} rows scored with {pinned} on {spark.sparkContext.master} "
        f"in {time.perf_counter() - started:.1f} s; wrote {args.output}",
        file=sys.stderr,
    )
    return 0
