"""Tests for detectors.text.normalise: what filter-dodging text must normalise to."""

from __future__ import annotations

import time

import pytest

from detectors.text import emoji_as_words, normalise, normalise_mapped

# (input, expected normalised output)
CASES: list[tuple[str, str]] = [
    # leetspeak
    ("k1ll", "kill"),
    ("K1LL Y0U", "kill you"),
    ("1d10t", "idiot"),
    ("h4t3", "hate"),
    ("$tupid", "stupid"),
    ("5hit", "shit"),
    ("7wat", "twat"),
    ("sh!t", "shit"),
    ("idiot!", "idiot!"),  # "!" after a word is punctuation, not an "i"
    # spaced-out letters
    ("i d i o t", "idiot"),
    ("k i l l you", "kill you"),
    ("k.i.l.l", "kill"),
    ("k 1 l l", "kill"),
    ("what an i d i o t", "what an idiot"),
    ("a b i t c h", "a bitch"),  # the article swallowed by the run stays a word
    ("d r o p  d e a d", "drop dead"),  # wider gaps are word breaks
    ("f  u  c  k", "fuck"),
    # masked swears stay recognisable
    ("f*cking", "fucking"),
    ("f***ing", "fucking"),
    ("What a f***ing idiot.", "what a fucking idiot."),
    ("tw@t", "twat"),
    ("c**t", "cunt"),
    ("sh*t", "shit"),
    ("f#ck off", "fuck off"),
    ("*really* good", "*really* good"),  # emphasis is not a mask
    # zero-width and format characters
    ("id\u200diot", "idiot"),
    ("id\u200biot", "idiot"),
    ("k\u200cill", "kill"),
    ("\ufeffidiot", "idiot"),
    ("i\u00addiot", "idiot"),  # soft hyphen
    # Cyrillic and Greek look-alikes
    ("\u0456d\u0456\u043et", "idiot"),  # і d і о t
    ("\u043c\u043e\u0433\u043e\u043f", "moron"),  # м о г о п
    ("\u03ba\u03b9ll", "kill"),  # Greek κ ι
    # NFKC and casefold
    ("\uff29\uff24\uff29\uff2f\uff34", "idiot"),  # full-width
    ("\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d", "idiot"),  # maths bold
    ("ID\u0130OT", "idiot"),  # dotted capital I: casefold adds a mark, which is dropped
    ("\u00efdiot", "idiot"),  # diaeresis stripped
    ("STRASSE", "strasse"),
    # stretched letters
    ("kiiiiill", "kill"),
    ("killllll", "kill"),
    ("fuuuuck", "fuck"),
    # typography and whitespace
    ("you\u2019re  a\tmoron\n", "you're a moron"),
    # numbers that are data, not leetspeak, are left alone
    ("07700 900456", "07700 900456"),
    ("Reference 48213", "reference 48213"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "text",
    ["\ud800", "x\ud800y", "\udfff\ud800", "\ud83d\ude00 hi", "\x00\x01\x7f", "\ufffe\uffff"],
)
def test_invalid_unicode_does_not_crash_and_is_encodable(text: str) -> None:
    result = normalise(text)
    result.encode("utf-8")  # no lone surrogates survive


def test_surrogate_pair_is_joined() -> None:
    assert normalise("\ud83d\ude00 hi") == "\U0001f600 hi"


def test_non_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        normalise(b"idiot")  # type: ignore[arg-type]


def test_offsets_quote_the_original_words() -> None:
    doc = normalise_mapped("What a  F***ING id\u200biot!!")
    start = doc.text.index("fucking idiot")
    assert doc.quote(start, start + len("fucking idiot")) == "F***ING idiot"
    assert len(doc.offsets) == len(doc.text)
    assert len(doc.folded_offsets) == len(doc.folded)


def test_offsets_survive_spaced_and_confusable_text() -> None:
    doc = normalise_mapped("You \u0456 d \u0456 \u043e t")
    start = doc.text.index("idiot")
    assert doc.quote(start, start + 5) == "\u0456 d \u0456 \u043e t"


@pytest.mark.parametrize(
    "unit",
    ["k1ll y0u i d i o t f*ck \u200b", "a", "1", "a ", "f*", "\u0456d\u0456\u043et ", "\ud800x"],
)
def test_one_megabyte_is_linear_time(unit: str) -> None:
    text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    started = time.perf_counter()
    result = normalise(text)
    elapsed = time.perf_counter() - started
    assert result  # processed, not crashed
    # Measured at 0.1-0.5 s; a quadratic regex would take minutes.
    assert elapsed < 10.0


@pytest.mark.parametrize(("text", "expected"), [
    ("burn 🔥🏠", "burn fire house"),
    ("honk if you want it gone 📣", "honk if you want it gone megaphone"),
    ("👍🏽 well done", "thumbs up medium skin tone well done"),
    ("see you soon ⚰️", "see you soon coffin"),
    ("no emoji here", "no emoji here"),
    ("", ""),
])
def test_emoji_are_read_as_their_names(text: str, expected: str) -> None:
    # What the council model reads: its vocabulary has no emoji, so each was one unknown token.
    assert emoji_as_words(text) == expected


def test_emoji_names_on_a_megabyte_of_emoji_are_linear_time() -> None:
    started = time.perf_counter()
    out = emoji_as_words("🔪" * 250_000)
    assert out.startswith("kitchen knife kitchen knife")
    assert time.perf_counter() - started < 10.0
