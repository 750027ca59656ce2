"""Rooms small enough to read: no module over MAX_MODULE lines, no function over MAX_FUNCTION lines.

Run by ``make lint``. A function's length counts from its ``def`` (decorators included) to its last
line, docstring and comments included, since that is what a reader has to read.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE = 400
MAX_FUNCTION = 60


def oversized(path: Path) -> list[str]:
    """One line per module or function of ``path`` that is over its limit."""
    text = path.read_text(encoding="utf-8")
    problems = []
    n_lines = len(text.splitlines())
    if n_lines > MAX_MODULE:
        problems.append(f"{path}: {n_lines} lines (at most {MAX_MODULE} a module)")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION:
                problems.append(
                    f"{path}:{node.lineno}: {node.name} has {length} lines (at most {MAX_FUNCTION})"
                )
    return problems


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("pipeline")]
    files = sorted(p for root in roots for p in ([root] if root.is_file() else root.rglob("*.py")))
    problems = [line for path in files for line in oversized(path)]
    print(
        "\n".join(problems)
        or f"rooms: {len(files)} modules within {MAX_MODULE} lines, functions within {MAX_FUNCTION}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
