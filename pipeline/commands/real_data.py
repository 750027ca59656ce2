"""real-data: point params.yaml at the real data sets, with the settings measured on them.

``python -m pipeline real-data DATA_DIR [--only NAME ...]`` deep-merges the ready settings in
``params/real/<name>.yaml`` (churn, imdb, r52) over this checkout's ``params.yaml`` and writes it
back; ``dvc repro`` then trains on the real data. It rewrites ``params.yaml`` in place, so run it in
a copy of the repository or on a branch: the committed file keeps the offline default data.

A set file is a partial params.yaml plus one key of its own, ``requires:``, naming each file DATA_DIR
must hold with its published sha256 (``null``: not pinned). Every ``{data}`` in the set's strings
becomes DATA_DIR as given on the command line (relative paths are read from the repository root, as
params.yaml's are). Nothing is written unless every chosen set's files are present with the pinned
checksums and the merged params load. Mappings merge key by key; any other value (a list, a number)
replaces the repository's. Comments and layout of params.yaml are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import ConfigError, load_params
from pipeline.core.errors import DataError, PipelineError
from pipeline.core.paths import project_root

SETS_DIR = Path("params") / "real"
PLACEHOLDER = "{data}"
REQUIRES = "requires"


def available_sets(root: Path) -> dict[str, Path]:
    """The set files under ``params/real/``, by name (the file name without ``.yaml``)."""
    folder = root / SETS_DIR
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def read_set(path: Path) -> tuple[dict[str, str | None], dict[str, Any]]:
    """A set file's required files (name -> sha256 or None) and its partial params."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from exc
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
    """Merge ``update`` into the mapping ``base`` in place: mappings key by key, other values replace."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
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
    return value


def apply_sets(root: Path, data_dir: str, names: list[str]) -> list[str]:
    """Check the data and write the merged params.yaml at ``root``; the lines to print."""
    sets = available_sets(root)
    if not sets:
        raise PipelineError(f"{root / SETS_DIR}: no set files (*.yaml) found")
    unknown = [name for name in names if name not in sets]
    if unknown:
        raise PipelineError(f"unknown set(s) {unknown}; available: {sorted(sets)}")
    chosen = names or list(sets)
    folder = Path(data_dir) if Path(data_dir).is_absolute() else root / data_dir
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (DATA_DIR must be the folder holding the data files)")

    partials, lines = [], []
    for name in chosen:
        requires, partial = read_set(sets[name])
        check_files(name, sets[name], requires, folder)
        partials.append(substitute(partial, data_dir))
        pinned = sum(1 for sha in requires.values() if sha)
        tasks = ", ".join(f"tasks.{task}" for task in partial.get("tasks", {})) or "top-level keys"
        lines.append(
            f"{name}: {tasks} from {sets[name].relative_to(root)} "
            f"({len(requires)} file(s) in {data_dir}, {pinned} sha256 checked)"
        )

    params_path = root / "params.yaml"
    rt = _yaml()
    document = rt.load(params_path.read_text(encoding="utf-8"))
    for partial in partials:
        deep_merge(document, _flow_leaves(partial))
    buffer = io.StringIO()
    rt.dump(document, buffer)
    staged = params_path.with_name(".params.yaml.real-data")
    staged.write_text(buffer.getvalue(), encoding="utf-8")
    try:
        load_params(staged)
    except ConfigError as exc:
        staged.unlink()
        raise PipelineError(f"the merged params do not load, params.yaml left unchanged: {exc}") from exc
    os.replace(staged, params_path)
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
        help="apply only this set (repeatable; default: every file in params/real/, e.g. churn imdb r52)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for line in apply_sets(project_root(), args.data_dir, args.only):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
