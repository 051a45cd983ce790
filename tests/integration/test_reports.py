"""The monthly safety summary for group leaders, from a store seeded row by row.

June 2026 is the report's month (British Summer Time all month: local = UTC + 1, so the month
is 2026-05-31 23:00 UTC to 2026-06-30 23:00 UTC) and May 2026 the month before. Expected numbers
are counted here with SQL against those hand-written bounds, not with the code under test.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tests.conftest import config_text
from watcher import config, report_cli, reports
from watcher.credentials import Credentials
from watcher.daemon import build_channel
from watcher.errors import ReportError
from watcher.mailsink import MailSink, _Handler
from watcher.store import Store, record_action, sync_config
from watcher.store.models import (
    AccountRow,
    AlertFindingRow,
    AlertRow,
    CaseRow,
    FindingRow,
    ItemRow,
    ReportRunRow,
)

#: The text of every seeded comment, alert and case title: it must appear in no output.
ABUSE = "QZXW you worthless rat, I know where your kids go to school QZXW"
MARKER = "QZXW"

JUNE, MAY = "2026-06", "2026-05"
JUNE_START = datetime(2026, 5, 31, 23, 0, tzinfo=UTC)
JUNE_END = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
MAY_START = datetime(2026, 4, 30, 23, 0, tzinfo=UTC)
#: When the tests' store thinks it is: 08:00 BST on 1 July 2026.
NOW = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)

LAB_LEADERS = ("lab.leader@test-council.gov.uk", "lab.deputy@test-council.gov.uk")
GREEN_LEADER = "green.leader@test-council.gov.uk"
GROUPS = f"""
[reports]
monthly = true
send_at = "08:00"

[[groups]]
name = "Labour"
leader_emails = ["{LAB_LEADERS[0]}", "{LAB_LEADERS[1]}"]

[[groups]]
name = "Green"
leader_emails = ["{GREEN_LEADER}"]
"""

MEMBERS = """
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"
group = "Labour"

[[members.accounts]]
platform = "facebook"
id = "111"
credential = "fb-jsmith"

[[members]]
id = "tok"
name = "Cllr Tom Okafor"
email = "tom@test-council.gov.uk"
group = "Labour"

[[members.accounts]]
platform = "x"
id = "222"
credential = "x-tok"

[[members]]
id = "pgreen"
name = "Cllr Pat Green"
email = "pat@test-council.gov.uk"
group = "Green"

[[members.accounts]]
platform = "facebook"
id = "333"
credential = "fb-pgreen"

[[members]]
id = "indy"
name = "Cllr Ivy Independent"
email = "ivy@test-council.gov.uk"

[[members.accounts]]
platform = "x"
id = "444"
credential = "x-indy"
"""

ACCOUNTS = {"jsmith": ("facebook", "111"), "tok": ("x", "222"), "pgreen": ("facebook", "333"),
            "indy": ("x", "444")}
ANDY, BEA, CAT, DAN = ("a1", "Angry Andy"), ("b1", "Bea B"), ("c1", "Cat C"), ("d1", "Dan D")


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Seeder:
    """Writes items, findings, alerts, hides and cases as the daemon would leave them."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.accounts = {m: s.scalar(select(AccountRow.id).where(
            AccountRow.platform == p, AccountRow.external_id == e))
            for m, (p, e) in ACCOUNTS.items()}
        self.n = 0

    def item(self, member: str, when: datetime, labels: tuple[str, ...] = (),
             author: tuple[str, str] | None = ANDY, own: bool = False,
             kind: str = "comment") -> tuple[ItemRow, list[FindingRow]]:
        self.n += 1
        platform = ACCOUNTS[member][0]
        row = ItemRow(account_id=self.accounts[member], platform=platform,
                      external_id=f"ext{self.n}", kind=kind,
                      author_id=author[0] if author else None,
                      author_name=author[1] if author else None, is_own=own, text=ABUSE,
                      created_at=when, raw=f'{{"message": "{ABUSE}"}}', raw_sha256="0" * 64,
                      fetched_at=when + timedelta(minutes=1))
        self.s.add(row)
        self.s.flush()
        findings = []
        for label in labels:
            f = FindingRow(dedupe_key=f"item:{row.id}:{label}", item_id=row.id,
                           account_id=self.accounts[member], member_id=member, label=label,
                           score=0.9, severity="high", reasons_json=f'["{ABUSE}"]',
                           detector="test", detector_version="1",
                           created_at=when + timedelta(minutes=1))
            self.s.add(f)
            self.s.flush()
            record_action(self.s, f.created_at, "finding.created", member_id=member,
                          item_id=row.id, finding_id=f.id, label=label)
            findings.append(f)
        return row, findings

    def alert(self, member: str, findings: list[FindingRow], created: datetime,
              sent: datetime | None, kind: str = "item") -> None:
        self.n += 1
        alert = AlertRow(dedupe_key=f"alert-{self.n}", kind=kind, severity="high",
                         member_id=member, account_id=self.accounts[member],
                         recipients_json="{}", subject=ABUSE, body_text=ABUSE, body_html=ABUSE,
                         message_id=f"<a{self.n}@test>", status="sent" if sent else "pending",
                         next_attempt_at=created, created_at=created, sent_at=sent)
        self.s.add(alert)
        self.s.flush()
        for f in findings:
            self.s.add(AlertFindingRow(alert_id=alert.id, finding_id=f.id))

    def comment(self, member: str, when: datetime, labels: tuple[str, ...],
                author: tuple[str, str] | None = ANDY, alert_after: int | None = None,
                hide_after: int | None = None, kind: str = "comment") -> ItemRow:
        """A third-party comment; its alert sent and its hide ``*_after`` minutes on."""
        row, findings = self.item(member, when, labels, author, kind=kind)
        if alert_after is not None:
            self.alert(member, findings, when + timedelta(minutes=1),
                       when + timedelta(minutes=alert_after))
        if hide_after is not None:
            record_action(self.s, when + timedelta(minutes=hide_after), "item.hidden",
                          member_id=member, item_id=row.id, outcome="hidden")
        return row

    def case(self, member: str, opened: datetime, closed: datetime | None = None) -> None:
        self.s.add(CaseRow(member_id=member, title=ABUSE, status="closed" if closed else "open",
                           opened_at=opened, opened_by="ms", updated_at=closed or opened,
                           closed_at=closed))


def seed(store: Store) -> None:
    """The month's story; the comments' numbers are what each member's expectation says."""
    with store.session() as s:
        sd = Seeder(s)
        # Cllr Jane Smith (Labour, Facebook). June: 5 flagged comments.
        j1 = sd.comment("jsmith", utc(6, 3, 10), ("offensive",), ANDY, alert_after=10,
                        hide_after=5)
        # ... a later pile-on alert naming j1 again: the first alert is the one that counts
        j1_findings = list(s.scalars(select(FindingRow).where(FindingRow.item_id == j1.id)))
        sd.alert("jsmith", j1_findings, utc(6, 3, 11), utc(6, 3, 12), kind="pile_on")
        sd.comment("jsmith", utc(6, 10, 12), ("offensive", "threat"), ANDY, alert_after=20,
                   hide_after=60)
        sd.comment("jsmith", utc(6, 15, 9), ("defamation",), BEA, alert_after=30)
        # 00:30 BST on 1 June: June, though still May in UTC
        sd.comment("jsmith", utc(5, 31, 23, 30), ("offensive",), ANDY)
        # no author id: flagged, alert still queued (no time to alert), no repeat sender
        j9, j9_findings = sd.item("jsmith", utc(6, 25, 8), ("personal_data",), None)
        sd.alert("jsmith", j9_findings, utc(6, 25, 8, 1), None)
        # 00:30 BST on 1 July: July, though still June in UTC
        sd.comment("jsmith", utc(6, 30, 23, 30), ("offensive",), CAT, alert_after=5)
        sd.item("jsmith", utc(6, 20, 9), (), CAT)                       # civil: not flagged
        sd.item("jsmith", utc(6, 12, 9), ("copyright_image",), None, own=True)
        sd.item("jsmith", utc(6, 13, 9), ("copyright_image",), CAT)     # not her conduct
        # May: 2 flagged comments, both from Bea (a repeat sender in May)
        sd.comment("jsmith", utc(5, 20, 9), ("offensive",), BEA, alert_after=40)
        sd.comment("jsmith", utc(5, 31, 22, 30), ("personal_data",), BEA)   # 23:30 BST 31 May
        sd.comment("jsmith", utc(1, 15, 9), ("offensive",), BEA)        # January: trend only
        sd.comment("jsmith", datetime(2025, 12, 12, 9, tzinfo=UTC), ("offensive",), BEA)
        # ... December 2025 is before the trend's six months
        sd.case("jsmith", utc(6, 10, 13), utc(6, 20, 9))
        sd.case("jsmith", utc(5, 5, 9), utc(6, 2, 9))
        sd.case("jsmith", utc(6, 30, 23, 30))                           # opened in July
        # Cllr Tom Okafor (Labour, X). June: 2 flagged, both from Dan; a meeting burst.
        sd.comment("tok", utc(6, 20, 18), ("threat",), DAN, alert_after=15, kind="mention")
        sd.comment("tok", utc(6, 21, 18), ("personal_data",), DAN, alert_after=45,
                   kind="reply")
        burst, _ = sd.item("tok", utc(6, 18, 19), (), None, own=True, kind="post")
        s.add(FindingRow(dedupe_key="meeting_burst:1:tok", item_id=burst.id,
                         account_id=sd.accounts["tok"], member_id="tok", label="meeting_burst",
                         score=1.0, severity="normal", reasons_json="[]", detector="meetings",
                         detector_version="1", created_at=utc(6, 18, 21)))
        # Cllr Pat Green (Green, Facebook): 1 in June, 2 in April.
        sd.comment("pgreen", utc(6, 5, 9), ("offensive",), ("f1", "Finn F"), alert_after=12)
        sd.comment("pgreen", utc(4, 10, 9), ("offensive",), ("f1", "Finn F"))
        sd.comment("pgreen", utc(4, 11, 9), ("offensive",), ("f1", "Finn F"))
        # Cllr Ivy Independent (no group, X): 1 in June.
        sd.comment("indy", utc(6, 7, 9), ("offensive",), ("g1", "Gus G"), alert_after=3)


# ---------------------------------------------------------------------------------------------
# Expectations, counted with SQL


def _flagged(member: str, start: datetime, end: datetime) -> Any:
    return (select(func.count(func.distinct(ItemRow.id)))
            .join(FindingRow, FindingRow.item_id == ItemRow.id)
            .where(FindingRow.member_id == member, ItemRow.is_own.is_(False),
                   FindingRow.label.in_(("offensive", "threat", "defamation", "personal_data")),
                   ItemRow.created_at >= start, ItemRow.created_at < end))


def expected(store: Store, member: str, start: datetime, end: datetime) -> dict[tuple[str, str],
                                                                               int]:
    """{(metric, key): count} for one member and [start, end), by SQL."""
    out: dict[tuple[str, str], int] = {}
    with store.session() as s:
        out[("flagged_comments", "")] = s.scalar(_flagged(member, start, end))
        for label in ("offensive", "threat", "defamation", "personal_data"):
            out[("flagged_comments_by_label", label)] = s.scalar(
                _flagged(member, start, end).where(FindingRow.label == label))
        for platform in ("facebook", "x"):
            out[("flagged_comments_by_platform", platform)] = s.scalar(
                _flagged(member, start, end).where(ItemRow.platform == platform))
        out[("threats", "")] = out[("flagged_comments_by_label", "threat")]
        for metric, label in (("copyright_flags", "copyright_image"),
                              ("meeting_bursts", "meeting_burst")):
            out[(metric, "")] = s.scalar(
                select(func.count(FindingRow.id)).join(ItemRow, ItemRow.id == FindingRow.item_id)
                .where(FindingRow.member_id == member, FindingRow.label == label,
                       ItemRow.is_own.is_(True), ItemRow.created_at >= start,
                       ItemRow.created_at < end))
        out[("cases_opened", "")] = s.scalar(select(func.count(CaseRow.id)).where(
            CaseRow.member_id == member, CaseRow.opened_at >= start, CaseRow.opened_at < end))
        out[("cases_closed", "")] = s.scalar(select(func.count(CaseRow.id)).where(
            CaseRow.member_id == member, CaseRow.closed_at >= start, CaseRow.closed_at < end))
        per_author = (select(ItemRow.author_id).join(FindingRow, FindingRow.item_id == ItemRow.id)
                      .where(FindingRow.member_id == member, ItemRow.is_own.is_(False),
                             ItemRow.author_id.is_not(None),
                             FindingRow.label.in_(("offensive", "threat", "defamation",
                                                   "personal_data")),
                             and_(ItemRow.created_at >= start, ItemRow.created_at < end))
                      .group_by(ItemRow.author_id)
                      .having(func.count(func.distinct(ItemRow.id)) >= 2).subquery())
        out[("repeat_senders", "")] = s.scalar(select(func.count()).select_from(per_author))
    return out


# ---------------------------------------------------------------------------------------------
# Reading what was written


class Tables(HTMLParser):
    """Every table of a page as a list of rows of cell texts, with its caption."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            self.tables[-1] = (" ".join("".join(self._caption).split()), self.tables[-1][1])
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return {caption: rows for caption, rows in parser.tables if caption}


def rows_of(page: str, caption_start: str) -> dict[str, list[str]]:
    (rows,) = [r for c, r in tables(page).items() if c.startswith(caption_start)]
    return {row[0]: row[1:] for row in rows[1:]}


def read_csv(data: bytes) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == reports.CSV_FIELDS
    out = {}
    for row in reader:
        assert row["month"] == JUNE
        key = (row["scope"], row["member_id"], row["metric"], row["key"])
        out[key] = (row["value"], row["previous_value"])
    return out


def is_png(data: bytes) -> bool:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    return True


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def setup(db_url: str) -> Iterator[tuple[Store, config.Config]]:
    """A migrated, synced and seeded store (its clock at 08:00 BST on 1 July 2026), and the
    config (SMTP on port 9: a test that sends builds its own)."""
    cfg = config.parse(config_text(db_url, smtp_port=9, members=MEMBERS, extra=GROUPS))
    store = Store(db_url, clock=Clock())
    store.upgrade()
    sync_config(store, cfg.members)
    seed(store)
    yield store, cfg
    store.dispose()


def with_smtp(cfg: config.Config, port: int) -> config.Config:
    """The config with its SMTP server on ``port``."""
    return replace(cfg, smtp=replace(cfg.smtp, port=port, timeout=3.0))


class _RefusingHandler(_Handler):
    """The sink's handler, refusing some recipients (550) at RCPT TO."""

    def __init__(self, sink: MailSink, refused: set[str]) -> None:
        super().__init__(sink)
        self.refused = refused

    async def handle_RCPT(self, _server: Any, _session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"


class RefusingSink(MailSink):
    """A MailSink that refuses the given addresses."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = {a.lower() for a in refused}
        super().__init__()

    def _new_controller(self) -> Controller:
        return Controller(_RefusingHandler(self, self.refused), hostname="127.0.0.1",
                          port=self.port)


# ---------------------------------------------------------------------------------------------
# Months


def test_month_bounds_are_local_calendar_months_in_utc() -> None:
    assert reports.month_bounds(JUNE, "Europe/London") == (JUNE_START, JUNE_END)
    # January: GMT, so local midnight is UTC midnight
    assert reports.month_bounds("2026-01", "Europe/London") == (
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    # March: starts in GMT, ends in BST
    assert reports.month_bounds("2026-03", "Europe/London") == (
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, 23, tzinfo=UTC))
    # December runs into the next year
    assert reports.month_bounds("2026-12", "UTC") == (
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("bad", ["2026-13", "26-01", "2026-1", "2026-00", "2026/06", "",
                                 "June 2026", "2026-06-01", " 2026-06", "0001-01"])
def test_a_malformed_month_is_refused(bad: str) -> None:
    with pytest.raises(ReportError, match="month"):
        reports.month_bounds(bad, "Europe/London")


def test_previous_month_is_local() -> None:
    assert reports.previous_month(utc(6, 30, 23, 30), "Europe/London") == JUNE  # 1 July BST
    assert reports.previous_month(utc(6, 30, 22, 30), "Europe/London") == MAY
    assert reports.previous_month(datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
                                  "Europe/London") == "2025-12"
    assert reports.previous_month(utc(6, 30, 23, 30), "UTC") == MAY


# ---------------------------------------------------------------------------------------------
# Numbers


def test_html_and_csv_numbers_match_the_store(setup: tuple[Store, config.Config],
                                              tmp_path: Path) -> None:
    store, cfg = setup
    report = reports.build_monthly(store, cfg, JUNE)
    assert [g.name for g in report.groups] == ["Labour", "Green", "No group"]
    paths = reports.write_monthly(report, tmp_path)
    assert {p.parent for p in paths} == {tmp_path}
    assert all(p.exists() for p in paths)
    members = {"Labour": ["jsmith", "tok"], "Green": ["pgreen"], "No group": ["indy"]}
    slugs = {"Labour": "labour", "Green": "green", "No group": "no-group"}
    for group, ids in members.items():
        stem = f"safety-summary-{JUNE}-{slugs[group]}"
        table = read_csv((tmp_path / f"{stem}.csv").read_bytes())
        for member in ids:
            now = expected(store, member, JUNE_START, JUNE_END)
            before = expected(store, member, MAY_START, JUNE_START)
            for (metric, key), value in now.items():
                assert table[("member", member, metric, key)] == (str(value),
                                                                  str(before[(metric, key)])), \
                    (member, metric, key)
        # the group's totals are the members' sums (repeat senders here are one per member)
        for (scope, _member, metric, key), (value, previous) in table.items():
            if scope != "group" or metric.startswith("median"):
                continue
            parts = [table[("member", m, metric, key)] for m in ids]
            assert int(value) == sum(int(p[0]) for p in parts), (group, metric, key)
            assert int(previous) == sum(int(p[1]) for p in parts), (group, metric, key)

        page = (tmp_path / f"{stem}.html").read_text(encoding="utf-8")
        by_member = rows_of(page, "June 2026; change against May 2026")
        for member in ids:
            now = expected(store, member, JUNE_START, JUNE_END)
            before = expected(store, member, MAY_START, JUNE_START)
            name = cfg.member(member).name
            flagged = now[("flagged_comments", "")]
            assert by_member[name] == [
                str(flagged), str(now[("threats", "")]), str(now[("cases_opened", "")]),
                reports.change_text(flagged, before[("flagged_comments", "")])]
        glance = rows_of(page, "The whole group: June 2026 against May 2026")
        total = sum(expected(store, m, JUNE_START, JUNE_END)[("flagged_comments", "")]
                    for m in ids)
        total_before = sum(expected(store, m, MAY_START, JUNE_START)[("flagged_comments", "")]
                           for m in ids)
        assert glance["Flagged comments"] == [str(total), str(total_before),
                                              reports.change_text(total, total_before)]


def test_known_numbers_and_month_edges(setup: tuple[Store, config.Config]) -> None:
    """The seeded story, by hand: the edges of June in local time decide what counts."""
    store, cfg = setup
    labour = reports.build_monthly(store, cfg, JUNE).group("Labour")
    jane, tom = labour.members
    assert (jane.name, tom.name) == ("Cllr Jane Smith", "Cllr Tom Okafor")
    # 00:30 BST on 1 June counts; 00:30 BST on 1 July and 23:30 BST on 31 May do not
    assert jane.current.flagged_comments == 5
    assert dict(jane.current.by_label) == {"offensive": 3, "threat": 1, "defamation": 1,
                                           "personal_data": 1}
    # charted once each, under the most serious label: these add up to the 5
    assert dict(jane.current.by_main_label) == {"threat": 1, "personal_data": 1,
                                                "defamation": 1, "offensive": 2}
    assert jane.current.by_platform == {"facebook": 5, "x": 0}
    assert (jane.current.copyright_flags, jane.current.meeting_bursts) == (1, 0)
    assert (jane.current.cases_opened, jane.current.cases_closed) == (1, 2)
    # first alert sent 10, 20 and 30 min after the comment (a queued one is not "sent")
    assert (jane.current.alerted, jane.current.median_to_alert) == (3, 20 * 60)
    assert (jane.current.hidden, jane.current.median_to_removal) == (2, 32.5 * 60)
    assert jane.current.repeat_senders == (reports.RepeatSender("Angry Andy", "facebook", 3),)
    assert jane.previous.flagged_comments == 2
    assert jane.previous.repeat_senders == (reports.RepeatSender("Bea B", "facebook", 2),)
    assert jane.previous.cases_opened == 1
    assert tom.current.meeting_bursts == 1
    assert tom.current.median_to_alert == 30 * 60
    assert labour.current.flagged_comments == 7
    assert labour.current.median_to_alert == 20 * 60  # of 10, 15, 20, 30, 45 min
    assert [s.name for s in labour.current.repeat_senders] == ["Angry Andy", "Dan D"]
    assert [(p.month, p.flagged_comments, p.threats) for p in labour.trend] == [
        ("2026-01", 1, 0), ("2026-02", 0, 0), ("2026-03", 0, 0), ("2026-04", 0, 0),
        ("2026-05", 2, 0), ("2026-06", 7, 2)]
    green = reports.build_monthly(store, cfg, JUNE).group("Green")
    assert [p.flagged_comments for p in green.trend] == [0, 0, 0, 2, 0, 1]
    # July sees the comment of 00:30 BST on 1 July, and the case opened then
    july = reports.build_monthly(store, cfg, "2026-07").group("Labour").members[0].current
    assert (july.flagged_comments, july.cases_opened) == (1, 1)


def test_charts_are_valid_pngs_identical_on_a_second_write(
        setup: tuple[Store, config.Config], tmp_path: Path) -> None:
    store, cfg = setup
    report = reports.build_monthly(store, cfg, JUNE)
    first = reports.write_monthly(report, tmp_path / "a")
    pngs = {p.name: p.read_bytes() for p in first if p.suffix == ".png"}
    assert set(pngs) >= {f"safety-summary-{JUNE}-labour-{kind}.png"
                         for kind in ("members", "labels", "trend")}
    assert all(is_png(data) for data in pngs.values())
    # made again, from a report built again, into another folder and into the same one
    again = reports.write_monthly(reports.build_monthly(store, cfg, JUNE), tmp_path / "b")
    assert {p.name: p.read_bytes() for p in again if p.suffix == ".png"} == pngs
    reports.write_monthly(report, tmp_path / "a")
    assert {name: (tmp_path / "a" / name).read_bytes() for name in pngs} == pngs
    # every image the page shows is a file beside it, named relatively
    page = (tmp_path / "a" / f"safety-summary-{JUNE}-labour.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 3
    assert all("/" not in src and (tmp_path / "a" / src).is_file() for src in sources)
    assert '<meta name="viewport"' in page and "<th scope=\"col\">" in page
    assert not list((tmp_path / "a").glob(".*.tmp"))


def test_no_comment_text_in_any_output(setup: tuple[Store, config.Config], tmp_path: Path,
                                       mail_sink: MailSink) -> None:
    store, cfg = setup
    cfg = with_smtp(cfg, mail_sink.port)
    out = tmp_path / "out"
    for month in (JUNE, MAY, "2026-04"):
        reports.write_monthly(reports.build_monthly(store, cfg, month), out)
        reports.send_monthly(store, cfg, build_channel(cfg, Credentials({})), month)
    files = list(out.iterdir())
    assert len(files) > 9
    for path in files:
        assert MARKER.encode() not in path.read_bytes(), path
    assert len(mail_sink.messages) == 9  # 3 leaders, 3 months
    for message, _ in mail_sink.messages:
        assert MARKER not in message.as_string()
        for part in message.walk():
            if not part.is_multipart():
                payload = part.get_payload(decode=True) or b""
                assert MARKER.encode() not in payload


def test_a_month_with_no_data_says_so(setup: tuple[Store, config.Config], tmp_path: Path
                                      ) -> None:
    store, cfg = setup
    report = reports.build_monthly(store, cfg, "2026-09")
    assert not report.has_data
    says = "No flagged comments, cases or meeting reminders in September 2026"
    paths = reports.write_monthly(report, tmp_path)
    # nothing to chart this month; the trend still shows June (within the last six months)
    assert all(p.name.endswith("-trend.png") for p in paths if p.suffix == ".png")
    for path in paths:
        if path.suffix == ".html":
            assert says in path.read_text(encoding="utf-8")
    for group in report.groups:
        assert says in reports.render_text(report, group)
    table = read_csv_any((tmp_path / "safety-summary-2026-09-labour.csv").read_bytes())
    assert {row["value"] for row in table if row["metric"] == "flagged_comments"} == {"0"}


def test_an_empty_store_gives_a_report_that_says_so(db_url: str, tmp_path: Path) -> None:
    cfg = config.parse(config_text(db_url, members=MEMBERS, extra=GROUPS))
    store = Store(db_url, clock=Clock())
    store.upgrade()
    try:
        report = reports.build_monthly(store, cfg, JUNE)
        assert [g.name for g in report.groups] == ["Labour", "Green", "No group"]
        assert [len(g.members) for g in report.groups] == [2, 1, 1]
        paths = reports.write_monthly(report, tmp_path)
        assert [p.suffix for p in paths] == [".html", ".csv"] * 3  # no charts of nothing
        assert "No flagged comments, cases or meeting reminders in June 2026" in \
            paths[0].read_text(encoding="utf-8")
    finally:
        store.dispose()


def read_csv_any(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


# ---------------------------------------------------------------------------------------------
# Errors


def test_a_bad_month_is_a_report_error(setup: tuple[Store, config.Config]) -> None:
    store, cfg = setup
    with pytest.raises(ReportError, match="2026-13"):
        reports.build_monthly(store, cfg, "2026-13")
    with pytest.raises(ReportError, match="26-01"):
        reports.send_monthly(store, cfg, build_channel(cfg, Credentials({})), "26-01")


def test_an_unfinished_month_cannot_be_sent(setup: tuple[Store, config.Config],
                                            mail_sink: MailSink) -> None:
    store, cfg = setup
    cfg = with_smtp(cfg, mail_sink.port)
    with pytest.raises(ReportError, match="2026-07 is not over"):
        reports.send_monthly(store, cfg, build_channel(cfg, Credentials({})), "2026-07")
    assert not mail_sink.messages


def test_an_unwritable_folder_is_named(setup: tuple[Store, config.Config], tmp_path: Path
                                       ) -> None:
    store, cfg = setup
    report = reports.build_monthly(store, cfg, JUNE)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "reports"
    with pytest.raises(ReportError, match=re.escape(str(target))):
        reports.write_monthly(report, target)
    with pytest.raises(ReportError, match=re.escape(str(blocker))):
        reports.write_monthly(report, blocker)


# ---------------------------------------------------------------------------------------------
# Sending


def _parts(message: EmailMessage) -> tuple[str, str, dict[str, bytes], dict[str, bytes]]:
    """(plain text, HTML, {content id: PNG}, {attachment name: bytes}) of a message."""
    body_text = message.get_body(("plain",))
    body_html = message.get_body(("html",))
    assert body_text is not None and body_html is not None
    images, files = {}, {}
    for part in message.walk():
        if part.get_content_type() == "image/png":
            images[str(part["Content-ID"]).strip("<>")] = part.get_payload(decode=True)
        elif part.get_filename() and part.get_content_disposition() == "attachment":
            files[part.get_filename()] = part.get_payload(decode=True)
    return body_text.get_content(), body_html.get_content(), images, files


def _runs(store: Store) -> dict[str, list[str]]:
    """{group: recipients} recorded for June."""
    with store.session() as s:
        return {r.group_name: json.loads(r.recipients_json)
                for r in s.scalars(select(ReportRunRow).where(ReportRunRow.month == JUNE))}


def test_send_delivers_one_email_per_leader_once(setup: tuple[Store, config.Config],
                                                 mail_sink: MailSink, tmp_path: Path) -> None:
    store, cfg = setup
    cfg = with_smtp(cfg, mail_sink.port)
    channel = build_channel(cfg, Credentials({}))
    outcome = reports.send_monthly(store, cfg, channel, JUNE)
    assert outcome.ok and outcome.sent == ("Labour", "Green")
    assert {g.group: g.status for g in outcome.groups} == {
        "Labour": "sent", "Green": "sent", "No group": "no_leaders"}
    received = {tuple(rcpt): message for message, rcpt in mail_sink.messages}
    assert sorted(received) == sorted([(LAB_LEADERS[0],), (LAB_LEADERS[1],), (GREEN_LEADER,)])
    assert _runs(store) == {"Labour": sorted(LAB_LEADERS), "Green": [GREEN_LEADER]}

    written = reports.write_monthly(reports.build_monthly(store, cfg, JUNE), tmp_path)
    message = received[(LAB_LEADERS[0],)]
    assert message["Subject"] == "Labour: online safety summary for June 2026"
    text, page, images, files = _parts(message)
    # the charts inline: every cid the HTML names is an image part, and a valid PNG
    cids = re.findall(r'src="cid:([^"]+)"', page)
    assert len(cids) == 3 and set(cids) == set(images)
    assert all(is_png(png) for png in images.values())
    pngs = sorted(p.read_bytes() for p in written if p.name.startswith(
        f"safety-summary-{JUNE}-labour-"))
    assert sorted(images.values()) == pngs
    # the CSV attached, as written to files
    csv_name = f"safety-summary-{JUNE}-labour.csv"
    assert files[csv_name] == (tmp_path / csv_name).read_bytes()
    # the plain text has the key numbers
    assert "Flagged comments: 7 (2, up 5)" in text
    assert "Cllr Jane Smith: 5 flagged comments (1 threat)" in text
    assert "Angry Andy (Facebook), 3 flagged comments" in text

    # a second run sends nothing
    again = reports.send_monthly(store, cfg, channel, JUNE)
    assert again.sent == () and len(mail_sink.messages) == 3
    assert {g.group: g.status for g in again.groups} == {
        "Labour": "already_sent", "Green": "already_sent", "No group": "no_leaders"}
    # forced, it sends again (as new messages)
    forced = reports.send_monthly(store, cfg, channel, JUNE, force=True)
    assert forced.sent == ("Labour", "Green") and len(mail_sink.messages) == 6
    assert len(set(mail_sink.message_ids())) == 6


def test_a_refused_recipient_is_reported_and_other_groups_still_sent(
        setup: tuple[Store, config.Config]) -> None:
    store, cfg = setup
    with RefusingSink({GREEN_LEADER}) as sink:
        cfg = with_smtp(cfg, sink.port)
        outcome = reports.send_monthly(store, cfg, build_channel(cfg, Credentials({})), JUNE)
        assert not outcome.ok
        ((group, address, why),) = outcome.refused
        assert (group, address) == ("Green", GREEN_LEADER) and "refused" in why
        assert sorted(rcpt[0] for _, rcpt in sink.messages) == sorted(LAB_LEADERS)
    assert {g.group: g.status for g in outcome.groups}["Green"] == "failed"
    assert _runs(store) == {"Labour": sorted(LAB_LEADERS)}  # Green may be tried again

    # the next run sends Green only; one of Labour's two leaders refused when forced
    with RefusingSink({LAB_LEADERS[1]}) as sink:
        cfg = with_smtp(cfg, sink.port)
        channel = build_channel(cfg, Credentials({}))
        assert reports.send_monthly(store, cfg, channel, JUNE).sent == ("Green",)
        forced = reports.send_monthly(store, cfg, channel, JUNE, force=True)
    by_group = {g.group: g for g in forced.groups}
    assert by_group["Labour"].status == "partly_sent"
    assert by_group["Labour"].delivered == (LAB_LEADERS[0],)
    assert [a for a, _ in by_group["Labour"].refused] == [LAB_LEADERS[1]]
    assert _runs(store) == {"Labour": [LAB_LEADERS[0]], "Green": [GREEN_LEADER]}


def test_due_across_the_month_boundary_and_send_at(setup: tuple[Store, config.Config]
                                                   ) -> None:
    store, cfg = setup
    # 07:59 BST on 1 July: not yet; 08:00: June
    assert reports.due(utc(7, 1, 6, 59), cfg, store) is None
    assert reports.due(utc(7, 1, 7, 0), cfg, store) == JUNE
    # 23:30 UTC on 30 June is already 1 July in London, but before 08:00
    assert reports.due(utc(6, 30, 23, 30), cfg, store) is None
    # in the middle of the month, last month's is still due until it is sent to every group
    assert reports.due(utc(7, 15, 12), cfg, store) == JUNE
    with store.session() as s:
        s.add(ReportRunRow(month=JUNE, group_name="Labour", sent_at=NOW, recipients_json="[]"))
    assert reports.due(utc(7, 1, 7, 0), cfg, store) == JUNE  # Green not yet
    with store.session() as s:
        s.add(ReportRunRow(month=JUNE, group_name="Green", sent_at=NOW, recipients_json="[]"))
    # every group with leaders has it ("No group" has none)
    assert reports.due(utc(7, 1, 7, 0), cfg, store) is None
    assert reports.due(utc(7, 31, 22, 59), cfg, store) is None
    # 1 August, BST: July from 07:00 UTC
    assert reports.due(utc(7, 31, 23, 30), cfg, store) is None
    assert reports.due(utc(8, 1, 7, 0), cfg, store) == "2026-07"
    # 1 December, GMT: November from 08:00 UTC
    assert reports.due(datetime(2026, 12, 1, 7, 59, tzinfo=UTC), cfg, store) is None
    assert reports.due(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), cfg, store) == "2026-11"
    # January: December of the year before
    assert reports.due(datetime(2027, 1, 1, 8, 0, tzinfo=UTC), cfg, store) == "2026-12"
    # off in the config: never
    off = config.parse(config_text("sqlite://", members=MEMBERS,
                                   extra=GROUPS.replace("monthly = true", "monthly = false")))
    assert reports.due(utc(8, 1, 7, 0), off, store) is None


# ---------------------------------------------------------------------------------------------
# The command


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="watcher")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    common.add_argument("--log-level", default="WARNING")
    report_cli.add_parser(parser.add_subparsers(dest="command", required=True), common)
    return parser.parse_args(argv)


def test_the_command_writes_and_sends(setup: tuple[Store, config.Config], tmp_path: Path,
                                      mail_sink: MailSink, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    store, cfg = setup
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(cfg.database.url, smtp_port=mail_sink.port, members=MEMBERS,
                                extra=GROUPS))
    path.chmod(0o600)
    out = tmp_path / "out"
    base = ["report", "monthly", "--config", str(path), "--month", JUNE]
    assert report_cli.run(_cli([*base, "--out", str(out), "--send"])) == 0
    printed = capsys.readouterr().out
    assert f"written to {out}" in printed
    assert f"safety-summary-{JUNE}-labour.html" in printed
    assert f"Labour: sent to {LAB_LEADERS[0]}, {LAB_LEADERS[1]}" in printed
    assert "No group: not sent: the group has no leader_emails" in printed
    assert len(mail_sink.messages) == 3
    assert MARKER not in printed

    assert report_cli.run(_cli([*base, "--send"])) == 0
    assert "Labour: already sent on" in capsys.readouterr().out
    assert len(mail_sink.messages) == 3
    assert report_cli.run(_cli([*base, "--send", "--force"])) == 0
    assert len(mail_sink.messages) == 6

    assert report_cli.run(_cli([*base, "--force"])) == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert report_cli.run(_cli([*base, "--out", str(blocker / "x")])) == 1
    assert str(blocker / "x") in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        _cli(["report", "monthly", "--config", str(path), "--month", "2026-13"])
    assert exit_info.value.code == 2
