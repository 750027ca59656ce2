"""Build the two data sets that nobody here tuned for (issue 10), from public files.

* ``caravan.csv``: the CoIL 2000 insurance data (5,822 customers, 85 columns, target ``Purchase``
  ``Yes``/``No``, 6% ``Yes``), as shipped in the ``ISLP`` wheel (``pip download --no-deps
  islp==0.6.0``; the file is ``ISLP/data/Caravan.csv`` inside it). Copied unchanged.
* ``imdb_ratings/train.csv`` and ``test.csv``: IMDB reviews labelled with their star rating (the
  ``<id>_<rating>.txt`` file names of ``aclImdb_v1_labeled.tar.gz``: 1-4 and 7-10, eight classes),
  a seeded sample of ``--per-split`` reviews from each official split, so that the test file is
  the data set's own.

    pip download --no-deps -d /tmp/islp islp==0.6.0
    python benchmarks/untuned_data.py /tmp/islp/islp-0.6.0-py3-none-any.whl \
        ../shared/data/aclImdb_v1_labeled.tar.gz /tmp/untuned
    python -m pipeline real-data /tmp/untuned --sets-dir params/untuned   # in a copy of the repo

Prints each file's sha256 (``params/untuned/*.yaml`` pin them). Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import re
import tarfile
import zipfile
from pathlib import Path

CARAVAN_MEMBER = "ISLP/data/Caravan.csv"
REVIEW = re.compile(r"^aclImdb/(train|test)/(?:pos|neg)/\d+_(\d+)\.txt$")


def write_caravan(wheel: Path, out: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(CARAVAN_MEMBER)
    path = out / "caravan.csv"
    path.write_bytes(data)
    return path


def write_ratings(tar_path: Path, out: Path, per_split: int, seed: int) -> list[Path]:
    reviews: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    with tarfile.open(tar_path) as archive:
        for member in archive:
            match = REVIEW.match(member.name)
            if match and member.isfile():
                text = archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                reviews[match.group(1)].append((text, match.group(2)))
    folder = out / "imdb_ratings"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for split, rows in reviews.items():
        rows.sort()
        sample = random.Random(seed).sample(rows, min(per_split, len(rows)))
        path = folder / f"{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "rating"])
            writer.writerows(sample)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("islp_wheel", type=Path)
    parser.add_argument("imdb_tar", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-split", type=int, default=6000, help="reviews sampled from each split")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    paths = [write_caravan(args.islp_wheel, args.out)]
    paths += write_ratings(args.imdb_tar, args.out, args.per_split, args.seed)
    for path in paths:
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path}")


if __name__ == "__main__":
    main()
