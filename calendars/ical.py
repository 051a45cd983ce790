"""Meetings from iCalendar feeds (RFC 5545): a council's or a member's published calendar.

Parsing is :mod:`icalendar`'s; recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides,
VTIMEZONE/TZID, X-WR-TIMEZONE) is expanded by :mod:`recurring_ical_events`, which gives one
event per occurrence. Choices:

* All-day events (DATE values) are skipped: they carry no time, so they cannot say when a
  member is in a meeting (an "awayday" is not a sitting).
* Floating times (no TZID, no ``Z``) are the council's local time, converted with ``fold=0``
  like modern.gov times (:func:`calendars.base.local_to_utc`).
* End: DTEND, else DTSTART + DURATION (``end_source`` "calendar"); none of them, or an end
  not after the start (a zero-length event is what RFC 5545 makes of a DTSTART alone), gives
  start + ``default_duration`` ("default").
* ``external_id`` is ``UID/<occurrence>`` where the occurrence is its RECURRENCE-ID (its
  original slot) in UTC as ``YYYYMMDDTHHMMSSZ``, else its DTSTART: a single occurrence moved
  to another day keeps its id, so the store updates it rather than adding a second meeting.
* ``STATUS:CANCELLED`` on the event, or on the RECURRENCE-ID override of one occurrence, makes
  that meeting ``cancelled``.
* An event without a readable DTSTART is left out (``meetings.event_unreadable`` is logged);
  the rest of the feed is still read.
* ATTENDEE properties with a CN become attendees (without a CN there is no name to match):
  PARTSTAT NEEDS-ACTION (the default) -> "Expected", ACCEPTED -> "Accepted", DECLINED ->
  "Apologies", TENTATIVE -> "Tentative", DELEGATED -> "Delegated"; ROLE is the role.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import requests

from calendars.base import Attendee, Meeting, fetch, looks_like_html, snippet, zone
from watcher import logs
from watcher.errors import MeetingSourceError

log = logs.get(__name__)

_PARTSTAT = {
    "NEEDS-ACTION": "Expected",
    "ACCEPTED": "Accepted",
    "DECLINED": "Apologies",
    "TENTATIVE": "Tentative",
    "DELEGATED": "Delegated",
    "COMPLETED": "Present",
    "IN-PROCESS": "Present",
}
_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"


def _is_calendar(body: bytes) -> bool:
    return body.lstrip(_BOM_AND_SPACE)[:15].upper() == b"BEGIN:VCALENDAR"


def _to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value in UTC; a floating (naive) one is local to the council."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz, fold=0)
    return value.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _list(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    return value if isinstance(value, list) else (value,)


def _attendees(component: Any) -> tuple[Attendee, ...]:
    out = []
    for prop in _list(component.get("ATTENDEE")):
        params = getattr(prop, "params", {}) or {}
        name = " ".join(str(params.get("CN", "")).strip().strip('"').split())
        if not name:
            continue
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        out.append(Attendee(name=name, attendance=_PARTSTAT.get(partstat, partstat.title()),
                            role=str(params.get("ROLE", ""))))
    return tuple(out)


def read_ical(data: bytes | str, *, source: str, timezone: str, start: datetime,
              end: datetime, default_duration: float) -> list[Meeting]:
    """Return the meeting occurrences overlapping ``[start, end)`` in an iCalendar document.

    Given the document, the ``source`` to record on each meeting (``"ical:<url>"``), the
    council's IANA timezone (for floating times), the window (timezone-aware; a naive one is
    taken as UTC) and the default meeting length in seconds. Returns one Meeting per
    occurrence, in order of start (see the module docstring for the rules). Raises
    MeetingSourceError for a document that is not iCalendar or cannot be expanded.
    """
    tz = zone(timezone)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not _is_calendar(raw):
        raise MeetingSourceError(f"{source}: not an iCalendar document (no BEGIN:VCALENDAR): "
                                 f"{snippet(raw)}")
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError, ... on junk
        raise MeetingSourceError(f"{source}: unreadable iCalendar ({type(exc).__name__}: "
                                 f"{snippet(str(exc))})") from exc
    _drop_undated(calendar, source)
    start, end = _aware(start), _aware(end)
    # Ask for a wider window: floating times are compared by the library in its own way, and
    # an event without an end overlaps the window once it gets the default length.
    margin = timedelta(days=1, seconds=max(default_duration, 0.0))
    try:
        occurrences = list(recurring_ical_events.of(calendar).between(start - margin,
                                                                      end + margin))
    except Exception as exc:  # a broken RRULE or TZID surfaces from deep in the expansion
        raise MeetingSourceError(f"{source}: could not expand the calendar's events "
                                 f"({type(exc).__name__}: {snippet(str(exc))})") from exc
    found: dict[str, Meeting] = {}
    for event in occurrences:
        meeting = _meeting(event, source=source, tz=tz, default_duration=default_duration)
        if meeting is not None and meeting.start < end and meeting.end > start:
            found.setdefault(meeting.external_id, meeting)
    return sorted(found.values(), key=lambda m: (m.start, m.external_id))


def _drop_undated(calendar: Any, source: str) -> None:
    """Remove the events without a readable DTSTART (icalendar drops a value it cannot
    parse), logging each: one broken event must not cost the feed its other meetings, and
    the recurrence expansion stops at the first such event."""
    kept = []
    for component in calendar.subcomponents:
        if getattr(component, "name", "") == "VEVENT":
            value = getattr(component.get("DTSTART"), "dt", None)
            if not isinstance(value, date):
                log.warning("meetings.event_unreadable", source=source,
                            uid=_text(component, "UID")[:200],
                            error="no readable DTSTART")
                continue
        kept.append(component)
    calendar.subcomponents[:] = kept


def _meeting(event: Any, *, source: str, tz: ZoneInfo, default_duration: float
             ) -> Meeting | None:
    """One occurrence as a Meeting; None for an all-day or undated one."""
    dtstart = event.get("DTSTART")
    if dtstart is None or not isinstance(dtstart.dt, datetime):
        return None  # all-day (a DATE) or no start at all
    begin = _to_utc(dtstart.dt, tz)
    finish: datetime | None = None
    dtend, duration = event.get("DTEND"), event.get("DURATION")
    if dtend is not None and isinstance(dtend.dt, datetime):
        finish = _to_utc(dtend.dt, tz)
    elif duration is not None and isinstance(duration.dt, timedelta):
        finish = begin + duration.dt
    if finish is not None and finish > begin:
        end_source = "calendar"
    else:
        finish, end_source = begin + timedelta(seconds=default_duration), "default"
    rid = event.get("RECURRENCE-ID")
    slot = rid.dt if rid is not None else dtstart.dt
    slot_utc = _to_utc(slot, tz) if isinstance(slot, datetime) else begin
    uid = _text(event, "UID") or f"no-uid:{_text(event, 'SUMMARY')}"
    return Meeting(source=source, external_id=f"{uid}/{slot_utc:%Y%m%dT%H%M%SZ}",
                   title=_text(event, "SUMMARY"), start=begin, end=finish,
                   end_source=end_source,
                   cancelled=_text(event, "STATUS").upper() == "CANCELLED",
                   location=_text(event, "LOCATION"), attendees=_attendees(event),
                   url=_text(event, "URL"))


def fetch_ical(url: str, *, timeout: float = 20.0, session: requests.Session | None = None,
               max_bytes: int = 5_000_000) -> bytes:
    """Download an iCalendar feed and return its bytes.

    Given an ``http``/``https`` URL (``webcal://`` is read as ``https://``, as calendar
    apps do; ``file://`` and anything else is refused), the timeout in seconds, an optional
    session and the size limit. Streams the body and stops at ``max_bytes``. Raises
    MeetingSourceError for another scheme, a refused connection, a timeout, an HTTP error,
    an HTML page or any other body that is not iCalendar, or a body over the limit. Messages
    leave out the URL's query (a private feed's key may be in it).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "webcal":
        url = "https" + url[len("webcal"):]
    elif scheme not in ("http", "https"):
        raise MeetingSourceError(f"iCalendar feed {snippet(url.split('?')[0], 80)}: only "
                                 f"http(s) URLs are read, got "
                                 f"{scheme + ':' if scheme else 'no scheme'}")
    got = fetch(url, what="iCalendar feed", session=session, timeout=timeout,
                max_bytes=max_bytes, hide_query=True)
    if looks_like_html(got.content_type, got.body) and not _is_calendar(got.body):
        raise MeetingSourceError(f"iCalendar feed at {got.url}: got an HTML page, not a "
                                 f"calendar: {snippet(got.body)}")
    if not _is_calendar(got.body):
        raise MeetingSourceError(f"iCalendar feed at {got.url}: not an iCalendar document "
                                 f"(Content-Type {got.content_type or 'none'}): "
                                 f"{snippet(got.body)}")
    return got.body

