"""ModernGovClient and fetch_ical over real HTTP against the simulated modern.gov server:
dates, times and attendees end to end, and every way the service can fail."""

from __future__ import annotations

import json
import socket
import time as time_mod
from collections.abc import Iterator
from datetime import UTC, date, datetime, time

import pytest
import requests

from calendars.base import Attendance, Attendee, SourceUnreachable, attendance
from calendars.ical import fetch_ical, read_ical
from calendars.moderngov import ModernGovClient
from calendars.simulated import SimAttendee, SimCommittee, SimMeeting, SimulatedModernGov
from watcher.errors import MeetingSourceError

TZ = "Europe/London"
HOURS3 = 3 * 3600.0

COMMITTEES = [
    SimCommittee("144", "Audit Committee"),
    SimCommittee("200", "Planning and Highways Committee"),
    SimCommittee("312", "Appointment Sub Committee", expired=True),
    SimCommittee("400", "Old Deleted Committee", deleted=True),
]
CURLEY = SimAttendee("192", "Councillor Basil Curley")
SMITH = SimAttendee("193", "Councillor Jane Smith", attendance="Apologies")
MEETINGS = [
    SimMeeting("101", "144", "10/03/2026", "10.00 am", planned_finish="2.00 pm",
               location="Council Antechamber", attendees=(CURLEY, SMITH)),
    # BST began that morning: 7 pm is 18:00 UTC; it ran past midnight.
    SimMeeting("102", "200", datetime(2026, 3, 29, 19, 0), actual_start="7.05 pm",
               actual_finish="12.20 am", attendees=(CURLEY,)),
    SimMeeting("103", "200", date(2026, 3, 17), "12 noon", status="Cancelled",
               attendees=(CURLEY,)),
    SimMeeting("104", "144", "20/03/2026", time(14, 0)),
    SimMeeting("105", "144", "01/06/2026", "10.00 am"),             # outside the range
    SimMeeting("106", "312", "12/03/2026", "10.00 am"),             # expired committee
    SimMeeting("107", "400", "12/03/2026", "10.00 am"),             # deleted committee
]
RANGE = (date(2026, 3, 1), date(2026, 3, 31))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[SimulatedModernGov]:
    with SimulatedModernGov(COMMITTEES, MEETINGS) as server:
        yield server


def client(url: str, *, timeout: float = 20.0, max_bytes: int = 5_000_000,
           include_expired: bool = False) -> ModernGovClient:
    return ModernGovClient(url, timezone=TZ, default_duration=HOURS3, timeout=timeout,
                           max_bytes=max_bytes, include_expired=include_expired)


def free_port() -> int:
    """A port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- happy path


def test_meetings_in_range_with_times_and_attendees(sim: SimulatedModernGov) -> None:
    found = client(sim.base_url).meetings(*RANGE)
    assert [m.external_id for m in found] == ["101", "103", "104", "102"]
    by_id = {m.external_id: m for m in found}

    audit = by_id["101"]
    assert (audit.title, audit.start, audit.end, audit.end_source) == (
        "Audit Committee", utc(2026, 3, 10, 10), utc(2026, 3, 10, 14), "planned")
    assert audit.location == "Council Antechamber"
    assert audit.attendees == (
        Attendee("Councillor Basil Curley", "192", "Expected", "Committee Member"),
        Attendee("Councillor Jane Smith", "193", "Apologies", "Committee Member"))
    assert audit.url == f"{sim.base_url}/ieListDocuments.aspx?CId=144&MId=101"

    late = by_id["102"]
    assert (late.title, late.start, late.end, late.end_source) == (
        "Planning and Highways Committee", utc(2026, 3, 29, 18, 5), utc(2026, 3, 29, 23, 20),
        "actual")

    assert by_id["103"].cancelled and by_id["103"].start == utc(2026, 3, 17, 12)
    assert (by_id["104"].start, by_id["104"].end_source) == (utc(2026, 3, 20, 14), "default")
    assert by_id["104"].end == utc(2026, 3, 20, 17)

    assert attendance(audit, name="Basil Curley", moderngov_id="192") == (
        Attendance.ATTENDING, "listed as Expected in modern.gov (member 192)")
    assert attendance(audit, name="Cllr Jane Smith")[0] is Attendance.APOLOGIES


def test_requests_use_the_real_parameter_names(sim: SimulatedModernGov) -> None:
    client(sim.base_url).meetings(*RANGE)
    ops = sim.requests_log
    assert ops[0] == ("GetCommittees", {})
    listing = [p for op, p in ops if op == "GetMeetings"]
    # Deleted and expired committees are not asked about.
    assert listing == [
        {"lCommitteeId": "144", "sFromDate": "01/03/2026", "sToDate": "31/03/2026"},
        {"lCommitteeId": "200", "sFromDate": "01/03/2026", "sToDate": "31/03/2026"}]
    detail = sorted(p["lMeetingId"] for op, p in ops if op == "GetMeeting")
    assert detail == ["101", "102", "103", "104"]


def test_expired_committees_on_request_and_committee_list(sim: SimulatedModernGov) -> None:
    assert client(sim.base_url).committees() == [
        ("144", "Audit Committee"), ("200", "Planning and Highways Committee")]
    wide = client(sim.base_url, include_expired=True)
    assert ("312", "Appointment Sub Committee") in wide.committees()
    assert "106" in {m.external_id for m in wide.meetings(*RANGE)}


def test_base_url_with_the_service_path(sim: SimulatedModernGov) -> None:
    found = client(sim.base_url + "/mgWebService.asmx/").meetings(*RANGE)
    assert len(found) == 4


def test_one_day_range_includes_both_ends(sim: SimulatedModernGov) -> None:
    found = client(sim.base_url).meetings(date(2026, 3, 10), date(2026, 3, 10))
    assert [m.external_id for m in found] == ["101"]


# --------------------------------------------------------------------------- faults


def test_nothing_listening(sim: SimulatedModernGov) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SourceUnreachable) as err:
        client(url, timeout=2).meetings(*RANGE)
    message = str(err.value)
    assert "modern.gov GetCommittees" in message and url in message
    assert "could not connect" in message


@pytest.mark.parametrize("mode,words", [
    ("down", "HTTP 503"),
    ("html", "got an HTML page, not XML"),
    ("malformed", "malformed XML"),
    ("doctype", "XML refused"),
    ("error", "HTTP 500"),
])
def test_fault_modes_raise_clear_errors(sim: SimulatedModernGov, mode: str, words: str) -> None:
    sim.mode = mode
    with pytest.raises(MeetingSourceError) as err:
        client(sim.base_url).meetings(*RANGE)
    message = str(err.value)
    assert words in message
    assert f"modern.gov GetCommittees at {sim.base_url}/mgWebService.asmx/GetCommittees" \
        in message
    assert len(message) < 450  # the body is quoted, but never more than ~200 characters


def test_connection_closed_without_answer(sim: SimulatedModernGov) -> None:
    sim.mode = "reset"
    with pytest.raises(SourceUnreachable, match="GetCommittees"):
        client(sim.base_url, timeout=2).meetings(*RANGE)


def test_timeout_is_quick_and_clear(sim: SimulatedModernGov) -> None:
    sim.delay = 3.0
    began = time_mod.monotonic()
    with pytest.raises(SourceUnreachable, match=r"no answer within 0\.5 s"):
        client(sim.base_url, timeout=0.5).committees()
    assert time_mod.monotonic() - began < 2.5


def test_oversized_response(sim: SimulatedModernGov) -> None:
    with pytest.raises(MeetingSourceError, match="too large"):
        client(sim.base_url, max_bytes=300).committees()


def test_failing_get_meetings_fails_the_read(sim: SimulatedModernGov) -> None:
    # GetCommittees answers, then the listing is unusable: better no answer than half a one.
    c = client(sim.base_url)
    c.committees()
    sim.mode = "malformed"
    with pytest.raises(MeetingSourceError, match="modern.gov GetMeetings .*malformed XML"):
        c.meetings(*RANGE, committee_ids=["144"])


@pytest.mark.parametrize("mode", ["malformed", "html", "error", "doctype"])
def test_one_unusable_get_meeting_keeps_the_others(sim: SimulatedModernGov, mode: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    sim.meeting_modes["101"] = mode
    found = {m.external_id: m for m in client(sim.base_url).meetings(*RANGE)}
    assert set(found) == {"101", "102", "103", "104"}
    # 101 falls back to what GetMeetings said: its date and time, the default length.
    degraded = found["101"]
    assert (degraded.start, degraded.end, degraded.end_source) == (
        utc(2026, 3, 10, 10), utc(2026, 3, 10, 13), "default")
    assert degraded.attendees == () and degraded.title == "Audit Committee"
    # The others are whole.
    assert found["102"].attendees and found["102"].end_source == "actual"
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    [warning] = [e for e in events if e.get("event") == "meetings.meeting_unreadable"]
    assert warning["meeting"] == "101" and warning["source"] == "moderngov"
    assert "GetMeeting" in warning["error"]


def test_service_going_down_mid_read_fails_the_read(sim: SimulatedModernGov) -> None:
    c = client(sim.base_url, timeout=2)

    class DownAfterListing(requests.Session):
        def get(self, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
            if "GetMeeting?" in url or url.endswith("GetMeeting"):
                sim.mode = "reset"
            return super().get(url, **kwargs)  # type: ignore[arg-type]

    c.session = DownAfterListing()
    with pytest.raises(SourceUnreachable, match="GetMeeting"):
        c.meetings(*RANGE)


def test_simulator_answers_like_asmx_for_bad_requests(sim: SimulatedModernGov) -> None:
    base = f"{sim.base_url}/mgWebService.asmx"
    missing = requests.get(f"{base}/GetMeetings", params={"lCommitteeId": "144"}, timeout=5)
    assert missing.status_code == 500 and missing.headers["Content-Type"].startswith("text/plain")
    assert "Missing parameter: sFromDate." in missing.text
    iso = requests.get(f"{base}/GetMeetings", timeout=5, params={
        "lCommitteeId": "144", "sFromDate": "2026-03-01", "sToDate": "2026-03-31"})
    assert iso.status_code == 500 and "FormatException" in iso.text
    # Names are not case-sensitive, as on the real service.
    lower = requests.get(f"{sim.base_url}/mgwebservice.asmx/getmeeting",
                         params={"lmeetingid": "101"}, timeout=5)
    assert lower.status_code == 200 and "<meetingid>101</meetingid>" in lower.text
    assert lower.headers["Content-Type"].startswith("text/xml")
    with pytest.raises(MeetingSourceError, match="HTTP 500"):
        client(sim.base_url).meeting("999")


# --------------------------------------------------------------------------- iCalendar

ICS = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN",
    "BEGIN:VEVENT", "UID:exec@council.example", "DTSTAMP:20260101T000000Z",
    "SUMMARY:Executive", "DTSTART;TZID=Europe/London:20260318T180000",
    "DTEND;TZID=Europe/London:20260318T200000",
    "ATTENDEE;CN=Cllr Basil Curley;PARTSTAT=ACCEPTED:mailto:b@council.example",
    "END:VEVENT", "END:VCALENDAR", ""])


def test_fetch_ical_over_http(sim: SimulatedModernGov) -> None:
    path = sim.add_ical("/calendar.ics", ICS)
    data = fetch_ical(sim.base_url + path, timeout=5)
    found = read_ical(data, source=f"ical:{sim.base_url}{path}", timezone=TZ,
                      start=utc(2026, 3, 1), end=utc(2026, 4, 1), default_duration=HOURS3)
    [m] = found
    assert (m.title, m.start, m.end) == ("Executive", utc(2026, 3, 18, 18), utc(2026, 3, 18, 20))
    assert attendance(m, name="Basil Curley")[0] is Attendance.ATTENDING
    assert sim.requests_log[-1] == ("ical", {"path": "/calendar.ics"})


def test_fetch_ical_webcal_scheme_is_https(sim: SimulatedModernGov) -> None:
    # webcal:// means https:// to calendar apps; the simulator speaks plain HTTP, so the
    # attempt fails, but as an HTTPS connection error rather than a refused scheme.
    with pytest.raises(SourceUnreachable, match="https://127.0.0.1"):
        fetch_ical(sim.base_url.replace("http://", "webcal://") + "/calendar.ics", timeout=2)


def test_fetch_ical_html_instead_of_calendar(sim: SimulatedModernGov) -> None:
    sim.add_ical("/login.ics", "<!DOCTYPE html><html><body>Sign in to Outlook</body></html>",
                 content_type="text/html; charset=utf-8")
    with pytest.raises(MeetingSourceError, match="got an HTML page, not a calendar"):
        fetch_ical(sim.base_url + "/login.ics", timeout=5)
    sim.add_ical("/calendar.ics", ICS)
    sim.mode = "html"
    with pytest.raises(MeetingSourceError, match="HTML page"):
        fetch_ical(sim.base_url + "/calendar.ics", timeout=5)


def test_fetch_ical_not_a_calendar_with_calendar_type(sim: SimulatedModernGov) -> None:
    sim.add_ical("/empty.ics", "nothing here", content_type="text/calendar")
    with pytest.raises(MeetingSourceError, match="not an iCalendar document"):
        fetch_ical(sim.base_url + "/empty.ics", timeout=5)


def test_fetch_ical_too_big(sim: SimulatedModernGov) -> None:
    sim.add_ical("/big.ics", ICS + "X-PAD:" + "x" * 20_000 + "\r\n")
    with pytest.raises(MeetingSourceError, match="too large"):
        fetch_ical(sim.base_url + "/big.ics", timeout=5, max_bytes=10_000)
    assert fetch_ical(sim.base_url + "/big.ics", timeout=5, max_bytes=100_000)


def test_fetch_ical_errors_do_not_show_the_query(sim: SimulatedModernGov) -> None:
    with pytest.raises(MeetingSourceError) as err:
        fetch_ical(sim.base_url + "/private.ics?key=s3cr3t-feed-key", timeout=5)
    assert "HTTP 404" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_fetch_ical_down_and_timeout(sim: SimulatedModernGov) -> None:
    sim.add_ical("/calendar.ics", ICS)
    sim.mode = "down"
    with pytest.raises(MeetingSourceError, match="HTTP 503"):
        fetch_ical(sim.base_url + "/calendar.ics", timeout=5)
    sim.mode = "ok"
    sim.delay = 3.0
    began = time_mod.monotonic()
    with pytest.raises(SourceUnreachable, match="no answer within"):
        fetch_ical(sim.base_url + "/calendar.ics", timeout=0.5)
    assert time_mod.monotonic() - began < 2.5
    with pytest.raises(SourceUnreachable, match="could not connect"):
        fetch_ical(f"http://127.0.0.1:{free_port()}/calendar.ics", timeout=2)
