"""The next-word task (kind ``language_model``): reader, contiguous split, vocabulary, GX suite,
Kneser-Ney against nltk.lm, and a tiny real Keras LSTM exported to ONNX, predicted and served."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import LanguageModelTaskConfig, load_params
from pipeline.core.errors import DataError
from pipeline.core.io import write_json
from pipeline.encoders.base import OOV, PAD
from pipeline.encoders.language_model import LanguageModelEncoder, continue_text
from pipeline.encoders.registry import encoder_from_dict
from pipeline.tasks import kind_of
from pipeline.tasks.ngram import KneserNey

REPO = Path(__file__).resolve().parents[1]
LINES = [
    "HAMLET. To be, or not to be: that is the question.",
    "",
    "OPHELIA. Good my lord, how does your honour?",
    "HAMLET. I humbly thank you; well, well, well.",
    "OPHELIA. My lord, I have remembrances of yours.",
    "HAMLET. No, not I; I never gave you aught.",
    "OPHELIA. My honour'd lord, you know right well you did.",
    "HAMLET. Ha, ha! are you honest?",
    "OPHELIA. My lord?",
    "HAMLET. Are you fair?",
]


@pytest.fixture(scope="module")
def config() -> LanguageModelTaskConfig:
    task = load_params(REPO / "params.yaml").task("nextword")
    return task.model_copy(
        update={
            "encode": task.encode.model_copy(update={"window": 3, "min_count": 2}),
            "split": task.split.model_copy(update={"val_fraction": 0.2, "test_fraction": 0.2}),
        }
    )


def read_lines(tmp_path: Path, config: LanguageModelTaskConfig, text: str) -> pd.DataFrame:
    path = tmp_path / "play.txt"
    path.write_text(text, encoding="utf-8")
    rows, fmt = kind_of(config).read(path, "play.txt", config)
    assert fmt == "text"
    return rows.frame


def test_text_file_to_windows_and_back(tmp_path: Path, config: LanguageModelTaskConfig) -> None:
    kind = kind_of(config)
    frame = read_lines(tmp_path, config, "\n".join(LINES) + "\n")
    assert frame["line"].tolist() == [1, *range(3, 11)]  # the blank line 2 is not a row; lines keep numbers
    split = kind.assign_splits(frame, config, seed=0)
    # contiguous: training first, then validation, then test at the end of the text
    order = {"train": 0, "val": 1, "test": 2}
    assert list(split.map(order)) == sorted(split.map(order)) and set(split) == set(order)
    frame = frame.assign(split=split)
    encoder = kind.fit_encoder(frame[frame["split"] == "train"], config)
    train_words = " ".join(frame.loc[frame["split"] == "train", "text"]).lower()
    assert encoder.vocabulary[:2] == [PAD, OOV]
    assert "hamlet" in encoder.vocabulary and "ophelia" in encoder.vocabulary  # twice in training
    assert "question" not in encoder.vocabulary and "question" in train_words  # once: min_count 2
    labels, arrays = kind.encode_splits(frame, encoder, config)
    assert labels.classes == encoder.vocabulary  # output i is vocabulary word i
    x, y = arrays["train"].x, arrays["train"].y
    assert x.shape == (len(y), 3) and x.dtype == np.int32
    assert x[0].tolist() == [0, 0, 0] and x[1].tolist() == [0, 0, y[0]]  # padding before the first token
    assert x[5].tolist() == y[2:5].tolist()  # each window: the three tokens before the target
    restored = encoder_from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert isinstance(restored, LanguageModelEncoder) and restored.to_dict() == encoder.to_dict()
    assert restored.to_dict()["kind"] == "language_model"
    np.testing.assert_array_equal(
        restored.transform_texts(["to be or not to"]), encoder.transform_texts(["to be or not to"])
    )
    assert restored.unknown_words("Zounds, my lord zounds") == ["zounds"]


def test_reader_refuses_what_is_not_utf8_text(tmp_path: Path, config: LanguageModelTaskConfig) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt.*UTF-8"):
        kind_of(config).read(path, "latin1.txt", config)


def test_gx_suite_catches_a_bad_corpus(config: LanguageModelTaskConfig) -> None:
    from pipeline.stages.validate import validate_frame

    good = pd.DataFrame({"text": [line for line in LINES if line] * 40})
    good["line"] = np.arange(1, len(good) + 1)
    small = config.model_copy(update={"schema_": config.schema_.model_copy(update={"min_tokens": 200})})
    assert validate_frame(good, small).success
    # too short, a line decoded with the wrong encoding, and ids that never repeat (nothing to learn)
    bad = pd.DataFrame({"text": [f"id{i:06d} x{i}" for i in range(30)], "line": range(1, 31)})
    bad.loc[3, "text"] = "garbled \ufffd\x01 bytes"
    failed = {o.expectation for o in validate_frame(bad, small).failures}
    assert failed == {
        "expect_column_values_to_not_match_regex",
        "expect_column_sum_to_be_between",
        "expect_column_mean_to_be_between",
    }


def test_kneser_ney_agrees_with_nltk() -> None:
    from nltk.lm import KneserNeyInterpolated, Vocabulary
    from nltk.lm.preprocessing import everygrams

    rng = np.random.default_rng(0)
    tokens = np.concatenate([[0, 0], rng.choice(8, size=300, p=[0, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05])])
    tokens[50:60] = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    ours = KneserNey(tokens, vocab_size=8, order=3, discount=0.75)
    words = [str(t) for t in tokens]
    theirs = KneserNeyInterpolated(3, discount=0.75)
    theirs.fit([list(everygrams(words, max_len=3))], Vocabulary(words, unk_cutoff=1))
    for context in [(1, 2), (5, 1), (7, 6), (3, 3), (2, 4)]:
        p = ours.distribution(context)
        expected = [theirs.score(str(w), [str(c) for c in context]) for w in range(1, 8)]
        np.testing.assert_allclose(p[1:8], expected, rtol=1e-9, atol=1e-12)
    for context in [(a, b) for a in range(8) for b in range(8)]:  # nltk's (0, 0) sums to 1.56
        assert math.isclose(ours.distribution(context).sum(), 1.0, rel_tol=1e-9)


# ------------------------------------------------------------------ tiny real model: ONNX, predict, serve
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LSTM language model (untrained weights, seeded) exported by the project's exporter."""
    from pipeline.core.config import RecurrentParams
    from pipeline.encoders.dataset import Dataset, Split
    from pipeline.modeling import models
    from pipeline.serving.inference import Predictor
    from pipeline.stages.export import convert, max_abs_diff
    from tests.tiny_models import finish_bundle

    words = ["to", "be", "or", "not", "that", "is", "the", "question", "my", "lord", "king", "queen", "ghost"]
    encoder = LanguageModelEncoder([PAD, OOV, *words], 4, "pre", "pre", True, "text", "language_model")
    ids = encoder.ids(" ".join(words * 3).split())
    x, y = encoder.windows(ids)
    data = Dataset(
        Split(x, y),
        Split(x, y),
        Split(x, y),
        encoder.vocab_size,
        encoder.vocab_size,
        tuple(encoder.vocabulary),
    )
    models.seed_everything(0)
    model = models.build_for("lstm", RecurrentParams(embedding_dim=6, units=5, dropout=0.1), data)
    directory = tmp_path_factory.mktemp("lm") / "models" / "nextword" / "lstm"
    directory.mkdir(parents=True)
    proto, _ = convert(model, "nextword", "lstm", opset=17)
    (directory / "model.onnx").write_bytes(proto.SerializeToString())
    write_json(directory / "encoder.json", encoder.to_dict() | {"classes": encoder.vocabulary})
    finish_bundle(directory, "nextword", "lstm", encoder)
    predictor = Predictor.from_dir(directory)
    keras_p = models.predict_proba(model, x)
    assert max_abs_diff(keras_p, predictor.predict_encoded(x)) <= 1e-5  # parity on every window
    assert keras_p.shape == (len(x), encoder.vocab_size)
    return directory


def test_predict_top_k_and_seeded_generation(model_dir: Path) -> None:
    from pipeline.commands.predict import next_words
    from pipeline.serving.inference import Predictor

    predictor = Predictor.from_dir(model_dir)
    frame = pd.DataFrame({"text": ["to be or not to", "the zork is the", ""]})
    scored = next_words(predictor, frame, {"top_k": 3})
    first = scored.frame.iloc[0]
    p = predictor.predict_encoded(predictor.encoder.transform_texts(["to be or not to"]))[0]
    allowed = np.argsort(-p)[:5]
    assert [t["label"] for t in first["top"]] == [predictor.encoder.vocabulary[i] for i in allowed if i > 1][
        :3
    ]
    assert [t["probability"] for t in first["top"]] == pytest.approx(sorted(p[2:], reverse=True)[:3])
    assert scored.frame.iloc[1]["unknown_words"] == ["zork"]
    assert scored.frame.iloc[1]["known_token_share"] == 0.75
    assert scored.frame.iloc[2]["error"] == "text is empty" and scored.n_invalid == 1
    encoder = predictor.encoder
    sampled = [
        continue_text(encoder, predictor.predict_encoded, "the king", 12, temperature=1.5, seed=7)
        for _ in "ab"
    ]
    assert sampled[0] == sampled[1] and len(sampled[0]) == 12 and OOV not in sampled[0]
    other = continue_text(encoder, predictor.predict_encoded, "the king", 12, temperature=1.5, seed=8)
    assert other != sampled[0]  # another seed, another text (12 words over 15: a tie is vanishingly rare)
    greedy = continue_text(encoder, predictor.predict_encoded, "the king", 3)
    first_word = encoder.vocabulary[
        int(np.argmax(predictor.predict_encoded(encoder.transform_texts(["the king"]))[0][2:])) + 2
    ]
    assert greedy[0] == first_word


def test_serve_answers_the_next_word_contract(model_dir: Path) -> None:
    import http.client

    from pipeline.serving.app import make_server
    from pipeline.serving.inference import Predictor
    from pipeline.serving.service import ScoringService

    service = ScoringService(Predictor.from_dir(model_dir), str(model_dir), 0.1, max_generate=20)
    server = make_server(service, "127.0.0.1", 0)
    thread = server.start_in_thread()
    try:
        host, port = server.url.removeprefix("http://").split(":")

        def post(body: dict) -> tuple[int, dict]:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("POST", "/invocations", json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        status, body = post({"inputs": ["to be or not to", "zounds my lord"], "params": {"top_k": 2}})
        assert status == 200
        first, second = body["predictions"]
        assert set(first) == {"label", "probability", "top", "unknown_words", "known_token_share", "warning"}
        assert len(first["top"]) == 2 and first["label"] == first["top"][0]["label"]
        assert first["unknown_words"] == [] and first["known_token_share"] == 1.0 and first["warning"] is None
        assert second["unknown_words"] == ["zounds"] and second["known_token_share"] == pytest.approx(
            2 / 3, abs=1e-4
        )
        params = {"generate": 5, "temperature": 0.8, "seed": 3}
        status, once = post({"inputs": ["the king"], "params": params})
        status2, again = post({"inputs": ["the king"], "params": params})
        assert status == status2 == 200
        generated = once["predictions"][0]["generated"]
        assert len(generated.split()) == 5 and generated == again["predictions"][0]["generated"]
        status, body = post({"inputs": ["the king", "  "]})
        assert status == 400 and body["errors"][0]["row"] == 2 and "empty" in body["errors"][0]["message"]
        status, body = post({"inputs": ["the king"], "params": {"generate": 500}})
        assert status == 400 and "generate" in body["message"]
        status, body = post({"inputs": ["the king"], "params": {"neutral_band": 0.2}})
        assert status == 400 and "top_k" in body["message"]
    finally:
        server.stop(thread)
