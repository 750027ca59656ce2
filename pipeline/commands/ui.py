"""ui: MLflow's UI on this project's store, after printing the links that open each task's runs table.

MLflow 3.17's UI has a switch at the top of its side bar, **GenAI** | **Model training**, kept in
the browser (localStorage ``mlflow.workflowType``; ``genai`` in a fresh browser) and overridden by
the page address's ``workflowType`` query. It alone decides how an experiment opens: in GenAI mode
on "Overview" (traces, the "Detect Issues in Your Traces" popover), whatever the experiment's
``mlflow.experimentKind`` tag says; in Model training mode on its **Runs** table. So the links
printed here carry ``workflowType=machine_learning``: each task's runs table, and its registered
model (whose versions' Description is the model card).

With ``MLFLOW_TRACKING_URI`` naming a server (http...), the links point at that server and no UI is
started: it is the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.core import paths
from pipeline.core.tracking import CUSTOM_MODEL_KIND, EXPERIMENT_KIND_TAG

WORKFLOW_QUERY = "workflowType=machine_learning"  # the side bar's "Model training"
PORT = 5001


def runs_url(base: str, experiment_id: str) -> str:
    """The page of an experiment's runs table, in Model training mode whatever the browser kept."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{WORKFLOW_QUERY}"


def model_url(base: str, name: str) -> str:
    """A registered model's page: its versions, their aliases; a version's page shows its card."""
    return f"{base.rstrip('/')}/#/models/{name}?{WORKFLOW_QUERY}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store URI, None for any other store."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def links(base: str, tracking_uri: str) -> list[str]:
    """One block per experiment the pipeline made (its kind tag): the runs table, the registered model."""
    db = sqlite_file(tracking_uri)
    if db is not None and not db.is_file():
        return [f"no MLflow store at {db} yet: `make repro` fills it"]
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    ours = [e for e in client.search_experiments() if e.tags.get(EXPERIMENT_KIND_TAG) == CUSTOM_MODEL_KIND]
    if not ours:
        return [f"no experiment of this pipeline in {tracking_uri} yet: `make repro` fills it"]
    models = {m.name for m in client.search_registered_models()}
    lines = []
    for experiment in sorted(ours, key=lambda e: int(e.experiment_id) if e.experiment_id.isdigit() else 0):
        lines.append(f"  {experiment.name:<10} runs   {runs_url(base, experiment.experiment_id)}")
        if experiment.name in models:
            lines.append(f"  {'':<10} model  {model_url(base, experiment.name)}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")
    parser.add_argument("--links-only", action="store_true", help="print the links, start no UI")
    args = parser.parse_args(argv)
    uri = paths.tracking_uri()
    remote = uri.startswith(("http://", "https://"))
    base = uri if remote else f"http://{args.host}:{args.port}"
    print(f"MLflow UI for {uri}: {base}", flush=True)
    print("each task's runs table and registered model (Model training mode):", flush=True)
    print("\n".join(links(base, uri)), flush=True)
    db = sqlite_file(uri)
    if db is not None and not db.is_file():
        return 1  # mlflow ui would create an empty store, and `make repro` would take it for a filled one
    if remote or args.links_only:
        return 0
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port)]
    print(" ".join(command[1:]), flush=True)
    os.execv(sys.executable, command)
    return 0  # not reached: the UI replaces this process
