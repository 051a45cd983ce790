"""Shared fixtures: a database URL per backend, a real SMTP sink, a config builder.

Every test that takes ``db_url`` runs on SQLite, and also on PostgreSQL when
``WATCHER_TEST_DATABASE_URL`` is set (each test then gets a schema of its own, dropped after).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from platforms.simulated import SimComment, SimPost
from watcher import logs
from watcher.mailsink import MailSink

PG_URL = os.environ.get("WATCHER_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

logs.configure(level="WARNING", json=True)


class ManualClock:
    """A store clock moved on by hand: distinct timeline times, session expiry, windows.
    Starts at ``now`` (default: the wall clock, to the second)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 60) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'watcher.db'}"
        return
    from sqlalchemy import create_engine

    schema = f"wt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    with MailSink() as sink:
        yield sink


def config_text(db_url: str, *, smtp_port: int = 25, sim_url: str = "http://127.0.0.1:9",
                members: str = "", extra: str = "") -> str:
    """Return a config file's text for tests: database, SMTP and both platforms set."""
    return f"""\
[database]
url = "{db_url}"

[polling]
interval = "1s"
jitter = "0s"
timeout = "3s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "watcher@test-council.gov.uk"
timeout = "3s"

[member_services]
emails = ["ms@test-council.gov.uk"]

[platforms.facebook]
base_url = "{sim_url}"

[platforms.x]
base_url = "{sim_url}"

[alerts]
outbox_interval = "1s"
retry_initial = "1s"
retry_max = "2s"
{extra}
{members}"""


MEMBERS = """
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"

[[members.accounts]]
platform = "facebook"
id = "111"
credential = "fb-jsmith"

[[members]]
id = "tok"
name = "Cllr Tom Okafor"
email = "tom@test-council.gov.uk"

[[members.accounts]]
platform = "x"
id = "222"
handle = "CllrTom"
credential = "x-tok"
"""

#: The account ids of ``MEMBERS``: Jane Smith's Facebook page, Tom Okafor's X account.
FB, X = "111", "222"

#: A small afternoon on both accounts: two posts, a civil comment, an insult and a threat.
SMALL_TIMELINE = [
    SimPost(0, "facebook", FB, "111_1", "Bin collections change next week."),
    SimComment(0, "facebook", FB, "1_a", "111_1", "Thanks for letting us know.", "51", "Ann"),
    SimComment(0, "facebook", FB, "1_b", "111_1", "You are a useless idiot.", "52", "Bob"),
    SimPost(0, "x", X, "9001", "At Full Council tonight."),
    SimComment(0, "x", X, "9002", "9001", "I know where you live.", "61", "anon"),
]
