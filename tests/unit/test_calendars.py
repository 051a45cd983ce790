"""Meeting calendars without a network: the real modern.gov responses in
``tests/fixtures/moderngov/``, time parsing and DST, attendance matching, and iCalendar
documents built here."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element, fromstring

import pytest

from calendars.base import Attendance, Attendee, Meeting, attendance, name_tokens, zone
from calendars.ical import fetch_ical, read_ical
from calendars.moderngov import (
    MeetingStub,
    ModernGovClient,
    is_cancelled,
    meeting_from_stub,
    meeting_times,
    parse_committees,
    parse_meeting,
    parse_meeting_list,
    parse_time,
    parse_xml,
    site_url,
)
from calendars.simulated import (
    SimAttendee,
    SimCommittee,
    SimMeeting,
    render_committees,
    render_meeting,
    render_meeting_list,
)
from watcher.errors import MeetingSourceError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "moderngov"
LONDON = zone("Europe/London")
SITE = "https://democracy.manchester.gov.uk"
HOURS3 = 3 * 3600.0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fixture(name: str, root: str) -> Element:
    return parse_xml((FIXTURES / name).read_bytes(), what="test", url="fixture", root=root)


def stubs() -> dict[str, MeetingStub]:
    return {s.id: s for s in parse_meeting_list(fixture("GetMeetings_meetings.xml",
                                                        "getmeetings"))}


# --------------------------------------------------------------------------- real responses


def test_get_committees_fixture() -> None:
    committees = parse_committees(fixture("GetCommittees_committees.xml", "committees"))
    assert [(c.id, c.title, c.expired, c.deleted) for c in committees] == [
        ("312", "Appointment Sub Committee for Director of Adult Social Services", True, False),
        ("163", "Art Galleries Committee", False, False),
        ("144", "Audit Committee", False, False),
    ]
    assert committees[0].category == "Governance and Decision Making Committees"


def test_get_meetings_fixture() -> None:
    found = parse_meeting_list(fixture("GetMeetings_meetings.xml", "getmeetings"))
    assert [(s.id, s.committee_id, s.committee_title, s.date, s.time, s.status)
            for s in found] == [
        ("4966", "144", "Audit Committee", "13/01/2026", "10.00 am", "Cancelled"),
        ("4967", "144", "Audit Committee", "10/02/2026", "10.00 am", "Confirmed"),
    ]


def test_get_meeting_with_minutes_fixture() -> None:
    root = fixture("GetMeeting_meeting_with_minutes.xml", "meeting")
    m = parse_meeting(root, stubs()["4967"], tz=LONDON, default_duration=HOURS3, site=SITE)
    assert m.source == "moderngov" and m.external_id == "4967"
    assert m.title == "Audit Committee"
    # 10/02/2026 is GMT: 10.00 am local is 10:00 UTC; planned finish 2.00 pm is 14:00 UTC.
    assert m.start == utc(2026, 2, 10, 10, 0)
    assert m.end == utc(2026, 2, 10, 14, 0)
    assert m.start.utcoffset() == timedelta(0)
    assert m.end_source == "planned"
    assert not m.cancelled
    assert m.location == "Council Antechamber, Level 2, Town Hall Extension"
    assert m.attendees == (Attendee(name="Councillor Basil Curley", moderngov_id="192",
                                    attendance="Expected", role="Committee Member"),)
    assert m.url == f"{SITE}/ieListDocuments.aspx?CId=144&MId=4967"


def test_get_meeting_cancelled_fixture() -> None:
    root = fixture("GetMeeting_meeting_no_minutes.xml", "meeting")
    m = parse_meeting(root, stubs()["4966"], tz=LONDON, default_duration=HOURS3, site=SITE)
    assert m.external_id == "4966" and m.cancelled
    assert m.start == utc(2026, 1, 13, 10, 0) and m.end == utc(2026, 1, 13, 14, 0)
    assert m.attendees[0].moderngov_id == "192"
    assert m.attendees[0].attendance == "Expected"
    verdict, why = attendance(m, name="Basil Curley", moderngov_id="192")
    assert verdict is Attendance.NOT_ATTENDING and why == "meeting cancelled"


def test_meeting_from_get_meetings_alone_has_default_length() -> None:
    m = meeting_from_stub(stubs()["4967"], tz=LONDON, default_duration=HOURS3, site=SITE)
    assert (m.start, m.end, m.end_source) == (utc(2026, 2, 10, 10), utc(2026, 2, 10, 13),
                                             "default")
    assert m.attendees == () and m.location == "" and not m.cancelled
    assert meeting_from_stub(stubs()["4966"], tz=LONDON, default_duration=HOURS3).cancelled


def test_simulated_server_writes_the_fixture_bytes() -> None:
    """The simulator's GetCommittees and GetMeetings are byte for byte the real ones, and
    its GetMeeting has the real elements in the real order."""
    committees = [SimCommittee("312", "Appointment Sub Committee for Director of Adult Social "
                               "Services", expired=True),
                  SimCommittee("163", "Art Galleries Committee"),
                  SimCommittee("144", "Audit Committee")]
    assert render_committees(committees) == \
        (FIXTURES / "GetCommittees_committees.xml").read_text()
    meetings = [SimMeeting("4966", "144", "13/01/2026", "10.00 am", status="Cancelled"),
                SimMeeting("4967", "144", date(2026, 2, 10), time(10))]
    assert render_meeting_list(committees[2], meetings) == \
        (FIXTURES / "GetMeetings_meetings.xml").read_text()
    real = fromstring((FIXTURES / "GetMeeting_meeting_no_minutes.xml").read_bytes())
    sim = fromstring(render_meeting(SimMeeting(
        "4966", "144", "13/01/2026", "10.00 am", status="Cancelled",
        location="Council Antechamber, Level 2, Town Hall Extension", planned_finish="2.00 pm",
        attendees=(SimAttendee("192", "Councillor Basil Curley", party="LAB",
                               ward="Charlestown"),)), SITE))
    assert [c.tag for c in sim] == [c.tag for c in real]
    real_attendee, sim_attendee = real.find("attendees/attendee"), sim.find("attendees/attendee")
    assert real_attendee is not None and sim_attendee is not None
    assert set(sim_attendee.attrib) <= set(real_attendee.attrib)
    assert {k: sim_attendee.get(k) for k in ("memberid", "name", "attendance")} == \
        {k: real_attendee.get(k) for k in ("memberid", "name", "attendance")}


@pytest.mark.parametrize("status,cancelled", [
    ("Cancelled", True), ("CANCELLED", True), ("cancelled - rearranged", True),
    ("Postponed", True), ("Abandoned", True), ("Confirmed", False), ("Draft", False),
    ("", False)])
def test_cancelled_statuses(status: str, cancelled: bool) -> None:
    assert is_cancelled(status) is cancelled


# --------------------------------------------------------------------------- XML safety


@pytest.mark.parametrize("body,words", [
    (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>" + b"x" * 5000
     + b"</body></html>", "HTML page"),
    (b'<?xml version="1.0" encoding="utf-8"?>\n<getmeetings>\n  <meetingscount> 2</meetin',
     "malformed XML"),
    (b'<?xml version="1.0"?><!DOCTYPE getmeetings [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
     b"<getmeetings>&b;</getmeetings>", "refused"),
    (b'<?xml version="1.0"?><!DOCTYPE getmeetings SYSTEM "http://evil.example/x.dtd">'
     b"<getmeetings/>", "refused"),
    (b"<committees><committeescount> 0</committeescount></committees>", "expected <getmeetings>"),
    (b"", "malformed XML"),
])
def test_unusable_xml_is_a_clear_error(body: bytes, words: str) -> None:
    with pytest.raises(MeetingSourceError) as err:
        parse_xml(body, what="modern.gov GetMeetings", url="https://council.example/x",
                  root="getmeetings")
    message = str(err.value)
    assert words in message
    assert "modern.gov GetMeetings at https://council.example/x" in message
    assert "x" * 201 not in message  # never more than ~200 characters of the body
    assert len(message) < 400


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize("text,expected", [
    ("10.00 am", time(10)), ("2.00 pm", time(14)), ("10:00", time(10)),
    ("12 noon", time(12)), ("12.00 noon", time(12)), ("noon", time(12)), ("Midday", time(12)),
    ("2pm", time(14)), ("10.30am", time(10, 30)), ("14.30", time(14, 30)),
    ("6.30 P.M.", time(18, 30)), ("10 a.m.", time(10)), ("12.00 am", time(0)),
    ("12.15 pm", time(12, 15)), ("midnight", time(0)), ("9", time(9)),
    ("  7.00\n pm ", time(19)), ("", None), ("   ", None)])
def test_time_formats(text: str, expected: time | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["TBC", "25.00", "13.00 pm", "0.30 am", "10.75 am",
                                  "1 noon", "10-11am", "after full council"])
def test_unreadable_times_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_dst_spring_forward_evening() -> None:
    # BST began at 01:00 UTC on 2026-03-29: 7.00 pm that evening is 18:00 UTC.
    start, _, _ = meeting_times(date(2026, 3, 29), time(19), LONDON, HOURS3)
    assert start == utc(2026, 3, 29, 18)
    # ... and the day before, still GMT, it is 19:00 UTC.
    assert meeting_times(date(2026, 3, 28), time(19), LONDON, HOURS3)[0] == utc(2026, 3, 28, 19)


def test_dst_autumn_evening() -> None:
    # BST ended at 01:00 UTC on 2026-10-25: 7.00 pm that evening is 19:00 UTC.
    start, _, _ = meeting_times(date(2026, 10, 25), time(19), LONDON, HOURS3)
    assert start == utc(2026, 10, 25, 19)
    assert meeting_times(date(2026, 10, 24), time(19), LONDON, HOURS3)[0] == utc(2026, 10, 24, 18)


def test_nonexistent_local_time_uses_the_offset_before_the_change() -> None:
    # 01:30 on 2026-03-29 never happened in London (01:00 GMT became 02:00 BST). fold=0 reads
    # it with the GMT offset: 01:30 UTC, the instant the clocks showed 02:30 BST.
    start, end, source = meeting_times(date(2026, 3, 29), time(1, 30), LONDON, 3600)
    assert start == utc(2026, 3, 29, 1, 30)
    assert (end, source) == (utc(2026, 3, 29, 2, 30), "default")


def test_ambiguous_local_time_is_its_first_occurrence() -> None:
    # 01:30 on 2026-10-25 happened twice (BST, then GMT). fold=0 takes the first: 00:30 UTC.
    start, _, _ = meeting_times(date(2026, 10, 25), time(1, 30), LONDON, 3600)
    assert start == utc(2026, 10, 25, 0, 30)


def test_finish_past_midnight_is_next_day() -> None:
    start, end, source = meeting_times(date(2026, 1, 13), time(23), LONDON, HOURS3,
                                       planned_finish=time(1))
    assert (start, end, source) == (utc(2026, 1, 13, 23), utc(2026, 1, 14, 1), "planned")


def test_finish_past_midnight_over_the_spring_change() -> None:
    # Starts 11 pm GMT on the 28th, finishes 2.30 am BST on the 29th: 3.5 hours, not 4.5.
    start, end, source = meeting_times(date(2026, 3, 28), time(23), LONDON, HOURS3,
                                       actual_finish=time(2, 30))
    assert (start, end, source) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 1, 30), "actual")


def test_actual_times_win_over_scheduled_and_planned() -> None:
    start, end, source = meeting_times(date(2026, 6, 2), time(10), LONDON, HOURS3,
                                       actual_start=time(10, 15), planned_finish=time(13),
                                       actual_finish=time(13, 40))
    assert (start, end, source) == (utc(2026, 6, 2, 9, 15), utc(2026, 6, 2, 12, 40), "actual")


def test_planned_finish_before_a_late_actual_start_is_ignored() -> None:
    # Scheduled 10 am to 11 am, but it only began at 11.30: the planned finish says nothing.
    start, end, source = meeting_times(date(2026, 6, 2), time(10), LONDON, 3600,
                                       actual_start=time(11, 30), planned_finish=time(11))
    assert (start, end, source) == (utc(2026, 6, 2, 10, 30), utc(2026, 6, 2, 11, 30), "default")


def test_planned_finish_from_xml_with_unreadable_actual_times() -> None:
    xml = (b"<meeting><meetingid>7</meetingid><meetingdate>02/06/2026</meetingdate>"
           b"<meetingstatus>Confirmed</meetingstatus><meetingtime>6.30 pm</meetingtime>"
           b"<meetingactualstarttime>TBC</meetingactualstarttime>"
           b"<meetingplannedfinishtime>9.00 pm</meetingplannedfinishtime>"
           b"<meetingactualfinishtime>\n  </meetingactualfinishtime></meeting>")
    stub = MeetingStub("7", "9", "Planning Committee", "02/06/2026", "6.30 pm", "Confirmed")
    m = parse_meeting(parse_xml(xml, what="t", url="u", root="meeting"), stub, tz=LONDON,
                      default_duration=HOURS3)
    assert (m.start, m.end, m.end_source) == (utc(2026, 6, 2, 17, 30), utc(2026, 6, 2, 20),
                                              "planned")
    assert m.attendees == () and m.url == ""


def test_site_url_forms() -> None:
    assert site_url("https://democracy.example.gov.uk/") == "https://democracy.example.gov.uk"
    assert site_url("https://democracy.example.gov.uk/mgWebService.asmx") == \
        "https://democracy.example.gov.uk"
    assert site_url("https://x.example/democracy/MGWEBSERVICE.ASMX/") == \
        "https://x.example/democracy"


def test_client_refuses_other_schemes_and_unknown_timezones() -> None:
    with pytest.raises(MeetingSourceError, match="http"):
        ModernGovClient("file:///etc/passwd", timezone="Europe/London", default_duration=60)
    with pytest.raises(MeetingSourceError, match="timezone"):
        ModernGovClient("https://x.example", timezone="Europe/Atlantis", default_duration=60)


# --------------------------------------------------------------------------- attendance


def meeting(*attendees: Attendee, title: str = "Planning and Highways Committee",
            cancelled: bool = False, source: str = "moderngov") -> Meeting:
    return Meeting(source=source, external_id="1", title=title, start=utc(2026, 6, 2, 13),
                   end=utc(2026, 6, 2, 16), end_source="planned", cancelled=cancelled,
                   attendees=attendees)


CURLEY = Attendee("Councillor Basil Curley", "192", "Expected", "Committee Member")


def test_attendance_by_member_id() -> None:
    verdict, why = attendance(meeting(CURLEY), name="Someone Else", moderngov_id="192")
    assert verdict is Attendance.ATTENDING
    assert why == "listed as Expected in modern.gov (member 192)"


@pytest.mark.parametrize("name", ["Basil Curley", "Cllr Basil Curley", "Cllr. Basil Curley",
                                  "councillor basil curley", "COUNCILLOR BASIL CURLEY",
                                  "Basil  Curley ", "Cllr B. Curley", "B Curley",
                                  "Dr Basil Curley OBE"])
def test_attendance_by_name_variants(name: str) -> None:
    verdict, why = attendance(meeting(CURLEY), name=name)
    assert verdict is Attendance.ATTENDING
    assert why == 'listed as Expected in modern.gov (as "Councillor Basil Curley")'


def test_name_tokens() -> None:
    assert name_tokens("Cllr. Mary O'Brien-Smith JP") == ("mary", "obrien", "smith")
    assert name_tokens("Councillor Zoë Ünal") == ("zoe", "unal")
    assert name_tokens("Cllr") == ()


def test_initial_matching_only_when_unambiguous() -> None:
    brian = Attendee("Councillor Brian Curley", "300", "Expected")
    assert attendance(meeting(CURLEY, brian), name="B Curley")[0] is Attendance.NOT_ATTENDING
    # The full name still finds the right one.
    assert attendance(meeting(CURLEY, brian), name="Basil Curley")[1].endswith(
        '(as "Councillor Basil Curley")')
    # A different surname or a different forename is never a match.
    assert attendance(meeting(CURLEY), name="Basil Curtis")[0] is Attendance.NOT_ATTENDING
    assert attendance(meeting(CURLEY), name="Bill Curley")[0] is Attendance.NOT_ATTENDING
    assert attendance(meeting(CURLEY), name="Curley")[0] is Attendance.NOT_ATTENDING


def test_same_name_with_another_member_id_is_someone_else() -> None:
    verdict, _ = attendance(meeting(CURLEY), name="Basil Curley", moderngov_id="999")
    assert verdict is Attendance.NOT_ATTENDING


def test_attendance_by_attends_list() -> None:
    m = meeting(title="Planning and Highways Committee")
    verdict, why = attendance(m, name="Jane Smith", attends=["Licensing", "planning and highways"])
    assert verdict is Attendance.ATTENDING
    assert why == 'attends "planning and highways" (config)'
    assert attendance(m, name="Jane Smith", attends=["", "  "])[0] is Attendance.NOT_ATTENDING


@pytest.mark.parametrize("said,verdict,why", [
    ("Apologies", Attendance.APOLOGIES, "sent apologies (modern.gov)"),
    ("Apologies received", Attendance.APOLOGIES, "sent apologies (modern.gov)"),
    ("Sent apologies", Attendance.APOLOGIES, "sent apologies (modern.gov)"),
    ("Apologies, substitute attended", Attendance.APOLOGIES, "sent apologies (modern.gov)"),
    ("Not required", Attendance.APOLOGIES, "not required (modern.gov)"),
    ("Absent", Attendance.NOT_ATTENDING, "recorded as Absent (modern.gov)"),
    ("Present", Attendance.ATTENDING, "listed as Present in modern.gov (member 192)"),
    ("In attendance", Attendance.ATTENDING, "listed as In attendance in modern.gov (member 192)"),
    ("Present as substitute", Attendance.ATTENDING,
     "listed as Present as substitute in modern.gov (member 192)"),
    ("", Attendance.ATTENDING, "listed as attendee in modern.gov (member 192)"),
])
def test_attendance_words(said: str, verdict: Attendance, why: str) -> None:
    m = meeting(Attendee("Councillor Basil Curley", "192", said))
    assert attendance(m, name="Basil Curley", moderngov_id="192") == (verdict, why)


def test_apologies_win_over_the_attends_list() -> None:
    m = meeting(Attendee("Cllr Basil Curley", "192", "Apologies"), title="Planning Committee")
    assert attendance(m, name="Basil Curley", attends=["Planning"])[0] is Attendance.APOLOGIES


def test_not_listed_and_no_attends_match() -> None:
    verdict, why = attendance(meeting(CURLEY), name="Jane Smith", moderngov_id="500",
                              attends=["Licensing"])
    assert verdict is Attendance.NOT_ATTENDING
    assert why == "not listed among the attendees, no attends entry matches"
    assert attendance(meeting(), name="Jane Smith")[0] is Attendance.NOT_ATTENDING


def test_calendar_attendee_declined() -> None:
    m = meeting(Attendee("Jane Smith", attendance="Apologies"), source="ical:https://x")
    assert attendance(m, name="Cllr Jane Smith") == (Attendance.APOLOGIES,
                                                     "sent apologies (calendar)")


# --------------------------------------------------------------------------- iCalendar

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/London
BEGIN:DAYLIGHT
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
TZNAME:BST
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
TZNAME:GMT
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def calendar(*events: str, tz: str = VTIMEZONE) -> str:
    body = "".join(f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{e.strip()}\nEND:VEVENT\n"
                   for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Councillor Watcher tests//EN\n{tz}{body}" \
           "END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


WEEKLY = """UID:planning-weekly@council.example
SUMMARY:Planning Committee
LOCATION:Council Chamber
URL:https://council.example/planning
DTSTART;TZID=Europe/London:20261007T190000
DTEND;TZID=Europe/London:20261007T210000
RRULE:FREQ=WEEKLY;COUNT=6
ATTENDEE;CN=Cllr Jane Smith;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:jane@council.example
ATTENDEE;CN=Cllr Basil Curley;PARTSTAT=DECLINED:mailto:basil@council.example
ATTENDEE;CN=Cllr Ann Lee:mailto:ann@council.example
ATTENDEE:mailto:clerk@council.example"""


def read(text: str, start: datetime = utc(2026, 10, 1), end: datetime = utc(2026, 12, 1),
         default: float = HOURS3) -> list[Meeting]:
    return read_ical(text, source="ical:https://council.example/cal.ics",
                     timezone="Europe/London", start=start, end=end, default_duration=default)


def test_weekly_meeting_keeps_local_time_across_the_october_change() -> None:
    found = read(calendar(WEEKLY))
    # 7, 14, 21 Oct are BST (18:00 UTC); 28 Oct, 4 and 11 Nov are GMT (19:00 UTC).
    assert [m.start for m in found] == [utc(2026, 10, 7, 18), utc(2026, 10, 14, 18),
                                        utc(2026, 10, 21, 18), utc(2026, 10, 28, 19),
                                        utc(2026, 11, 4, 19), utc(2026, 11, 11, 19)]
    assert {m.start.astimezone(LONDON).time() for m in found} == {time(19)}
    assert all(m.end - m.start == timedelta(hours=2) and m.end_source == "calendar"
               for m in found)
    first = found[0]
    assert first.source == "ical:https://council.example/cal.ics"
    assert first.external_id == "planning-weekly@council.example/20261007T180000Z"
    assert (first.title, first.location, first.url) == (
        "Planning Committee", "Council Chamber", "https://council.example/planning")
    assert first.attendees == (
        Attendee("Cllr Jane Smith", attendance="Accepted", role="CHAIR"),
        Attendee("Cllr Basil Curley", attendance="Apologies"),
        Attendee("Cllr Ann Lee", attendance="Expected"),
    )
    assert len({m.external_id for m in found}) == 6
    assert attendance(first, name="Basil Curley")[0] is Attendance.APOLOGIES
    assert attendance(first, name="Councillor Jane Smith")[0] is Attendance.ATTENDING


def test_exdate_override_and_cancelled_occurrence() -> None:
    text = calendar(
        WEEKLY + "\nEXDATE;TZID=Europe/London:20261014T190000",
        # The 21 Oct meeting moves to Thursday 22 Oct, 6 pm to 8.30 pm.
        """UID:planning-weekly@council.example
RECURRENCE-ID;TZID=Europe/London:20261021T190000
DTSTART;TZID=Europe/London:20261022T180000
DTEND;TZID=Europe/London:20261022T203000
SUMMARY:Planning Committee (rearranged)""",
        # The 4 Nov meeting is cancelled.
        """UID:planning-weekly@council.example
RECURRENCE-ID;TZID=Europe/London:20261104T190000
DTSTART;TZID=Europe/London:20261104T190000
DTEND;TZID=Europe/London:20261104T210000
STATUS:CANCELLED
SUMMARY:Planning Committee""")
    found = {m.start: m for m in read(text)}
    assert utc(2026, 10, 14, 18) not in found  # EXDATE
    assert utc(2026, 10, 21, 18) not in found  # moved away ...
    moved = found[utc(2026, 10, 22, 17)]       # ... to here
    assert moved.end == utc(2026, 10, 22, 19, 30)
    assert moved.title == "Planning Committee (rearranged)"
    # It keeps the id of its original slot, so a store updates it instead of adding one.
    assert moved.external_id == "planning-weekly@council.example/20261021T180000Z"
    assert found[utc(2026, 11, 4, 19)].cancelled
    assert not found[utc(2026, 10, 28, 19)].cancelled
    assert len(found) == 5


def test_floating_time_duration_and_default_length() -> None:
    text = calendar("""UID:floating@x
SUMMARY:Licensing Sub-Committee
DTSTART:20260702T100000
DURATION:PT1H30M""", """UID:no-end@x
SUMMARY:Scrutiny
DTSTART:20260703T140000Z""", """UID:utc@x
SUMMARY:Full Council
DTSTART:20260704T090000Z
DTEND:20260704T120000Z""")
    found = {m.external_id.split("/")[0]: m for m in read(text, utc(2026, 7, 1), utc(2026, 8, 1))}
    # A floating 10:00 is council time: BST in July, so 09:00 UTC.
    assert (found["floating@x"].start, found["floating@x"].end) == (
        utc(2026, 7, 2, 9), utc(2026, 7, 2, 10, 30))
    assert found["floating@x"].end_source == "calendar"
    assert (found["no-end@x"].end, found["no-end@x"].end_source) == (
        utc(2026, 7, 3, 17), "default")
    assert (found["utc@x"].start, found["utc@x"].end) == (utc(2026, 7, 4, 9), utc(2026, 7, 4, 12))


def test_all_day_events_are_skipped_and_window_applies() -> None:
    text = calendar("""UID:allday@x
SUMMARY:Members' awayday
DTSTART;VALUE=DATE:20260702
DTEND;VALUE=DATE:20260703""", """UID:late@x
SUMMARY:Executive
DTSTART:20260702T200000Z
DTEND:20260702T220000Z""")
    assert [m.title for m in read(text, utc(2026, 7, 1), utc(2026, 7, 3))] == ["Executive"]
    # Overlap with [start, end): under way at the window's start counts, starting at its end
    # does not.
    assert len(read(text, utc(2026, 7, 2, 21), utc(2026, 7, 3))) == 1
    assert read(text, utc(2026, 7, 2, 22), utc(2026, 7, 3)) == []
    assert read(text, utc(2026, 7, 1), utc(2026, 7, 2, 20)) == []


def test_cancelled_single_event() -> None:
    text = calendar("""UID:gone@x
SUMMARY:Audit Committee
STATUS:CANCELLED
DTSTART;TZID=Europe/London:20260210T100000
DTEND;TZID=Europe/London:20260210T140000""")
    [m] = read(text, utc(2026, 2, 1), utc(2026, 3, 1))
    assert m.cancelled and m.start == utc(2026, 2, 10, 10)


def test_tzid_without_vtimezone_uses_the_iana_name() -> None:
    text = calendar("""UID:tz@x
SUMMARY:Cabinet
DTSTART;TZID=Europe/London:20260610T180000
DTEND;TZID=Europe/London:20260610T200000""", tz="")
    [m] = read(text, utc(2026, 6, 1), utc(2026, 7, 1))
    assert (m.start, m.end) == (utc(2026, 6, 10, 17), utc(2026, 6, 10, 19))


@pytest.mark.parametrize("body", [
    "<!DOCTYPE html><html><body>Please sign in</body></html>",
    "",
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane\r\nEND:VCARD\r\n",
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 400,
    '{"events": []}',
])
def test_not_icalendar_is_a_meeting_source_error(body: str | bytes) -> None:
    with pytest.raises(MeetingSourceError, match="not an iCalendar document") as err:
        read_ical(body, source="ical:https://council.example/cal.ics", timezone="Europe/London",
                  start=utc(2026, 1, 1), end=utc(2026, 2, 1), default_duration=HOURS3)
    assert "ical:https://council.example/cal.ics" in str(err.value)
    assert len(str(err.value)) < 400


def test_truncated_icalendar_is_a_meeting_source_error() -> None:
    text = calendar(WEEKLY)
    with pytest.raises(MeetingSourceError, match="unreadable iCalendar"):
        read(text[: len(text) // 2])


def test_an_event_without_a_readable_start_does_not_lose_the_others() -> None:
    text = calendar("""UID:broken@x
SUMMARY:Broken
DTSTART:notadate""", WEEKLY)
    found = read(text)
    assert len(found) == 6 and {m.title for m in found} == {"Planning Committee"}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://council.example/cal.ics",
                                 "/local/cal.ics", "javascript:alert(1)"])
def test_fetch_ical_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(MeetingSourceError, match="only http"):
        fetch_ical(url)
