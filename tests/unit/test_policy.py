"""Policy: who is told, how urgently, pile-ons folded; messages say what to do."""

from __future__ import annotations

from datetime import UTC, datetime

from watcher import config
from watcher.domain import Finding, Item, ItemKind, Severity
from watcher.policy import Flagged, plan_account_problem, plan_item_alerts

CFG = config.parse("""
[member_services]
name = "Member Services"
emails = ["ms@c.gov.uk", "ms2@c.gov.uk"]
[alerts]
pile_on_threshold = 3
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@c.gov.uk"
[[members.accounts]]
platform = "facebook"
id = "111"
handle = "CllrJane"
credential = "fb-jsmith"
""")
MEMBER = CFG.members[0]
ACCOUNT = MEMBER.accounts[0]
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def flagged(n: int, label: str, severity: Severity, text: str = "some words") -> Flagged:
    item = Item(platform="facebook", external_id=f"c{n}", kind=ItemKind.COMMENT, text=text,
                created_at=NOW, author_name=f"Author {n}",
                permalink=f"https://www.facebook.com/111/posts/1?comment_id=c{n}")
    finding = Finding(item_id=f"c{n}", label=label, score=0.97, severity=severity,
                      reasons=(f"matched '{text}'",), detector="rules", detector_version="1")
    return Flagged(item=item, item_row_id=n, findings=(finding,))


def test_threat_goes_to_member_and_member_services_at_once_and_urgent() -> None:
    (plan,) = plan_item_alerts(CFG, MEMBER, ACCOUNT,
                               [flagged(1, "threat", Severity.URGENT, "I know where you live")],
                               recent_alerts=0)
    assert plan.to == ("jane@c.gov.uk", "ms@c.gov.uk", "ms2@c.gov.uk") and plan.cc == ()
    assert plan.severity is Severity.URGENT and plan.dedupe_key == "item:1"
    text = plan.rendered.text
    assert plan.rendered.subject.startswith("URGENT: Threat comment on Cllr Jane Smith's Facebook")
    for needed in ("999", "101", "Member Services", "https://www.facebook.com/111/posts/1?",
                   "I know where you live", "threat", "Cllr Jane Smith", "Facebook"):
        assert needed in text
    assert "999" in plan.rendered.html and "<a href=" in plan.rendered.html


def test_offensive_goes_to_member_with_member_services_copied() -> None:
    (plan,) = plan_item_alerts(CFG, MEMBER, ACCOUNT, [flagged(2, "offensive", Severity.HIGH)],
                               recent_alerts=0)
    assert plan.to == ("jane@c.gov.uk",) and plan.cc == ("ms@c.gov.uk", "ms2@c.gov.uk")
    assert "Hide or remove" in plan.rendered.text and "999" not in plan.rendered.text


def test_pile_on_becomes_one_summary_but_threats_stay_separate() -> None:
    batch = [flagged(i, "offensive", Severity.HIGH) for i in range(1, 6)]
    batch.append(flagged(9, "threat", Severity.URGENT))
    plans = plan_item_alerts(CFG, MEMBER, ACCOUNT, batch, recent_alerts=0)
    kinds = sorted(p.kind for p in plans)
    assert kinds == ["item", "pile_on"]
    pile = next(p for p in plans if p.kind == "pile_on")
    assert len(pile.flagged) == 5 and "5 flagged comments" in pile.rendered.subject
    assert pile.dedupe_key == "pileon:facebook:111:1"


def test_recent_alerts_count_towards_a_pile_on() -> None:
    batch = [flagged(i, "offensive", Severity.HIGH) for i in (7, 8)]
    assert [p.kind for p in plan_item_alerts(CFG, MEMBER, ACCOUNT, batch, 0)] == ["item", "item"]
    assert [p.kind for p in plan_item_alerts(CFG, MEMBER, ACCOUNT, batch, 2)] == ["pile_on"]


def test_long_comment_is_shortened_in_the_alert_and_html_is_escaped() -> None:
    text = "<script>alert(1)</script> " + "x" * 5000
    (plan,) = plan_item_alerts(CFG, MEMBER, ACCOUNT, [flagged(3, "offensive", Severity.HIGH,
                                                              text)], 0)
    assert len(plan.rendered.text) < 3000 and "(shortened)" in plan.rendered.text
    assert "<script>" not in plan.rendered.html and "&lt;script&gt;" in plan.rendered.html


def test_account_problem_goes_to_member_services_only() -> None:
    plan = plan_account_problem(CFG, MEMBER, ACCOUNT, "token expired", NOW)
    assert plan.to == ("ms@c.gov.uk", "ms2@c.gov.uk") and plan.kind == "account_problem"
    assert "fb-jsmith" in plan.rendered.text and "token expired" in plan.rendered.text
