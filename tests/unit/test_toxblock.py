"""The shipped tox-block ONNX model and its pure-Python Keras tokenizer (detectors.toxblock)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from detectors.toxblock import (
    DEFAULT_MODEL_DIR,
    JIGSAW_LABELS,
    MODEL_FILE,
    TOKENIZER_FILE,
    ToxBlockModel,
)
from watcher.errors import DetectorError

TOXIC, SEVERE, OBSCENE, THREAT, INSULT, HATE = range(6)


@pytest.fixture(scope="module")
def model() -> ToxBlockModel:
    return ToxBlockModel()


# Expected sequences were produced ONCE by running tox-block's own pickled Keras tokenizer
# (keras_preprocessing 1.1.2 ``Tokenizer.texts_to_sequences``, in the conversion venv
# /tmp/conv described in scripts/convert_toxblock.py) and pasted in as literals: the product
# must not need Keras to be tested. Indices: the=1, you=6, idiot=966, council=2137, thanks=93.
KERAS_SEQUENCES = [
    ("empty", "", []),
    ("spaces", "   \t\n ", []),
    ("punct_only", "!!!???...", []),
    ("shouting", "You're an IDIOT!!!", [169, 28, 966]),
    # "'" is not a Keras filter: "'quoted'" stays one (unknown) token; the curly "don’t" is a
    # different word from "don't".
    ("apostrophes", "don't don’t 'quoted' it's its", [60, 2901, 72, 107]),
    # The em dash is not a filter either, so "weird—punctuation" is one unknown token.
    ("glued_punct", "Hello,world...this;is:weird—punctuation!!!", [318, 250, 13, 8]),
    (
        "urls_handles",
        "@cllr_smith see http://example.gov.uk/consult?id=42 #localdemocracy",
        [2316, 63, 176, 312, 2771, 731, 5644, 1377, 2333],
    ),
    # \t and \n are filters, \r is not: "line\r" is not "line".
    ("whitespace", "tab\tseparated\nnew line\r\nwindows line", [2169, 5514, 116, 2824, 488]),
    # Keras splits on " " only, so no-break spaces glue words into one unknown token.
    ("nbsp", "no\u00a0break\u00a0spaces here", [64]),
    ("unicode_case", "NAÏVE Café SCHÄBIG DON’T İ", [2564, 2901]),
    ("unknown", "qzxvqzxv councillorz the flibbertigibbet", [1]),
    # "somethings" has index 20000 in tox-block's full vocabulary: past num_words, dropped.
    ("beyond_num_words", "somethings idiot", [966]),
    ("emoji_numbers", "🙂 you 💩 are 🤡 123 1,000 3.14 £5m", [6, 18, 4518, 162, 580, 232, 752]),
]

# 80 x council, 20 x (you idiot qzxv!), 30 x (thanks somethings): 150 known tokens, of which
# Keras pad_sequences(maxlen=100) keeps the LAST 100 ("pre" truncating) — pasted from Keras.
LONG_TEXT = " ".join(
    ["council"] * 80 + ["you", "idiot", "qzxv!"] * 20 + ["thanks", "somethings"] * 30
)
LONG_KERAS_ROW = [2137] * 30 + [6, 966] * 20 + [93] * 30


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in KERAS_SEQUENCES], ids=[c[0] for c in KERAS_SEQUENCES]
)
def test_tokenizer_matches_keras_texts_to_sequences(
    model: ToxBlockModel, text: str, expected: list[int]
) -> None:
    assert model.tokenizer.sequence(text) == expected


def test_short_sequences_are_padded_with_zeros_in_front(model: ToxBlockModel) -> None:
    # pad_sequences(..., maxlen=100) of "You're an IDIOT!!!" in Keras: 97 zeros, then the words.
    rows = model.encode(["You're an IDIOT!!!", ""])
    assert rows.shape == (2, 100)
    assert rows.dtype == np.int32
    assert rows[0].tolist() == [0] * 97 + [169, 28, 966]
    assert rows[1].tolist() == [0] * 100


def test_long_input_keeps_the_last_maxlen_tokens_as_keras(model: ToxBlockModel) -> None:
    assert model.encode([LONG_TEXT])[0].tolist() == LONG_KERAS_ROW


def test_shipped_model_loads_with_its_settings(model: ToxBlockModel) -> None:
    tok = model.tokenizer
    assert (tok.maxlen, tok.num_words, tok.padding, tok.truncating) == (100, 20000, "pre", "pre")
    assert (tok.lower, tok.split, tok.oov_token) == (True, " ", None)
    assert len(tok.word_index) == 19_999
    assert (DEFAULT_MODEL_DIR / "LICENSE").read_text().startswith("MIT License")
    assert model.predict([]).shape == (0, len(JIGSAW_LABELS))


THREATS = [
    "I will kill you",
    "I will find you and kill you",
    "I am going to kill you and your family",
]
INSULTS = [
    "You're a useless idiot and everyone in this ward knows it.",
    "You are a stupid pathetic loser",
    "shut up you moron",
]
OBSCENE_TEXTS = ["fuck you, you fucking piece of shit", "go fuck yourself"]
CIVIL = [
    "Thank you for attending the residents' meeting on Tuesday, very helpful.",
    "When will the potholes on Mill Lane be fixed?",
    "Great work on the new library opening hours!",
    "I disagree with the planning decision but appreciate you explaining it.",
    "Could you raise the bin collection problem at the next full council?",
]


def test_clear_cases_score_on_the_right_heads(model: ToxBlockModel) -> None:
    # Margins, not exact values: measured scores are >= 0.9 / ~0.9 / < 0.01 respectively.
    threats, insults, obscene, civil = (
        model.predict(group) for group in (THREATS, INSULTS, OBSCENE_TEXTS, CIVIL)
    )
    assert (threats[:, THREAT] > 0.7).all() and (threats[:, TOXIC] > 0.7).all()
    assert (insults[:, INSULT] > 0.7).all() and (insults[:, TOXIC] > 0.9).all()
    assert (insults[:, THREAT] < 0.2).all()
    assert (obscene[:, OBSCENE] > 0.9).all()
    assert (civil < 0.05).all()
    assert threats[:, THREAT].min() > insults[:, THREAT].max() + 0.5


def test_scores_do_not_depend_on_batching(model: ToxBlockModel) -> None:
    texts = THREATS + INSULTS + CIVIL + ["", LONG_TEXT]
    whole = model.predict(texts)
    small = ToxBlockModel(batch_size=3).predict(texts)
    assert whole.shape == (len(texts), 6) and whole.dtype == np.float32
    np.testing.assert_allclose(small, whole, atol=1e-6)


def test_one_megabyte_comment_is_scored_on_its_last_tokens(model: ToxBlockModel) -> None:
    text = "thanks for the update " * 50_000 + "you idiot " * 50
    assert len(text) > 1_000_000
    assert model.encode([text])[0].tolist() == [6, 966] * 50
    scores = model.predict([text, "x" * 1_000_000])
    assert scores.shape == (2, 6)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert scores[0, INSULT] > 0.5


def test_non_text_is_refused(model: ToxBlockModel) -> None:
    with pytest.raises(DetectorError, match="item 1 is NoneType"):
        model.predict(["fine", None])  # type: ignore[list-item]


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "toxblock")
    return tmp_path / "toxblock"


def _edit_tokenizer(folder: Path, **changes: object) -> None:
    path = folder / TOKENIZER_FILE
    doc = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_a_copy_of_the_shipped_folder_loads(model_copy: Path) -> None:
    assert ToxBlockModel(model_copy).predict(["hello"]).shape == (1, 6)


@pytest.mark.parametrize("name", [MODEL_FILE, TOKENIZER_FILE])
def test_missing_file_names_it_and_the_fix(model_copy: Path, name: str) -> None:
    (model_copy / name).unlink()
    with pytest.raises(DetectorError, match="reinstall") as info:
        ToxBlockModel(model_copy)
    assert str(model_copy / name) in str(info.value)
    assert "missing" in str(info.value)


def test_truncated_model_is_caught_by_its_checksum(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    path.write_bytes(path.read_bytes()[:1_000_000])
    with pytest.raises(DetectorError, match="damaged") as info:
        ToxBlockModel(model_copy)
    assert str(path) in str(info.value)


def test_garbage_model_without_checksum_fails_at_load(model_copy: Path) -> None:
    _edit_tokenizer(model_copy, model_sha256=None)
    (model_copy / MODEL_FILE).write_bytes(b"not an onnx model")
    with pytest.raises(DetectorError, match="cannot be loaded by onnxruntime") as info:
        ToxBlockModel(model_copy)
    assert MODEL_FILE in str(info.value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("{ not json", "not valid JSON"),
        ('{"format": 99}', "not a format-1"),
        (None, "lacks a valid setting"),
    ],
    ids=["not_json", "wrong_format", "missing_setting"],
)
def test_corrupt_tokenizer_names_the_file(
    model_copy: Path, damage: str | None, message: str
) -> None:
    path = model_copy / TOKENIZER_FILE
    if damage is None:
        _edit_tokenizer(model_copy, maxlen=None)
    else:
        path.write_text(damage, encoding="utf-8")
    with pytest.raises(DetectorError, match=message) as info:
        ToxBlockModel(model_copy)
    assert str(path) in str(info.value)


def test_tokenizer_that_does_not_fit_the_model_fails_at_load(model_copy: Path) -> None:
    _edit_tokenizer(model_copy, maxlen=50)
    with pytest.raises(DetectorError, match=r"not \[batch, 50\]"):
        ToxBlockModel(model_copy)


def test_missing_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=TOKENIZER_FILE):
        ToxBlockModel(tmp_path / "nowhere")
