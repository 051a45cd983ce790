"""Pile-ons across polls, and a sender's history in the alerts about them: the simulated
platform over HTTP, the real store, the rules detector, the policy and a real SMTP server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from platforms.simulated import SimComment, SimPost, SimulatedPlatform
from tests.conftest import FB, MEMBERS, X, config_text
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.mailsink import MailSink
from watcher.senders import history, repeat_offenders
from watcher.store.models import (
    AccountRow,
    AlertFindingRow,
    AlertRow,
    FindingRow,
    ItemRow,
)

TOKENS = {FB: "pile-on-fb-token", X: "pile-on-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})
START = 1_800_000_000.0
LONDON = ZoneInfo("Europe/London")
INSULT = "You are a useless idiot and a disgrace, number {n}."
THREAT = "I know where you live, watch your back, number {n}."


class Clock:
    """Wall time shared by the simulated platform, its adapters and the daemon's parts."""

    def __init__(self) -> None:
        self.now = START

    def seconds(self) -> float:
        return self.now

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def make(db_url: str, sim: SimulatedPlatform, sink: MailSink, clock: Clock) -> Parts:
    cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                   members=MEMBERS))
    parts = build(cfg, credentials=CREDS, clock=clock)
    for platform in parts.poller.platforms.values():
        platform.clock = clock.seconds  # type: ignore[attr-defined]
    return parts


def storm(count: int = 30, every: float = 20.0, threat_every: int | None = 6
          ) -> list[SimComment]:
    """``count`` abusive comments on Jane's post, one every ``every`` seconds from 0, each by
    its own author; every ``threat_every``-th (from the first) is a threat."""
    out = []
    for n in range(count):
        threat = threat_every is not None and n % threat_every == 0
        text = (THREAT if threat else INSULT).format(n=n)
        out.append(SimComment(n * every, "facebook", FB, f"1_s{n:02d}", "111_1", text,
                              str(700 + n), f"Troll {n}"))
    return out


def alerts_by_kind(parts: Parts) -> Counter[tuple[str, str, str]]:
    with parts.store.session() as s:
        return Counter((a.kind, a.severity, a.channel) for a in s.scalars(select(AlertRow)))


def test_thirty_abusive_comments_in_ten_minutes_make_one_pile_on_and_each_threat_its_own(
        db_url: str, sink: MailSink) -> None:
    comments = storm()
    threats = {c.id for c in comments if "live" in c.text}
    clock = Clock()
    with SimulatedPlatform([SimPost(0, "facebook", FB, "111_1", "Bins."), *comments],
                           tokens=TOKENS, clock=clock.seconds) as sim:
        parts = make(db_url, sim, sink, clock)
        polls = 0
        # A poll every two minutes while the comments arrive (0 to 580 s), and one after.
        for at in range(60, 721, 120):
            clock.now = START + at
            outcomes, report = poll_once(parts)
            assert all(o.status == "ok" for o in outcomes), outcomes
            assert report.failed == 0
            polls += 1
        assert polls == 6
        with parts.store.session() as s:
            stored = set(s.scalars(select(ItemRow.external_id)))
            assert {c.id for c in comments} <= stored
            pile_ons = list(s.scalars(select(AlertRow).where(AlertRow.kind == "pile_on")))
            items = list(s.scalars(select(AlertRow).where(AlertRow.kind == "item")))
            # Every finding is in exactly one alert: its own, or the pile-on's.
            linked = Counter(s.scalars(select(AlertFindingRow.finding_id)))
            findings = {f.id: f for f in s.scalars(select(FindingRow))}
            item_of = {i.id: i.external_id for i in s.scalars(select(ItemRow))}
            pile_on_items = {item_of[findings[fid].item_id] for fid in s.scalars(
                select(AlertFindingRow.finding_id).where(
                    AlertFindingRow.alert_id == pile_ons[0].id))}
            threat_alerts = Counter(
                item_of[findings[fid].item_id] for a in items if a.severity == "urgent"
                for fid in s.scalars(select(AlertFindingRow.finding_id).where(
                    AlertFindingRow.alert_id == a.id)))
    assert len(pile_ons) == 1, [a.subject for a in pile_ons]
    assert set(linked) == set(findings) and set(linked.values()) == {1}
    # Each threat: its own urgent alert, never folded into the summary.
    assert set(threat_alerts) == threats and set(threat_alerts.values()) == {1}
    assert not pile_on_items & threats
    # Only the comments before the pile-on was seen were alerted one by one.
    singles = [a for a in items if a.severity != "urgent"]
    assert len(singles) <= parts.config.alerts.pile_on_threshold
    assert len(pile_on_items) + len(singles) == len(comments) - len(threats)
    subjects = [m["Subject"] for m, _ in sink.messages]
    assert sum(s.startswith("Pile-on:") for s in subjects) == 1
    assert sum(s.startswith("URGENT: Threat comment") for s in subjects) == len(threats)
    assert len(sink.messages) == 1 + len(threats) + len(singles)
    parts.store.dispose()


def test_while_the_summary_waits_later_polls_are_added_to_its_mail(db_url: str) -> None:
    """The mail server is down when the pile-on starts: by the time the summary can go, it
    lists every abusive comment that came meanwhile, in one mail."""
    comments = storm(count=16, every=30.0, threat_every=None)
    with MailSink() as sink:
        port = sink.port
    clock = Clock()
    with SimulatedPlatform([SimPost(0, "facebook", FB, "111_1", "Bins."), *comments],
                           tokens=TOKENS, clock=clock.seconds) as sim:
        down = MailSink(port=port)
        parts = make(db_url, sim, down, clock)
        for at in (200, 320, 440):  # 7, then 4, then 4 comments: all while mail is down
            clock.now = START + at
            _, report = poll_once(parts)
            assert report.sent == 0
        with parts.store.session() as s:
            (pile_on,) = s.scalars(select(AlertRow).where(AlertRow.kind == "pile_on"))
            assert pile_on.status == "pending" and pile_on.attempts >= 1, pile_on.attempts
        with MailSink(port=port) as sink:
            clock.now = START + 500  # past the retry back-off (at most 2 s in the test config)
            poll_once(parts)
            subjects = [m["Subject"] for m, _ in sink.messages]
            assert subjects == ["Pile-on: 16 flagged comments on Cllr Jane Smith's Facebook"]
            text = sink.messages[0][0].get_body(("plain",)).get_content()
    assert all(c.id in text for c in comments)
    parts.store.dispose()


def test_a_repeat_senders_history_is_in_the_later_alert_about_them(db_url: str,
                                                                   sink: MailSink) -> None:
    day = 86400.0
    timeline = [
        SimPost(0, "facebook", FB, "111_1", "Bins."),
        # A civil first comment. (Session 6's council model calls the bare "Nice to see you
        # at the fete." a watching threat, 0.93: a known false positive, in the CHANGELOG.)
        SimComment(10, "facebook", FB, "1_r1", "111_1",
                   "Thanks for coming to the fete, the kids loved it.", "52", "Bob"),
        SimComment(20, "facebook", FB, "1_r2", "111_1", "You are a useless idiot.", "52", "Bob"),
        SimComment(day + 10, "facebook", FB, "1_r3", "111_1",
                   "You absolute moron, resign now.", "52", "Bob"),
        SimComment(2 * day, "facebook", FB, "1_r4", "111_1",
                   "I know where you live, watch your back.", "52", "Bobby"),
        SimComment(2 * day, "facebook", FB, "1_n1", "111_1", "What a pathetic idiot you are.",
                   "99", "Newcomer"),
    ]
    clock = Clock()
    with SimulatedPlatform(timeline, tokens=TOKENS, clock=clock.seconds) as sim:
        parts = make(db_url, sim, sink, clock)
        for at in (60, day + 60, 2 * day + 60):
            clock.now = START + at
            poll_once(parts)
        bodies = {m["Subject"]: m.get_body(("plain",)).get_content() for m, _ in sink.messages}
        with parts.store.session() as s:
            offenders = repeat_offenders(s, since=datetime.fromtimestamp(START, UTC))
            jane = s.scalars(select(AccountRow.member_id).where(
                AccountRow.external_id == FB)).one()
            now_history = history(s, member_id=jane, platform="facebook", author_id="52",
                                  before=clock())
            assert history(s, member_id=jane, platform="facebook", author_id=None,
                           before=clock()) is None
            # The same id on another platform is someone else.
            x_history = history(s, member_id=jane, platform="x", author_id="52", before=clock())
    threat = next(b for s, b in bodies.items() if s.startswith("URGENT"))
    assert "Bobby (Facebook id 52)" in threat
    assert "3 earlier comments stored" in threat
    first = datetime.fromtimestamp(START + 10, LONDON).strftime("%d %b %Y")
    assert f"First seen on Cllr Jane Smith's Facebook accounts on {first}" in threat
    assert "Earlier findings: 2 offensive (" in threat
    second = next(b for s, b in bodies.items() if "moron" in s)
    assert "Earlier findings: 1 offensive (" in second
    newcomer = next(b for s, b in bodies.items() if "pathetic" in s)
    assert "First time seen on Cllr Jane Smith's Facebook accounts." in newcomer
    (bob,) = offenders
    assert (bob.platform, bob.author_id, bob.author_name) == ("facebook", "52", "Bobby")
    assert bob.findings == 3 and dict(bob.labels) == {"offensive": 2, "threat": 1}
    assert bob.members == ("jsmith",)
    assert now_history is not None and now_history.items_stored == 4
    assert [f.label for f in now_history.findings] == ["offensive", "offensive", "threat"]
    assert x_history is not None and x_history.is_new and not x_history.findings
    parts.store.dispose()


def test_history_spans_the_members_accounts_only(db_url: str) -> None:
    """One sender on two of a member's pages and on another member's page: the member's
    history counts their own two pages only; items of the alert's own poll are left out."""
    from watcher.store import Store, sync_config

    members = MEMBERS.replace('credential = "fb-jsmith"\n', 'credential = "fb-jsmith"\n\n'
                              '[[members.accounts]]\nplatform = "facebook"\nid = "112"\n'
                              'credential = "fb-jsmith-2"\n')
    cfg = config.parse(config_text(db_url, members=members + """
[[members]]
id = "other"
name = "Cllr Other"
email = "other@test-council.gov.uk"

[[members.accounts]]
platform = "facebook"
id = "113"
credential = "fb-other"
"""))
    store = Store(db_url)
    store.upgrade()
    sync_config(store, cfg.members)
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with store.session() as s:
        accounts = {a.external_id: a.id for a in s.scalars(select(AccountRow))}
        rows = []
        for n, (account, at) in enumerate([("111", 0), ("112", 1), ("113", 2), ("111", 3)]):
            row = ItemRow(account_id=accounts[account], platform="facebook",
                          external_id=f"c{n}", kind="comment", author_id="52",
                          author_name=f"Bob {n}", text="x", raw="{}", raw_sha256="0",
                          created_at=t0 + timedelta(days=at), fetched_at=t0 + timedelta(days=at))
            s.add(row)
            s.flush()
            rows.append(row)
            s.add(FindingRow(dedupe_key=f"item:{row.id}:offensive", item_id=row.id,
                             account_id=accounts[account],
                             member_id="other" if account == "113" else "jsmith",
                             label="offensive", score=0.9, severity="high",
                             reasons_json="[]", detector="rules", detector_version="1",
                             created_at=t0 + timedelta(days=at)))
        s.flush()
        found = history(s, member_id="jsmith", platform="facebook", author_id="52",
                        before=t0 + timedelta(days=10), exclude_item_ids=[rows[3].id])
        early = history(s, member_id="jsmith", platform="facebook", author_id="52",
                        before=t0 + timedelta(hours=1))
        everyone = repeat_offenders(s, since=t0, min_findings=4)
        jane_only = repeat_offenders(s, since=t0, member_id="jsmith", min_findings=3)
    assert found is not None and found.items_stored == 2 and found.author_name == "Bob 1"
    assert found.first_seen == t0 and len(found.findings) == 2
    assert early is not None and early.items_stored == 1
    assert [o.members for o in everyone] == [("jsmith", "other")]
    assert [o.findings for o in jane_only] == [3]
    store.dispose()
