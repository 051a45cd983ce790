"""Meeting bursts (label ``meeting_burst``): a member's own posting during a meeting they attend.

Council protocols ask members not to make conspicuous use of social media during council and
committee meetings. Given a meeting and the member's own posts (both platforms), a burst is more
than ``burst_posts`` posts between its start and end, or any post inside a quiet window (a part
of the meeting where a vote is expected). Pure functions: the meeting watch
(:mod:`watcher.meetingwatch`) reads meetings and posts from the store and writes the finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calendars.base import Meeting
from watcher.config import QuietWindow

NAME = "meetings"
VERSION = "1"


@dataclass(frozen=True)
class OwnPost:
    """One of the member's own items, as stored."""

    item_row_id: int
    account_id: int
    platform: str
    created_at: datetime
    permalink: str
    text: str


@dataclass(frozen=True)
class Burst:
    """The posts that made a burst, in time order, and why it is one."""

    posts: tuple[OwnPost, ...]
    reasons: tuple[str, ...]


def quiet_spans(meeting: Meeting, windows: Sequence[QuietWindow]
                ) -> list[tuple[datetime, datetime]]:
    """Given a meeting and the configured quiet windows, return the (start, end) spans of
    the meeting they cover (a window applies when its title is in the meeting's title,
    case-insensitive; an empty title applies to every meeting)."""
    spans = []
    for w in windows:
        if w.title.lower() not in meeting.title.lower():
            continue
        start = meeting.start + timedelta(seconds=w.after)
        end = meeting.end if w.length is None else min(meeting.end,
                                                       start + timedelta(seconds=w.length))
        if start < end:
            spans.append((start, end))
    return spans


def find_burst(meeting: Meeting, posts: Sequence[OwnPost], *, burst_posts: int,
               quiet: Sequence[QuietWindow] = (), timezone: str = "UTC") -> Burst | None:
    """Given a meeting the member attends, their own posts and the limits, return the burst,
    or None when their posting during it was within bounds (or the meeting was cancelled).

    A post at the start time counts; one at the end time does not.
    """
    if meeting.cancelled:
        return None
    during = sorted((p for p in posts if meeting.start <= p.created_at < meeting.end),
                    key=lambda p: (p.created_at, p.item_row_id))
    if not during:
        return None
    reasons: list[str] = []
    if len(during) > burst_posts:
        reasons.append(f"{len(during)} posts during the meeting (more than {burst_posts})")
    spans = quiet_spans(meeting, quiet)
    in_quiet = [p for p in during if any(a <= p.created_at < b for a, b in spans)]
    if in_quiet:
        tz = ZoneInfo(timezone)
        times = ", ".join(p.created_at.astimezone(tz).strftime("%H:%M") for p in in_quiet)
        reasons.append(f"{len(in_quiet)} post{'s' if len(in_quiet) != 1 else ''} while a "
                       f"vote is expected ({times})")
    if not reasons:
        return None
    return Burst(posts=tuple(during), reasons=tuple(reasons))
