"""What a meeting is, whether a member attends it, and the pieces both calendar readers share.

A :class:`Meeting` is one occurrence of a council or committee meeting with its start and end
in UTC and the attendees its source published. :func:`attendance` decides whether a member
attends: by modern.gov member id, else by name, else by the member's configured ``attends``
list of committee titles.

Local times: councils publish wall-clock times in their own timezone. :func:`local_to_utc`
converts them with :mod:`zoneinfo` and ``fold=0`` (PEP 495), which makes the two awkward
cases deterministic:

* a time that does not exist (in the spring-forward gap, e.g. 01:30 on 2026-03-29 in
  Europe/London) is read with the offset in force *before* the change, so 01:30 -> 01:30 UTC
  (which is 02:30 BST);
* a time that happens twice (the autumn fold, e.g. 01:30 on 2026-10-25) is the *first* of the
  two, so 01:30 -> 00:30 UTC (01:30 BST).

No council meets at half past one in the morning, so either choice is harmless; what matters
is that the same input always gives the same instant.
"""

from __future__ import annotations

import re
import time as _time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from watcher.errors import MeetingSourceError
from watcher.httpread import TooLarge, TooSlow, read_capped
from watcher.logs import redact_text

#: How many characters of a body an error message may quote.
SNIPPET = 200


class SourceUnreachable(MeetingSourceError):
    """The calendar's server could not be reached or did not answer in time (as opposed to
    answering with something unusable): nothing else from it will work either."""


@dataclass(frozen=True)
class Attendee:
    """One person a meeting lists, with their attendance as published."""

    name: str                 # as published, e.g. "Councillor Basil Curley"
    moderngov_id: str = ""    # modern.gov memberid, e.g. "192"
    attendance: str = ""      # as published: "Expected", "Present", "Apologies", "Absent", ...
    role: str = ""            # as published, e.g. "Committee Member", "Chair", "REQ-PARTICIPANT"


@dataclass(frozen=True)
class Meeting:
    """One occurrence of a meeting. ``start``/``end`` are timezone-aware UTC."""

    source: str               # "moderngov" or "ical:<url>"
    external_id: str          # modern.gov meetingid; iCal: "<UID>/<occurrence start, UTC>"
    title: str                # committee title (modern.gov) or SUMMARY (iCal)
    start: datetime
    end: datetime
    end_source: str           # "actual" | "planned" | "default" | "calendar"
    cancelled: bool = False
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    url: str = ""             # a human link to the meeting page when known


class Attendance(str, Enum):
    """Whether a member attends a meeting."""

    ATTENDING = "attending"
    APOLOGIES = "apologies"
    NOT_ATTENDING = "not_attending"


# --------------------------------------------------------------------------- attendance

#: Words that are not part of anyone's name: honorifics before it, honours after it.
_TITLES = frozenset({
    "cllr", "cllrs", "councillor", "councilor", "mr", "mrs", "ms", "miss", "mx", "dr", "sir",
    "dame", "lord", "lady", "rev", "revd", "reverend", "prof", "professor",
})
_HONOURS = frozenset({"obe", "mbe", "cbe", "bem", "jp", "dl", "kc", "qc"})


def name_tokens(name: str) -> tuple[str, ...]:
    """Given a person's name as published or configured, return its comparable words:
    accents dropped, lower case, apostrophes removed ("O'Brien" = "OBrien"), other
    punctuation a word break ("Smith-Jones" = "Smith Jones"), and leading titles (Cllr,
    Councillor, Mr, Dr, ...) and trailing honours (OBE, JP, ...) removed."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"['\u2019`]", "", text)
    words = re.sub(r"[^0-9a-z]+", " ", text).split()
    while words and words[0] in _TITLES:
        words.pop(0)
    while words and words[-1] in _HONOURS:
        words.pop()
    return tuple(words)


def _initials_compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Same number of words, same surname (the last word), and each other word equal or an
    initial of the other ("B Curley" ~ "Basil Curley"). Deliberately no more than that."""
    if len(a) != len(b) or len(a) < 2 or a[-1] != b[-1]:
        return False
    for x, y in zip(a[:-1], b[:-1], strict=True):
        if x == y:
            continue
        if len(x) == 1 and y.startswith(x) or len(y) == 1 and x.startswith(y):
            continue
        return False
    return True


def _by_name(attendees: Sequence[Attendee], name: str, moderngov_id: str) -> Attendee | None:
    """The one attendee who is the member by name, or None when nobody or more than one
    person fits. An attendee whose published member id differs from the member's own id is
    someone else with the same name, and never matches."""
    target = name_tokens(name)
    if not target:
        return None
    people = [a for a in attendees
              if not (moderngov_id and a.moderngov_id and a.moderngov_id != moderngov_id)]
    exact = [a for a in people if name_tokens(a.name) == target]
    candidates = exact or [a for a in people if _initials_compatible(name_tokens(a.name), target)]
    # The same person listed twice (e.g. once as member, once as substitute) is still one.
    distinct = {(a.moderngov_id or name_tokens(a.name)) for a in candidates}
    return candidates[0] if len(distinct) == 1 else None


def _source_label(meeting: Meeting) -> str:
    return "modern.gov" if meeting.source == "moderngov" else "calendar"


def _verdict(attendee: Attendee, meeting: Meeting, how: str) -> tuple[Attendance, str]:
    """The verdict for a matched attendee from what their attendance says."""
    said = " ".join(attendee.attendance.split())
    low = said.lower()
    where = _source_label(meeting)
    if "absent" in low:
        return Attendance.NOT_ATTENDING, f"recorded as {said} ({where})"
    if "apolog" in low:
        return Attendance.APOLOGIES, f"sent apologies ({where})"
    if "not required" in low:
        return Attendance.APOLOGIES, f"not required ({where})"
    if "declin" in low:
        return Attendance.APOLOGIES, f"declined ({where})"
    return Attendance.ATTENDING, f"listed as {said or 'attendee'} in {where} ({how})"


def attendance(meeting: Meeting, *, name: str, moderngov_id: str = "",
               attends: Sequence[str] = ()) -> tuple[Attendance, str]:
    """Whether a member attends ``meeting``, with a short human reason.

    Given the meeting and the member's name, modern.gov member id (optional) and ``attends``
    list (committee titles from config; each a case-insensitive substring of the meeting
    title). Returns ``(verdict, reason)``:

    * a cancelled meeting: NOT_ATTENDING (nobody attends it);
    * the member found among the attendees, first by ``moderngov_id``, else by name (titles,
      case and punctuation ignored; an initial for a forename is accepted only when exactly
      one attendee fits): APOLOGIES if their attendance says apologies, not required or
      declined, NOT_ATTENDING if it says absent, else ATTENDING ("Expected", "Present",
      "In attendance", blank, ...);
    * else the first ``attends`` entry found in the title: ATTENDING;
    * else NOT_ATTENDING.
    """
    if meeting.cancelled:
        return Attendance.NOT_ATTENDING, "meeting cancelled"
    if moderngov_id:
        for attendee in meeting.attendees:
            if attendee.moderngov_id and attendee.moderngov_id == moderngov_id:
                return _verdict(attendee, meeting, f"member {moderngov_id}")
    found = _by_name(meeting.attendees, name, moderngov_id)
    if found is not None:
        return _verdict(found, meeting, f'as "{found.name}"')
    title = meeting.title.casefold()
    for entry in attends:
        wanted = entry.strip()
        if wanted and wanted.casefold() in title:
            return Attendance.ATTENDING, f'attends "{wanted}" (config)'
    if meeting.attendees:
        return Attendance.NOT_ATTENDING, "not listed among the attendees, no attends entry matches"
    return Attendance.NOT_ATTENDING, "no attendees published, no attends entry matches"


# --------------------------------------------------------------------------- local time


def zone(name: str) -> ZoneInfo:
    """Given an IANA timezone name ("Europe/London"), return it; raise MeetingSourceError
    for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MeetingSourceError(f"unknown timezone {name!r}") from exc


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Given a local date and wall-clock time in ``tz``, return the UTC instant. Uses
    ``fold=0``: a nonexistent time takes the offset before the change, an ambiguous one is
    its first occurrence (see the module docstring)."""
    return datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=tz, fold=0) \
        .astimezone(UTC)


# --------------------------------------------------------------------------- HTTP


def snippet(body: bytes | str, limit: int = SNIPPET) -> str:
    """Given a response body, return at most ``limit`` characters of it on one line, for an
    error message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def looks_like_html(content_type: str, body: bytes) -> bool:
    """Whether a response is an HTML page (an IIS error page, a login or maintenance page):
    by its Content-Type, or by a body that starts like one whatever the header says."""
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


@dataclass(frozen=True)
class Fetched:
    """A successful HTTP response: final URL, Content-Type and the whole body."""

    url: str
    content_type: str
    body: bytes


def _shown(url: str, hide_query: bool) -> str:
    """A URL fit for a message: no password, and no query when it may hold a key."""
    if hide_query:
        url = url.split("?", 1)[0].split("#", 1)[0]
    return redact_text(url)


def fetch(url: str, *, what: str, session: requests.Session | None, timeout: float,
          max_bytes: int, params: Mapping[str, str] | None = None,
          hide_query: bool = False) -> Fetched:
    """GET ``url`` and return its body, read as a stream of at most ``max_bytes``.

    Given the URL, a short description for messages (``what``, e.g. "modern.gov GetMeetings"),
    an optional session, the timeout in seconds (for connecting, for each read, and for the
    whole exchange), the size limit, and whether messages must leave out the URL's query
    (a private feed's key). Raises MeetingSourceError naming ``what`` and the URL
    for a refused connection, a timeout, an HTTP error status or a body over the limit.
    A refused connection, timeout or broken connection is a :class:`SourceUnreachable`.
    Whether the body is the right kind of document is the caller's business.
    """
    if session is None:
        with requests.Session() as own:
            return fetch(url, what=what, session=own, timeout=timeout, max_bytes=max_bytes,
                         params=params, hide_query=hide_query)
    http = session
    shown = _shown(url, hide_query)
    deadline = _time.monotonic() + timeout
    try:
        response = http.get(url, params=params, timeout=timeout, stream=True,
                            allow_redirects=True)
    except requests.Timeout as exc:
        raise SourceUnreachable(f"{what} at {shown}: no answer within {timeout:g} s") from exc
    except requests.ConnectionError as exc:
        raise SourceUnreachable(f"{what} at {shown}: could not connect (service down or "
                                f"unreachable): {type(exc).__name__}") from exc
    except requests.RequestException as exc:
        raise MeetingSourceError(f"{what} at {shown}: request failed: "
                                 f"{type(exc).__name__}: {snippet(str(exc))}") from exc
    try:
        shown = _shown(response.url or url, hide_query)
        if response.status_code >= 400:
            body = _read_some(response, SNIPPET * 4)
            raise MeetingSourceError(f"{what} at {shown}: HTTP {response.status_code} "
                                     f"{response.reason or ''}: {snippet(body)}".rstrip(": "))
        try:
            body = read_capped(response, max_bytes=max_bytes, deadline=deadline)
        except TooLarge as exc:
            size = (f"{exc.declared} bytes, limit {max_bytes}" if exc.declared is not None
                    else f"over {max_bytes} bytes")
            raise MeetingSourceError(f"{what} at {shown}: response too large ({size})") \
                from None
        except TooSlow:
            raise SourceUnreachable(f"{what} at {shown}: body not received within "
                                    f"{timeout:g} s") from None
        except requests.Timeout as exc:
            raise SourceUnreachable(f"{what} at {shown}: no answer within {timeout:g} s") \
                from exc
        except requests.RequestException as exc:
            raise SourceUnreachable(f"{what} at {shown}: connection broken while reading: "
                                    f"{type(exc).__name__}") from exc
        return Fetched(shown, response.headers.get("Content-Type", ""), body)
    finally:
        response.close()


def _read_some(response: requests.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of an error response's body (errors are best effort)."""
    try:
        out = b""
        for chunk in response.iter_content(chunk_size=limit):
            out += chunk
            if len(out) >= limit:
                break
        return out[:limit]
    except requests.RequestException:
        return b""
