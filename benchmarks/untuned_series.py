"""Build the two series nobody here tuned the forecasting kind for (issue 22), from the pmdarima wheel.

pmdarima ships these series as number literals in its source (``pmdarima/datasets/<name>.py``, the
``rslt = np.array([...])`` of ``load_<name>``), not as files. This reads those literals from the
wheel (``ast``, nothing imported or run) and writes each as a CSV with a time column:

* ``airpassengers.csv``: ``month,passengers``: monthly international airline passengers in
  thousands, January 1949 to December 1960 (144 months; Box and Jenkins' series G). Months are
  written as their first day (frequency ``MS``).
* ``woolyrnq.csv``: ``quarter,tonnes``: quarterly production of woollen yarn in Australia, in tonnes,
  the first quarter of 1965 to the third of 1994 (119 quarters; R's ``forecast::woolyrnq``).
  Quarters are written as their first day (frequency ``QS``).

    pip download --no-deps -d /tmp/pm pmdarima==2.1.1
    python benchmarks/untuned_series.py /tmp/pm/pmdarima-2.1.1-*.whl /tmp/untuned
    python -m pipeline real-data /tmp/untuned --sets-dir params/untuned \\
        --only airpassengers woolyrnq   # in a copy of the repo

Prints each file's sha256 (``params/untuned/airpassengers.yaml`` and ``woolyrnq.yaml`` pin them).
Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import zipfile
from datetime import date
from pathlib import Path

# name -> (the wheel's module, the time column, the value column, first period, months per step)
SERIES = {
    "airpassengers": ("pmdarima/datasets/airpassengers.py", "month", "passengers", date(1949, 1, 1), 1),
    "woolyrnq": ("pmdarima/datasets/woolyrnq.py", "quarter", "tonnes", date(1965, 1, 1), 3),
}
LENGTHS = {"airpassengers": 144, "woolyrnq": 119}  # what pmdarima's docstrings state


def series_values(source: str) -> list[int]:
    """The numbers of the module's ``rslt = np.array([...])``: a list literal, read by ``ast``."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "rslt" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            call = node.value
            while isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call):
                call = call.func.value  # np.array([...]).astype(dtype): the inner call
            return [int(v) for v in ast.literal_eval(call.args[0])]
    raise ValueError("no 'rslt = np.array([...])' in the module")


def month_starts(first: date, n: int, months: int) -> list[str]:
    """``n`` first days of months, ``months`` apart from ``first``."""
    out = []
    for i in range(n):
        index = first.month - 1 + i * months
        out.append(date(first.year + index // 12, index % 12 + 1, 1).isoformat())
    return out


def write_series(wheel: Path, out: Path) -> list[Path]:
    paths = []
    with zipfile.ZipFile(wheel) as archive:
        for name, (module, time, value, first, months) in SERIES.items():
            values = series_values(archive.read(module).decode("utf-8"))
            if len(values) != LENGTHS[name]:
                raise ValueError(f"{module}: {len(values)} values; pmdarima documents {LENGTHS[name]}")
            path = out / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow([time, value])
                writer.writerows(zip(month_starts(first, len(values), months), values, strict=True))
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pmdarima_wheel", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in write_series(args.pmdarima_wheel, args.out):
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path}")


if __name__ == "__main__":
    main()
