"""The default engine: how rules, tox-block and the threat bank combine."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detectors.ensemble import SEMANTIC_ALONE, EnsembleClassifier
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


class FixedBank:
    """A threat bank with a fixed answer, to pin down how its score is used."""

    def __init__(self, similarity: float) -> None:
        self.similarity = similarity
        self.asked: list[str] = []

    def score(self, texts: Sequence[str]) -> list[tuple[float, str]]:
        self.asked.extend(texts)
        return [(self.similarity, "a pattern") for _ in texts]


def test_bank_is_asked_only_about_comments_addressing_someone(engine: EnsembleClassifier
                                                              ) -> None:
    bank = FixedBank(0.0)
    clf = EnsembleClassifier(rules=engine.rules, toxblock=engine.toxblock, bank=bank)  # type: ignore[arg-type]
    clf.classify(["Bins were not collected again.", "Your windows look fragile.",
                  "I know where you live."])
    # not the first (addresses nobody), not the third (the rules already call it a threat)
    assert bank.asked == ["Your windows look fragile."]


@pytest.mark.parametrize("similarity,flagged", [(SEMANTIC_ALONE, True), (0.7, False)])
def test_a_semantic_hit_counts_alone_only_when_strong(engine: EnsembleClassifier,
                                                      similarity: float, flagged: bool) -> None:
    clf = EnsembleClassifier(rules=engine.rules, toxblock=engine.toxblock,
                             bank=FixedBank(similarity))  # type: ignore[arg-type]
    (c,) = clf.classify(["Your kids walk home past the park, don't they."])
    assert (c.scores["threat"] >= 0.5) is flagged
    if flagged:
        assert any("reads like a threat" in r for r in c.reasons["threat"])


def test_empty_and_huge_texts(engine: EnsembleClassifier) -> None:
    assert engine.classify([]) == []
    out = engine.classify(["", "you are a useless idiot " * 40_000])
    assert out[0].scores["offensive"] < 0.8 and out[1].scores["offensive"] >= 0.8
