"""The meeting watch: keeps the council's meetings in the store and finds meeting bursts.

``refresh`` reads every configured calendar (the modern.gov web service, iCalendar feeds) for
the days around now and upserts the meetings; a calendar that cannot be read is logged and its
stored meetings are kept. ``check`` looks at every meeting under way or recently ended, works out
which members attend it, and writes one ``meeting_burst`` finding and one alert to the member per
meeting whose posting went over the limits (:mod:`detectors.meetings`). Both are idempotent: the
finding's and the alert's dedupe keys name the meeting and the member.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import requests
from sqlalchemy import select

from calendars.base import Attendance, Attendee, Meeting, attendance
from calendars.ical import fetch_ical, read_ical
from calendars.moderngov import ModernGovClient
from detectors import meetings as bursts
from watcher import logs
from watcher.config import Config, MemberConfig
from watcher.domain import Severity, platform_name
from watcher.errors import MeetingSourceError
from watcher.messages import render_meeting_burst
from watcher.pipeline import write_alert
from watcher.policy import PlannedAlert
from watcher.store import Clock, Store, record_action, utcnow
from watcher.store.models import AccountRow, FindingRow, ItemRow, MeetingRow

log = logs.get(__name__)

#: Meetings are read from this long ago (bursts in meetings that ended while the daemon was
#: down are still found) to this far ahead (so a meeting under way is known before it starts).
LOOKBACK = timedelta(days=7)
LOOKAHEAD = timedelta(days=31)

MODERNGOV = "moderngov"


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: meetings stored per source, and the sources that failed."""

    stored: dict[str, int]
    failed: dict[str, str]


@dataclass(frozen=True)
class CheckReport:
    meetings: int
    bursts: int
    alerts: int


def source_key(source: str) -> str:
    """The stored key of a calendar source (its SHA-256): a URL may be longer than an index."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def meeting_from_row(row: MeetingRow) -> Meeting:
    """Return the calendar Meeting for a stored row."""
    attendees = tuple(Attendee(name=a.get("name", ""), moderngov_id=a.get("moderngov_id", ""),
                               attendance=a.get("attendance", ""), role=a.get("role", ""))
                      for a in json.loads(row.attendees_json or "[]"))
    return Meeting(source=row.source, external_id=row.external_id, title=row.title,
                   start=row.start_at, end=row.end_at, end_source=row.end_source,
                   cancelled=row.cancelled, location=row.location, attendees=attendees,
                   url=row.url)


class MeetingWatch:
    """Reads the configured calendars into the store and checks members' posting against them.

    ``session_factory`` makes the HTTP session each refresh uses (tests pass their own).
    """

    def __init__(self, config: Config, store: Store, clock: Clock = utcnow,
                 session_factory: Callable[[], requests.Session] = requests.Session) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.session_factory = session_factory

    @property
    def configured(self) -> bool:
        """Whether any calendar is configured (else there is nothing to refresh)."""
        return bool(self.config.meetings.moderngov_url or self.config.meetings.ical_urls)

    # -- refresh -----------------------------------------------------------------------------

    def refresh(self) -> RefreshReport:
        """Read every configured calendar for LOOKBACK before now to LOOKAHEAD after, and
        upsert its meetings. Never raises for a calendar that cannot be read: that is logged
        (``meetings.source_failed``) and reported, and its stored meetings stay as they were.
        Raises only when the store fails."""
        now = self.clock()
        start, end = now - LOOKBACK, now + LOOKAHEAD
        mt = self.config.meetings
        stored: dict[str, int] = {}
        failed: dict[str, str] = {}
        sources: list[tuple[str, Callable[[requests.Session], list[Meeting]]]] = []
        if mt.moderngov_url:
            sources.append((MODERNGOV, lambda s: self._moderngov(s, start, end)))
        for url in mt.ical_urls:
            sources.append((f"ical:{url}", lambda s, url=url: self._ical(s, url, start, end)))
        for name, read in sources:
            session = self.session_factory()
            try:
                found = read(session)
            except MeetingSourceError as exc:
                failed[name] = logs.redact_text(str(exc))
                log.warning("meetings.source_failed", source=_show(name), error=failed[name])
                continue
            finally:
                session.close()
            stored[name] = self._upsert(name, found, now)
            log.info("meetings.refreshed", source=_show(name), meetings=stored[name],
                     cancelled=sum(m.cancelled for m in found))
        return RefreshReport(stored=stored, failed=failed)

    def _moderngov(self, session: requests.Session, start: datetime, end: datetime
                   ) -> list[Meeting]:
        mt = self.config.meetings
        client = ModernGovClient(mt.moderngov_url, timezone=self.config.timezone,
                                 default_duration=mt.default_duration,
                                 timeout=self.config.polling.timeout, session=session)
        found = client.meetings(start.date(), end.date())
        return [_with_duration(m, mt.duration_for(m.title)) for m in found]

    def _ical(self, session: requests.Session, url: str, start: datetime, end: datetime
              ) -> list[Meeting]:
        mt = self.config.meetings
        data = fetch_ical(url, timeout=self.config.polling.timeout, session=session)
        found = read_ical(data, source=f"ical:{url}", timezone=self.config.timezone,
                          start=start, end=end, default_duration=mt.default_duration)
        return [_with_duration(m, mt.duration_for(m.title)) for m in found]

    def _upsert(self, source: str, meetings: Sequence[Meeting], now: datetime) -> int:
        key = source_key(source)
        with self.store.session() as s:
            rows = {r.external_id: r for r in s.scalars(
                select(MeetingRow).where(MeetingRow.source_key == key))}
            for m in meetings:
                row = rows.get(m.external_id)
                if row is None:
                    row = MeetingRow(source_key=key, source=source, external_id=m.external_id)
                    s.add(row)
                    rows[m.external_id] = row
                elif _degraded(m, row):
                    # Its GetMeeting could not be read this time: keep the attendees and end
                    # time read before rather than forget who attends.
                    m = replace(m, attendees=meeting_from_row(row).attendees,
                                end=row.end_at if row.start_at == m.start else m.end,
                                end_source=row.end_source if row.start_at == m.start
                                else m.end_source)
                row.title, row.start_at, row.end_at = m.title, m.start, m.end
                row.end_source, row.cancelled = m.end_source, m.cancelled
                row.location, row.url = m.location, m.url
                row.attendees_json = json.dumps([a.__dict__ for a in m.attendees])
                row.fetched_at = now
        return len(meetings)

    # -- check -------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Find the bursts in meetings under way or ended within LOOKBACK, and write each
        new one's finding and alert. Returns what it did. Raises only when the store fails."""
        now = self.clock()
        with self.store.session() as s:
            rows = list(s.scalars(select(MeetingRow).where(
                MeetingRow.start_at <= now, MeetingRow.end_at >= now - LOOKBACK,
                MeetingRow.cancelled.is_(False)).order_by(MeetingRow.start_at)))
            meetings = [(row.id, meeting_from_row(row)) for row in rows]
        found = alerts = 0
        for meeting_id, meeting in meetings:
            for member in self.config.members:
                verdict, why = attendance(meeting, name=member.name,
                                          moderngov_id=member.moderngov_id,
                                          attends=member.attends)
                if verdict is not Attendance.ATTENDING:
                    continue
                posts = self._own_posts(member, meeting)
                burst = bursts.find_burst(meeting, posts,
                                          burst_posts=self.config.meetings.burst_posts,
                                          quiet=self.config.meetings.quiet,
                                          timezone=self.config.timezone)
                if burst is None:
                    continue
                found += 1
                alerts += self._record(meeting_id, meeting, member, burst, why, now)
        return CheckReport(meetings=len(meetings), bursts=found, alerts=alerts)

    def _own_posts(self, member: MemberConfig, meeting: Meeting) -> list[bursts.OwnPost]:
        with self.store.session() as s:
            rows = s.execute(
                select(ItemRow.id, ItemRow.account_id, ItemRow.platform, ItemRow.created_at,
                       ItemRow.permalink, ItemRow.text)
                .join(AccountRow, AccountRow.id == ItemRow.account_id)
                .where(AccountRow.member_id == member.id, ItemRow.is_own.is_(True),
                       ItemRow.created_at >= meeting.start, ItemRow.created_at < meeting.end))
            return [bursts.OwnPost(item_row_id=r[0], account_id=r[1], platform=r[2],
                                   created_at=r[3], permalink=r[4] or "", text=r[5] or "")
                    for r in rows]

    def _record(self, meeting_id: int, meeting: Meeting, member: MemberConfig,
                burst: bursts.Burst, why: str, now: datetime) -> int:
        """Write the burst's finding and alert unless they exist; return alerts written."""
        key = f"meeting_burst:{meeting_id}:{member.id}"
        reasons = [*burst.reasons, f"{member.name} {why}"]
        with self.store.session() as s:
            if s.scalar(select(FindingRow.id).where(FindingRow.dedupe_key == key)):
                return 0
            first = burst.posts[0]
            frow = FindingRow(
                dedupe_key=key, item_id=first.item_row_id, account_id=first.account_id,
                member_id=member.id, label="meeting_burst", score=1.0, severity="normal",
                reasons_json=json.dumps(reasons), detector=bursts.NAME,
                detector_version=bursts.VERSION, created_at=now)
            s.add(frow)
            s.flush()
            posts = [(p.created_at, platform_name(p.platform), p.permalink,
                      p.text) for p in burst.posts]
            rendered = render_meeting_burst(self.config, member, meeting.title, meeting.start,
                                            meeting.end, posts, reasons)
            plan = PlannedAlert(dedupe_key=key, kind="meeting_burst",
                                severity=Severity.NORMAL, to=(member.email,), cc=(),
                                rendered=rendered, flagged=())
            written = write_alert(s, plan, member.id, None, [frow.id],
                                  self.config.smtp.sender, now) is not None
            record_action(s, now, "finding.created", member_id=member.id,
                          account_id=first.account_id, item_id=first.item_row_id,
                          finding_id=frow.id, label="meeting_burst", meeting=meeting.title,
                          meeting_start=meeting.start.isoformat(), posts=len(burst.posts))
        log.info("meetings.burst", member=member.id, meeting=meeting.title,
                 start=meeting.start.isoformat(), posts=len(burst.posts), alerted=written)
        return int(written)


def _degraded(new: Meeting, row: MeetingRow) -> bool:
    """Whether a meeting read again came with less than was stored: no attendees and a
    guessed end where the stored one had attendees (modern.gov's GetMeeting failed for it)."""
    return (new.source == MODERNGOV and not new.attendees and new.end_source == "default"
            and row.attendees_json not in ("", "[]"))


def _with_duration(meeting: Meeting, default: float) -> Meeting:
    """A meeting whose end was only guessed gets its committee's configured duration."""
    if meeting.end_source != "default":
        return meeting
    return replace(meeting, end=meeting.start + timedelta(seconds=default))


def _show(source: str) -> str:
    """A calendar source fit for a log line: an iCal URL without its query (it may hold a
    key)."""
    return source.split("?", 1)[0][:200]
