"""synthesize: the generated data sets land as CSV files that read back to the generator's frames,
one file per data set, or a train and a test file when the params ask for ``test_rows``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from pipeline.core.config import ConfigError, load_params, params
from pipeline.generators.synthetic import churn_frame, topics_frame
from tests.conftest import edit_params


def synthesize(project: Path, name: str, **spec: object) -> None:
    edit_params(project / "params.yaml", synthetic={name: spec})
    params.cache_clear()
    assert cli(["synthesize", name]) == 0


def test_a_topics_data_set_reads_back_as_the_generated_frame(project: Path) -> None:
    synthesize(project, "topics", generator="topics", rows=300)
    written = pd.read_csv(project / "data" / "synthetic" / "topics.csv")
    pd.testing.assert_frame_equal(written, topics_frame(300, 42))
    assert not (project / "data" / "synthetic" / "topics").exists()


def test_test_rows_write_a_train_and_a_test_file_instead(project: Path) -> None:
    synthesize(project, "topics", generator="topics", rows=400, test_rows=200)
    folder = project / "data" / "synthetic" / "topics"
    assert sorted(p.name for p in folder.iterdir()) == ["test.csv", "train.csv"]
    assert not (project / "data" / "synthetic" / "topics.csv").exists()
    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    pd.testing.assert_frame_equal(train, topics_frame(400, 42))
    # the test rows: other stories from the same distribution, every topic present
    assert len(test) == 200 and list(test.columns) == ["text", "label"]
    assert not set(test["text"]) & set(train["text"])
    assert set(test["label"]) == set(train["label"])
    share = test["label"].value_counts(normalize=True)
    assert share.index[0] == "earn" and 0.35 < share["earn"] < 0.45


def test_without_test_rows_the_shipped_data_sets_stay_one_file(project: Path) -> None:
    synthesize(project, "churn", rows=300)
    written = pd.read_csv(project / "data" / "synthetic" / "churn.csv")
    pd.testing.assert_frame_equal(written, churn_frame(300, 42), check_dtype=False)


def test_test_rows_must_be_a_real_test_set(project: Path) -> None:
    spec = {"generator": "topics", "rows": 300, "test_rows": 5}
    edit_params(project / "params.yaml", synthetic={"topics": spec})
    with pytest.raises(ConfigError, match=r"synthetic\.topics\.test_rows"):
        load_params(project / "params.yaml")


def test_the_load_series_reads_back_as_the_generated_frame(project: Path) -> None:
    from pipeline.generators.load_series import load_frame

    synthesize(project, "load", generator="load", rows=24 * 14)
    written = pd.read_csv(project / "data" / "synthetic" / "load.csv")
    pd.testing.assert_frame_equal(written, load_frame(24 * 14, 42), check_dtype=False)
