"""The page's forecast widget in a real headless Chromium against the real server (as
``tests/test_page.py`` drives the other widgets): a pasted CSV history is read as spreadsheets and
pandas write it (RFC 4180: quoted cells, escaped quotes, CRLF, a BOM), a row of another width is
refused on the page before anything is posted, and the answer is the server's for that history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from test_page import answer, config_of, get, page_opener, serving
from tiny_models import load_model_dir, load_rows

from pipeline.serving import bundle
from pipeline.serving.inference import Predictor
from pipeline.serving.responses import answer_rows


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny forecaster as export writes it, and one exported before bundles carried a history."""
    root = tmp_path_factory.mktemp("forecast-page")
    older = load_model_dir(root / "older")
    manifest = json.loads((older / bundle.MANIFEST_FILE).read_text())
    del manifest["input"]["example"]
    (older / bundle.MANIFEST_FILE).write_text(json.dumps(manifest))
    return {"load": load_model_dir(root), "older": older}


@pytest.fixture(scope="module")
def servers(model_dirs) -> Iterator[dict]:
    with serving(model_dirs) as running:
        yield running


@pytest.fixture
def open_page(browser, servers) -> Iterator:
    with page_opener(browser, servers) as open_:
        yield open_


def served_forecast(model_dir: Path, history: pd.DataFrame) -> dict:
    """What the bundle answers for ``history``, as the server computes it."""
    predictor = Predictor.from_dir(model_dir)
    frame = history.reset_index(drop=True)
    result = predictor.score_frame(frame)
    return answer_rows(predictor, result.probabilities, None, frame)[0]


def shown_values(tab) -> list[float]:
    cells = tab.eval_on_selector_all("#forecast td.value", "cells => cells.map(c => c.dataset.value)")
    return [float(v) for v in cells]


def posted_records(tab, text: str) -> list[dict]:
    """Paste ``text``, click Forecast, and return the records the page posted."""
    tab.fill("#history", text)
    with tab.expect_request("**/invocations") as request:
        tab.click("#submit")
    return json.loads(request.value.post_data)["dataframe_records"]


def test_a_forecaster_draws_the_history_and_the_next_steps_it_answers(open_page, model_dirs):
    """A pasted CSV history is posted as one input; the page lists the next steps' timestamps and
    values as the server answers them and draws both lines in an inline SVG."""
    tab = open_page("load")
    config = config_of(tab.content())
    assert (config["mode"], config["horizon"], config["min_history"]) == ("forecast", 6, 24)
    history = load_rows().tail(30)
    tab.fill("#history", history.to_csv(index=False))
    tab.click("#submit")
    answer(tab, 1)
    assert tab.is_hidden("#error")
    want = served_forecast(model_dirs["load"], history)
    assert shown_values(tab) == pytest.approx(want["values"], rel=1e-6)
    assert tab.text_content("#forecast tr td") == want["timestamps"][0]
    assert tab.get_attribute("#history-line", "data-points") == "30"
    assert tab.get_attribute("#forecast-line", "data-points") == "7"  # from the last observed step

    tab.fill("#history", history.tail(10).to_csv(index=False))
    tab.click("#submit")
    answer(tab, 2)
    assert "10 steps of history" in tab.text_content("#error")


def quoted_csv(history: pd.DataFrame, notes: list[str]) -> str:
    """``history`` with a text column ``note`` as a spreadsheet exports it: a BOM, every cell quoted
    (a quote inside doubled), CRLF line ends, a blank line and a trailing line end."""

    def line(cells: list[str]) -> str:
        return ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)

    rows = [
        line([*map(str, row), note]) for row, note in zip(history.itertuples(index=False), notes, strict=True)
    ]
    return "\ufeff" + "\r\n".join([line([*history.columns, "note"]), *rows[:3], "", *rows[3:]]) + "\r\n"


def test_a_quoted_csv_is_read_and_forecast_as_the_plain_one(open_page, model_dirs):
    """The same history pasted plain and as a spreadsheet quotes it posts the same steps (numbers as
    numbers, the time column as text) and gets the same forecast; a quoted text cell keeps its
    commas and quotes, and a number with a comma in a text column stays that text."""
    history = load_rows().tail(30).reset_index(drop=True)
    notes = ["1,234.5", 'say "hi", then go', "  spaced  ", *["calm"] * 27]
    tab = open_page("load")

    plain = posted_records(tab, history.to_csv(index=False))
    answer(tab, 1)
    assert plain == [
        {"timestamp": t, "load": float(load), "temperature": float(temperature)}
        for t, load, temperature in history.itertuples(index=False)
    ]
    from_plain = shown_values(tab)

    quoted = posted_records(tab, quoted_csv(history, notes))
    answer(tab, 2)
    assert [{k: v for k, v in r.items() if k != "note"} for r in quoted] == plain
    assert [r["note"] for r in quoted] == notes
    assert tab.is_hidden("#error")
    assert (
        shown_values(tab)
        == from_plain
        == pytest.approx(served_forecast(model_dirs["load"], history)["values"])
    )


def test_a_row_of_another_width_is_refused_naming_its_line_and_nothing_is_posted(open_page):
    """A quoted line break makes the rows' lines differ from their numbers: the error names both."""
    history = load_rows().tail(30).reset_index(drop=True)
    lines = [f"{','.join(history.columns)},note"]
    lines += [",".join(row) + (',"two\nlines"' if i == 0 else ",x") for i, row in enumerate(history.values)]
    lines[7] = lines[7].removesuffix(",x")  # data row 7, on line 9: 3 cells
    tab = open_page("load")
    tab.fill("#history", "\n".join(lines))
    tab.click("#submit")
    tab.wait_for_selector("#error", state="visible")
    assert tab.text_content("#error") == (
        "Error: the history's CSV: data row 7 (line 9) has 3 cells, but the header has 4: "
        "timestamp, load, temperature, note"
    )
    assert tab.text_content("#result") == ""

    lines[7] += ",x"
    tab.fill("#history", "\n".join(lines))
    tab.click("#submit")
    answer(tab, 1)  # the first request the page sent: the refused history was never posted
    assert tab.is_hidden("#error"), tab.text_content("#error")
    assert len(shown_values(tab)) == 6


# ------------------------------------------------------------------ the history the page starts with
LOOKBACK = 24  # the tiny forecaster reads 24 steps (no known covariates: no rows ahead)


def test_the_page_carries_the_bundles_latest_history_or_none_from_an_older_bundle(servers):
    config = config_of(get(servers["load"].url + "/")[2])
    latest = load_rows().tail(LOOKBACK).reset_index(drop=True)
    assert config["example_csv"] == latest.to_csv(index=False)
    assert config_of(get(servers["older"].url + "/")[2])["example_csv"] == ""


def test_the_page_opens_with_a_history_and_forecast_answers_it(open_page, model_dirs):
    """A newcomer clicks Forecast on what the page shows: the series' latest steps, as the server
    answers them."""
    tab = open_page("load")
    shown = tab.input_value("#history")
    assert shown.splitlines()[0] == "timestamp,load,temperature" and len(shown.splitlines()) == 1 + LOOKBACK
    assert "paste your own history" in tab.text_content("#history-note")
    with tab.expect_request("**/invocations") as request:
        tab.click("#submit")
    answer(tab, 1)
    assert tab.is_hidden("#error")
    latest = load_rows().tail(LOOKBACK)
    sent = json.loads(request.value.post_data)["dataframe_records"]
    assert [r["timestamp"] for r in sent] == latest["timestamp"].tolist()
    assert [r["load"] for r in sent] == [float(v) for v in latest["load"]]
    want = served_forecast(model_dirs["load"], latest)
    assert shown_values(tab) == pytest.approx(want["values"], rel=1e-6)
    assert tab.text_content("#forecast tr td") == want["timestamps"][0]


def test_an_older_bundle_opens_with_an_empty_box_and_forecasts_a_pasted_history(open_page, model_dirs):
    tab = open_page("older")
    assert tab.input_value("#history") == "" and tab.locator("#history-note").count() == 0
    history = load_rows().tail(30)
    tab.fill("#history", history.to_csv(index=False))
    tab.click("#submit")
    answer(tab, 1)
    assert tab.is_hidden("#error")
    assert shown_values(tab) == pytest.approx(
        served_forecast(model_dirs["older"], history)["values"], rel=1e-6
    )
