"""repro: ``dvc repro`` with the tasks' pipelines side by side, on as many cores as asked.

``python -m pipeline repro [--jobs N] [--force]`` is what ``make repro`` runs. With stage names
(``python -m pipeline repro train@churn-ann``) it is ``dvc repro`` of those stages, named without
the ``dag/<stage>/dvc.yaml:`` file that DVC's address of a stage before compare and register
needs (dag/README.md).

Each task's stages (its ingest to register, and the stages of its models) form a branch of the
DAG that shares no output with another task's, so it runs ``dvc --wait-for-lock repro <that
task's stages>`` for several tasks at once: DVC's own parallel stage execution (its docs,
"Parallel stage execution"). DVC releases the repository lock while a stage's command runs and
takes it again to record the result, so the branches' commands overlap while the ``dvc.lock``
files are written by one process at a time; ``--wait-for-lock`` makes each wait for the other
instead of failing.

Why: a stage spends most of its time in one core (Python and TensorFlow's imports, DVC rewriting
its ``dvc.lock``, small models), and this machine has two. Measured in docs/pipeline.md.

While it runs, the stages' imports are paid once: each ``python -m pipeline <stage>`` that DVC
starts hands its work to a warm process that imported TensorFlow, MLflow and the rest before the
first stage needed them (:mod:`pipeline.commands.warm`; ``--no-warm`` turns it off).

Only the tasks with a changed stage (``dvc status``; every task with ``--force``) run, those with
the most models first; a plain ``dvc repro`` then picks up any stage outside the tasks' branches.
Where two tasks share a stage (the same synthesized file, say), their branches are not
independent: that run is one plain ``dvc repro``, which is what ``--jobs 1`` always does. The
results are those of ``dvc repro``: every stage is seeded and none reads another task's outputs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.commands.warm import warm_process
from pipeline.core import paths
from pipeline.core.config import Params, load_params
from pipeline.core.errors import PipelineError


def stage_name(address: str) -> str:
    """``train@churn-ann`` for DVC's ``dag/train/dvc.yaml:train@churn-ann`` (or ``train@churn-ann``)."""
    return address.rpartition(":")[2]


def owner(stage: str, params: Params) -> str | None:
    """The task whose branch a stage (name or address) belongs to: its foreach key is the task (or
    a ``scoring:`` entry, named by task) or one of the task's models; None for any other stage."""
    _, _, key = stage_name(stage).partition("@")
    if key in params.tasks:
        return key
    if key in params.models:
        return params.models[key].task
    return None


def branches(upstream: Mapping[str, set[str]], params: Params) -> dict[str, set[str]] | None:
    """Each task's stages with everything upstream of them, or None when two tasks share a stage.

    ``upstream`` maps each stage to the stages it needs, directly or not (DVC's graph).
    """
    closure: dict[str, set[str]] = {}
    for stage, needs in upstream.items():
        task = owner(stage, params)
        if task is not None:
            closure.setdefault(task, set()).update({stage, *needs})
    tasks = list(closure)
    for i, first in enumerate(tasks):
        for second in tasks[i + 1 :]:
            if closure[first] & closure[second]:
                return None
    return closure


def lanes_to_run(
    closure: Mapping[str, set[str]], changed: Iterable[str] | None, params: Params
) -> list[tuple[str, list[str]]]:
    """(task, its own stages) for each task with a changed stage in its branch (every task when
    ``changed`` is None: a forced run), the tasks with the most models first."""
    changed_set = None if changed is None else set(changed)
    chosen = [task for task, stages in closure.items() if changed_set is None or stages & changed_set]
    models = {task: sum(ref.task == task for ref in params.models.values()) for task in chosen}
    chosen.sort(key=lambda task: -models[task])  # stable: params.yaml's order among equals
    return [(task, sorted(s for s in closure[task] if owner(s, params) == task)) for task in chosen]


def _dvc_graph(root: Path, status: bool = True) -> tuple[dict[str, set[str]], list[str]]:
    """Every stage's upstream stages and the stages ``dvc status`` finds changed (if asked), each
    by its DVC address (``dag/<stage>/dvc.yaml:<name>``, or the name in the root dvc.yaml)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        names = {stage: stage.addressing for stage in graph.nodes}
        upstream = {names[s]: {names[d] for d in nx.descendants(graph, s)} for s in graph.nodes}
        changed = list(repo.status()) if status else []
    return upstream, changed


_print_lock = threading.Lock()


def _run(command: list[str], prefix: str) -> int:
    """Run a command in the repository, each line of its output shown after ``prefix``."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=paths.project_root()
    )
    assert process.stdout is not None
    for line in process.stdout:
        with _print_lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()
    return process.wait()


def _run_lane(task: str, stages: list[str], force: bool) -> int:
    """One task's ``dvc repro``, its lines prefixed with the task, then how long it took."""
    started = time.monotonic()
    code = _run(_dvc_repro(stages, force), f"[{task}] ")
    with _print_lock:
        outcome = "built" if code == 0 else f"failed (exit {code})"
        print(f"[{task}] {outcome} in {time.monotonic() - started:.0f} s", flush=True)
    return code


def _dvc_repro(targets: list[str], force: bool) -> list[str]:
    """DVC from this interpreter's environment, whatever the PATH holds."""
    forced = ["--force"] if force else []
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", *forced, *targets]


def addresses(names: list[str], known: Iterable[str]) -> list[str]:
    """DVC's address of each stage named (by name or address), or a PipelineError naming the unknown."""
    by_name = {stage_name(address): address for address in known}
    unknown = [name for name in names if stage_name(name) not in by_name]
    if unknown:
        example = ", ".join(sorted(by_name)[:3])
        raise PipelineError(
            f"no stage named {', '.join(unknown)}: expected one of 'dvc stage list --all', with or "
            f"without its file, such as {example}"
        )
    return [by_name[stage_name(name)] for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline repro", description=__doc__.splitlines()[0])
    parser.add_argument(
        "stages", nargs="*", help="stages to run with their upstream, by name (train@churn-ann); default: all"
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=os.cpu_count() or 1, help="tasks run at once (default: the cores)"
    )
    parser.add_argument("--force", action="store_true", help="rerun every stage (dvc repro --force)")
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="each stage imports its own libraries (default: stages run in a warm process, docs/pipeline.md)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        raise PipelineError(f"--jobs {args.jobs}: expected 1 or more")
    if args.stages:
        upstream, _ = _dvc_graph(paths.project_root(), status=False)
        targets = addresses(args.stages, upstream)
        return _warm(args, lambda: _run(_dvc_repro(targets, args.force), ""))
    if args.jobs == 1:
        return _warm(args, lambda: _run(_dvc_repro([], args.force), ""))
    params = load_params()
    upstream, changed = _dvc_graph(paths.project_root(), status=not args.force)
    closure = branches(upstream, params)
    if closure is None:
        print("repro: two tasks share a stage, so their branches run one after the other")
        return _warm(args, lambda: _run(_dvc_repro([], args.force), ""))
    lanes = lanes_to_run(closure, None if args.force else changed, params)
    if not lanes and not changed:
        print("repro: nothing changed (dvc status)")
        return 0
    return _warm(args, lambda: _run_lanes(lanes, min(args.jobs, max(len(lanes), 1)), args.force))


def _warm(args: argparse.Namespace, work: Callable[[], int]) -> int:
    """``work()`` with the warm process (pipeline/commands/warm.py) up, unless ``--no-warm``."""
    started = time.monotonic()
    with warm_process(paths.project_root(), enabled=not args.no_warm) as ran_warm:
        code = work()
    if ran_warm:
        seconds = time.monotonic() - started
        print(f"repro: {len(ran_warm)} stage(s) ran in the warm process; {seconds:.0f} s in all")
    return code


def _run_lanes(lanes: list[tuple[str, list[str]]], jobs: int, force: bool) -> int:
    """Each task's lane, ``jobs`` at a time, then a plain ``dvc repro`` for any stage left."""
    started = time.monotonic()
    if lanes:
        print(f"repro: {len(lanes)} task(s) on {jobs} lane(s): {', '.join(task for task, _ in lanes)}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(lambda lane: _run_lane(lane[0], lane[1], force), lanes)
        codes = dict(zip([task for task, _ in lanes], results, strict=True))
    failed = [task for task, code in codes.items() if code != 0]
    if failed:
        print(f"repro: failed: {', '.join(failed)} (their lines above say why); the others are built")
        return 1
    code = _run(_dvc_repro([], False), "")  # any stage outside the tasks' branches
    print(f"repro: {len(lanes)} task(s) in {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
