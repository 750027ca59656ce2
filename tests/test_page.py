"""The page of ``GET /``: served filled from the model's encoder, and driven in a real headless Chromium
against the real server (uvicorn + ONNX Runtime on tiny models): fill or type, submit, read the answer
from the page, and see the server's errors there.

The browser is the system's Chromium (``$CHROMIUM``, or ``chromium`` on the PATH; ``.ci/run`` installs
Debian's), driven by Playwright; the browser tests are skipped with the reason when there is none.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("onnxruntime")

from tiny_models import (
    TOPICS,
    balance_model_dir,
    churn_model_dir,
    churn_rows,
    nextword_model_dir,
    sentiment_model_dir,
    stars_model_dir,
    topics_model_dir,
)

from pipeline.serving.app import Listener, make_server
from pipeline.serving.inference import Predictor
from pipeline.serving.page import page_config, page_mode, script_json
from pipeline.serving.responses import answer_rows
from pipeline.serving.service import ScoringService
from pipeline.tasks.answers import NO_KNOWN_WORD

BAND = 0.1


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("page")
    return {
        "churn": churn_model_dir(root),
        "sentiment": sentiment_model_dir(root),
        "topics": topics_model_dir(root),
        "nextword": nextword_model_dir(root),
        "balance": balance_model_dir(root),
        "stars": stars_model_dir(root),
    }


@contextmanager
def serving(model_dirs: dict[str, Path]) -> Iterator[dict[str, Listener]]:
    """A real server (uvicorn + ONNX Runtime) for each bundle, by its name, stopped on leaving."""
    running: dict[str, tuple[Listener, threading.Thread]] = {}
    for task, directory in model_dirs.items():
        server = make_server(
            ScoringService(Predictor.from_dir(directory), str(directory), BAND), "127.0.0.1", 0
        )
        running[task] = (server, server.start_in_thread())
    yield {task: server for task, (server, _) in running.items()}
    for server, thread in running.values():
        server.stop(thread)


@pytest.fixture(scope="module")
def servers(model_dirs) -> Iterator[dict[str, Listener]]:
    with serving(model_dirs) as running:
        yield running


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8")


def config_of(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="config">(.*?)</script>', page, re.S)
    assert found, "the page carries its model's config"
    return json.loads(found.group(1))


# ------------------------------------------------------------------ the page as served (no browser)
def test_page_is_filled_from_the_served_encoder_and_needs_nothing_from_outside(servers, model_dirs):
    status, headers, page = get(servers["churn"].url + "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in headers["content-security-policy"]  # the browser refuses other hosts
    assert "://" not in page and not re.search(r"\b(src|href)=", page)  # no CDN, no external file
    config = config_of(page)
    encoder = Predictor.from_dir(model_dirs["churn"]).encoder
    assert (config["task"], config["mode"]) == ("churn", "form")
    assert [f["name"] for f in config["fields"]] == encoder.input_columns
    fields = {f["name"]: f for f in config["fields"]}
    assert fields["Geography"]["values"] == encoder.categorical["Geography"]
    assert fields["Age"]["min"] <= fields["Age"]["value"] <= fields["Age"]["max"]
    # 0/1 whole-number columns are yes/no choices; labels and class names come from the manifest
    assert {name for name, f in fields.items() if f["type"] == "yes_no"} == {"HasCrCard", "IsActiveMember"}
    assert fields["NumOfProducts"]["label"] == "Products held" and fields["Age"]["label"] == "Age"
    assert (config["class_names"], config["named"]) == (["stays", "leaves"], True)

    modes = {task: config_of(get(servers[task].url + "/")[2])["mode"] for task in ("sentiment", "topics")}
    assert modes == {"sentiment": "binary_text", "topics": "classes_text"}
    assert config_of(get(servers["topics"].url + "/")[2])["classes"] == TOPICS
    assert get(servers["churn"].url + "/nothing")[0] == 404


def test_page_mode_depends_on_the_encoder_kind_and_classes_only():
    assert page_mode("tabular", 2) == page_mode("tabular", 5) == "form"
    assert page_mode("text", 2) == "binary_text"
    assert page_mode("text", 52) == "classes_text"
    assert page_mode("language_model", 4_800) == "next_word"
    assert page_mode("timeseries", 6) == "forecast"


def test_config_cannot_end_the_script_element_early():
    text = script_json({"value": "</script><script>alert(1)</script><!--"})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"value": "</script><script>alert(1)</script><!--"}


def test_post_to_the_page_is_refused_as_json(servers):
    request = urllib.request.Request(servers["churn"].url + "/", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    assert "accepts GET only" in json.loads(refused.value.read())["message"]


# ---------------------------------------------------------------------------- in a real browser
@pytest.fixture
def open_page(browser, servers) -> Iterator:
    with page_opener(browser, servers) as open_:
        yield open_


@contextmanager
def page_opener(browser, servers: dict[str, Listener]) -> Iterator:
    """``open_page(task)``: a fresh tab on that task's ``GET /``; every request it made is checked to
    have gone to the server itself."""
    tabs, requests = [], []

    def open_(task: str):
        tab = browser.new_page()
        tab.set_default_timeout(10_000)
        tab.on("request", lambda request: requests.append((task, request.url)))
        tab.goto(servers[task].url + "/")
        tabs.append(tab)
        return tab

    yield open_
    for tab in tabs:
        tab.close()
    assert requests and all(url.startswith(servers[task].url + "/") for task, url in requests), requests


def answer(tab, n: int, timeout_s: float = 10) -> None:
    """Wait until the page shows the answer (or error) to its ``n``-th request."""
    tab.wait_for_selector(f'#result[data-answered="{n}"]', state="attached", timeout=timeout_s * 1000)


# An explained request runs in the server's big-batch worker process, which the first one starts
# (a new interpreter: pipeline, ONNX Runtime, then shap and numba): 20-30 s on a busy 2-core machine
FIRST_EXPLAIN_S = 90


def shown_probability(tab, selector: str = "#probability") -> float:
    return float(tab.get_attribute(selector, "data-probability"))


def test_churn_form_sends_the_customer_and_shows_the_probability_and_prediction(open_page, model_dirs):
    tab = open_page("churn")
    assert tab.title() == "Try churn (ann)"
    customer = {"Age": "71", "Balance": "125000.5", "Geography": "Germany"}
    tab.fill("#f-Age", customer["Age"])
    tab.fill("#f-Balance", customer["Balance"])
    tab.select_option("#f-Geography", label=customer["Geography"])
    tab.select_option("#f-IsActiveMember", label="no")
    tab.click("#submit")
    answer(tab, 1)

    # what the model says for the same customer: the form's other fields keep their shown values
    record = {}
    for field in config_of(tab.content())["fields"]:
        shown = tab.input_value(f"#f-{field['name']}")
        if field["type"] in ("number", "yes_no"):
            record[field["name"]] = float(shown)
        else:
            record[field["name"]] = field["values"][int(shown)]
    assert record["Geography"] == "Germany" and record["Age"] == 71 and record["IsActiveMember"] == 0
    predictor = Predictor.from_dir(model_dirs["churn"])
    want = float(predictor.score_records([record]).probabilities[0])
    assert shown_probability(tab) == pytest.approx(want, abs=1e-6)
    # the class's name from params.yaml's display.classes, travelled in the bundle: "leaves (1)"
    predicted = int(want >= 0.5)
    assert tab.text_content("#prediction") == f"{['stays', 'leaves'][predicted]} ({predicted})"
    assert f"probability of leaves (class 1): {100 * want:.1f}%" in tab.text_content("#probability")
    assert tab.is_hidden("#error")


def test_churn_form_labels_its_columns_and_asks_yes_or_no_for_a_0_1_column(open_page):
    """The form shows display.columns' labels and yes/no for HasCrCard; the request still names the
    columns and sends 0 or 1."""
    tab = open_page("churn")
    label = tab.text_content('label[data-column="NumOfProducts"] .field-label')
    assert label.startswith("Products held") and "NumOfProducts" not in label
    assert tab.text_content('label[data-column="Age"] .field-label').startswith("Age")
    for column in ("HasCrCard", "IsActiveMember"):
        assert tab.eval_on_selector(f"#f-{column}", "s => [s.tagName, [...s.options].map(o => o.text)]") == [
            "SELECT",
            ["no", "yes"],
        ]
    assert tab.get_attribute("#f-Age", "type") == "number"

    tab.select_option("#f-HasCrCard", label="yes")
    tab.select_option("#f-IsActiveMember", label="no")
    with tab.expect_request("**/invocations") as request:
        tab.click("#submit")
    answer(tab, 1)
    [sent] = json.loads(request.value.post_data)["dataframe_records"]
    assert (sent["HasCrCard"], sent["IsActiveMember"]) == (1, 0)
    assert "NumOfProducts" in sent and "Products held" not in sent
    assert re.fullmatch(r"(stays \(0\)|leaves \(1\))", tab.text_content("#prediction"))
    assert tab.is_hidden("#error")


def test_churn_form_shows_the_servers_error_then_recovers(open_page):
    tab = open_page("churn")
    tab.fill("#f-Age", "500")  # the browser lets it through: the server's rules are the ones shown
    tab.click("#submit")
    answer(tab, 1)
    error = tab.text_content("#error")
    assert tab.is_visible("#error") and "Error 400 BAD_REQUEST" in error
    assert re.search(r"Age: .*500", error), error  # the column and the server's own words
    assert tab.text_content("#result") == ""

    tab.fill("#f-Age", "40")
    tab.click("#submit")
    answer(tab, 2)
    assert tab.is_hidden("#error")
    assert 0 <= shown_probability(tab) <= 1


def test_explain_lists_the_fields_that_mattered_and_highlights_the_words(open_page, model_dirs):
    """Issue 24: with "explain" checked, the form lists the columns by their SHAP contributions (the
    server's, in its order) and the text box marks the word the model keys on."""
    from pipeline.serving.responses import explain_rows

    predictor = Predictor.from_dir(model_dirs["churn"])
    rows = churn_rows(1)  # shap imported in this process before the page asks
    explain_rows(predictor, rows, predictor.score_frame(rows).probabilities)
    tab = open_page("churn")
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.fill("#f-Age", "71")
    tab.check("#explain")
    tab.click("#submit")
    answer(tab, 1, FIRST_EXPLAIN_S)
    record = {}
    for field in config_of(tab.content())["fields"]:
        shown = tab.input_value(f"#f-{field['name']}")
        numeric = field["type"] in ("number", "yes_no")
        record[field["name"]] = float(shown) if numeric else field["values"][int(shown)]
    assert not errors, errors
    want = explain_rows(predictor, [record], predictor.score_records([record]).probabilities)[0]["top"]
    items = tab.query_selector_all("#explanation li.contribution")
    assert [i.get_attribute("data-name") for i in items] == [c["column"] for c in want]
    sizes = [float(i.get_attribute("data-size")) for i in items]
    assert sizes == pytest.approx([c["contribution"] for c in want], abs=1e-6)
    assert "Age = 71: +" in tab.text_content("#explanation")
    tab.uncheck("#explain")  # unchecked, the request asks for none
    tab.click("#submit")
    answer(tab, 2)
    assert tab.query_selector("#explanation") is None

    tab = open_page("sentiment")
    tab.fill("#text", "A great movie, fine plot")
    tab.check("#explain")
    tab.click("#submit")
    answer(tab, 1, FIRST_EXPLAIN_S)
    marks = tab.query_selector_all("#highlighted mark")
    assert marks[0].get_attribute("data-word") == "great" and "up" in marks[0].get_attribute("class")
    assert tab.text_content("#highlighted") == "A great movie, fine plot"  # the text as typed


def test_sentiment_text_box_labels_the_text_and_warns_when_no_word_is_known(open_page, model_dirs):
    tab = open_page("sentiment")
    predictor = Predictor.from_dir(model_dirs["sentiment"])
    tab.fill("#text", "a great movie")
    tab.click("#submit")
    answer(tab, 1)
    assert tab.text_content("#prediction") == "positive"  # display.classes' name of class 1
    want = float(predictor.score_records(["a great movie"]).probabilities[0])
    assert shown_probability(tab) == pytest.approx(want, abs=1e-6)
    assert "probability of positive:" in tab.text_content("#probability")

    tab.fill("#text", "awful awful plot")
    tab.press("#text", "Control+Enter")
    answer(tab, 2)
    assert tab.text_content("#prediction") == "negative"

    tab.fill("#text", "zxqv plmokn")
    tab.click("#submit")
    answer(tab, 3)
    assert tab.text_content("#prediction") == "Neutral"
    assert tab.text_content("#warning") == NO_KNOWN_WORD

    tab.fill("#text", "   ")  # the server refuses an empty text; the page says so
    tab.click("#submit")
    answer(tab, 4)
    assert "text is empty" in tab.text_content("#error")


def test_topics_text_box_lists_the_top_topics_with_their_probabilities(open_page, model_dirs):
    tab = open_page("topics")
    tab.fill("#text", "oil barrels and some tariffs")
    tab.click("#submit")
    answer(tab, 1)
    rows = tab.eval_on_selector_all(
        "#top tr.top", "rows => rows.map(r => [r.dataset.label, Number(r.dataset.probability)])"
    )
    scores = Predictor.from_dir(model_dirs["topics"]).score_records(["oil barrels and some tariffs"])
    want = sorted(zip(TOPICS, scores.probabilities[0].tolist(), strict=True), key=lambda lp: -lp[1])
    assert [label for label, _ in rows] == [label for label, _ in want]
    assert [p for _, p in rows] == pytest.approx([p for _, p in want], abs=1e-6)
    assert tab.text_content("#prediction") == "crude"


def test_next_word_mode_suggests_as_you_type_and_a_chip_appends_its_word(open_page, model_dirs):
    """The language-model mode against a real served next-word model (a bigram table: after "to"
    comes "be"): suggestions as you type, unknown words listed, a chip appends its word."""
    from pipeline.commands.predict import next_words

    vocabulary = Predictor.from_dir(model_dirs["nextword"]).classes
    config = page_config(
        SimpleNamespace(
            encoder=SimpleNamespace(kind="language_model", text_column="text"),
            classes=[f"w{i}" for i in range(3_000)],
            task="nextword",
            arch="gru",
        ),
        {},
        BAND,
    )
    assert config["mode"] == "next_word" and config["classes"] is None  # not 3,000 words in the page
    tab = open_page("nextword")
    asked: list[dict] = []
    tab.on("request", lambda r: asked.append(json.loads(r.post_data)) if r.method == "POST" else None)
    tab.type("#text", "to be or not zxq to", delay=5)
    settle(tab, asked, "to be or not zxq to")
    want = next_words(Predictor.from_dir(model_dirs["nextword"]), _frame("to be or not zxq to"), {"top_k": 5})
    top = want.frame.iloc[0]["top"]
    chips = tab.locator("#suggestions .chip").all_text_contents()
    assert top[0]["label"] == "be" and chips[0] == f"be{top[0]['probability']:.1%}"
    assert len(chips) == len(top)
    assert asked and all(b["params"] == {"top_k": 5} for b in asked)
    assert len(asked) <= len("to be or not zxq to")  # never more requests than keystrokes
    assert asked[-1]["inputs"] == ["to be or not zxq to"]  # the latest text is always asked
    assert "zxq" in tab.text_content("#unknown")
    tab.click("#suggestions .chip >> nth=0")
    assert tab.input_value("#text") == "to be or not zxq to be "
    settle(tab, asked, "to be or not zxq to be ")
    assert tab.locator("#suggestions .chip").all_text_contents()[0].startswith("or")  # after "be"
    assert "be" in vocabulary and "zxq" not in vocabulary


def settle(tab, asked: list[dict], text: str) -> None:
    """Wait until the page asked for ``text`` and shows the answer to its last request (the served
    page's Content-Security-Policy forbids ``wait_for_function``'s evaluated strings)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answered = tab.get_attribute("#result", "data-answered")
        if asked and asked[-1]["inputs"] == [text] and answered == str(len(asked)):
            return
        tab.wait_for_timeout(20)
    raise AssertionError(f"no answer shown for {text!r}; asked {asked}")


def _frame(text: str):
    import pandas as pd

    return pd.DataFrame({"text": [text]})


def test_a_numeric_target_shows_its_value_and_interval_in_its_units(open_page, model_dirs):
    """The form of a table whose target is a number: the answer is the value in the bundle's units
    and its 90% interval, as the server computes them for the same record."""
    tab = open_page("balance")
    salary, score = tab.locator("#f-EstimatedSalary"), tab.locator("#f-CreditScore")
    assert salary.get_attribute("min") == "0" and salary.get_attribute("max") is None
    assert score.get_attribute("min") is None and score.get_attribute("max") is None
    hints = {label.get_attribute("data-column"): label.text_content() for label in tab.locator("label").all()}
    assert hints["EstimatedSalary"].endswith("(from 0)") and hints["CreditScore"] == "CreditScore"
    tab.fill("#f-Age", "52")
    tab.click("#submit")
    answer(tab, 1)
    record = {}
    for field in config_of(tab.content())["fields"]:
        shown = tab.input_value(f"#f-{field['name']}")
        is_number = field["type"] in ("number", "yes_no")
        record[field["name"]] = float(shown) if is_number else field["values"][int(shown)]
    predictor = Predictor.from_dir(model_dirs["balance"])
    result = predictor.score_records([record])
    want = answer_rows(predictor, result.probabilities, result.known_token_share, [record])[0]
    assert float(tab.get_attribute("#prediction", "data-value")) == pytest.approx(want["value"], rel=1e-6)
    low, high = (float(tab.get_attribute("#interval", a)) for a in ("data-low", "data-high"))
    assert [low, high] == pytest.approx(want["interval"], rel=1e-6)
    assert tab.text_content("#prediction").startswith("Balance: ") and "EUR" in tab.text_content(
        "#prediction"
    )
    assert tab.text_content("#interval").startswith("90% prediction interval: ")
    assert tab.is_hidden("#error")


def test_a_text_with_a_numeric_target_shows_its_rating_and_interval(open_page, model_dirs):
    """A text task whose target is a number (a star rating): the text box, and the answer as the
    value in the bundle's units with its 90% interval, as the server computes them."""
    tab = open_page("stars")
    assert config_of(tab.content())["output"] == {"target": "rating", "units": "stars", "interval_level": 0.9}
    tab.fill("#text", "good plot")
    tab.click("#submit")
    answer(tab, 1)
    predictor = Predictor.from_dir(model_dirs["stars"])
    rows = _frame("good plot")
    result = predictor.score_frame(rows)
    want = answer_rows(predictor, result.probabilities, result.known_token_share, rows)[0]
    assert want["value"] == pytest.approx(5.5 + 1.5 * 2)
    assert float(tab.get_attribute("#prediction", "data-value")) == pytest.approx(want["value"], rel=1e-6)
    low, high = (float(tab.get_attribute("#interval", a)) for a in ("data-low", "data-high"))
    assert want["interval"] == pytest.approx([7.0, 10.0])  # clipped to 10 stars at most
    assert [low, high] == pytest.approx(want["interval"])
    assert tab.text_content("#prediction") == "rating: 8.5 stars"
    assert tab.text_content("#interval") == "90% prediction interval: 7 to 10 stars"
    assert tab.is_hidden("#error")
