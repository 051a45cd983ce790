"""The default engine: how rules, tox-block and the council model combine."""

from __future__ import annotations

import pytest

from detectors.ensemble import EnsembleClassifier
from detectors.registry import text_classifier
from watcher.domain import TEXT_LABELS


@pytest.fixture(scope="module")
def engine() -> EnsembleClassifier:
    clf = text_classifier("default")
    assert isinstance(clf, EnsembleClassifier)
    return clf


def labels(engine: EnsembleClassifier, text: str) -> set[str]:
    thresholds = {"offensive": 0.8, "threat": 0.5, "defamation": 0.5, "personal_data": 0.5}
    (c,) = engine.classify([text])
    return {lab for lab in TEXT_LABELS if c.scores[lab] >= thresholds[lab]}


@pytest.mark.parametrize("text,expected", [
    ("Thanks for sorting the streetlight on Elm Road.", set()),
    ("Your party broke every promise. Resign!", set()),
    ("Kill the bill! Scrap the LTN now.", set()),
    ("This budget will kill the high street.", set()),
    ("I know where you live, councillor.", {"threat"}),
    ("You are a useless idiot.", {"offensive"}),
    ("Ring her on 07700 900982 and tell her what you think.", {"personal_data"}),
    ("Cllr Fraser pocketed the community grant money.", {"defamation"}),
])
def test_clear_cases(engine: EnsembleClassifier, text: str, expected: set[str]) -> None:
    assert labels(engine, text) == expected


def test_every_label_and_the_model_heads_are_scored_with_reasons(
        engine: EnsembleClassifier) -> None:
    (c,) = engine.classify(["You stupid f*cking moron, I know where you live."])
    assert set(TEXT_LABELS) <= set(c.scores)
    assert {"jigsaw.insult", "jigsaw.threat"} <= set(c.scores)
    assert all(0.0 <= v <= 1.0 for v in c.scores.values())
    assert c.reasons["threat"] and c.reasons["offensive"]


def test_the_council_model_speaks_for_every_label_with_its_probability(
        engine: EnsembleClassifier) -> None:
    (c,) = engine.classify(["Cllr Dawson pocketed the grant money for the youth club."])
    assert {f"council.{label}" for label in TEXT_LABELS} <= set(c.scores)
    assert c.scores["defamation"] >= 0.5
    assert any(r.startswith("council model: defamation") or "alleg" in r
               for r in c.reasons["defamation"])


def test_empty_and_huge_texts(engine: EnsembleClassifier) -> None:
    assert engine.classify([]) == []
    out = engine.classify(["", "you are a useless idiot " * 40_000])
    assert out[0].scores["offensive"] < 0.8 and out[1].scores["offensive"] >= 0.8


@pytest.mark.parametrize("text", [
    "Come along to St Anne's Church Hall, 14 Vicarage Road, KF2 8JD on Saturday, all welcome.",
    "Drop-in session at Ashby Community Centre, 2 Chapel Street, AB1 3CD from 10am.",
    "Contact Cllr Hughes at cllr.hughes@kirkfield.gov.uk to book a surgery slot.",
])
def test_the_model_does_not_overrule_the_rules_on_public_details(
        engine: EnsembleClassifier, text: str) -> None:
    """The rules found the address or email and judged it a venue's or a public body's; the
    model, which cannot tell a hall from a home, may not flag it as personal data."""
    (c,) = engine.classify([text])
    assert 0.0 < c.scores["personal_data"] < 0.5
    # The same address said of a person is flagged.
    (home,) = engine.classify(["She lives at 14 Vicarage Road, KF2 8JD, go round."])
    assert home.scores["personal_data"] >= 0.5


def test_a_number_in_an_abusive_comment_is_not_personal_data(engine: EnsembleClassifier
                                                             ) -> None:
    """The council model retrained in session 7 read "number 18" in an abusive comment as a
    house number (23 of 60 such comments at its first personal-data threshold, 0.81): the
    threshold is floored at 0.95 (``MIN_THRESHOLD`` in the training script)."""
    for n in range(30):
        for text in (f"You are a useless idiot and a disgrace, number {n}.",
                     f"I know where you live, watch your back, number {n}."):
            assert "personal_data" not in labels(engine, text), text
