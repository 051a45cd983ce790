"""Meeting bursts end to end: meetings read over HTTP from a simulated modern.gov web service
(and an iCalendar feed), the members' own posts polled from the simulated platforms, one gentle
alert per meeting to the member by SMTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from calendars.simulated import SimAttendee, SimCommittee, SimMeeting, SimulatedModernGov
from platforms.simulated import SimPost, SimulatedPlatform
from tests.conftest import FB, X, config_text
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.mailsink import MailSink
from watcher.store.models import AlertRow, FindingRow, MeetingRow

TOKENS = {FB: "mtg-fb-token", X: "mtg-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})
LONDON = ZoneInfo("Europe/London")
NOW = datetime.now(UTC).replace(second=0, microsecond=0)

MEMBERS = f"""
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"
attends = ["Licensing"]

[[members.accounts]]
platform = "facebook"
id = "{FB}"
credential = "fb-jsmith"

[[members]]
id = "tok"
name = "Cllr Tom Okafor"
email = "tom@test-council.gov.uk"
moderngov_id = "301"

[[members.accounts]]
platform = "x"
id = "{X}"
handle = "CllrTom"
credential = "x-tok"
"""


def local(offset_minutes: int) -> datetime:
    """NOW plus an offset, as a local (Europe/London) wall-clock time."""
    return (NOW + timedelta(minutes=offset_minutes)).astimezone(LONDON).replace(tzinfo=None)


def meeting(mid: str, committee: str, start: int, finish: int, *attendees: SimAttendee,
            status: str = "Confirmed") -> SimMeeting:
    return SimMeeting(id=mid, committee_id=committee, date=local(start), status=status,
                      planned_finish=local(finish).time(), location="Town Hall",
                      attendees=attendees)


TOM = SimAttendee("301", "Councillor Tom Okafor")
OTHER = SimAttendee("999", "Councillor Pat Other")
COMMITTEES = [SimCommittee("10", "Planning Committee"), SimCommittee("11", "Licensing Committee"),
              SimCommittee("12", "Full Council"), SimCommittee("13", "Audit Committee")]
MEETINGS = [
    meeting("501", "10", -120, 60, TOM, OTHER),              # Tom attends, under way now
    meeting("502", "11", -26 * 60, -23 * 60, OTHER),          # Jane by config; not Tom
    meeting("503", "12", -50 * 60, -47 * 60, TOM, status="Cancelled"),
    meeting("504", "13", -30 * 60, -28 * 60,
            SimAttendee("301", "Councillor Tom Okafor", attendance="Apologies")),
]


def tweets(*minutes: int, base: int = 0) -> list[SimPost]:
    return [SimPost(m * 60, "x", X, str(1860000000000000000 + base + i), f"Tweet at {m}")
            for i, m in enumerate(minutes)]


def fb_posts(*minutes: int) -> list[SimPost]:
    return [SimPost(m * 60, "facebook", FB, f"{FB}_{500 + i}", f"Post at {m}")
            for i, m in enumerate(minutes)]


TIMELINE = [
    *tweets(-150, -130),                                # before meeting 501
    *tweets(-115, -90, -50, -10, base=10),              # 4 during 501: a burst
    *tweets(-25 * 60, -25 * 60 + 10, -24 * 60, -23 * 60 - 30, base=20),  # 502: not attending
    *tweets(-49 * 60, -48 * 60, -48 * 60 + 5, -47 * 60 - 5, base=30),     # 503: cancelled
    *tweets(-29 * 60, -29 * 60 + 1, -29 * 60 + 2, -29 * 60 + 3, base=40),  # 504: apologies
    *fb_posts(-25 * 60, -24 * 60 - 40, -24 * 60, -23 * 60 - 10),          # Jane in 502
]


def simulated(timeline: list[SimPost]) -> SimulatedPlatform:
    """The platforms with their clock stopped at NOW: an item ``at`` seconds (negative: in the
    past) was posted at NOW + at, however long the test run took to get here."""
    return SimulatedPlatform(timeline, tokens=TOKENS, clock=NOW.timestamp)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def make(db_url: str, sim: SimulatedPlatform, sink: MailSink, moderngov: str,
         extra: str = "") -> Parts:
    cfg = config.parse(config_text(
        db_url, smtp_port=sink.port, sim_url=sim.base_url, members=MEMBERS,
        extra=f'[meetings]\nmoderngov_url = "{moderngov}"\nburst_posts = 3\n{extra}'))
    return build(cfg, credentials=CREDS)


def burst_mails(sink: MailSink) -> list:
    return [m for m, _ in sink.messages if m["Subject"].strip().startswith("Reminder:")]


def test_one_alert_per_meeting_to_the_attending_member(db_url: str, sink: MailSink) -> None:
    with SimulatedModernGov(COMMITTEES, MEETINGS) as mg, simulated(TIMELINE) as sim:
        parts = make(db_url, sim, sink, mg.base_url)
        outcomes, report = poll_once(parts)
        assert all(o.status == "ok" for o in outcomes), outcomes
        assert {"GetMeetings", "GetMeeting"} <= set(mg.ops())
        poll_once(parts)  # again: nothing new, nothing twice
    with parts.store.session() as s:
        assert s.scalar(select(func.count(MeetingRow.id))) == 4
        rows = list(s.execute(select(FindingRow.member_id, FindingRow.reasons_json)
                              .where(FindingRow.label == "meeting_burst")))
        kinds = list(s.scalars(select(AlertRow.kind).where(AlertRow.kind == "meeting_burst")))
    assert sorted(m for m, _ in rows) == ["jsmith", "tok"] and len(kinds) == 2
    reasons = {m: json.loads(r) for m, r in rows}
    assert reasons["tok"][0] == "4 posts during the meeting (more than 3)"
    assert "modern.gov" in reasons["tok"][-1]
    assert "Licensing" in reasons["jsmith"][-1]
    mails = burst_mails(sink)
    assert sorted(m["To"] for m in mails) == ["jane@test-council.gov.uk",
                                              "tom@test-council.gov.uk"]
    tom = next(m for m in mails if m["To"] == "tom@test-council.gov.uk")
    assert tom["Cc"] is None and "Planning Committee" in tom["Subject"]
    text = tom.get_body(("plain",)).get_content()
    # The four posts in the meeting are listed with their local times, the two before not.
    for minutes in (-115, -90, -50, -10):
        at = (NOW + timedelta(minutes=minutes)).astimezone(LONDON).strftime("%H:%M")
        assert f"{at} on X" in text
    assert "Tweet at -150" not in text and "Tweet at -115" in text


def test_a_calendar_that_fails_keeps_what_was_known(db_url: str, sink: MailSink) -> None:
    with SimulatedModernGov(COMMITTEES, MEETINGS) as mg, simulated(TIMELINE) as sim:
        parts = make(db_url, sim, sink, mg.base_url)
        first = parts.meetings.refresh()
        assert first.stored == {"moderngov": 4} and not first.failed
        for mode, words in (("html", "HTML"), ("malformed", "XML"), ("down", "")):
            mg.mode = mode
            report = parts.meetings.refresh()
            assert report.stored == {} and "moderngov" in report.failed
            assert words in report.failed["moderngov"]
        outcomes, _ = poll_once(parts)  # the polls go on; the stored meetings still count
        assert all(o.status == "ok" for o in outcomes)
    with parts.store.session() as s:
        assert s.scalar(select(func.count(MeetingRow.id))) == 4
    assert len(burst_mails(sink)) == 2


def test_ical_feed_with_quiet_window(db_url: str, sink: MailSink) -> None:
    """An iCalendar meeting the member attends (by config) with a quiet window: one post
    while a vote is expected is enough."""
    start = NOW - timedelta(hours=1)
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//EN", "BEGIN:VEVENT",
        "UID:budget-2026@test-council.gov.uk", f"DTSTAMP:{NOW:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{start + timedelta(hours=3):%Y%m%dT%H%M%SZ}",
        "SUMMARY:Licensing Committee (budget vote)", "END:VEVENT", "END:VCALENDAR", ""])
    timeline = fb_posts(-50, -20)  # -50: before the window; -20: inside it
    with SimulatedModernGov([], []) as mg, simulated(timeline) as sim:
        path = mg.add_ical("/meetings.ics", ics)
        cfg = config.parse(config_text(
            db_url, smtp_port=sink.port, sim_url=sim.base_url, members=MEMBERS,
            extra=f'[meetings]\nical_urls = ["{mg.base_url}{path}"]\n'
                  'quiet = [{ title = "budget vote", after = "30m", length = "1h" }]\n'))
        parts = build(cfg, credentials=CREDS)
        poll_once(parts)
    (mail,) = burst_mails(sink)
    assert mail["To"] == "jane@test-council.gov.uk"
    text = mail.get_body(("plain",)).get_content()
    at = (NOW - timedelta(minutes=20)).astimezone(LONDON).strftime("%H:%M")
    assert f"1 post while a vote is expected ({at})" in text
