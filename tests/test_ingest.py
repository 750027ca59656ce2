"""ingest: synthetic data, local CSVs, http(s) downloads with checksums, the aclImdb archive, and
every input it cannot read (each fails with a message naming the file and leaves earlier output alone).

The CLI runs through ``pipeline.__main__.main`` in a temporary project (a copy of params.yaml);
URLs are served by a real ``http.server`` on 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.__main__ import main as cli
from pipeline.core import paths
from pipeline.core.config import params
from pipeline.core.errors import DataError
from pipeline.core.io import read_json
from pipeline.data.readers import read_aclimdb
from pipeline.generators.synthetic import churn_frame

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CHURN_SHA256 = "d67867b8dc6582c3caf24cbcd435c568decca160148585b506fa1b061d84ad04"
ACLIMDB_SHA256 = "91205116fe410c2b272d461829830ef837804c6f5275ac96dc0db35e0b9d679d"

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary project root holding a copy of the repository's params.yaml."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    params.cache_clear()
    yield tmp_path
    params.cache_clear()


@pytest.fixture
def run(project: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """Set ``<task>.data`` in params.yaml, run ``python -m pipeline ingest <task>``: (exit code, output)."""

    def _run(task: str, synthetic_rows: int = 200, **data: object) -> tuple[int, str]:
        raw = yaml.safe_load((project / "params.yaml").read_text())
        raw["synthetic"][task]["rows"] = synthetic_rows
        raw["tasks"][task]["data"] = {"source": f"data/synthetic/{task}.csv", "sha256": None} | data
        (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        params.cache_clear()
        if raw["tasks"][task]["data"]["source"].startswith("data/synthetic/"):
            assert cli(["synthesize", task]) == 0
        code = cli(["ingest", task])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return _run


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(task: str) -> dict[str, bytes]:
    """The bytes of everything ingest wrote for ``task`` (empty if nothing)."""
    files = (paths.raw_data(task), paths.raw_meta(task))
    return {f.name: f.read_bytes() for f in files if f.exists()}


def only_outputs_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1: (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_archive(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


IMDB_MEMBERS = {
    "aclImdb/README": b"Large Movie Review Dataset",
    "aclImdb/imdb.vocab": b"the\nmovie\n",
    "aclImdb/train/pos/10_9.txt": b"Loved it.<br /><br />A must see.",
    "aclImdb/train/pos/2_8.txt": "Caf\u00e9 scenes were great.".encode(),
    "aclImdb/train/neg/3_1.txt": b"Dull and far too long.",
    "aclImdb/train/unsup/5_0.txt": b"no label here",
    "aclImdb/train/urls_pos.txt": b"http://www.imdb.com/title/tt0000001/usercomments",
    "aclImdb/train/labeledBow.feat": b"0 0:1",
    "aclImdb/test/neg/0_2.txt": b"Not good at all.",
    "aclImdb/test/pos/7_10.txt": b"Wonderful, but too short.",
}


# ------------------------------------------------------------------------- synthetic
def test_the_generated_default_data_is_ingested_like_any_csv(run: Run, project: Path) -> None:
    code, out = run("churn", synthetic_rows=300)
    assert code == 0, out
    churn = pd.read_parquet(project / "data" / "raw" / "churn.parquet")
    pd.testing.assert_frame_equal(churn, churn_frame(300, 42), check_dtype=False)
    meta = read_json(project / "data" / "raw" / "churn.source.json")
    assert (
        meta["source"] == "data/synthetic/churn.csv"
        and meta["rows"] == 300
        and meta["columns"][-1] == "Exited"
    )
    assert len(meta["sha256"]) == 64 and meta["sha256"][:12] in out and "300 rows" in out

    code, out = run("sentiment", synthetic_rows=200)
    assert code == 0, out
    reviews = pd.read_parquet(project / "data" / "raw" / "sentiment.parquet")
    assert list(reviews.columns) == ["text", "label"] and reviews["label"].sum() == 100
    assert read_json(paths.raw_meta("sentiment"))["splits"] == {"all": 200}
    # Same params, same bytes: dvc sees nothing to rebuild.
    before = outputs("sentiment")
    assert run("sentiment", synthetic_rows=200)[0] == 0
    assert outputs("sentiment") == before


# ------------------------------------------------------------------------------ CSV
def test_a_local_csv_is_stored_as_read_and_judged_later(run: Run, project: Path) -> None:
    frame = churn_frame(60, 1).drop(columns=["Tenure"])  # a missing column is validate's business
    frame["Age"] = frame["Age"].astype(object)
    frame.loc[3, "Age"] = "forty"  # so is a value that is not a number
    frame.loc[5, "Balance"] = None
    (project / "inputs").mkdir()
    frame.to_csv(project / "inputs" / "customers.csv", index=False)

    code, out = run("churn", source="inputs/customers.csv", sha256=sha256(project / "inputs/customers.csv"))
    assert code == 0, out
    stored = pd.read_parquet(paths.raw_data("churn"))
    assert list(stored.columns) == list(frame.columns) and len(stored) == 60
    assert stored.loc[3, "Age"] == "forty" and stored.loc[4, "Age"] == str(frame.loc[4, "Age"])
    assert pd.isna(stored.loc[5, "Balance"]) and stored["CreditScore"].dtype.kind == "i"
    meta = read_json(paths.raw_meta("churn"))
    assert meta["sha256"] == sha256(project / "inputs/customers.csv") and meta["format"] == "csv"


def test_an_absolute_path_works_and_a_missing_one_is_named(run: Run, project: Path, tmp_path: Path) -> None:
    csv = tmp_path / "elsewhere.csv"
    churn_frame(20, 2).to_csv(csv, index=False)
    assert run("churn", source=str(csv))[0] == 0
    code, out = run("churn", source="data/nope.csv")
    assert code == 1 and "data/nope.csv: not found" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\n  \n", "empty file"),
        (b"RowNumber,CustomerId,Surname\n", "has a header (RowNumber, CustomerId, Surname) but no rows"),
        (b"a,b\n1,2\n3,\xff\xfe4\n", "line 3, column 3: byte 0xff is not valid UTF-8"),
        (b"a,b\n1,2\n3,4,5\n", "not a readable CSV"),
        (b"a,b\n1,2,3\n", "data row 1 (file line 2) has 3 fields, the header has 2"),
        (b'a,b\n"1,2\n', "not a readable CSV"),
        (b"Age,Tenure,Age\n1,2,3\n", "column 'Age' appears twice in the header"),
        (
            b"Age;Tenure;Balance\n1;2;3\n",
            "the header has one column containing ';': is the file ;-separated?",
        ),
        (b"Age\tTenure\n1\t2\n", "the header has one column containing a tab: is the file tab-separated?"),
    ],
    ids=[
        "zero-bytes",
        "blank",
        "header-only",
        "not-utf8",
        "extra-field",
        "extra-field-row-1",
        "open-quote",
        "duplicated-column",
        "semicolons",
        "tabs",
    ],
)
def test_unreadable_csvs_fail_without_touching_earlier_output(
    run: Run, project: Path, content: bytes, expected: str
) -> None:
    assert run("churn")[0] == 0
    before = outputs("churn")
    (project / "bad.csv").write_bytes(content)
    code, out = run("churn", source="bad.csv")
    assert code == 1
    assert out.startswith("error: bad.csv: ") and expected in out, out
    assert outputs("churn") == before
    assert only_outputs_in(project / "data" / "raw") == ["churn.parquet", "churn.source.json"]


def test_rows_are_named_by_data_row_and_file_line_and_the_map_is_kept(run: Run, project: Path) -> None:
    """Blank lines are not stored but count; a quoted line break moves later rows down a line."""
    (project / "reviews.csv").write_text(
        "text,label\n"  # line 1
        '"Two\nlines",1\n'  # data row 1, lines 2-3
        "\n"  # data row 2: blank, not stored
        "fine,0\n"  # data row 3, line 5
        "dull,maybe\n"  # data row 4, line 6
    )
    code, out = run("sentiment", source="reviews.csv")
    assert code == 1 and "found 'maybe' in data row 4 (file line 6) (1 bad row)" in out

    (project / "reviews.csv").write_text((project / "reviews.csv").read_text().replace("maybe", "1") + "\n\n")
    code, out = run("sentiment", source="reviews.csv")
    assert code == 0, out
    assert pd.read_parquet(paths.raw_data("sentiment"))["text"].tolist() == ["Two\nlines", "fine", "dull"]
    # stored row 1 is data row 1 on line 2; stored row 2 is data row 3 on line 5, and so on
    assert read_json(paths.raw_meta("sentiment"))["row_map"] == [[1, 1, 2], [2, 3, 5]]


# ------------------------------------------------------------------------------ URL
def test_download_with_checksum(run: Run, server: tuple[Path, str]) -> None:
    root, base = server
    churn_frame(40, 5).to_csv(root / "churn.csv", index=False)
    good = sha256(root / "churn.csv")

    code, out = run("churn", source=f"{base}/churn.csv", sha256=good.upper())
    assert code == 0, out
    assert len(pd.read_parquet(paths.raw_data("churn"))) == 40
    assert read_json(paths.raw_meta("churn"))["source"] == f"{base}/churn.csv"
    before = outputs("churn")

    # The file on the server changes; the pinned checksum catches it and nothing is overwritten.
    churn_frame(41, 5).to_csv(root / "churn.csv", index=False)
    code, out = run("churn", source=f"{base}/churn.csv", sha256=good)
    assert code == 1
    assert f"error: {base}/churn.csv: sha256 is {sha256(root / 'churn.csv')}, expected {good}" in out
    assert outputs("churn") == before


def test_http_errors_name_the_url(run: Run, server: tuple[Path, str]) -> None:
    _, base = server
    code, out = run("churn", source=f"{base}/missing.csv")
    assert code == 1 and f"{base}/missing.csv: download failed: HTTP 404" in out
    assert not paths.raw_data("churn").exists() and not paths.raw_meta("churn").exists()


def test_an_unreachable_host_is_a_clear_error(run: Run) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out = run("churn", source=f"http://127.0.0.1:{port}/churn.csv")
    assert code == 1 and f"http://127.0.0.1:{port}/churn.csv: download failed:" in out


# -------------------------------------------------------------------- aclImdb archive
def test_the_aclimdb_archive_is_read_without_extracting(run: Run, project: Path) -> None:
    write_archive(project / "aclImdb_v1.tar.gz", IMDB_MEMBERS)
    code, out = run("sentiment", source="aclImdb_v1.tar.gz")
    assert code == 0, out
    reviews = pd.read_parquet(paths.raw_data("sentiment"))
    assert reviews[["split", "label", "id", "rating"]].values.tolist() == [
        ["train", 0, 3, 1],
        ["train", 1, 2, 8],
        ["train", 1, 10, 9],
        ["test", 0, 0, 2],
        ["test", 1, 7, 10],
    ]
    assert reviews["text"].tolist()[1] == "Caf\u00e9 scenes were great."
    meta = read_json(paths.raw_meta("sentiment"))
    assert meta["splits"] == {"train": 3, "test": 2} and meta["format"] == "aclImdb archive"
    assert "5 rows (train 3, test 2)" in out
    assert not (project / "aclImdb").exists()


def test_a_plain_tar_without_a_telling_name_is_recognised(project: Path, run: Run) -> None:
    write_archive(project / "reviews.bin", IMDB_MEMBERS, mode="w")
    code, out = run("sentiment", source="reviews.bin")
    assert code == 0, out


@pytest.mark.parametrize(
    ("name", "mode", "keep"),
    [
        ("aclImdb_v1.tar.gz", "w:gz", lambda n: n // 2),
        ("aclImdb_v1.tar.gz", "w:gz", lambda n: n - 8),  # all tar data there, the gzip trailer is not
        ("aclImdb_v1.tar", "w", lambda n: 2048),  # two whole members, cut at a member boundary
        ("aclImdb_v1.tar", "w", lambda n: 2048 + 100),  # inside a member
    ],
    ids=["gz-half", "gz-trailer", "tar-boundary", "tar-mid-member"],
)
def test_a_truncated_archive_fails_and_keeps_earlier_output(
    run: Run, project: Path, name: str, mode: str, keep: Callable[[int], int]
) -> None:
    archive = write_archive(project / name, IMDB_MEMBERS, mode=mode)
    assert run("sentiment", source=name)[0] == 0
    before = outputs("sentiment")
    data = archive.read_bytes()
    archive.write_bytes(data[: keep(len(data))])
    code, out = run("sentiment", source=name)
    assert code == 1
    assert f"error: {name}: not a readable tar archive (truncated or corrupt?)" in out
    assert outputs("sentiment") == before


def test_archive_problems_are_named(project: Path) -> None:
    bad = write_archive(
        project / "bad.tgz", {**IMDB_MEMBERS, "aclImdb/test/neg/9_3.txt": b"fine until \xc3\x28 here"}
    )
    with pytest.raises(DataError, match=r"bad.tgz: member aclImdb/test/neg/9_3.txt: byte 0xc3 at offset 11"):
        read_aclimdb(bad, "bad.tgz")
    empty = write_archive(
        project / "empty.tar.gz", {"aclImdb/README": b"nothing", "aclImdb/train/unsup/1_0.txt": b"x"}
    )
    with pytest.raises(DataError, match=r"empty.tar.gz: no reviews found"):
        read_aclimdb(empty, "empty.tar.gz")
    (project / "junk.tar.gz").write_bytes(b"\x1f\x8b" + bytes(range(200)))
    with pytest.raises(DataError, match=r"junk.tar.gz: not a readable tar archive"):
        read_aclimdb(project / "junk.tar.gz", "junk.tar.gz")


# --------------------------------------------------------------------- sentiment CSV
def test_a_sentiment_csv_maps_labels_and_keeps_its_split(run: Run, project: Path) -> None:
    pd.DataFrame(
        {
            "review": ["Great fun.", "Awful.", "Not bad at all.", "Boring", "Superb", "Meh, no."],
            "sentiment": ["positive", "NEG", "1", "0", " Pos ", "negative"],
            "split": ["train", "train", "test", "Test", "train", "test"],
            "source_site": ["a", "b", "c", "d", "e", "f"],
        }
    ).to_csv(project / "reviews.csv", index=False)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["tasks"]["sentiment"]["schema"] |= {"text": "review", "label": "sentiment"}
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    code, out = run("sentiment", source="reviews.csv")
    assert code == 0, out
    stored = pd.read_parquet(paths.raw_data("sentiment"))
    assert list(stored.columns) == ["review", "sentiment", "split"]
    assert stored["sentiment"].tolist() == [1, 0, 1, 0, 1, 0]
    assert stored["split"].tolist() == ["train", "train", "test", "test", "train", "test"]
    assert read_json(paths.raw_meta("sentiment"))["splits"] == {"train": 3, "test": 3}


def test_bad_sentiment_labels_are_reported_by_row(run: Run, project: Path) -> None:
    assert run("sentiment")[0] == 0
    before = outputs("sentiment")
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["pos", "maybe", "0", None]}).to_csv(
        project / "reviews.csv", index=False
    )
    code, out = run("sentiment", source="reviews.csv")
    assert code == 1
    assert "reviews.csv: column 'label' must hold 0/1 or pos/neg/positive/negative" in out
    found = "'maybe' in data row 2 (file line 3), an empty value in data row 4 (file line 5) (2 bad rows)"
    assert found in out
    assert outputs("sentiment") == before

    (project / "reviews.csv").write_text("body,label\nhello,1\n")
    code, out = run("sentiment", source="reviews.csv")
    assert code == 1 and "missing column(s) 'text'" in out and "'body', 'label'" in out

    (project / "reviews.csv").write_bytes(b'text,label\ngood,1\n"caf\xe9",0\n')
    code, out = run("sentiment", source="reviews.csv")
    assert code == 1 and "reviews.csv: line 3, column 5: byte 0xe9 is not valid UTF-8" in out

    (project / "reviews.csv").write_text("text,label,split\ngood,1,train\nbad,0,holdout\n")
    code, out = run("sentiment", source="reviews.csv")
    assert code == 1 and "column 'split' must hold train or test; found 'holdout' in data row 2" in out
    assert outputs("sentiment") == before


# ------------------------------------------------------------------------- real data
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data sets not found in {SHARED}")


@needs_shared
def test_the_real_churn_file(run: Run) -> None:
    code, out = run("churn", source=str(SHARED / "Churn_Modelling.csv"), sha256=CHURN_SHA256)
    assert code == 0, out
    churn = pd.read_parquet(paths.raw_data("churn"))
    assert churn.shape == (10_000, 14) and int(churn["Exited"].sum()) == 2037
    assert read_json(paths.raw_meta("churn"))["sha256"] == CHURN_SHA256


@needs_shared
@pytest.mark.slow  # 6-8 s on 2 busy cores
def test_the_real_aclimdb_archive(run: Run) -> None:
    start = time.perf_counter()
    code, out = run("sentiment", source=str(SHARED / "aclImdb_v1_labeled.tar.gz"), sha256=ACLIMDB_SHA256)
    elapsed = time.perf_counter() - start
    assert code == 0, out
    assert elapsed < 60
    reviews = pd.read_parquet(paths.raw_data("sentiment"))
    assert reviews.groupby(["split", "label"]).size().to_dict() == {
        ("test", 0): 12_500,
        ("test", 1): 12_500,
        ("train", 0): 12_500,
        ("train", 1): 12_500,
    }
    assert reviews["text"].str.len().min() > 0
    assert read_json(paths.raw_meta("sentiment"))["splits"] == {"train": 25_000, "test": 25_000}


# ---------------------------------------------------------------------- folder source
def test_a_folder_source_keeps_its_test_file_as_the_test_split(run: Run, project: Path) -> None:
    folder = project / "news"
    folder.mkdir()
    pd.DataFrame({"text": ["oil up", "bank merger", "crop news"], "label": ["crude", "acq", "grain"]}).to_csv(
        folder / "news_train.csv", index=False
    )
    pd.DataFrame({"text": ["oil down", "takeover bid"], "label": ["crude", "acq"]}).to_csv(
        folder / "news_test.csv", index=False
    )
    code, out = run("topics", source="news", train_file="news_train.csv", test_file="news_test.csv")
    assert code == 0, out
    stored = pd.read_parquet(paths.raw_data("topics"))
    assert stored["split"].tolist() == ["train", "train", "train", "test", "test"]
    assert stored["label"].tolist() == ["crude", "acq", "grain", "crude", "acq"]  # names kept: multi-class
    meta = read_json(paths.raw_meta("topics"))
    assert meta["splits"] == {"train": 3, "test": 2} and meta["format"] == "train and test CSVs"

    (folder / "news_test.csv").unlink()
    code, out = run("topics", source="news", train_file="news_train.csv", test_file="news_test.csv")
    assert code == 1 and "news: no news_test.csv in this folder" in out
