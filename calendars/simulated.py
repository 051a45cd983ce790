"""A real HTTP server speaking the modern.gov web service wire format, and serving iCal feeds.

``SimulatedModernGov`` answers ``GET /mgWebService.asmx/GetCommittees``, ``GetMeetings``
(``lCommitteeId``, ``sFromDate``, ``sToDate`` as ``dd/mm/yyyy``, both dates included) and
``GetMeeting`` (``lMeetingId``) from the committees and meetings it is given, in the element
names and layout of the real Manchester City Council responses in
``tests/fixtures/moderngov/`` (counts written with a leading space, empty values as an element
holding only whitespace, attendees as attributes). Like ASP.NET's ``.asmx`` handler it
matches operation and parameter names without regard to case, and answers a missing or
unreadable parameter or an unknown operation with HTTP 500 and a ``text/plain``
``System.InvalidOperationException`` message. ``add_ical(path, text)`` serves an iCalendar
document at ``path`` as ``text/calendar``, so one server can stand in for both kinds of
calendar in tests and in the demo.

Faults, for every request (``mode``) or for one meeting's GetMeeting (``meeting_modes``):

* ``"ok"`` — answer normally;
* ``"down"`` — HTTP 503 with the short HTML body HTTP.sys sends when the site is stopped;
* ``"reset"`` — close the connection without answering;
* ``"html"`` — HTTP 200, ``text/html``: an IIS error page where XML was expected;
* ``"malformed"`` — the right XML cut off half way;
* ``"doctype"`` — XML with a DOCTYPE declaring entities (must be refused, not expanded);
* ``"error"`` — HTTP 500 ``text/plain`` (a server-side exception).

``delay`` holds every answer that many seconds first (a slow or hung service; a client
timeout test). ``requests_log`` has one ``(operation, parameters)`` per request, with
parameter names as sent; an iCal request is logged as ``("ical", {"path": path})``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape, quoteattr

from watcher import logs
from watcher.localserver import LocalHTTPServer

log = logs.get(__name__)

MODES = ("ok", "down", "reset", "html", "malformed", "doctype", "error")
_XML_TYPE = "text/xml; charset=utf-8"
_IIS_ERROR_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>IIS 10.0 Detailed Error - 500.19 - Internal Server Error</title></head>
<body><div id="header"><h1>Server Error in Application "DEMOCRACY"</h1></div>
<div class="content-container"><h3>HTTP Error 500.19 - Internal Server Error</h3>
<h4>The requested page cannot be accessed because the related configuration data for the page
is invalid.</h4></div></body></html>
"""
_SERVICE_UNAVAILABLE = ("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/"
                        "TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Service Unavailable"
                        "</TITLE></HEAD><BODY><h2>Service Unavailable</h2><hr><p>HTTP Error "
                        "503. The service is unavailable.</p></BODY></HTML>\r\n")
_DOCTYPE_XML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE committees [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
]>
<committees><committeescount>&b;</committeescount></committees>
"""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class SimCommittee:
    """A committee as GetCommittees lists it."""

    id: str
    title: str
    deleted: bool = False
    expired: bool = False
    category: str = "Governance and Decision Making Committees"


@dataclass(frozen=True)
class SimAttendee:
    """An attendee of a meeting as GetMeeting lists it."""

    member_id: str
    name: str
    attendance: str = "Expected"
    role: str = "Committee Member"
    party: str = ""
    ward: str = ""


TimeLike = str | time | None


@dataclass(frozen=True)
class SimMeeting:
    """A meeting. ``date`` is ``"dd/mm/yyyy"``, a ``date``, or a local ``datetime`` (which
    also gives ``time`` when that is None). Times are strings as a clerk types them
    ("10.00 am", "2.00 pm", "12 noon"), ``time`` objects (written "2.00 pm"), or ""/None for
    none. All local to the council."""

    id: str
    committee_id: str
    date: str | date | datetime
    time: TimeLike = None
    status: str = "Confirmed"
    location: str = ""
    planned_finish: TimeLike = ""
    actual_start: TimeLike = ""
    actual_finish: TimeLike = ""
    attendees: tuple[SimAttendee, ...] = ()

    def day(self) -> date:
        """The meeting's local date."""
        if isinstance(self.date, datetime):
            return self.date.date()
        if isinstance(self.date, date):
            return self.date
        return datetime.strptime(self.date.strip(), "%d/%m/%Y").date()

    def date_text(self) -> str:
        return self.date.strip() if isinstance(self.date, str) else f"{self.day():%d/%m/%Y}"

    def time_text(self) -> str:
        if self.time is None and isinstance(self.date, datetime):
            return clock_text(self.date.time())
        return clock_text(self.time)


def clock_text(value: TimeLike) -> str:
    """A time as modern.gov writes it: ``10.00 am``, ``2.30 pm``; strings pass unchanged."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    hour = value.hour % 12 or 12
    return f"{hour}.{value.minute:02d} {'am' if value.hour < 12 else 'pm'}"


# --------------------------------------------------------------------------- rendering


def _el(name: str, value: str, indent: str) -> str:
    """One element; an empty one as modern.gov writes it (holding a newline and indent)."""
    if value == "":
        return f"{indent}<{name}>\n{indent}</{name}>\n"
    return f"{indent}<{name}>{escape(value)}</{name}>\n"


def _bool(value: bool) -> str:
    return "True" if value else "False"


def render_committees(committees: list[SimCommittee]) -> str:
    """The GetCommittees document for ``committees``."""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<committees>\n',
           f"  <committeescount> {len(committees)}</committeescount>\n"]
    for c in committees:
        out.append("  <committee>\n")
        out.append(_el("committeeid", c.id, "    "))
        out.append(_el("committeetitle", c.title, "    "))
        out.append(_el("committeedeleted", _bool(c.deleted), "    "))
        out.append(_el("committeeexpired", _bool(c.expired), "    "))
        out.append(_el("committeecategory", c.category, "    "))
        out.append("  </committee>\n")
    out.append("</committees>\n")
    return "".join(out)


def render_meeting_list(committee: SimCommittee | None, meetings: list[SimMeeting]) -> str:
    """The GetMeetings document: one committee (None: not known) and its meetings."""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<getmeetings>\n',
           f"  <meetingscount> {len(meetings)}</meetingscount>\n",
           f"  <committeescount> {0 if committee is None else 1}</committeescount>\n"]
    if committee is not None:
        out.append("  <committee>\n")
        out.append(_el("committeeid", committee.id, "    "))
        out.append(_el("committeetitle", committee.title, "    "))
        out.append(f"    <committeemeetingcount> {len(meetings)}</committeemeetingcount>\n")
        out.append("    <committeemeetings>\n")
        for m in meetings:
            out.append("      <meeting>\n")
            out.append(_el("meetingid", m.id, "        "))
            out.append(_el("meetingdate", m.date_text(), "        "))
            out.append(_el("meetingstatus", m.status, "        "))
            out.append(_el("meetingtime", m.time_text(), "        "))
            out.append(_el("iswebcast", "False", "        "))
            out.append("      </meeting>\n")
        out.append("    </committeemeetings>\n  </committee>\n")
    out.append("</getmeetings>\n")
    return "".join(out)


def render_meeting(m: SimMeeting, base_url: str = "") -> str:
    """The GetMeeting document for one meeting."""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<meeting>\n']
    ind = "  "
    out.append(_el("meetingid", m.id, ind))
    out.append(_el("meetingdate", m.date_text(), ind))
    out.append(_el("meetingstatus", m.status, ind))
    out.append(_el("isdisplayallowed", "True", ind))
    out.append(_el("meetingtime", m.time_text(), ind))
    out.append(_el("meetingactualstarttime", clock_text(m.actual_start), ind))
    out.append(_el("meetingplannedfinishtime", clock_text(m.planned_finish), ind))
    out.append(_el("meetingactualfinishtime", clock_text(m.actual_finish), ind))
    out.append(_el("meetinglocation", m.location, ind))
    out.append(_el("iswebcast", "False", ind))
    out.append(_el("agendaid", m.id, ind))
    out.append(_el("agendapublished", "False", ind))
    out.append(_el("decisionpublished", "False", ind))
    out.append(_el("minutepublished", "False", ind))
    out.append(_el("meetingroom", "", ind))
    out.append(_el("agendaitems", "", ind))
    out.append("  <attendees>\n")
    for a in m.attendees:
        attrs = (f'membertype="U" memberid={quoteattr(a.member_id)} name={quoteattr(a.name)} '
                 f"roledescription={quoteattr(a.role)} attendance={quoteattr(a.attendance)} "
                 f"politicalparty={quoteattr(a.party)} ward={quoteattr(a.ward)}")
        out.append(f"    <attendee {attrs}>\n")
        out.append(_el("url", f"{base_url}/mgUserInfo.aspx?UID={a.member_id}", "      "))
        out.append("    </attendee>\n")
    out.append("  </attendees>\n</meeting>\n")
    return "".join(out)


# --------------------------------------------------------------------------- server


class _Reply:
    """What to send: status, Content-Type and body, or ``reset`` to hang up instead."""

    def __init__(self, status: int, content_type: str, body: str | bytes,
                 reset: bool = False) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.reset = reset


def _asmx_error(message: str) -> _Reply:
    """What ASP.NET's .asmx handler sends for a bad request: 500, text/plain, the exception."""
    return _Reply(500, "text/plain; charset=utf-8",
                  f"System.InvalidOperationException: {message}\r\n"
                  "   at System.Web.Services.Protocols.HttpServerProtocol.ReadParameters()\r\n"
                  "   at System.Web.Services.Protocols.WebServiceHandler.CoreProcessRequest()"
                  "\r\n")


def _fault(mode: str, normal: str) -> _Reply:
    """The reply for a fault ``mode`` in place of the ``normal`` XML document."""
    if mode == "down":
        return _Reply(503, "text/html; charset=us-ascii", _SERVICE_UNAVAILABLE)
    if mode == "reset":
        return _Reply(0, "", b"", reset=True)
    if mode == "html":
        return _Reply(200, "text/html; charset=utf-8", _IIS_ERROR_PAGE)
    if mode == "malformed":
        return _Reply(200, _XML_TYPE, normal[: max(len(normal) // 2, 1)])
    if mode == "doctype":
        return _Reply(200, _XML_TYPE, _DOCTYPE_XML)
    if mode == "error":
        return _Reply(500, "text/plain; charset=utf-8",
                      "System.NullReferenceException: Object reference not set to an instance "
                      "of an object.\r\n   at mgWebService.GetMeeting(Int32 lMeetingId)\r\n")
    return _Reply(200, _XML_TYPE, normal)


class SimulatedModernGov(LocalHTTPServer):
    """A modern.gov web service (and iCal feed host) on 127.0.0.1 (see the module docstring).

    Given the committees and meetings to serve. ``mode``, ``meeting_modes`` and ``delay``
    may be changed while it runs.
    """

    def __init__(self, committees: list[SimCommittee], meetings: list[SimMeeting]) -> None:
        self.committees = list(committees)
        self.meetings = list(meetings)
        self.mode: str = "ok"
        #: per meeting id, a fault mode for its GetMeeting only
        self.meeting_modes: dict[str, str] = {}
        #: seconds every answer is held before it is sent
        self.delay: float = 0.0
        self.requests_log: list[tuple[str, dict[str, str]]] = []
        #: path -> (body, Content-Type)
        self.icals: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    thread_name = "simulated-moderngov"

    def _on_start(self) -> None:
        log.info("simulated_moderngov.start", base_url=self.base_url,
                 committees=len(self.committees), meetings=len(self.meetings))

    def _on_stop(self) -> None:
        log.info("simulated_moderngov.stop")

    def add_ical(self, path: str, text: str | bytes,
                 content_type: str = "text/calendar; charset=utf-8") -> str:
        """Serve ``text`` at ``path`` (e.g. ``/calendar.ics``) with ``content_type``; return
        the path. Its full URL is ``base_url + path``."""
        path = "/" + path.lstrip("/")
        body = text.encode("utf-8") if isinstance(text, str) else text
        with self._lock:
            self.icals[path] = (body, content_type)
        return path

    def ops(self) -> list[str]:
        """The operations requested so far, in order."""
        with self._lock:
            return [op for op, _ in self.requests_log]

    # ----------------------------------------------------------------- answers

    def _log(self, op: str, params: dict[str, str]) -> None:
        with self._lock:
            self.requests_log.append((op, dict(params)))

    def answer(self, path: str, params: dict[str, str]) -> _Reply:
        """The reply for a GET of ``path`` with query ``params``."""
        if path in self.icals:
            self._log("ical", {"path": path})
            body, ctype = self.icals[path]
            if self.mode == "ok":
                return _Reply(200, ctype, body)
            return _fault(self.mode, body.decode("utf-8", "replace"))
        parts = [p for p in path.split("/") if p]
        if len(parts) != 2 or parts[0].lower() != "mgwebservice.asmx":
            self._log("?", {"path": path})
            return _Reply(404, "text/html; charset=utf-8",
                          "<html><body><h1>404 - File or directory not found.</h1></body></html>")
        op = parts[1]
        self._log(op, params)
        lower = {k.lower(): v for k, v in params.items()}
        name = op.lower()
        if name == "getcommittees":
            return _fault(self.mode, render_committees(self.committees))
        if name == "getmeetings":
            return self._get_meetings(lower)
        if name == "getmeeting":
            return self._get_meeting(lower)
        return _asmx_error(f"Request format is unrecognized for URL unexpectedly ending in "
                           f"'/{op}'.")

    def _get_meetings(self, params: dict[str, str]) -> _Reply:
        for required in ("lcommitteeid", "sfromdate", "stodate"):
            if required not in params:
                real = {"lcommitteeid": "lCommitteeId", "sfromdate": "sFromDate",
                        "stodate": "sToDate"}[required]
                return _asmx_error(f"Missing parameter: {real}.")
        try:
            committee_id = str(int(params["lcommitteeid"]))
        except ValueError:
            return _asmx_error(f"Cannot convert {params['lcommitteeid']} to System.Int32.")
        try:
            first = datetime.strptime(params["sfromdate"].strip(), "%d/%m/%Y").date()
            last = datetime.strptime(params["stodate"].strip(), "%d/%m/%Y").date()
        except ValueError:
            return _Reply(500, "text/plain; charset=utf-8",
                          "System.FormatException: String was not recognized as a valid "
                          "DateTime.\r\n")
        committee = next((c for c in self.committees if c.id == committee_id), None)
        found = sorted((m for m in self.meetings
                        if m.committee_id == committee_id and first <= m.day() <= last),
                       key=lambda m: (m.day(), m.id))
        return _fault(self.mode, render_meeting_list(committee, found if committee else []))

    def _get_meeting(self, params: dict[str, str]) -> _Reply:
        if "lmeetingid" not in params:
            return _asmx_error("Missing parameter: lMeetingId.")
        meeting_id = params["lmeetingid"].strip()
        meeting = next((m for m in self.meetings if m.id == meeting_id), None)
        if meeting is None:
            return _fault("error", "")
        mode = self.mode if self.mode != "ok" else self.meeting_modes.get(meeting_id, "ok")
        base = self.base_url if self.running else ""
        return _fault(mode, render_meeting(meeting, base))


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into ``sim.answer`` calls and writes the replies."""

    sim: SimulatedModernGov
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    # Headers and body go out in two writes; without TCP_NODELAY the second waits ~40 ms for
    # the client's delayed ACK on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # stay quiet: pytest and the demo have their own output

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._respond(split.path, dict(parse_qsl(split.query, keep_blank_values=True)))

    def do_POST(self) -> None:
        # .asmx also takes HttpPost with a form body; same answers.
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        self._respond(split.path, params)

    def _respond(self, path: str, params: dict[str, str]) -> None:
        try:
            reply = self.sim.answer(path, params)
        except Exception as exc:  # a bug in the simulator must still answer, as a 500
            log.exception("simulated_moderngov.error", path=path, error=type(exc).__name__)
            reply = _Reply(500, "text/plain; charset=utf-8", "simulator error")
        if self.sim.delay and self.sim._stopping.wait(self.sim.delay):
            self.close_connection = True
            return
        if reply.reset:
            self.close_connection = True
            return  # hang up without a word: the client sees the connection closed
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.status >= 500:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True


SimulatedModernGov.handler_class = _Handler
