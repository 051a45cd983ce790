"""Property-based tests: normalisation never raises, is idempotent, and keeps its promises
about output, whatever Unicode it is given."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.rules import RulesClassifier
from detectors.text import normalise
from watcher.domain import TEXT_LABELS

# Every code point, surrogates included: platforms send lone surrogates in JSON escapes.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
OBFUSCATED = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz 013457@$*.-_\u200b"
                                                  "\u200d\ufeffаеорсху")), max_size=200)

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(ANY_TEXT)
def test_normalise_never_raises_and_returns_encodable_text(text: str) -> None:
    out = normalise(text)
    assert isinstance(out, str)
    out.encode("utf-8")  # no lone surrogates survive


@PROPERTY
@given(st.one_of(ANY_TEXT, OBFUSCATED))
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@PROPERTY
@given(ANY_TEXT)
def test_normalised_text_has_no_zero_width_or_format_characters(text: str) -> None:
    assert not any(unicodedata.category(c) == "Cf" for c in normalise(text))


@PROPERTY
@given(st.lists(ANY_TEXT, max_size=8))
def test_rules_classifier_scores_every_label_in_range(texts: list[str]) -> None:
    results = RulesClassifier().classify(texts)
    assert len(results) == len(texts)
    for c in results:
        assert set(TEXT_LABELS) <= set(c.scores)
        assert all(0.0 <= v <= 1.0 for v in c.scores.values())
