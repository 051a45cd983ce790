"""Meetings from a council's modern.gov web service (``mgWebService.asmx``, HTTP GET, XML).

The calls and their parameters, as real clients use them (no public specification exists;
the service's own ``?WSDL`` page lists the operations):

* ``GET {site}/mgWebService.asmx/GetCommittees`` — no parameters;
* ``GET {site}/mgWebService.asmx/GetMeetings?lCommitteeId=144&sFromDate=01/01/2026&sToDate=
  28/02/2026`` — one committee's meetings between two dates given as ``dd/mm/yyyy``;
* ``GET {site}/mgWebService.asmx/GetMeeting?lMeetingId=4967`` — one meeting's detail, with
  its times, location and attendees.

Confirmed in DemocracyClub/LGSF ``lgsf/minutes/scrapers.py`` (``ModGovMinutesScraper``:
``format_meetings_api_url`` / ``format_meeting_api_url``, ``DATE_FORMAT = "%d/%m/%Y"``, one
GetMeetings per committee from GetCommittees, meeting pages at
``ieListDocuments.aspx?CId=..&MId=..``) and in carj/pyPreservica.Gov
``pyPreservicaGov/main.py`` (same three calls, same parameter names and date format). The
response shapes are the real Manchester City Council responses in
``tests/fixtures/moderngov/`` (from LGSF's test fixtures): dates ``dd/mm/yyyy``, times as
typed by clerks ("10.00 am", "2.00 pm"), empty elements holding only whitespace, attendees
as attributes of ``<attendee>``.

Choices:

* Committees: deleted ones are never read; expired ones (``committeeexpired`` True: former
  committees, one-off appointment panels) are skipped too unless ``include_expired`` — a
  large council lists hundreds and each costs a GetMeetings call per refresh.
* Times: start is ``meetingactualstarttime`` if given, else ``meetingtime``; end is
  ``meetingactualfinishtime`` ("actual"), else ``meetingplannedfinishtime`` ("planned"), else
  start + ``default_duration`` ("default"). A finish earlier than its start is on the next
  day (a meeting past midnight). A planned finish that is not after an actual (late) start is
  ignored. Local times become UTC by :func:`calendars.base.local_to_utc` (``fold=0``).
* A status containing "cancel", "postpon" or "abandon" (any case) is ``cancelled``: the
  meeting does not take place at that time.
* Errors: GetCommittees or GetMeetings failing fails the whole read (MeetingSourceError), so
  the caller keeps what it had. A GetMeeting answered with something unusable (HTTP error,
  HTML, malformed XML) costs only that meeting its detail: it is kept as GetMeetings
  described it (date and time, default duration, no attendees) and
  ``meetings.meeting_unreadable`` is logged. A GetMeeting that cannot be reached at all (down,
  timeout) fails the read: the service is gone, not the meeting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as safe_xml
import requests
from defusedxml import DefusedXmlException

from calendars.base import (
    Attendee,
    Meeting,
    SourceUnreachable,
    fetch,
    local_to_utc,
    looks_like_html,
    snippet,
    zone,
)
from watcher import logs
from watcher.errors import MeetingSourceError

log = logs.get(__name__)

SOURCE = "moderngov"
SERVICE = "mgWebService.asmx"
#: The date format of sFromDate/sToDate and of <meetingdate>.
DATE_FORMAT = "%d/%m/%Y"
_CANCELLED = ("cancel", "postpon", "abandon")


# --------------------------------------------------------------------------- parsing


_TIME = re.compile(
    r"^(?P<h>\d{1,2})(?:\s*[.:]\s*(?P<m>\d{2}))?\s*"
    r"(?P<suffix>a\.?\s?m\.?|p\.?\s?m\.?|noon|midday|midnight)?$")


def parse_time(text: str) -> time | None:
    """Given a modern.gov time as typed ("10.00 am", "2.00 pm", "2pm", "10:00", "14.30",
    "12 noon", "noon", "midnight"), return it; None for an empty one. Raises ValueError for
    anything else (an hour out of range, "TBC", ...)."""
    s = " ".join(text.split()).lower()
    if not s:
        return None
    if s in ("noon", "midday"):
        return time(12)
    if s == "midnight":
        return time(0)
    match = _TIME.match(s)
    if match is None:
        raise ValueError(f"not a time: {text.strip()!r}")
    hour, minute = int(match["h"]), int(match["m"] or 0)
    suffix = (match["suffix"] or "").replace(".", "").replace(" ", "")
    if minute > 59:
        raise ValueError(f"not a time: {text.strip()!r}")
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            raise ValueError(f"not a 12-hour time: {text.strip()!r}")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif suffix in ("noon", "midday"):
        if hour != 12 or minute:
            raise ValueError(f"not noon: {text.strip()!r}")
    elif suffix == "midnight":
        if hour != 12 or minute:
            raise ValueError(f"not midnight: {text.strip()!r}")
        hour = 0
    elif hour > 23:
        raise ValueError(f"not a time: {text.strip()!r}")
    return time(hour, minute)


def parse_date(text: str) -> date:
    """Given a modern.gov date ``dd/mm/yyyy``, return it; raise ValueError otherwise."""
    return datetime.strptime(text.strip(), DATE_FORMAT).date()


def _quiet_time(text: str) -> time | None:
    """An optional time: None when empty or unreadable (an unreadable actual or planned time
    is no reason to lose the meeting)."""
    try:
        return parse_time(text)
    except ValueError:
        return None


def meeting_times(day: date, scheduled: time, tz: ZoneInfo, default_duration: float, *,
                  actual_start: time | None = None, planned_finish: time | None = None,
                  actual_finish: time | None = None) -> tuple[datetime, datetime, str]:
    """Given a meeting's local date, scheduled time and optional actual start, planned and
    actual finish, the council's timezone and the default length in seconds, return
    ``(start, end, end_source)`` in UTC (see the module docstring for the rules)."""

    def at(t: time, after: datetime | None = None) -> datetime:
        moment = local_to_utc(day, t, tz)
        if after is not None and moment < after:
            # Finished before it started: past midnight. Add the day locally, so a meeting
            # over a DST change still ends at the published wall-clock time.
            moment = local_to_utc(day + timedelta(days=1), t, tz)
        return moment

    scheduled_at = at(scheduled)
    start = at(actual_start) if actual_start is not None else scheduled_at
    if actual_finish is not None:
        end = at(actual_finish, after=start)
        if end > start:
            return start, end, "actual"
    if planned_finish is not None:
        end = at(planned_finish, after=scheduled_at)
        if end > start:
            return start, end, "planned"
    return start, start + timedelta(seconds=default_duration), "default"


def _local(tag: str) -> str:
    """An element's name without any namespace."""
    return tag.rsplit("}", 1)[-1]


def _child(el: Element, name: str) -> Element | None:
    for child in el:
        if _local(child.tag) == name:
            return child
    return None


def _children(el: Element, name: str) -> list[Element]:
    return [child for child in el if _local(child.tag) == name]


def _text(el: Element, name: str) -> str:
    """The stripped text of child ``name`` ("" when missing: modern.gov writes empty values as
    an element holding only whitespace)."""
    child = _child(el, name)
    return " ".join((child.text or "").split()) if child is not None else ""


def parse_xml(body: bytes, *, what: str, url: str, root: str) -> Element:
    """Given a web service response body, return its root element, which must be ``root``.

    Raises MeetingSourceError (naming ``what`` and ``url``, quoting at most 200 characters of
    the body) for an HTML page, malformed or truncated XML, XML with a DOCTYPE or entities
    (refused, never expanded: defusedxml with ``forbid_dtd``), or another root element."""
    if looks_like_html("", body):
        raise MeetingSourceError(f"{what} at {url}: got an HTML page, not XML: {snippet(body)}")
    try:
        element = safe_xml.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MeetingSourceError(f"{what} at {url}: XML refused ({type(exc).__name__}: DTDs "
                                 f"and entities are not accepted)") from exc
    except (ParseError, ValueError) as exc:
        raise MeetingSourceError(f"{what} at {url}: malformed XML ({exc}): "
                                 f"{snippet(body)}") from exc
    if _local(element.tag) != root:
        raise MeetingSourceError(f"{what} at {url}: expected <{root}>, got "
                                 f"<{_local(element.tag)}>: {snippet(body)}")
    return element


@dataclass(frozen=True)
class Committee:
    """One entry of GetCommittees."""

    id: str
    title: str
    deleted: bool = False
    expired: bool = False
    category: str = ""


def parse_committees(root: Element) -> list[Committee]:
    """Given a parsed GetCommittees ``<committees>``, return every committee listed."""
    out = []
    for el in _children(root, "committee"):
        cid = _text(el, "committeeid")
        if not cid:
            continue
        out.append(Committee(id=cid, title=_text(el, "committeetitle"),
                             deleted=_text(el, "committeedeleted").lower() == "true",
                             expired=_text(el, "committeeexpired").lower() == "true",
                             category=_text(el, "committeecategory")))
    return out


@dataclass(frozen=True)
class MeetingStub:
    """One meeting as GetMeetings lists it (no finish time, location or attendees)."""

    id: str
    committee_id: str
    committee_title: str
    date: str
    time: str
    status: str


def parse_meeting_list(root: Element) -> list[MeetingStub]:
    """Given a parsed GetMeetings ``<getmeetings>``, return its meetings in document order."""
    out = []
    for committee in _children(root, "committee"):
        cid, title = _text(committee, "committeeid"), _text(committee, "committeetitle")
        holder = _child(committee, "committeemeetings")
        for el in _children(holder, "meeting") if holder is not None else []:
            mid = _text(el, "meetingid")
            if mid:
                out.append(MeetingStub(id=mid, committee_id=cid, committee_title=title,
                                       date=_text(el, "meetingdate"),
                                       time=_text(el, "meetingtime"),
                                       status=_text(el, "meetingstatus")))
    return out


def is_cancelled(status: str) -> bool:
    """Whether a meeting status means the meeting does not take place then."""
    low = status.lower()
    return any(word in low for word in _CANCELLED)


def meeting_url(site: str, committee_id: str, meeting_id: str) -> str:
    """The public page of a meeting on a modern.gov site."""
    return f"{site}/ieListDocuments.aspx?CId={committee_id}&MId={meeting_id}"


def meeting_from_stub(stub: MeetingStub, *, tz: ZoneInfo, default_duration: float,
                      site: str = "") -> Meeting:
    """Given a GetMeetings entry, return the Meeting it describes on its own: scheduled time,
    default duration, no location or attendees. Raises ValueError for an unreadable date or
    time."""
    day, at = parse_date(stub.date), parse_time(stub.time)
    if at is None:
        raise ValueError(f"meeting {stub.id} has no time")
    start, end, end_source = meeting_times(day, at, tz, default_duration)
    return Meeting(source=SOURCE, external_id=stub.id, title=stub.committee_title, start=start,
                   end=end, end_source=end_source, cancelled=is_cancelled(stub.status),
                   url=meeting_url(site, stub.committee_id, stub.id) if site else "")


def parse_meeting(root: Element, stub: MeetingStub, *, tz: ZoneInfo, default_duration: float,
                  site: str = "") -> Meeting:
    """Given a parsed GetMeeting ``<meeting>`` and its GetMeetings entry (for the committee
    title and id, which GetMeeting does not repeat), return the Meeting. Raises ValueError for
    a missing or unreadable date or time."""
    day = parse_date(_text(root, "meetingdate") or stub.date)
    scheduled = parse_time(_text(root, "meetingtime") or stub.time)
    if scheduled is None:
        raise ValueError(f"meeting {stub.id} has no time")
    start, end, end_source = meeting_times(
        day, scheduled, tz, default_duration,
        actual_start=_quiet_time(_text(root, "meetingactualstarttime")),
        planned_finish=_quiet_time(_text(root, "meetingplannedfinishtime")),
        actual_finish=_quiet_time(_text(root, "meetingactualfinishtime")))
    attendees = []
    holder = _child(root, "attendees")
    for el in _children(holder, "attendee") if holder is not None else []:
        name = " ".join(el.get("name", "").split())
        if name:
            attendees.append(Attendee(name=name, moderngov_id=el.get("memberid", "").strip(),
                                      attendance=el.get("attendance", "").strip(),
                                      role=el.get("roledescription", "").strip()))
    status = _text(root, "meetingstatus") or stub.status
    mid = _text(root, "meetingid") or stub.id
    return Meeting(source=SOURCE, external_id=mid, title=stub.committee_title, start=start,
                   end=end, end_source=end_source, cancelled=is_cancelled(status),
                   location=_text(root, "meetinglocation"), attendees=tuple(attendees),
                   url=meeting_url(site, stub.committee_id, mid) if site else "")


# --------------------------------------------------------------------------- client


def site_url(base_url: str) -> str:
    """Given a modern.gov site address, with or without a trailing ``/mgWebService.asmx``,
    return the site address without it and without a trailing slash."""
    url = base_url.strip().rstrip("/")
    if url.lower().endswith("/" + SERVICE.lower()):
        url = url[: -len(SERVICE) - 1]
    return url


class ModernGovClient:
    """Reads committees and meetings from one council's modern.gov web service.

    Given the site address (``https://democracy.example.gov.uk``, with or without
    ``/mgWebService.asmx``), the council's IANA timezone, the default meeting length in
    seconds, the HTTP timeout in seconds, an optional ``requests.Session``, the largest
    response accepted in bytes, and whether to read expired committees too.
    """

    def __init__(self, base_url: str, *, timezone: str, default_duration: float,
                 timeout: float = 20.0, session: requests.Session | None = None,
                 max_bytes: int = 5_000_000, include_expired: bool = False) -> None:
        self.site = site_url(base_url)
        if not self.site.lower().startswith(("http://", "https://")):
            raise MeetingSourceError(f"modern.gov address must be http(s)://, got "
                                     f"{snippet(base_url, 80)!r}")
        self.tz = zone(timezone)
        self.default_duration = float(default_duration)
        self.timeout = timeout
        self.session = session or requests.Session()
        self.max_bytes = max_bytes
        self.include_expired = include_expired
        #: one entry per web service call made: (operation, parameters)
        self.calls: list[tuple[str, dict[str, str]]] = []

    def _call(self, op: str, root: str, params: dict[str, str] | None = None) -> Element:
        """Call operation ``op`` and return its parsed root element ``root``; raise
        MeetingSourceError (SourceUnreachable when nothing answered)."""
        self.calls.append((op, dict(params or {})))
        got = fetch(f"{self.site}/{SERVICE}/{op}", what=f"modern.gov {op}",
                    session=self.session, timeout=self.timeout, max_bytes=self.max_bytes,
                    params=params)
        # Judge by the body first: a server that labels good XML text/html is still usable.
        xml_declared = got.body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")
        if looks_like_html("", got.body) or ("html" in got.content_type.lower()
                                             and not xml_declared):
            raise MeetingSourceError(f"modern.gov {op} at {got.url}: got an HTML page, not "
                                     f"XML (is the web service switched off?): "
                                     f"{snippet(got.body)}")
        return parse_xml(got.body, what=f"modern.gov {op}", url=got.url, root=root)

    def _committees(self) -> list[Committee]:
        return [c for c in parse_committees(self._call("GetCommittees", "committees"))
                if not c.deleted and (self.include_expired or not c.expired)]

    def committees(self) -> list[tuple[str, str]]:
        """Return ``(committeeid, title)`` of every committee that is not deleted (nor
        expired, unless ``include_expired``). Raises MeetingSourceError."""
        return [(c.id, c.title) for c in self._committees()]

    def meetings(self, start: date, end: date,
                 committee_ids: Iterable[str] | None = None) -> list[Meeting]:
        """Return the meetings from ``start`` to ``end`` (local dates, both included), in
        order of start, each with its times, location and attendees.

        Calls GetCommittees (unless ``committee_ids`` are given), GetMeetings per committee
        for the range, and GetMeeting per meeting. Raises MeetingSourceError when GetCommittees
        or any GetMeetings fails or the service stops answering; a GetMeeting answered with
        something unusable only degrades that meeting (see the module docstring).
        """
        if committee_ids is None:
            wanted = [c.id for c in self._committees()]
        else:
            wanted = list(committee_ids)
        params_range = {"sFromDate": start.strftime(DATE_FORMAT),
                        "sToDate": end.strftime(DATE_FORMAT)}
        stubs: dict[str, MeetingStub] = {}
        for cid in wanted:
            root = self._call("GetMeetings", "getmeetings", {"lCommitteeId": cid, **params_range})
            for stub in parse_meeting_list(root):
                stubs.setdefault(stub.id, stub)  # a joint meeting may be listed twice
        found: list[Meeting] = []
        for stub in stubs.values():
            meeting = self._meeting(stub)
            if meeting is not None and start <= meeting.start.astimezone(self.tz).date() <= end:
                found.append(meeting)
        found.sort(key=lambda m: (m.start, m.external_id))
        return found

    def meeting(self, meeting_id: str, *, committee_id: str = "", title: str = "") -> Meeting:
        """Return one meeting by its id from GetMeeting (``title`` and ``committee_id`` fill
        what GetMeeting does not say). Raises MeetingSourceError, also for a meeting without
        a readable date and time."""
        stub = MeetingStub(id=meeting_id, committee_id=committee_id, committee_title=title,
                           date="", time="", status="")
        root = self._call("GetMeeting", "meeting", {"lMeetingId": meeting_id})
        try:
            return parse_meeting(root, stub, tz=self.tz, default_duration=self.default_duration,
                                 site=self.site)
        except ValueError as exc:
            raise MeetingSourceError(f"modern.gov GetMeeting {meeting_id}: {exc}") from exc

    def _meeting(self, stub: MeetingStub) -> Meeting | None:
        """The full meeting for a GetMeetings entry, degraded to the entry alone when its
        GetMeeting is unusable, None when not even that has a date and time."""
        try:
            root = self._call("GetMeeting", "meeting", {"lMeetingId": stub.id})
            return parse_meeting(root, stub, tz=self.tz, default_duration=self.default_duration,
                                 site=self.site)
        except SourceUnreachable:
            raise
        except (MeetingSourceError, ValueError) as exc:
            error = str(exc)
        log.warning("meetings.meeting_unreadable", source=SOURCE, site=self.site,
                    meeting=stub.id, error=error)
        try:
            return meeting_from_stub(stub, tz=self.tz, default_duration=self.default_duration,
                                     site=self.site)
        except ValueError as exc:
            log.warning("meetings.meeting_without_time", source=SOURCE, site=self.site,
                        meeting=stub.id, error=str(exc))
            return None

