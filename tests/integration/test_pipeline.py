"""One poll end to end, in process: simulated platform over HTTP through the real SDKs, the
real store, the rules detector, the policy and the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from detectors.base import Context
from platforms.simulated import SimComment, SimMention, SimPost, SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.domain import Finding, Item
from watcher.errors import DetectorError
from watcher.mailsink import MailSink
from watcher.store import sha256_text
from watcher.store.models import (
    ActionRow,
    AlertRow,
    FindingRow,
    ItemRow,
    ItemVersionRow,
    PollStateRow,
)

TOKENS = {FB: "pipeline-fb-token", X: "pipeline-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make(db_url: str, sim: SimulatedPlatform, sink: MailSink, extra: str = "",
         clock: Clock | None = None) -> Parts:
    cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                   members=MEMBERS, extra=extra))
    return build(cfg, credentials=CREDS, clock=clock or Clock())


def counts(parts: Parts) -> tuple[int, int, int]:
    with parts.store.session() as s:
        return (s.scalar(select(func.count(ItemRow.id))) or 0,
                s.scalar(select(func.count(FindingRow.id))) or 0,
                s.scalar(select(func.count(AlertRow.id))) or 0)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


BASE = SMALL_TIMELINE


def test_poll_stores_each_item_once_and_alerts_the_flagged(db_url: str, sink: MailSink) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink)
        outcomes, report = poll_once(parts)
        assert [o.status for o in outcomes] == ["ok", "ok"]
        items, findings, alerts = counts(parts)
        assert items == 5 and alerts == 2 and findings >= 2
        assert report.sent == 2 and len(sink.messages) == 2
        outcomes, report = poll_once(parts)  # nothing new
        assert [o.new_items for o in outcomes] == [0, 0] and report.sent == 0
        assert counts(parts) == (items, findings, alerts)
        with parts.store.session() as s:
            for row in s.scalars(select(ItemRow)):
                assert row.raw_sha256 == sha256_text(row.raw)
                assert json.loads(row.raw)["id"] == row.external_id
            own = s.scalars(select(ItemRow).where(ItemRow.external_id == "111_1")).one()
            assert own.is_own and own.kind == "post"
            labels = {(f.label, f.item_id) for f in s.scalars(select(FindingRow))}
            assert any(label == "threat" for label, _ in labels)
        parts.store.dispose()


@pytest.mark.parametrize("fault", ["malformed", "truncated", "server_error", "rate_limit"])
def test_bad_payload_fails_that_account_only_and_loses_nothing(
        db_url: str, sink: MailSink, fault: str) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink)
        sim.faults.inject(fault, times=1, platform="facebook")
        outcomes, _ = poll_once(parts)
        by_account = {o.account: o for o in outcomes}
        assert by_account["facebook:111"].status in ("failed", "rate_limited")
        assert by_account["x:222"].status == "ok"  # other accounts go on
        with parts.store.session() as s:
            state = s.get(PollStateRow, 1)
            assert state is not None and state.failures == 1 and state.last_error
            assert "pipeline-fb-token" not in state.last_error
        outcomes, _ = poll_once(parts)  # next time it works, and nothing is lost or doubled
        assert {o.account: o.status for o in outcomes}["facebook:111"] == "ok"
        assert counts(parts)[0] == 5 and counts(parts)[2] == 2
        assert len(sink.messages) == 2
        parts.store.dispose()


def test_huge_and_invalid_unicode_comments_are_processed(db_url: str, sink: MailSink) -> None:
    huge = "You are a useless idiot. " + "blah " * 210_000  # ~1 MB
    timeline = [SimPost(0, "facebook", FB, "111_1", "Post."),
                SimComment(0, "facebook", FB, "1_h", "111_1", huge, "52", "Bob"),
                SimComment(0, "facebook", FB, "1_u", "111_1", "odd \ud800 text \x00", "53", "Cy")]
    with SimulatedPlatform(timeline, tokens=TOKENS) as sim:
        parts = make(db_url, sim, sink)
        (outcome,) = [o for o in poll_once(parts)[0] if o.account == "facebook:111"]
        assert outcome.status == "ok" and outcome.new_items == 3
        with parts.store.session() as s:
            rows = {r.external_id: r for r in s.scalars(select(ItemRow))}
            assert len(rows["1_h"].text) == len(huge)
            assert "\ufffd" in rows["1_u"].text
        assert any("1_h" in m.get_body(preferencelist=("plain",)).get_content()
                   for m, _ in sink.messages)
        parts.store.dispose()


class Exploding:
    name, version = "exploding", "1"

    def detect(self, items: Sequence[Item], context: Context) -> list[Finding]:
        raise DetectorError("model file missing")


class Crashing:
    """A model that loads but cannot run (torch under MemoryDenyWriteExecute, say)."""

    name, version = "crashing", "1"

    def detect(self, items: Sequence[Item], context: Context) -> list[Finding]:
        raise RuntimeError("could not create a primitive")


@pytest.mark.parametrize("broken", [Exploding, Crashing])
def test_detector_failure_writes_nothing_and_retries(db_url: str, sink: MailSink,
                                                     broken: type) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink)
        good = parts.poller.detectors
        parts.poller.detectors = [broken()]
        outcomes, _ = poll_once(parts)
        assert all(o.status == "failed" for o in outcomes)
        assert all("failed" in (o.error or "") or "missing" in (o.error or "")
                   for o in outcomes)
        assert counts(parts) == (0, 0, 0)
        with parts.store.session() as s:
            assert all(st.cursor is None for st in s.scalars(select(PollStateRow)))
        parts.poller.detectors = good
        poll_once(parts)
        assert counts(parts)[0] == 5 and len(sink.messages) == 2
        parts.store.dispose()


def test_expired_token_alerts_member_services_once_then_recovers(db_url: str,
                                                                 sink: MailSink) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink)
        sim.faults.inject("expired_token", times=3, platform="facebook")
        for _ in range(3):
            poll_once(parts)
        problems = [(m, r) for m, r in sink.messages if "Account problem" in m["Subject"]]
        assert len(problems) == 1 and problems[0][1] == ["ms@test-council.gov.uk"]
        assert "pipeline-fb-token" not in problems[0][0].as_string()
        with parts.store.session() as s:
            state = s.get(PollStateRow, 1)
            assert state is not None and state.problem_open and state.failures == 3
        poll_once(parts)  # the token works again
        with parts.store.session() as s:
            state = s.get(PollStateRow, 1)
            assert state is not None and not state.problem_open and state.failures == 0
        # A later expiry is a new problem: one more alert.
        sim.faults.inject("expired_token", times=2, platform="facebook")
        parts.poller.clock.now += timedelta(minutes=5)  # type: ignore[attr-defined]
        poll_once(parts)
        poll_once(parts)
        assert sum("Account problem" in m["Subject"] for m, _ in sink.messages) == 2
        parts.store.dispose()


def test_missing_credential_is_an_account_problem(db_url: str, sink: MailSink) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=MEMBERS))
        parts = build(cfg, credentials=Credentials({"WATCHER_CRED_X_TOK": TOKENS[X]}))
        outcomes, _ = poll_once(parts)
        by_account = {o.account: o for o in outcomes}
        assert by_account["facebook:111"].status == "auth_problem"
        assert "WATCHER_CRED_FB_JSMITH" in (by_account["facebook:111"].error or "")
        assert by_account["x:222"].status == "ok"
        parts.store.dispose()


def test_pile_on_is_one_summary_alert(db_url: str, sink: MailSink) -> None:
    abuse = [SimComment(0, "facebook", FB, f"1_p{i}", "111_1", f"You useless idiot number {i}",
                        str(100 + i), f"Troll {i}") for i in range(8)]
    with SimulatedPlatform([BASE[0], *abuse], tokens=TOKENS) as sim:
        parts = make(db_url, sim, sink)
        poll_once(parts)
        subjects = [m["Subject"] for m, _ in sink.messages]
        assert subjects == ["Pile-on: 8 flagged comments on Cllr Jane Smith's Facebook"]
        body = sink.messages[0][0].get_body(preferencelist=("plain",)).get_content()
        assert all(f"1_p{i}" in body for i in range(8))
        with parts.store.session() as s:
            alert = s.scalars(select(AlertRow)).one()
            assert alert.kind == "pile_on"
        parts.store.dispose()


AUTO_HIDE_MEMBERS = MEMBERS.replace('credential = "fb-jsmith"',
                                    'credential = "fb-jsmith"\nauto_hide = true').replace(
    'credential = "x-tok"', 'credential = "x-tok"\ncredential_user = "x-tok-user"\n'
                            'auto_hide = true')


def test_auto_hide_hides_flagged_third_party_items_and_says_so(db_url: str,
                                                               sink: MailSink) -> None:
    timeline = [*BASE,
                SimComment(0, "facebook", FB, "1_d", "111_1",
                           "Cllr Fraser pocketed the community grant money.", "55", "Di"),
                SimMention(0, X, "9005", "@CllrTom you stupid muppet", "64", "troll")]
    creds = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X],
                         "WATCHER_CRED_X_TOK_USER": TOKENS[X]})
    with SimulatedPlatform(timeline, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=AUTO_HIDE_MEMBERS))
        parts = build(cfg, credentials=creds)
        outcomes, report = poll_once(parts)
        assert [o.status for o in outcomes] == ["ok", "ok"]
        # Offensive and threatening third-party items are hidden; defamation is left for the
        # member to judge; civil comments and own posts are never touched.
        assert sim.hidden == {"1_b", "9002"}
        bodies = {m["Subject"]: m.get_body(preferencelist=("plain",)).get_content()
                  for m, _ in sink.messages}
        hidden_notes = [b for b in bodies.values() if "has already hidden it" in b]
        assert len(hidden_notes) == 2
        # A mention outside the member's conversation cannot be hidden on X: the alert says so.
        assert sum("could not hide it" in b for b in bodies.values()) == 1
        with parts.store.session() as s:
            actions = [a.action for a in s.scalars(select(ActionRow))]
        assert actions.count("item.hidden") == 2 and actions.count("item.hide_failed") == 1
        parts.store.dispose()


def test_accounts_without_auto_hide_hide_nothing(db_url: str, sink: MailSink) -> None:
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink)
        poll_once(parts)
        assert sim.hidden == set() and len(sink.messages) == 2
        parts.store.dispose()


def test_polling_resumes_when_the_credential_file_changes(db_url: str, sink: MailSink,
                                                          tmp_path: Path) -> None:
    (tmp_path / "fb-jsmith").write_text("an-old-revoked-token\n")
    (tmp_path / "x-tok").write_text(TOKENS[X])
    creds = Credentials({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    with SimulatedPlatform(BASE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=MEMBERS))
        parts = build(cfg, credentials=creds)
        for _ in range(2):
            outcomes, _ = poll_once(parts)
            assert {o.account: o.status for o in outcomes}["facebook:111"] == "auth_problem"
        assert sum("Account problem" in m["Subject"] for m, _ in sink.messages) == 1
        (tmp_path / "fb-jsmith").write_text(TOKENS[FB] + "\n")  # member services fix it
        outcomes, _ = poll_once(parts)
        assert {o.account: o.status for o in outcomes}["facebook:111"] == "ok"
        with parts.store.session() as s:
            assert "account.recovered" in [a.action for a in s.scalars(select(ActionRow))]
        assert any("1_b" in m.get_body(preferencelist=("plain",)).get_content()
                   for m, _ in sink.messages)
        parts.store.dispose()


def test_an_item_edited_into_abuse_is_alerted_again_and_its_old_text_kept(
        db_url: str, sink: MailSink) -> None:
    from platforms.simulated import SimEdit

    now = [1_800_000_000.0]
    timeline = [BASE[0],
                SimComment(0, "facebook", FB, "1_e", "111_1", "Nice work on the bins.", "57",
                           "Eve"),
                SimComment(0, "facebook", FB, "1_b", "111_1", "You are a useless idiot.", "52",
                           "Bob"),
                SimEdit(10, "facebook", FB, "1_e", "Nice work? You are a useless idiot."),
                SimEdit(20, "facebook", FB, "1_b", "You are a useless idiot and a moron.")]
    with SimulatedPlatform(timeline, tokens=TOKENS, clock=lambda: now[0]) as sim:
        parts = make(db_url, sim, sink)
        for platform in parts.poller.platforms.values():
            platform.clock = lambda: now[0]  # type: ignore[attr-defined]
        poll_once(parts)
        assert len(sink.messages) == 1  # only Bob's comment, as first posted
        now[0] += 15
        poll_once(parts)
        subjects = [m["Subject"] for m, _ in sink.messages]
        # The subject quotes the comment as edited (slurs would be masked there).
        assert subjects[-1] == ("Offensive comment (edited) on Cllr Jane Smith's Facebook: "
                                '"Nice work? You are a useless idiot."')
        now[0] += 10
        poll_once(parts)  # Bob's edit is still just offensive: nothing new to say
        assert len(sink.messages) == 2
        with parts.store.session() as s:
            versions = {v.text for v in s.scalars(select(ItemVersionRow))}
            assert versions == {"Nice work on the bins.", "You are a useless idiot."}
            row = s.scalars(select(ItemRow).where(ItemRow.external_id == "1_e")).one()
            assert row.text == "Nice work? You are a useless idiot."
            assert row.raw_sha256 == sha256_text(row.raw)
            edits = [a for a in s.scalars(select(ActionRow)) if a.action == "item.edited"]
            assert len(edits) == 2
        parts.store.dispose()
