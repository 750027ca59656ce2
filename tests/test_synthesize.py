"""synthesize: the generated data sets land as CSV files that read back to the generator's frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.__main__ import main as cli
from pipeline.core.config import params
from pipeline.data.synthetic import churn_frame, topics_frame
from tests.conftest import edit_params


def synthesize(project: Path, name: str, **spec: object) -> None:
    edit_params(project / "params.yaml", synthetic={name: spec})
    params.cache_clear()
    assert cli(["synthesize", name]) == 0


def test_a_topics_data_set_reads_back_as_the_generated_frame(project: Path) -> None:
    synthesize(project, "topics", generator="topics", rows=300)
    written = pd.read_csv(project / "data" / "synthetic" / "topics.csv")
    pd.testing.assert_frame_equal(written, topics_frame(300, 42))


def test_the_shipped_data_sets_read_back_too(project: Path) -> None:
    synthesize(project, "churn", rows=300)
    written = pd.read_csv(project / "data" / "synthetic" / "churn.csv")
    pd.testing.assert_frame_equal(written, churn_frame(300, 42), check_dtype=False)
