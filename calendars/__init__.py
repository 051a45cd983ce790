"""Meeting calendars: which council and committee meetings happen when, and who attends them.

Council protocol asks members not to make conspicuous use of social media during the
meetings they attend. This package only *reads* meetings: from a council's modern.gov web
service (:mod:`calendars.moderngov`) and from iCalendar feeds (:mod:`calendars.ical`), into
the plain :class:`~calendars.base.Meeting` records of :mod:`calendars.base`, which also
decides whether a member attends one (:func:`~calendars.base.attendance`). Storing meetings
and comparing them with a member's posting is the daemon's business.

:mod:`calendars.simulated` is a real local HTTP server speaking the modern.gov wire format,
for tests and the demo.
"""

from __future__ import annotations

from calendars.base import Attendance, Attendee, Meeting, attendance

__all__ = ["Attendance", "Attendee", "Meeting", "attendance"]
