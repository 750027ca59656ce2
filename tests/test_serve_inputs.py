"""serve: how input rows are read, checked and numbered, over real HTTP on 127.0.0.1.

The protocol, limits and connection handling are tests/test_serve.py's; this file is about the
input rules shared with predict and the pyfunc (pipeline/encoders/tabular.py, pipeline/core/rows.py).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("onnxruntime")

from tiny_models import churn_model_dir, churn_rows, sentiment_model_dir

from pipeline.serving.app import Listener, make_server
from pipeline.serving.inference import Predictor
from pipeline.serving.service import ScoringService


def post(server: Listener, body: Any, content_type: str = "application/json") -> tuple[int, dict]:
    host, port = server.sock.getsockname()[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        data = body if isinstance(body, str) else json.dumps(body)
        conn.request("POST", "/invocations", body=data, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Listener]]:
    root = tmp_path_factory.mktemp("serve-inputs")
    running = []
    for task, directory in (("churn", churn_model_dir(root)), ("sentiment", sentiment_model_dir(root))):
        service = ScoringService(Predictor.from_dir(directory), str(directory), 0.1)
        server = make_server(service, "127.0.0.1", 0)
        running.append((task, server, server.start_in_thread()))
    yield {task: server for task, server, _ in running}
    for _, server, thread in running:
        server.stop(thread)


def records(n: int) -> list[dict[str, Any]]:
    return json.loads(churn_rows(n).to_json(orient="records"))


# ------------------------------------------------------------------------ row numbers
def test_a_csv_body_names_data_rows_and_body_lines_and_a_blank_line_is_a_row(servers):
    text = churn_rows(3).to_csv(index=False).splitlines(keepends=True)
    text.insert(2, "\n")  # a blank line after data row 1: it is data row 2, on line 3
    status, data = post(servers["churn"], "".join(text) + "\n\n", "text/csv")  # trailing blanks: no rows

    assert status == 400 and data["message"].startswith("1 of 4 rows are invalid")
    assert data["errors"] == [{"row": 2, "line": 3, "message": "the row is empty: no value in any column"}]


def test_json_rows_count_from_1_in_every_format(servers):
    rows = records(3)
    rows[2]["Geography"] = "Atlantis"
    payloads = [
        {"dataframe_records": rows},
        {"dataframe_split": {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}},
        {"instances": rows},
    ]
    for payload in payloads:
        status, data = post(servers["churn"], payload)
        assert status == 400
        assert [(e["row"], e["column"]) for e in data["errors"]] == [(3, "Geography")]


# ------------------------------------------------------------------------------ headers
def test_a_repeated_column_and_a_wrong_separator_in_a_request_are_named(servers):
    csv_dup = churn_rows(2).rename(columns={"Tenure": "Age"}).to_csv(index=False)
    status, data = post(servers["churn"], csv_dup, "text/csv")
    assert status == 400 and "the CSV body: column 'Age' appears twice in the header" in data["message"]

    csv_semicolons = churn_rows(2).to_csv(index=False, sep=";")
    status, data = post(servers["churn"], csv_semicolons, "text/csv")
    assert status == 400
    assert "the header has one column containing ';': is the file ;-separated?" in data["message"]

    rows = churn_rows(1)
    split = {"columns": [*rows.columns, "Age"], "data": [[*rows.iloc[0].tolist(), 40]]}
    status, data = post(servers["churn"], {"dataframe_split": json.loads(json.dumps(split, default=int))})
    assert status == 400 and "dataframe_split.columns: column 'Age' appears twice" in data["message"]


# ---------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Age", 52.5, "52.5 is not a whole number; expected an integer in [18, 100]"),
        ("Age", True, "expected a number, got a boolean (true)"),
        ("IsActiveMember", True, "expected a number, got a boolean (true)"),
        ("Age", "fifty", "'fifty' is not a number"),
        ("NumOfProducts", 7, "unknown category 7; expected one of [1, 2, 3, 4]"),
    ],
    ids=["fraction-for-integer", "boolean", "boolean-in-range", "text", "category"],
)
def test_json_values_of_the_wrong_type_are_refused_by_name(servers, column, value, message):
    rows = records(2)
    rows[1][column] = value
    status, data = post(servers["churn"], {"dataframe_records": rows})

    assert status == 400
    assert data["errors"] == [{"row": 2, "column": column, "message": message}]


def test_numbers_sent_as_text_get_the_same_answer_as_numbers(servers):
    rows = records(2)
    as_text = [
        {k: str(v) if k in ("Age", "Balance", "NumOfProducts") else v for k, v in r.items()} for r in rows
    ]
    whole_floats = [r | {"Age": float(r["Age"])} for r in rows]

    status, want = post(servers["churn"], {"dataframe_records": rows})
    assert status == 200
    assert post(servers["churn"], {"dataframe_records": as_text}) == (200, want)
    assert post(servers["churn"], {"dataframe_records": whole_floats}) == (200, want)


# ------------------------------------------------------------------------ known words
def test_a_text_with_no_known_word_is_answered_neutral_with_a_warning(tmp_path):
    directory = sentiment_model_dir(tmp_path, oov_score=1.0)  # unknown words lean Positive
    server = make_server(ScoringService(Predictor.from_dir(directory), "x", 0.1), "127.0.0.1", 0)
    thread = server.start_in_thread()
    try:
        status, data = post(server, {"instances": ["great plot", "zxqv plmokn qwertyuiop", "\U0001f600"]})
        csv_status, csv_data = post(server, "text\nzxqv plmokn\n", "text/csv")
    finally:
        server.stop(thread)

    assert status == 200
    known, unknown, emoji = data["predictions"]
    assert (known["label"], known["known_token_share"], known["warning"]) == ("Positive", 1.0, None)
    assert unknown["probability"] > 0.8 and unknown["label"] == "Neutral"
    assert unknown["known_token_share"] == 0.0 and "no word of this text" in unknown["warning"]
    assert (emoji["label"], emoji["known_token_share"]) == ("Neutral", 0.0) and emoji["warning"]
    assert csv_status == 200 and csv_data["predictions"][0]["label"] == "Neutral"


def test_request_json_is_read_as_json_reads_it_even_where_orjson_refuses():
    from pipeline.serving.service import parse_json

    texts = [
        '{"dataframe_records": [{"Age": 42, "Balance": 1.5e-3, "Geography": "Fran\\u00e7e"}]}',
        '{"a": NaN, "b": -Infinity}',  # json's leniency, which the row checks then refuse by name
        '{"s": "\\ud800"}',  # a lone surrogate
    ]
    for text in texts:
        expected, got = json.loads(text), parse_json(text)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert parse_json('{"n": 123456789012345678901234567890}') == {"n": 1.2345678901234568e29}  # a float
    with pytest.raises(json.JSONDecodeError):
        parse_json('{"dataframe_records": [')
