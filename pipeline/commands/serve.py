"""serve: an HTTP scoring server that speaks MLflow's protocol, on ONNX Runtime alone.

    python -m pipeline serve churn                      # models:/churn@champion
    python -m pipeline serve sentiment --model models/sentiment/lstm --port 8080

A client cannot tell it from ``mlflow models serve -m models:/<task>@champion``: see
:mod:`pipeline.serving.app` (routes, errors, design), :mod:`pipeline.serving.requests` (the request
formats) and :mod:`pipeline.serving.service` (the answers). This module is the command: its flags,
and the settings of ``serve.*`` and the task's ``predict`` section in params.yaml (the defaults
outside a checkout), which nothing under ``pipeline/serving`` reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.core.config import ServeConfig
from pipeline.core.errors import PipelineError


def serve_settings() -> ServeConfig:
    """serve.* (the server's limits) from params.yaml, or the defaults outside a checkout; what the
    model answers comes from its bundle."""
    from pipeline.core.config import params
    from pipeline.core.paths import project_root

    if not (project_root() / "params.yaml").is_file():
        return ServeConfig()
    return params().serve


def with_overrides(settings: ServeConfig, **overrides: Any) -> ServeConfig:
    """``settings`` with the command-line values that were given, checked like params.yaml's."""
    from pydantic import ValidationError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return ServeConfig.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        flags = "; ".join(
            f"--{str(e['loc'][0]).removesuffix('_s').replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise PipelineError(flags) from exc


LOG_MAX_BYTES, LOG_BACKUPS = 50 * 1024 * 1024, 5  # --log-requests' rotation: at most 300 MB kept
FD_RESERVE = 64  # descriptors beyond the connections: the model, logs, the listening socket...


def raise_fd_limit(max_connections: int) -> int:
    """Make room for ``max_connections`` open sockets under the soft file-descriptor limit,
    raising it up to the hard limit if needed; refuse settings the process could not honour
    (the server would fail, /health included, when out of descriptors). Returns the limit."""
    import resource

    needed = max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise PipelineError(
                f"serve.max_connections={max_connections} needs {needed} file descriptors, but this "
                f"process may open at most {hard} (ulimit -Hn): lower serve.max_connections "
                f"(--max-connections) or raise the limit"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return soft


def listen(service: Any, host: str, port: int, access_log: bool, settings: ServeConfig) -> Any:
    """``make_server``, with an error that says what to do when the port is taken (a second
    ``serve`` on the default port, say)."""
    import errno

    from pipeline.serving.app import make_server

    try:
        return make_server(service, host, port, access_log, limits=settings)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PipelineError(
                f"cannot listen on {host}:{port}: port {port} is already in use (another serve?); "
                "pass --port N for a free port N to run several servers at once, or --port 0 to "
                "pick one (the start-up line says which)"
            ) from exc
        raise PipelineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def request_log(args: argparse.Namespace, uri: str) -> Any:
    """``--log-requests``' log, or None (the default: nothing is logged)."""
    from pipeline.serving.request_log import RequestLog

    if args.log_requests is None:
        return None
    try:
        return RequestLog(args.log_requests, uri, args.log_max_bytes, args.log_backups)
    except ValueError as exc:
        raise PipelineError(str(exc)) from exc
    except OSError as exc:
        raise PipelineError(
            f"--log-requests {args.log_requests}: cannot write: {exc.strerror or exc}"
        ) from exc


def add_request_log_arguments(parser: argparse.ArgumentParser) -> None:
    requests = parser.add_argument_group(
        "request log", "for `monitor --requests PATH` (docs/monitoring.md); off by default"
    )
    requests.add_argument(
        "--log-requests",
        type=Path,
        metavar="PATH",
        help="append each answered request's inputs and "
        "answers to PATH as a JSON line, rotated by size (PATH.1, PATH.2, ...)",
    )
    requests.add_argument(
        "--log-max-bytes",
        type=int,
        default=LOG_MAX_BYTES,
        metavar="N",
        help=f"rotate the log past N bytes (default {LOG_MAX_BYTES})",
    )
    requests.add_argument(
        "--log-backups",
        type=int,
        default=LOG_BACKUPS,
        metavar="K",
        help=f"rotated files kept (default {LOG_BACKUPS})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline serve",
        description=(
            "HTTP server speaking MLflow's scoring protocol (POST /invocations), on ONNX Runtime; "
            "GET / is a page to try the model in a browser."
        ),
    )
    parser.add_argument("task", help="a task of params.yaml (churn, sentiment, ...)")
    parser.add_argument(
        "--model", help="a model directory or an MLflow URI (default: models:/<task>@champion)"
    )
    parser.add_argument("--host", help="interface to listen on (default: serve.host)")
    parser.add_argument("--port", type=int, help="port (default: serve.port; 0 picks a free one)")
    parser.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads (default: serve.ort_threads)"
    )
    parser.add_argument(
        "--neutral-band", type=float, help="sentiment: default the model bundle's (its predict.neutral_band)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    add_request_log_arguments(parser)
    limits = parser.add_argument_group(
        "slow, idle and oversized clients",
        "answered 408, 431, 503 or closed; defaults: serve.* in params.yaml",
    )
    limits.add_argument(
        "--header-timeout", type=float, metavar="S", help="seconds for a request line and headers"
    )
    limits.add_argument(
        "--body-timeout", type=float, metavar="S", help="seconds for a body once its headers are in"
    )
    limits.add_argument(
        "--idle-timeout", type=float, metavar="S", help="seconds an idle keep-alive connection stays"
    )
    limits.add_argument("--max-connections", type=int, metavar="N", help="open connections served at once")
    limits.add_argument(
        "--max-header-bytes", type=int, metavar="N", help="bytes of a request line and headers"
    )
    limits.add_argument("--max-headers", type=int, metavar="N", help="headers in one request")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    from pipeline.serving.app import run_until_signalled
    from pipeline.serving.inference import Predictor, check_model
    from pipeline.serving.service import ScoringService
    from pipeline.tasks.answers import check_neutral_band

    settings = serve_settings()
    try:
        band = None if args.neutral_band is None else check_neutral_band(args.neutral_band)
    except ValueError as exc:
        raise PipelineError(f"--neutral-band: {exc}") from exc
    settings = with_overrides(
        settings,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        idle_timeout_s=args.idle_timeout,
        max_connections=args.max_connections,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
    )
    raise_fd_limit(settings.max_connections)
    uri = args.model or f"models:/{args.task}@champion"
    threads = settings.ort_threads if args.threads is None else args.threads
    predictor = Predictor.load(uri, threads=threads)
    check_model(predictor, args.task, uri)
    service = ScoringService(predictor, uri, band, settings.max_rows, settings.max_body_bytes)
    service.request_log = request_log(args, uri)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    listener = listen(service, host, port, args.access_log, settings)
    listener.app.worker.start()  # the big-batch worker, loaded before the first big batch comes
    print(
        f"serve {args.task}/{predictor.arch or '?'} ({uri}) on {listener.url} "
        f"(POST /invocations, GET /health; try it in a browser at {listener.url}/); "
        "Ctrl-C or SIGTERM stops",
        flush=True,
    )
    return run_until_signalled(listener)
