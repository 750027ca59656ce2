"""bench --train: what a training epoch of each text model costs, with length bucketing off and on.

    python -m pipeline bench --train                         # every recurrent text model in params.yaml
    python -m pipeline bench --train --models sentiment/gru --rows 2000 --epochs 3

For each ``task/arch`` whose model reads tokens (``rnn``, ``lstm``, ``gru``), on its encoded splits
(``data/encoded/<task>/``; ``--rows`` keeps the first rows of the training split), with the values
``train`` uses (params.yaml's, tuned values on top) and the same seed, two fits through
``pipeline.modeling.models.fit``, the path ``train``, ``tune`` and ``cv`` share: ``bucketing`` off,
then the model's own ``bucketing`` setting (on by default where it skips at least ``min_saving``
of the steps; the row says when it fell back to plain batches). Per fit: training rows per second
in the fastest epoch after the first (the first pays for tracing; the first when it is the only
one; the fastest, because a job sharing the cores only ever slows an epoch down), the first epoch's
seconds, the best epoch (lowest ``val_loss``, the one early stopping
restores), the seconds to the end of it, its ``val_loss``, and the share of recurrent steps the
buckets skip.

Writes ``reports/bench_train.json`` (a list of rows) and ``reports/bench_train.md``, beside the
inference benchmark's ``reports/bench.*``, and prints the table. Figures are wall-clock on shared
cores: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.config import BucketingConfig, RecurrentParams, params
from pipeline.core.errors import ModelError
from pipeline.core.io import write_json, write_text


@dataclass
class TrainRow:
    model: str
    bucketing: str  # "off", "on", or "on (plain: skips 12%)" when it fell back
    epochs: int
    rows: int
    rows_per_s: float
    first_epoch_s: float
    best_epoch: int
    to_best_s: float
    best_val_loss: float
    steps_skipped: float  # share of the recurrent steps the buckets skip (0 when off)


def text_models(selection: list[str] | None) -> list[tuple[str, str]]:
    """``(task, arch)`` pairs whose models read tokens: the ones asked for, or all in params.yaml."""
    p = params()
    if selection:
        pairs = [tuple(item.partition("/")[::2]) for item in selection]
    else:
        pairs = [(t, a) for t, cfg in p.tasks.items() for a in cfg.models]
    found = []
    for task, arch in pairs:
        if isinstance(p.model_params(task, arch), RecurrentParams):
            found.append((task, arch))
        elif selection:
            raise ModelError(f"--models: {task}/{arch} is not a recurrent text model")
    if not found:
        raise ModelError("no recurrent text model to train; name one with --models <task>/<arch>")
    return found


def timed_fit(arch: str, model_params: RecurrentParams, data: Any, table: Any, seed: int) -> list[dict]:
    """One seeded fit; per epoch its seconds and ``val_loss``."""
    from pipeline.modeling import models

    models.seed_everything(seed)
    model = models.build_for(arch, model_params, data, table)
    clock = models.EpochClock()
    models.fit(model, model_params, data, callbacks=[clock])
    return clock.epochs


def row_of(name: str, label: str, epochs: list[dict], rows: int, skipped: float) -> TrainRow:
    """The figures of one fit from its epochs."""
    seconds = [e["seconds"] for e in epochs]
    fastest = min(seconds[1:] or seconds)
    best = min(range(len(epochs)), key=lambda i: epochs[i]["val_loss"])
    return TrainRow(
        name,
        label,
        len(epochs),
        rows,
        rows / fastest,
        seconds[0],
        best + 1,
        sum(seconds[: best + 1]),
        epochs[best]["val_loss"],
        skipped,
    )


def bench_model(task: str, arch: str, rows: int | None, epochs: int | None) -> list[TrainRow]:
    """The bucketing-off and bucketing-on rows of one model."""
    from pipeline.encoders.dataset import Split, load_dataset
    from pipeline.encoders.word2vec import initial_table
    from pipeline.modeling import buckets
    from pipeline.modeling.best_params import merged_model_params

    tuned = merged_model_params(task, arch)
    assert isinstance(tuned, RecurrentParams)
    data = load_dataset(task)
    if rows:
        data = dataclasses.replace(data, train=Split(data.train.x[:rows], data.train.y[:rows]))
    table = initial_table(task, arch, tuned, data.vocab_size)
    update = {"epochs": epochs, "patience": epochs} if epochs else {}
    setting = tuned.bucketing
    plan = buckets.plan_for(data.train.x, tuned.batch_size, setting.buckets, 0.0)
    skipped = plan.saving if plan else 0.0
    applies = setting.enabled and skipped >= setting.min_saving
    out = []
    for on in (False, True):
        model_params = tuned.model_copy(
            update={**update, "bucketing": setting if on else BucketingConfig(enabled=False)}
        )
        label = "off" if not on else "on" if applies else f"on (plain: skips {skipped:.0%})"
        fit_epochs = timed_fit(arch, model_params, data, table, params().seed)
        out.append(
            row_of(f"{task}/{arch}", label, fit_epochs, len(data.train.y), skipped if on and applies else 0.0)
        )
    return out


def render(rows: list[TrainRow]) -> str:
    lines = [
        "# Training benchmark (`python -m pipeline bench --train`)",
        "",
        "Rows per second in the fastest epoch after the first; seconds to the end of the best epoch (lowest",
        "val_loss). Wall-clock on shared cores: compare rows of this run only.",
        "",
        "| model | bucketing | rows | epochs | rows/s | first epoch s | best epoch | s to best "
        "| best val_loss | steps skipped |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.bucketing} | {r.rows} | {r.epochs} | {r.rows_per_s:.0f} "
            f"| {r.first_epoch_s:.2f} | {r.best_epoch} | {r.to_best_s:.2f} "
            f"| {r.best_val_loss:.4f} | {r.steps_skipped:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline bench --train", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--models", type=lambda s: [i.strip() for i in s.split(",") if i.strip()])
    parser.add_argument("--rows", type=int, help="first rows of the training split (default: all)")
    parser.add_argument(
        "--epochs", type=int, help="epochs per fit, no early stop before (default: the model's)"
    )
    parser.add_argument("--output-dir", type=Path, help="default: reports/")
    args = parser.parse_args(argv)
    if (args.rows is not None and args.rows < 1) or (args.epochs is not None and args.epochs < 1):
        parser.error("--rows and --epochs must be >= 1")
    rows: list[TrainRow] = []
    for task, arch in text_models(args.models):
        print(f"bench --train {task}/{arch}", flush=True)
        rows += bench_model(task, arch, args.rows, args.epochs)
    out_dir = args.output_dir or paths.project_root() / "reports"
    write_json(out_dir / "bench_train.json", [asdict(r) for r in rows])
    report = render(rows)
    write_text(out_dir / "bench_train.md", report)
    print(report)
    return 0
