"""The daemon's scheduled housekeeping jobs, run in process on a store with a fixed clock:
the monthly summary on the 1st, and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from platforms.simulated import SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from tests.conftest import ManualClock as Clock
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Daemon, build, poll_once
from watcher.mailsink import MailSink
from watcher.store.models import ItemRow, ReportRunRow

LONDON = ZoneInfo("Europe/London")
TOKENS = {FB: "jobs-fb-token", X: "jobs-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})
GROUPS = """
[[groups]]
name = "Residents"
leader_emails = ["leader@test-council.gov.uk"]
"""


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def test_monthly_summary_goes_on_the_first_once(db_url: str, sink: MailSink) -> None:
    members = MEMBERS.replace('email = "jane@test-council.gov.uk"',
                              'email = "jane@test-council.gov.uk"\ngroup = "Residents"')
    # Polled in November (the platform's clock is real time; the store's is what we say).
    polled_at = datetime.now(UTC)
    clock = Clock(polled_at)
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=GROUPS + members,
                                       extra='[reports]\nsend_at = "08:00"\n'))
        parts = build(cfg, credentials=CREDS, clock=clock)
        poll_once(parts)
    daemon = Daemon(parts)
    local = polled_at.astimezone(LONDON)
    first = (local.replace(day=1) + timedelta(days=32)).replace(day=1)  # next month's 1st
    clock.now = first.replace(hour=7, minute=59, second=0, microsecond=0).astimezone(UTC)
    daemon._report_job()  # before send_at: nothing yet
    before = len(sink.messages)
    clock.now = first.replace(hour=8, minute=30, second=0, microsecond=0).astimezone(UTC)
    daemon._report_job()
    daemon._report_job()  # the next hourly run: already sent
    reports = [m for m, _ in sink.messages[before:] if "summary" in m["Subject"].lower()]
    assert len(reports) == 1 and reports[0]["To"] == "leader@test-council.gov.uk"
    with parts.store.session() as s:
        (run,) = s.scalars(select(ReportRunRow))
        assert run.month == f"{local:%Y-%m}" and run.group_name == "Residents"


def test_retention_job_purges(db_url: str, sink: MailSink) -> None:
    clock = Clock(datetime.now(UTC))
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=MEMBERS))
        parts = build(cfg, credentials=CREDS, clock=clock)
        poll_once(parts)
    daemon = Daemon(parts)
    clock.now += timedelta(days=91)
    daemon._retention_job()
    with parts.store.session() as s:
        # The civil comment (no finding, no case) is gone; the rest stay.
        assert s.scalar(select(func.count(ItemRow.id))) == 4
