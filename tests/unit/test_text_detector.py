"""Tests for detectors.text.TextDetector: which items it classifies and what findings it makes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import pytest

from detectors.base import Context, Detector
from detectors.rules import RulesClassifier
from detectors.text import DEFAULT_THRESHOLDS, TextDetector
from watcher.domain import Account, Classification, Item, ItemKind, Severity

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
ACCOUNT = Account(member_id="m1", platform="facebook", external_id="page1")


class FakeClassifier:
    """A TextClassifier returning canned scores by text, recording every call."""

    name = "fake"
    version = "9"

    def __init__(
        self,
        scores: Mapping[str, Mapping[str, float]],
        reasons: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.scores = scores
        self.reasons = reasons or {}
        self.calls: list[tuple[list[str], list[str | None] | None]] = []

    def classify(
        self, texts: Sequence[str], members: Sequence[str | None] | None = None
    ) -> list[Classification]:
        self.calls.append((list(texts), None if members is None else list(members)))
        base = {"offensive": 0.0, "threat": 0.0, "defamation": 0.0, "personal_data": 0.0}
        return [
            Classification(
                scores={**base, **self.scores.get(text, {})},
                reasons=dict(self.reasons.get(text, {})),
            )
            for text in texts
        ]


def item(external_id: str, text: str, *, own: bool = False) -> Item:
    """Return a comment with the given id and text."""
    return Item(
        platform="facebook",
        external_id=external_id,
        kind=ItemKind.POST if own else ItemKind.COMMENT,
        text=text,
        created_at=NOW,
        is_own=own,
    )


def context(thresholds: Mapping[str, float] | None = None) -> Context:
    """Return a context for member m1, optionally with thresholds."""
    return Context(
        member_id="m1",
        member_name="Cllr Jane Fraser",
        account=ACCOUNT,
        now=NOW,
        thresholds=dict(thresholds or {}),
    )


def test_implements_detector_protocol_with_classifier_identity() -> None:
    detector = TextDetector(FakeClassifier({}))
    assert isinstance(detector, Detector)
    assert (detector.name, detector.version) == ("fake", "9")


def test_own_and_empty_items_are_skipped_in_one_batch_call() -> None:
    fake = FakeClassifier({"nasty": {"offensive": 0.99}, "own nasty": {"offensive": 0.99}})
    items = [
        item("1", "nasty"),
        item("2", "own nasty", own=True),
        item("3", ""),
        item("4", "   \n"),
        item("5", "fine"),
    ]
    findings = TextDetector(fake).detect(items, context())
    assert len(fake.calls) == 1
    texts, members = fake.calls[0]
    assert texts == ["nasty", "fine"]
    assert members == ["Cllr Jane Fraser", "Cllr Jane Fraser"]
    assert [(f.item_id, f.label) for f in findings] == [("1", "offensive")]


def test_no_call_when_nothing_to_classify() -> None:
    fake = FakeClassifier({})
    assert TextDetector(fake).detect([item("1", "x", own=True), item("2", "")], context()) == []
    assert TextDetector(fake).detect([], context()) == []
    assert fake.calls == []


@pytest.mark.parametrize(
    ("label", "score", "flagged"),
    [
        ("offensive", 0.79, False),
        ("offensive", 0.8, True),  # at the threshold counts
        ("threat", 0.49, False),
        ("threat", 0.5, True),
        ("defamation", 0.5, True),
        ("personal_data", 0.49, False),
    ],
)
def test_default_thresholds(label: str, score: float, flagged: bool) -> None:
    fake = FakeClassifier({"t": {label: score}})
    findings = TextDetector(fake).detect([item("1", "t")], context())
    assert bool(findings) is flagged
    assert DEFAULT_THRESHOLDS == {
        "offensive": 0.8,
        "threat": 0.5,
        "defamation": 0.5,
        "personal_data": 0.5,
    }


def test_context_thresholds_override_defaults() -> None:
    fake = FakeClassifier({"t": {"offensive": 0.6, "threat": 0.6}})
    thresholds = {"offensive": 0.5, "threat": 0.9}
    findings = TextDetector(fake).detect([item("1", "t")], context(thresholds))
    assert [f.label for f in findings] == ["offensive"]


def test_unknown_labels_need_a_threshold() -> None:
    fake = FakeClassifier({"t": {"toxicity": 0.99}})
    assert TextDetector(fake).detect([item("1", "t")], context()) == []
    findings = TextDetector(fake).detect([item("1", "t")], context({"toxicity": 0.9}))
    assert [(f.label, f.severity) for f in findings] == [("toxicity", Severity.HIGH)]


def test_finding_fields_and_severity_mapping() -> None:
    scores = {"offensive": 0.9, "threat": 0.95, "defamation": 0.7, "personal_data": 0.99}
    reasons = {"threat": ("matched 'drop dead'",), "offensive": ("matched 'twat'",)}
    fake = FakeClassifier({"t": scores}, {"t": reasons})
    findings = TextDetector(fake).detect([item("c9", "t")], context())
    by_label = {f.label: f for f in findings}
    assert set(by_label) == set(scores)
    assert by_label["threat"].severity is Severity.URGENT
    for label in ("offensive", "defamation", "personal_data"):
        assert by_label[label].severity is Severity.HIGH
    threat = by_label["threat"]
    assert threat.item_id == "c9"
    assert threat.score == 0.95
    assert threat.reasons == ("matched 'drop dead'",)
    assert (threat.detector, threat.detector_version) == ("fake", "9")
    # A finding always says why, even if the classifier gave no reason.
    assert by_label["defamation"].reasons and "0.70" in by_label["defamation"].reasons[0]


def test_mismatched_classifier_output_is_an_error() -> None:
    class Broken(FakeClassifier):
        def classify(self, texts, members=None):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(ValueError):
        TextDetector(Broken({})).detect([item("1", "t")], context())


def test_with_rules_classifier() -> None:
    items = [
        item("a", "I know where you live."),
        item("b", "You are a total waste of space."),
        item("c", "Your party broke every promise it made."),
        item("d", "Drop dead.", own=True),
        item("e", "Fraser pocketed the grant."),  # the member's surname makes her identifiable
    ]
    findings = TextDetector(RulesClassifier()).detect(items, context())
    got = {(f.item_id, f.label, f.severity) for f in findings}
    assert got == {
        ("a", "threat", Severity.URGENT),
        ("b", "offensive", Severity.HIGH),
        ("e", "defamation", Severity.HIGH),
    }
    for finding in findings:
        assert (finding.detector, finding.detector_version) == ("rules", "1")
        assert finding.reasons and finding.reasons[0].startswith("matched '")
