"""real-data: point params.yaml at the real data sets, with the settings measured on them.

``python -m pipeline real-data DATA_DIR [--only NAME ...]`` deep-merges the ready settings in
``params/real/<name>.yaml`` (churn, imdb, r52; ``--sets-dir`` names another folder of sets, such as
``params/untuned``) over this checkout's ``params.yaml`` and writes it
back; ``dvc repro`` then trains on the real data. It rewrites ``params.yaml`` in place, so run it in
a copy of the repository or on a branch: the committed file keeps the offline default data.

A set file is a partial params.yaml plus one key of its own, ``requires:``, naming each file DATA_DIR
must hold with its published sha256 (``null``: not pinned). Every ``{data}`` in the set's strings
becomes DATA_DIR as given on the command line (relative paths are read from the repository root, as
params.yaml's are). Nothing is written unless every chosen set's files are present with the pinned
checksums and the merged params load. Mappings merge key by key; any other value (a list, a number)
replaces the repository's. Comments and layout of params.yaml are kept.

Applying sets again merges every set applied so far, read anew, over the params.yaml that the
first application started from (kept in ``.real-data.json``), so a key removed from a set file goes
too; once params.yaml is edited by other hands, that edited file is the new base. A folder source
(``train_file``/``test_file``) becomes ``data/linked/<task>/``: links to its two files, so that
DVC depends on those two and not on everything else in DATA_DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import ConfigError, load_params
from pipeline.core.errors import DataError, PipelineError
from pipeline.core.paths import project_root
from pipeline.core.task_config import missing_stage_keys
from pipeline.core.yamlio import YamlSyntaxError, load_yaml

SETS_DIR = Path("params") / "real"
LINKED_DIR = Path("data") / "linked"  # folder sources as links to their two files (see below)
STATE_FILE = ".real-data.json"  # what params.yaml was before real-data merged, and the sets merged
PLACEHOLDER = "{data}"
REQUIRES = "requires"


def available_sets(root: Path, sets_dir: Path = SETS_DIR) -> dict[str, Path]:
    """The set files under ``sets_dir`` (``params/real/``; relative to ``root`` or absolute), by
    name (the file name without ``.yaml``)."""
    folder = root / sets_dir
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not a folder (--sets-dir must name a folder of set files)")
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def shown(path: Path, root: Path) -> str:
    """``path`` relative to the repository when it lies inside it, else as it is."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def read_set(path: Path) -> tuple[dict[str, str | None], dict[str, Any]]:
    """A set file's required files (name -> sha256 or None) and its partial params."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = load_yaml(text) or {}
    except YamlSyntaxError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping (a partial params.yaml)")
    requires = raw.pop(REQUIRES, None) or {}
    if not isinstance(requires, dict):
        raise PipelineError(f"{path}: '{REQUIRES}' must map file names to their sha256 (or null)")
    return {str(name): (str(sha) if sha else None) for name, sha in requires.items()}, raw


def substitute(value: Any, data_dir: str) -> Any:
    """``value`` with every ``{data}`` in its strings replaced by ``data_dir``."""
    if isinstance(value, dict):
        return {key: substitute(item, data_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, data_dir) for item in value]
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, data_dir)
    return value


def deep_merge(base: Any, update: dict[str, Any]) -> None:
    """Merge ``update`` into the mapping ``base`` in place: mappings key by key, other values replace.

    A list replaces a list's items in place (an equal one is left as it is): ruamel keeps a
    key's end-of-line comment on its value's node, and a new node in its place shifts that comment,
    newline included, onto the next line (``dropout: 0.1 l2: 0.0`` after `dvc exp run -S` wrote a
    block list with a comment)."""
    for key, value in update.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list):
            if current != value:
                current[:] = value
        else:
            base[key] = value


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_files(name: str, set_path: Path, requires: dict[str, str | None], data_dir: Path) -> None:
    """Every file the set needs is in ``data_dir`` with its pinned sha256, or a DataError naming it."""
    for file_name, expected in requires.items():
        path = data_dir / file_name
        if not path.is_file():
            raise DataError(
                f"{path}: not found; the set {name!r} ({set_path}) needs it "
                f"(choose other sets with --only, or put the file there)"
            )
        if expected and (actual := sha256_of(path)) != expected.lower():
            raise DataError(
                f"{path}: sha256 {actual} is not the published {expected} that the set {name!r} "
                f"({set_path}) was measured on"
            )


def _yaml() -> Any:
    from ruamel.yaml import YAML  # DVC's own YAML library (a dependency of dvc): keeps comments

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return rt


def _flow_leaves(value: Any) -> Any:
    """New values as ruamel nodes: lists of scalars and mappings of scalars in flow style,
    as params.yaml writes them (``{generator: churn, rows: 10000}``, ``[64, 32]``)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        node = CommentedMap((key, _flow_leaves(item)) for key, item in value.items())
        if all(not isinstance(item, dict | list) for item in value.values()) and len(value) <= 6:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        node = CommentedSeq(_flow_leaves(item) for item in value)
        if all(not isinstance(item, dict | list) for item in value):
            node.fa.set_flow_style()
        return node
    if isinstance(value, str) and _read_as_other_type(value):
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString

        return DoubleQuotedScalarString(value)
    return value


def _read_as_other_type(text: str) -> bool:
    """Whether PyYAML (YAML 1.1) would read this string as something else: ``No``/``Yes``/``on``/
    ``off`` as booleans, ``null``, numbers. ruamel writes YAML 1.2, which DVC and our loader read,
    and leaves such strings unquoted; quoting them keeps the file the same under either version."""
    try:
        return not isinstance(yaml.safe_load(text), str)
    except yaml.YAMLError:  # "[unclosed", "a: b: c": quoting keeps them strings
        return True


def link_folder_sources(partial: dict[str, Any], root: Path) -> list[str]:
    """Point each folder source of ``partial`` at a folder of links to its two files only.

    dvc.yaml depends on ``data.source`` as one path, so a folder source makes DVC hash the whole
    folder, and any unrelated file added there would rerun ingest. ``data/linked/<task>/`` holds a
    link to the train file and one to the test file; DVC follows the links and hashes just those.
    """
    lines = []
    for task, section in (partial.get("tasks") or {}).items():
        data = section.get("data") if isinstance(section, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("source"), str):
            continue
        folder = Path(data["source"])
        resolved = folder if folder.is_absolute() else root / folder
        if not resolved.is_dir():
            continue
        links = root / LINKED_DIR / task
        if links.exists():
            shutil.rmtree(links)
        names = [data.get("train_file", "train.csv"), data.get("test_file", "test.csv")]
        for name in names:
            link, target = links / name, resolved / name
            link.parent.mkdir(parents=True, exist_ok=True)
            # relative as DATA_DIR was given, so that the clone can move with its data folder
            link.symlink_to(
                target.resolve() if folder.is_absolute() else os.path.relpath(target, link.parent)
            )
        data["source"] = str(LINKED_DIR / task)
        lines.append(
            f"tasks.{task}.data.source: {data['source']}/, links to {' and '.join(names)} in {folder}"
        )
    return lines


def merge_base(root: Path, params_text: str) -> tuple[str, list[dict[str, str]]]:
    """What to merge over, and the sets applied to it before.

    A params.yaml that real-data wrote and nobody edited since is merged anew from the file it was
    made from, with every set read again: applying a set twice, or after editing it, gives the
    same file as applying it once. An edited (or never merged) params.yaml is the new base.
    """
    state_path = root / STATE_FILE
    if state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("written_sha256") == hashlib.sha256(params_text.encode()).hexdigest():
            return state["base"], state["applied"]
    return params_text, []


def stage_key_fills(merged: Any, partials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each task a set brought, the keys DVC's stages need that it left out, as partials that
    mean the loader's defaults: a set file may give only a task's data, schema and models."""
    tasks = {task for partial in partials for task in partial.get("tasks") or {}}
    fills = {task: missing_stage_keys(merged.task(task)) for task in sorted(tasks)}
    return [{"tasks": {task: fill}} for task, fill in fills.items() if fill]


def merged_text(base: str, partials: list[dict[str, Any]]) -> str:
    rt = _yaml()
    document = rt.load(base)
    for partial in partials:
        deep_merge(document, _flow_leaves(partial))
    buffer = io.StringIO()
    rt.dump(document, buffer)
    return buffer.getvalue()


def apply_sets(root: Path, data_dir: str, names: list[str], sets_dir: Path = SETS_DIR) -> list[str]:
    """Check the data and write the merged params.yaml at ``root``; the lines to print."""
    sets = available_sets(root, sets_dir)
    if not sets:
        raise PipelineError(f"{root / sets_dir}: no set files (*.yaml) found")
    unknown = [name for name in names if name not in sets]
    if unknown:
        raise PipelineError(f"unknown set(s) {unknown}; available: {sorted(sets)}")
    folder = Path(data_dir) if Path(data_dir).is_absolute() else root / data_dir
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (DATA_DIR must be the folder holding the data files)")

    params_path = root / "params.yaml"
    base, applied = merge_base(root, params_path.read_text(encoding="utf-8"))
    chosen = [{"set": str(sets[name]), "data_dir": data_dir} for name in names or list(sets)]
    applied = [entry for entry in applied if entry["set"] not in {c["set"] for c in chosen}] + chosen
    partials, lines = [], []
    for entry in applied:
        set_path, name = Path(entry["set"]), Path(entry["set"]).stem
        requires, partial = read_set(set_path)
        entry_dir = (
            Path(entry["data_dir"]) if Path(entry["data_dir"]).is_absolute() else root / entry["data_dir"]
        )
        check_files(name, set_path, requires, entry_dir)
        partials.append(substitute(partial, entry["data_dir"]))
        pinned = sum(1 for sha in requires.values() if sha)
        tasks = ", ".join(f"tasks.{task}" for task in partial.get("tasks", {})) or "top-level keys"
        lines.append(
            f"{name}: {tasks} from {shown(set_path, root)} "
            f"({len(requires)} file(s) in {entry['data_dir']}, {pinned} sha256 checked)"
        )

    staged = params_path.with_name(".params.yaml.real-data")
    staged.write_text(merged_text(base, partials), encoding="utf-8")
    try:
        merged = load_params(staged)
    except ConfigError as exc:
        staged.unlink()
        raise PipelineError(f"the merged params do not load, params.yaml left unchanged: {exc}") from exc
    partials += stage_key_fills(merged, partials)
    for partial in partials:
        lines += link_folder_sources(partial, root)
    staged.write_text(merged_text(base, partials), encoding="utf-8")
    written = staged.read_text(encoding="utf-8")
    os.replace(staged, params_path)
    state = {"base": base, "applied": applied, "written_sha256": hashlib.sha256(written.encode()).hexdigest()}
    (root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return [*lines, f"wrote {params_path}; now run: dvc repro"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline real-data",
        description=(
            "Point params.yaml at the real data sets in DATA_DIR with the settings measured on them "
            "(params/real/<name>.yaml deep-merged over params.yaml), then run `dvc repro`. It REWRITES "
            "params.yaml in place: run it in a copy of the repository or on a branch. Each set names "
            "the files it needs and their published sha256; a missing file or another checksum stops "
            "it before anything is written."
        ),
    )
    parser.add_argument(
        "data_dir",
        metavar="DATA_DIR",
        help="folder holding the data files (e.g. ../shared/data); written into params.yaml as given",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="apply only this set (repeatable; default: every file in the sets folder, e.g. churn imdb r52)",
    )
    parser.add_argument(
        "--sets-dir",
        type=Path,
        default=SETS_DIR,
        help=f"folder of the set files, relative to the repository root or absolute (default: {SETS_DIR}; "
        "params/untuned holds the data sets nobody here tuned for)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for line in apply_sets(project_root(), args.data_dir, args.only, args.sets_dir):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
