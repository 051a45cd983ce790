"""The monthly safety summary for group leaders: counts, trends and charts, never comment text.

:func:`build_monthly` reads one calendar month (in the council's time zone) from the store and
returns a :class:`MonthlyReport`; :func:`write_monthly` writes each group's HTML page, CSV and
chart PNGs; :func:`send_monthly` emails each group's leaders once per month; :func:`due` tells
the daemon which month, if any, is ready to send.

What is counted, per member and month (an event belongs to the local calendar month in which
the comment or post was *made*, so a report made later never moves it):

- flagged comments: third-party items (comments, replies, mentions; not the member's own)
  with an ``offensive``, ``threat``, ``defamation`` or ``personal_data`` finding. A comment
  with two labels is one flagged comment, counted under each of its labels;
- copyright flags: ``copyright_image`` findings on the member's own posts;
- meeting reminders: ``meeting_burst`` findings (posting during a meeting);
- cases opened and closed in the month;
- the median time from a flagged comment being posted to the first alert about it being sent,
  and to its first ``item.hidden`` action;
- repeat senders: authors with two or more flagged comments against the member that month
  (against any of the group's members, for the group's total), named by display name and
  platform with a count only.

Only ids, labels, platforms, author display names and times are read from the store: the
comments' text is never selected, so it cannot reach a report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import statistics
import textwrap
import threading
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.base import Channel, Message
from watcher import logs, messages
from watcher.config import KNOWN_PLATFORMS, Config
from watcher.domain import PLATFORM_NAMES, TEXT_LABELS
from watcher.errors import DeliveryError, ReportError
from watcher.store import Store, record_action
from watcher.store.models import (
    ActionRow,
    AlertFindingRow,
    AlertRow,
    CaseRow,
    FindingRow,
    ItemRow,
    MemberRow,
    ReportRunRow,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logs.get(__name__)

#: Where members with no group (or a group no longer configured) are reported.
NO_GROUP = "No group"
#: Months in the group's trend chart, ending with the report's month.
TREND_MONTHS = 6
#: Third-party comment labels, in the order every table and chart shows them.
COMMENT_LABELS: tuple[str, ...] = TEXT_LABELS
#: The same, most serious first: a comment with several labels is charted under the first.
SERIOUSNESS: tuple[str, ...] = ("threat", "personal_data", "defamation", "offensive")
COPYRIGHT, MEETING_BURST, THREAT = "copyright_image", "meeting_burst", "threat"
LABEL_TITLES = {label: messages.LABEL_TITLES[label] for label in COMMENT_LABELS}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
# Years a month may name: enough for any real report, and room to step back six months.
_YEARS = (1970, 9998)
_NAME_CHARS = 60  # of a repeat sender's display name shown; a name is not a place for prose


# ---------------------------------------------------------------------------------------------
# Months


def parse_month(month: str) -> tuple[int, int]:
    """Given ``"YYYY-MM"``, return (year, month number).

    Raises ReportError if it is not a month written so (``"2026-13"``, ``"26-01"``,
    ``"2026-1"``), or its year is before 1970 or after 9998.
    """
    match = _MONTH.fullmatch(month) if isinstance(month, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"not a month: {month!r} (expected YYYY-MM, e.g. 2026-03)")
    year = int(match.group(1))
    if not _YEARS[0] <= year <= _YEARS[1]:
        raise ReportError(f"month {month!r} is out of range ({_YEARS[0]} to {_YEARS[1]})")
    return year, int(match.group(2))


def shift_month(month: str, by: int) -> str:
    """Given ``"YYYY-MM"`` and a number of months, return the month that many later (earlier
    when negative). Raises ReportError for a malformed month."""
    year, number = parse_month(month)
    index = year * 12 + number - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_title(month: str) -> str:
    """Given ``"YYYY-MM"``, return it as people write it: ``"March 2026"`` (in English
    whatever the process's locale). Raises ReportError for a malformed month."""
    year, number = parse_month(month)
    return f"{MONTH_NAMES[number - 1]} {year}"


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {timezone!r}") from None


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """Given ``"YYYY-MM"`` and a time zone name, return the month as [start, end) in aware UTC:
    local midnight on its 1st to local midnight on the next month's 1st.

    Raises ReportError for a malformed month or an unknown time zone.
    """
    zone = _zone(timezone)
    year, number = parse_month(month)
    following = parse_month(shift_month(month, 1))
    start = datetime(year, number, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(following[0], following[1], 1, tzinfo=zone).astimezone(UTC)
    return start, end


def _aware(now: datetime) -> datetime:
    # The store's clock is aware; a naive time from elsewhere is taken to be UTC, as stored.
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def month_of(at: datetime, timezone: str) -> str:
    """Given a time (naive = UTC) and a time zone name, return its local month ``YYYY-MM``.
    Raises ReportError for an unknown time zone."""
    local = _aware(at).astimezone(_zone(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def previous_month(now: datetime, timezone: str) -> str:
    """Given a time (naive = UTC) and a time zone name, return the local calendar month before
    the one ``now`` falls in, as ``YYYY-MM``. Raises ReportError for an unknown time zone."""
    return shift_month(month_of(now, timezone), -1)


# ---------------------------------------------------------------------------------------------
# The report's values


@dataclass(frozen=True)
class RepeatSender:
    """An author with two or more flagged comments: a display name, a platform, a count."""

    name: str
    platform: str
    flagged_comments: int


@dataclass(frozen=True)
class Stats:
    """One member's (or one group's) numbers for one month. Medians are in seconds, None
    when no flagged comment was alerted (or hidden)."""

    flagged_comments: int = 0
    #: flagged comments carrying each label (one with two labels is in both)
    by_label: Mapping[str, int] = field(default_factory=dict)
    #: flagged comments by their most serious label (each once; these add up)
    by_main_label: Mapping[str, int] = field(default_factory=dict)
    by_platform: Mapping[str, int] = field(default_factory=dict)
    copyright_flags: int = 0
    meeting_bursts: int = 0
    cases_opened: int = 0
    cases_closed: int = 0
    alerted: int = 0
    hidden: int = 0
    median_to_alert: float | None = None
    median_to_removal: float | None = None
    repeat_senders: tuple[RepeatSender, ...] = ()

    @property
    def threats(self) -> int:
        return self.by_label.get(THREAT, 0)

    @property
    def has_data(self) -> bool:
        """Whether anything at all happened: a flagged comment, a case, an own-conduct flag."""
        return any((self.flagged_comments, self.copyright_flags, self.meeting_bursts,
                    self.cases_opened, self.cases_closed))


@dataclass(frozen=True)
class MemberSummary:
    member_id: str
    name: str
    current: Stats
    previous: Stats


@dataclass(frozen=True)
class TrendPoint:
    month: str
    flagged_comments: int
    threats: int


@dataclass(frozen=True)
class GroupSummary:
    """One group's month: its members (by name), its totals and its last six months."""

    name: str
    leader_emails: tuple[str, ...]
    members: tuple[MemberSummary, ...]
    current: Stats
    previous: Stats
    #: oldest first, ending with the report's month
    trend: tuple[TrendPoint, ...]

    @property
    def has_data(self) -> bool:
        return self.current.has_data


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    previous_month: str
    timezone: str
    #: the month in UTC, [start, end)
    start: datetime
    end: datetime
    generated_at: datetime
    groups: tuple[GroupSummary, ...]

    @property
    def title(self) -> str:
        return month_title(self.month)

    @property
    def has_data(self) -> bool:
        return any(g.has_data for g in self.groups)

    def group(self, name: str) -> GroupSummary:
        """Given a group's name, return its summary. Raises KeyError if there is none."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Reading the store


@dataclass
class _Comment:
    """A flagged third-party comment, as far as a report may know it (no text)."""

    member_id: str
    platform: str
    author_id: str | None
    author_name: str | None
    created_at: datetime
    labels: set[str] = field(default_factory=set)
    first_alert: datetime | None = None
    first_hidden: datetime | None = None


@dataclass
class _Bucket:
    """What happened to one member in one month."""

    comments: list[_Comment] = field(default_factory=list)
    copyright_flags: int = 0
    meeting_bursts: int = 0
    cases_opened: int = 0
    cases_closed: int = 0


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


def _comments(s: Session, start: datetime, end: datetime) -> dict[int, _Comment]:
    """Return the flagged third-party comments made in [start, end), by item id, with the
    first alert sent and the first hide for each."""
    window = (ItemRow.is_own.is_(False), FindingRow.label.in_(COMMENT_LABELS),
              _in(ItemRow.created_at, start, end))
    found: dict[int, _Comment] = {}
    for item_id, member_id, label, platform, author_id, author_name, created in s.execute(
            select(ItemRow.id, FindingRow.member_id, FindingRow.label, ItemRow.platform,
                   ItemRow.author_id, ItemRow.author_name, ItemRow.created_at)
            .join(FindingRow, FindingRow.item_id == ItemRow.id).where(*window)):
        comment = found.setdefault(item_id, _Comment(member_id, platform, author_id,
                                                     author_name, created))
        comment.labels.add(label)
    for item_id, sent_at in s.execute(
            select(ItemRow.id, AlertRow.sent_at)
            .join(FindingRow, FindingRow.item_id == ItemRow.id)
            .join(AlertFindingRow, AlertFindingRow.finding_id == FindingRow.id)
            .join(AlertRow, AlertRow.id == AlertFindingRow.alert_id)
            .where(*window, AlertRow.sent_at.is_not(None))):
        c = found[item_id]
        c.first_alert = sent_at if c.first_alert is None else min(c.first_alert, sent_at)
    for item_id, at in s.execute(
            select(ItemRow.id, ActionRow.at)
            .join(ActionRow, ActionRow.item_id == ItemRow.id)
            .where(ItemRow.is_own.is_(False), _in(ItemRow.created_at, start, end),
                   ActionRow.action == "item.hidden")):
        c = found.get(item_id)  # hidden, but flagged only with another label: not counted
        if c is not None:
            c.first_hidden = at if c.first_hidden is None else min(c.first_hidden, at)
    return found


def _conduct(s: Session, start: datetime, end: datetime
             ) -> list[tuple[str, str, datetime]]:
    """Return (member id, label, when) of the own-conduct findings made in [start, end):
    ``when`` is the own post's time, or the finding's when it names no post."""
    out = []
    for member_id, label, found_at, posted_at, is_own in s.execute(
            select(FindingRow.member_id, FindingRow.label, FindingRow.created_at,
                   ItemRow.created_at, ItemRow.is_own)
            .outerjoin(ItemRow, ItemRow.id == FindingRow.item_id)
            .where(FindingRow.label.in_((COPYRIGHT, MEETING_BURST)),
                   or_(_in(ItemRow.created_at, start, end),
                       _in(FindingRow.created_at, start, end)))):
        if is_own is False:
            continue  # an image in a third party's comment is not the member's conduct
        when = posted_at or found_at
        if start <= when < end:
            out.append((member_id, label, when))
    return out


def _buckets(store: Store, start: datetime, end: datetime, timezone: str
             ) -> tuple[dict[tuple[str, str], _Bucket], list[tuple[str, str, str]]]:
    """Return what happened in [start, end) by (member id, local month), and every stored
    member as (id, name, group)."""
    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    with store.session() as s:
        for c in _comments(s, start, end).values():
            buckets[(c.member_id, month_of(c.created_at, timezone))].comments.append(c)
        for member_id, label, when in _conduct(s, start, end):
            bucket = buckets[(member_id, month_of(when, timezone))]
            if label == COPYRIGHT:
                bucket.copyright_flags += 1
            else:
                bucket.meeting_bursts += 1
        for member_id, opened, closed in s.execute(
                select(CaseRow.member_id, CaseRow.opened_at, CaseRow.closed_at)
                .where(or_(_in(CaseRow.opened_at, start, end),
                           _in(CaseRow.closed_at, start, end)))):
            if start <= opened < end:
                buckets[(member_id, month_of(opened, timezone))].cases_opened += 1
            if closed is not None and start <= closed < end:
                buckets[(member_id, month_of(closed, timezone))].cases_closed += 1
        members = [(r[0], r[1], r[2]) for r in s.execute(
            select(MemberRow.id, MemberRow.name, MemberRow.group_name))]
    return buckets, members


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _repeat_senders(comments: Sequence[_Comment]) -> tuple[RepeatSender, ...]:
    """Authors with two or more of ``comments``: by count (most first), then name."""
    by_author: dict[tuple[str, str], list[_Comment]] = defaultdict(list)
    for c in comments:
        if c.author_id:  # an author the platform did not name cannot be told apart
            by_author[(c.platform, c.author_id)].append(c)
    senders = []
    for (platform, _author), theirs in by_author.items():
        if len(theirs) < 2:
            continue
        latest = max(theirs, key=lambda c: c.created_at)
        name = " ".join((latest.author_name or "").split()) or "(no name given)"
        senders.append(RepeatSender(name=name, platform=platform,
                                    flagged_comments=len(theirs)))
    return tuple(sorted(senders, key=lambda r: (-r.flagged_comments, r.name.lower(),
                                                r.platform)))


def _main_label(comment: _Comment) -> str:
    return next(label for label in SERIOUSNESS if label in comment.labels)


def _stats(buckets: Iterable[_Bucket]) -> Stats:
    """Return the numbers of everything in ``buckets`` taken together."""
    bs = list(buckets)
    comments = [c for b in bs for c in b.comments]
    platforms = Counter({p: 0 for p in KNOWN_PLATFORMS})
    platforms.update(c.platform for c in comments)
    # A platform's time may be a little ahead of ours: never report a negative delay.
    to_alert = [max(0.0, (c.first_alert - c.created_at).total_seconds())
                for c in comments if c.first_alert is not None]
    to_hide = [max(0.0, (c.first_hidden - c.created_at).total_seconds())
               for c in comments if c.first_hidden is not None]
    return Stats(
        flagged_comments=len(comments),
        by_label={label: sum(label in c.labels for c in comments) for label in COMMENT_LABELS},
        by_main_label={label: sum(_main_label(c) == label for c in comments)
                       for label in SERIOUSNESS},
        by_platform=dict(sorted(platforms.items())),
        copyright_flags=sum(b.copyright_flags for b in bs),
        meeting_bursts=sum(b.meeting_bursts for b in bs),
        cases_opened=sum(b.cases_opened for b in bs),
        cases_closed=sum(b.cases_closed for b in bs),
        alerted=len(to_alert), hidden=len(to_hide),
        median_to_alert=_median(to_alert), median_to_removal=_median(to_hide),
        repeat_senders=_repeat_senders(comments),
    )


def _directory(config: Config, stored: Sequence[tuple[str, str, str]],
               active: set[str]) -> dict[str, tuple[str, str]]:
    """Return {member id: (name, group)} of the members to report: every configured member,
    and any other stored member with something in the report's months (history stays)."""
    directory = {m.id: (m.name, m.group or NO_GROUP) for m in config.members}
    for member_id, name, group in stored:
        if member_id not in directory and member_id in active:
            directory[member_id] = (name, group or NO_GROUP)
    return directory


def _group_order(config: Config, directory: Mapping[str, tuple[str, str]]) -> list[str]:
    """Configured groups in the config's order, then other groups members name, then the
    members with no group."""
    names = [g.name for g in config.groups]
    extra = sorted({group for _, group in directory.values()} - set(names) - {NO_GROUP})
    tail = [NO_GROUP] if NO_GROUP not in names and any(
        group == NO_GROUP for _, group in directory.values()) else []
    return names + extra + tail


def build_monthly(store: Store, config: Config, month: str) -> MonthlyReport:
    """Given the store, the config and a month ``YYYY-MM`` (a calendar month in
    ``config.timezone``), return that month's report for every group: each member's numbers
    against the month before, the group's totals and its last six months.

    Members are grouped as the config says; a member no longer configured but with history in
    those months is grouped as the store last knew. Raises ReportError for a malformed month.
    """
    start, end = month_bounds(month, config.timezone)
    months = [shift_month(month, -n) for n in range(TREND_MONTHS - 1, -1, -1)]
    window_start = month_bounds(months[0], config.timezone)[0]
    buckets, stored = _buckets(store, window_start, end, config.timezone)
    previous = shift_month(month, -1)
    directory = _directory(config, stored, {member_id for member_id, _ in buckets})
    leaders = {g.name: g.leader_emails for g in config.groups}
    empty = _Bucket()
    groups = []
    for group in _group_order(config, directory):
        ids = sorted((mid for mid, (_, g) in directory.items() if g == group),
                     key=lambda mid: (directory[mid][0].lower(), mid))
        members = tuple(MemberSummary(
            member_id=mid, name=directory[mid][0],
            current=_stats([buckets.get((mid, month), empty)]),
            previous=_stats([buckets.get((mid, previous), empty)])) for mid in ids)
        per_month = {m: _stats(buckets.get((mid, m), empty) for mid in ids) for m in months}
        groups.append(GroupSummary(
            name=group, leader_emails=tuple(leaders.get(group, ())), members=members,
            current=per_month[month], previous=per_month[previous],
            trend=tuple(TrendPoint(m, per_month[m].flagged_comments, per_month[m].threats)
                        for m in months)))
    report = MonthlyReport(month=month, previous_month=previous, timezone=config.timezone,
                           start=start, end=end, generated_at=store.clock(),
                           groups=tuple(groups))
    log.info("report.built", month=month, groups=len(groups),
             flagged_comments=sum(g.current.flagged_comments for g in groups))
    return report


# ---------------------------------------------------------------------------------------------
# Words and numbers


def duration_text(seconds: float | None) -> str:
    """Given seconds (or None), return them as a leader reads them: ``"under 1 min"``,
    ``"35 min"``, ``"3 h 5 min"``, ``"2 days 4 h"``; ``"none"`` for None."""
    if seconds is None:
        return "none"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    day_word = "day" if days == 1 else "days"
    return f"{days} {day_word} {hours} h" if hours else f"{days} {day_word}"


def change_text(current: int, previous: int) -> str:
    """Given two counts, return the change in words: ``"up 3"``, ``"down 2"``, ``"same"``."""
    if current > previous:
        return f"up {current - previous}"
    if current < previous:
        return f"down {previous - current}"
    return "same"


def platform_title(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.capitalize())


_LABEL_ROWS = {"offensive": "Offensive", "threat": "Threats",
               "defamation": "Possibly defamatory", "personal_data": "Personal data"}


@dataclass(frozen=True)
class GlanceRow:
    """One line of a comparison table: what, this month, last month; ``part`` when it is a
    part of the line above it (a label, a platform)."""

    name: str
    current: int
    previous: int
    part: bool = False

    @property
    def change(self) -> str:
        return change_text(self.current, self.previous)


def glance_rows(current: Stats, previous: Stats, *, keep_zero: bool = True
                ) -> list[GlanceRow]:
    """Given a month's and the month before's numbers, return the rows that compare them;
    without ``keep_zero``, rows that are 0 in both months are left out (flagged comments
    always stay)."""
    rows = [GlanceRow("Flagged comments", current.flagged_comments, previous.flagged_comments)]
    rows += [GlanceRow(_LABEL_ROWS[label], current.by_label.get(label, 0),
                       previous.by_label.get(label, 0), part=True) for label in COMMENT_LABELS]
    platforms = sorted(set(current.by_platform) | set(previous.by_platform))
    rows += [GlanceRow(f"On {platform_title(p)}", current.by_platform.get(p, 0),
                       previous.by_platform.get(p, 0), part=True) for p in platforms]
    rows += [
        GlanceRow("Hidden (removed from view)", current.hidden, previous.hidden, part=True),
        GlanceRow("Repeat senders", len(current.repeat_senders),
                  len(previous.repeat_senders)),
        GlanceRow("Harassment cases opened", current.cases_opened, previous.cases_opened),
        GlanceRow("Harassment cases closed", current.cases_closed, previous.cases_closed),
        GlanceRow("Possible copyright images in own posts", current.copyright_flags,
                  previous.copyright_flags),
        GlanceRow("Meeting reminders (posting during a meeting)", current.meeting_bursts,
                  previous.meeting_bursts),
    ]
    return [r for i, r in enumerate(rows) if keep_zero or i == 0 or r.current or r.previous]


def no_data_text(month: str) -> str:
    """The sentence a report with nothing in it says."""
    return f"No flagged comments, cases or meeting reminders in {month_title(month)}."


def _timing_text(what: str, median: float | None, count: int, none: str) -> str:
    if median is None:
        return f"Median time from comment to {what}: {none}."
    return f"Median time from comment to {what}: {duration_text(median)} " \
        f"(of {_count(count, 'comment')})."


def timing_lines(stats: Stats) -> list[str]:
    """Given a month's numbers, return the two sentences about how quickly flagged comments
    were alerted and hidden."""
    return [_timing_text("alert sent", stats.median_to_alert, stats.alerted,
                         "no alert was sent about them"),
            _timing_text("removal (hidden)", stats.median_to_removal, stats.hidden,
                         "none was hidden")]


# ---------------------------------------------------------------------------------------------
# Charts (matplotlib's Agg renderer, no pyplot: no global figure state, safe in a thread)

_COLOURS = {"offensive": "#E69F00", "threat": "#D55E00", "defamation": "#0072B2",
            "personal_data": "#009E73"}  # Okabe-Ito: told apart with colour-blindness too
_CURRENT, _PREVIOUS, _THREATS = "#0072B2", "#B8B8B8", "#D55E00"
_RC = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same PNG on every machine
    "font.size": 13, "figure.titlesize": 15, "figure.titleweight": "bold",
    "axes.labelsize": 13, "xtick.labelsize": 12, "ytick.labelsize": 12,
    "legend.fontsize": 12, "axes.spines.top": False, "axes.spines.right": False,
    "svg.hashsalt": "councillor-watcher", "path.simplify": False,
}
#: No "Software" (or any time) in the PNG: the same numbers give the same bytes.
_PNG_METADATA: dict[str, str | None] = {"Software": None}
_DPI = 150
_WIDTH = 6.4  # inches: 960 px, legible when a phone shrinks it to its width
_render_lock = threading.Lock()  # rcParams are process-wide


@dataclass(frozen=True)
class Chart:
    """One chart: its kind (``members``, ``labels``, ``trend``), title, a text alternative
    that says what it shows, and its PNG."""

    kind: str
    title: str
    alt: str
    png: bytes


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata=_PNG_METADATA)
    return buf.getvalue()


def _title(fig: Figure, text: str) -> None:
    # On the figure, not the axes: a long member name on the axis never pushes it off.
    fig.suptitle(text, x=0.01, ha="left")


def _short_month(month: str) -> str:
    year, number = parse_month(month)
    return f"{MONTH_NAMES[number - 1][:3]}\n{year}"


def _members_chart(group: GroupSummary, title: str) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    members = sorted(group.members, key=lambda m: (-m.current.flagged_comments, m.name.lower()))
    fig = Figure(figsize=(_WIDTH, 2.6 + 0.55 * len(members)), layout="constrained")
    ax = fig.add_subplot()
    rows = range(len(members))
    left = [0] * len(members)
    # Each comment once, under its most serious label, so that a bar is as long as the
    # member's count of flagged comments in the tables.
    for label in SERIOUSNESS:
        values = [m.current.by_main_label.get(label, 0) for m in members]
        ax.barh(rows, values, left=left, height=0.62, color=_COLOURS[label],
                label=LABEL_TITLES[label])
        left = [a + b for a, b in zip(left, values, strict=True)]
    for row, total in zip(rows, left, strict=True):
        ax.annotate(str(total), (total, row), xytext=(5, 0), textcoords="offset points",
                    va="center", fontweight="bold")
    ax.set_yticks(list(rows), [textwrap.fill(m.name, 22) for m in members])
    ax.invert_yaxis()  # most flagged first, at the top
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max([*left, 1]) * 1.12)
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    ax.set_xlabel("Flagged comments")
    _title(fig, f"Flagged comments per member\n{title}")
    fig.legend(loc="outside lower center", ncols=2, frameon=False,
               title="Coloured by the comment's most serious label")
    return _png(fig)


def _labels_chart(group: GroupSummary, title: str, previous_title: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH, 4.8), layout="constrained")
    ax = fig.add_subplot()
    xs = range(len(COMMENT_LABELS))
    width = 0.38
    before = [group.previous.by_label.get(label, 0) for label in COMMENT_LABELS]
    now = [group.current.by_label.get(label, 0) for label in COMMENT_LABELS]
    bars_before = ax.bar([x - width / 2 for x in xs], before, width, color=_PREVIOUS,
                         label=previous_title)
    bars_now = ax.bar([x + width / 2 for x in xs], now, width, color=_CURRENT, label=title)
    ax.bar_label(bars_before, padding=2)
    ax.bar_label(bars_now, padding=2, fontweight="bold")
    ax.set_xticks(list(xs), [textwrap.fill(LABEL_TITLES[label], 11)
                             for label in COMMENT_LABELS])
    ax.set_yticks([])  # every bar carries its number
    ax.spines["left"].set_visible(False)
    ax.set_ylim(0, max([*before, *now, 1]) * 1.2)
    _title(fig, f"Flagged comments by label\n{title} against {previous_title}")
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return _png(fig)


def _trend_chart(group: GroupSummary) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH, 4.4), layout="constrained")
    ax = fig.add_subplot()
    xs = range(len(group.trend))
    width = 0.38
    flagged = [p.flagged_comments for p in group.trend]
    threats = [p.threats for p in group.trend]
    ax.bar_label(ax.bar([x - width / 2 for x in xs], flagged, width, color=_CURRENT,
                        label="All flagged comments"), padding=2)
    # No "0" over every month without a threat: a missing red bar says it.
    ax.bar_label(ax.bar([x + width / 2 for x in xs], threats, width, color=_THREATS,
                        label="Threats"), labels=[str(t) if t else "" for t in threats],
                 padding=2)
    ax.set_xticks(list(xs), [_short_month(p.month) for p in group.trend])
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_ylim(0, max([*flagged, 1]) * 1.2)
    first, last = group.trend[0].month, group.trend[-1].month
    _title(fig, f"Flagged comments, last {len(group.trend)} months\n"
           f"{month_title(first)} to {month_title(last)}")
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return _png(fig)


def _counts_text(pairs: Iterable[tuple[str, int]]) -> str:
    return "; ".join(f"{name}: {n}" for name, n in pairs)


def charts(report: MonthlyReport, group: GroupSummary) -> tuple[Chart, ...]:
    """Given a report and one of its groups, return the group's charts: flagged comments per
    member by label (when the month has any), this month against last by label (when either
    has any), and the last six months (when any of them has any)."""
    import matplotlib

    title, before = report.title, month_title(report.previous_month)
    out = []
    with _render_lock, matplotlib.rc_context(_RC):
        if group.current.flagged_comments:
            out.append(Chart(
                "members", f"Flagged comments per member, {title}",
                "Flagged comments per member: " + _counts_text(
                    (m.name, m.current.flagged_comments) for m in group.members),
                _members_chart(group, title)))
        if group.current.flagged_comments or group.previous.flagged_comments:
            out.append(Chart(
                "labels", f"Flagged comments by label, {title} and {before}",
                f"Flagged comments by label, {title} ({before} in brackets): " + "; ".join(
                    f"{LABEL_TITLES[lab]}: {group.current.by_label.get(lab, 0)} "
                    f"({group.previous.by_label.get(lab, 0)})" for lab in COMMENT_LABELS),
                _labels_chart(group, title, before)))
        if any(p.flagged_comments for p in group.trend):
            out.append(Chart(
                "trend", f"Flagged comments, last {len(group.trend)} months",
                "Flagged comments (threats) per month: " + "; ".join(
                    f"{month_title(p.month)}: {p.flagged_comments} ({p.threats})"
                    for p in group.trend),
                _trend_chart(group)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# HTML, text and CSV

_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }}: {{ title }}</title>
<style>
body { margin: 0; padding: 16px; background: #ffffff; color: #1b1b1b;
       font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       font-size: 18px; line-height: 1.5; -webkit-text-size-adjust: 100%; }
main { max-width: 40rem; margin: 0 auto; }
h1 { font-size: 1.6em; line-height: 1.25; margin: 0 0 .2em; }
h2 { font-size: 1.3em; margin: 1.6em 0 .5em; padding-top: .8em; border-top: 2px solid #d8d8d8; }
h3 { font-size: 1.12em; margin: 1.4em 0 .3em; }
p { margin: .5em 0; }
.sub, .note, figcaption { color: #4b5358; }
.note, figcaption { font-size: .9em; }
.empty { font-size: 1.1em; padding: 12px 16px; background: #f3f2f1;
         border-left: 6px solid #0072b2; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
caption { text-align: left; font-weight: bold; padding: 0 0 .3em; }
th, td { text-align: left; vertical-align: top; padding: 8px 6px; border-bottom: 1px solid #c8c8c8; }
@media (max-width: 480px) { body { font-size: 16px; } th, td { padding: 6px 4px; } }
thead th { border-bottom: 2px solid #6f777b; }
th.part { font-weight: normal; padding-left: 1.4em; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.2em 0; }
img { display: block; width: 100%; max-width: 100%; height: auto; }
</style>
</head>
<body>
<main>
<h1>{{ heading }}</h1>
<p class="sub">Online safety summary for {{ title }}<br>
{{ members_text }} · Facebook pages and X accounts watched by Councillor Watcher</p>
{% if not g.current.has_data %}
<p class="empty">{{ empty_text }}</p>
{% endif %}
{% if g.current.has_data or g.previous.has_data %}
<h2>At a glance</h2>
<div class="scroll"><table>
<caption>The whole group: {{ title }} against {{ previous_title }}</caption>
<thead><tr><th scope="col">What</th><th scope="col" class="n">{{ title[:3] }}</th>
<th scope="col" class="n">{{ previous_title[:3] }}</th><th scope="col" class="n">Change</th></tr></thead>
<tbody>
{% for row in glance %}<tr><th scope="row"{% if row.part %} class="part"{% endif %}>{{ row.name }}</th><td class="n">{{ row.current }}</td>
<td class="n">{{ row.previous }}</td><td class="n">{{ row.change }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% for line in timing %}<p>{{ line }}</p>
{% endfor %}
{% endif %}
{% for chart in charts %}
<figure>
<img src="{{ src(chart) }}" alt="{{ chart.alt }}" style="width:100%;max-width:960px;height:auto">
<figcaption>{{ captions[chart.kind] }}</figcaption>
</figure>
{% endfor %}
{% if g.members %}
<h2>By member</h2>
<div class="scroll"><table>
<caption>{{ title }}; change against {{ previous_title }}</caption>
<thead><tr><th scope="col">Member</th><th scope="col" class="n">Flagged comments</th>
<th scope="col" class="n">Threats</th><th scope="col" class="n">Cases opened</th>
<th scope="col" class="n">Change</th></tr></thead>
<tbody>
{% for m in g.members %}<tr><th scope="row">{{ m.name }}</th>
<td class="n">{{ m.current.flagged_comments }}</td><td class="n">{{ m.current.threats }}</td>
<td class="n">{{ m.current.cases_opened }}</td>
<td class="n">{{ change(m.current.flagged_comments, m.previous.flagged_comments) }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% for m in g.members if m.current.has_data %}
<h3>{{ m.name }}</h3>
<div class="scroll"><table>
<thead><tr><th scope="col">What</th><th scope="col" class="n">{{ title[:3] }}</th>
<th scope="col" class="n">{{ previous_title[:3] }}</th></tr></thead>
<tbody>
{% for row in member_rows(m) %}<tr><th scope="row"{% if row.part %} class="part"{% endif %}>{{ row.name }}</th>
<td class="n">{{ row.current }}</td><td class="n">{{ row.previous }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% for line in timing_of(m.current) %}<p>{{ line }}</p>
{% endfor %}
{% if m.current.repeat_senders %}
<div class="scroll"><table>
<caption>Repeat senders: 2 or more flagged comments to {{ m.name }}</caption>
<thead><tr><th scope="col">Sender (display name)</th><th scope="col">Platform</th>
<th scope="col" class="n">Flagged comments</th></tr></thead>
<tbody>
{% for r in m.current.repeat_senders %}<tr><td>{{ sender_name(r) }}</td>
<td>{{ platform(r.platform) }}</td><td class="n">{{ r.flagged_comments }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% endif %}
{% endfor %}
{% set quiet = g.members | rejectattr("current.has_data") | map(attribute="name") | list %}
{% if quiet and g.current.has_data %}
<p>Nothing flagged, no cases and no meeting reminders for: {{ quiet | join(", ") }}.</p>
{% endif %}
{% else %}
<p>No members are in this group.</p>
{% endif %}
<h2>About these numbers</h2>
<ul class="note">
{% for note in about %}
<li>{{ note }}</li>
{% endfor %}
</ul>
<p class="note">Made {{ made }} by Councillor Watcher.</p>
</main>
</body>
</html>
"""

CHART_CAPTIONS = {
    "members": "Each bar is one member's flagged comments this month. A comment with more "
               "than one label is coloured by the most serious: threat, then personal data, "
               "then possibly defamatory, then offensive.",
    "labels": "Grey: last month. Blue: this month. A comment with more than one label is "
              "counted under each.",
    "trend": "Blue: every flagged comment. Red: the threats among them.",
}

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)
_template = _env.from_string(_TEMPLATE)


def _sender_name(sender: RepeatSender) -> str:
    name = sender.name
    return name if len(name) <= _NAME_CHARS else name[:_NAME_CHARS - 1] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _members_text(group: GroupSummary) -> str:
    return _count(len(group.members), "member")


def heading(group: GroupSummary) -> str:
    return "Members with no group" if group.name == NO_GROUP else group.name


def about_notes(timezone: str) -> tuple[str, ...]:
    """What the summary's numbers mean, said under every copy of it (email, file, the
    dashboard), given the council's time zone."""
    return (f"A comment is counted in the month it was posted ({timezone} time).",
            "A comment can carry more than one label, so the labels can add up to more than "
            "the flagged comments.",
            "A repeat sender sent two or more flagged comments in the month: to one member, "
            "or, in the group's totals, to any of the group's members.",
            "This summary never quotes what was said. Member services hold the evidence for "
            "every flagged comment and case.")


def render_html(report: MonthlyReport, group: GroupSummary, chart_list: Sequence[Chart],
                src: Any) -> str:
    """Given a report, one of its groups, its charts and a function from a chart to the
    image's address (a relative file name, or ``cid:...`` in an email), return the group's
    self-contained HTML page."""
    zone = ZoneInfo(report.timezone)
    return _template.render(
        g=group, heading=heading(group), title=report.title,
        previous_title=month_title(report.previous_month),
        members_text=_members_text(group), empty_text=no_data_text(report.month),
        glance=glance_rows(group.current, group.previous),
        timing=timing_lines(group.current), charts=chart_list, captions=CHART_CAPTIONS, src=src,
        change=change_text, timing_of=timing_lines, sender_name=_sender_name,
        platform=platform_title, about=about_notes(report.timezone),
        member_rows=lambda m: glance_rows(m.current, m.previous, keep_zero=False),
        made=report.generated_at.astimezone(zone).strftime("%d %b %Y at %H:%M"))


def render_text(report: MonthlyReport, group: GroupSummary) -> str:
    """Given a report and one of its groups, return the plain-text version: the key numbers
    against last month, each member's line, and the repeat senders."""
    before = month_title(report.previous_month)
    lines = [f"{heading(group)}: online safety summary for {report.title}", ""]
    if not group.current.has_data:
        lines += [no_data_text(report.month), ""]
    if group.current.has_data or group.previous.has_data:
        lines.append(f"The whole group ({before} in brackets):")
        lines += [f"  {'  ' if r.part else ''}{r.name}: {r.current} ({r.previous}, {r.change})"
                  for r in glance_rows(group.current, group.previous, keep_zero=False)]
        lines += ["  " + line for line in timing_lines(group.current)]
        lines.append("")
    if group.members:
        lines.append("By member:")
    for m in group.members:
        c = m.current
        lines.append(f"  {m.name}: {_count(c.flagged_comments, 'flagged comment')} "
                     f"({_count(c.threats, 'threat')}), "
                     f"{change_text(c.flagged_comments, m.previous.flagged_comments)} on "
                     f"{before}; cases opened {c.cases_opened}, closed {c.cases_closed}")
        for r in c.repeat_senders:
            lines.append(f"    repeat sender: {_sender_name(r)} ({platform_title(r.platform)}),"
                         f" {_count(r.flagged_comments, 'flagged comment')}")
    lines += ["", "The charts are in the HTML version of this email; every number is in the "
              "attached CSV.", "This summary never quotes what was said: member services hold "
              "the evidence.", ""]
    return "\n".join(lines)


CSV_FIELDS = ("month", "group", "scope", "member_id", "member_name", "metric", "key", "value",
              "previous_value")


def _metric_rows(current: Stats, previous: Stats) -> list[tuple[str, str, Any, Any]]:
    """(metric, key, value, previous value) for one member or group."""
    rows: list[tuple[str, str, Any, Any]] = [
        ("flagged_comments", "", current.flagged_comments, previous.flagged_comments)]
    rows += [("flagged_comments_by_label", label, current.by_label.get(label, 0),
              previous.by_label.get(label, 0)) for label in COMMENT_LABELS]
    rows += [("flagged_comments_by_main_label", label, current.by_main_label.get(label, 0),
              previous.by_main_label.get(label, 0)) for label in SERIOUSNESS]
    rows += [("flagged_comments_by_platform", p, current.by_platform.get(p, 0),
              previous.by_platform.get(p, 0))
             for p in sorted(set(current.by_platform) | set(previous.by_platform))]

    def seconds(v: float | None) -> Any:
        return "" if v is None else round(v)

    rows += [
        ("threats", "", current.threats, previous.threats),
        ("copyright_flags", "", current.copyright_flags, previous.copyright_flags),
        ("meeting_bursts", "", current.meeting_bursts, previous.meeting_bursts),
        ("cases_opened", "", current.cases_opened, previous.cases_opened),
        ("cases_closed", "", current.cases_closed, previous.cases_closed),
        ("repeat_senders", "", len(current.repeat_senders), len(previous.repeat_senders)),
        ("comments_alerted", "", current.alerted, previous.alerted),
        ("median_seconds_to_alert", "", seconds(current.median_to_alert),
         seconds(previous.median_to_alert)),
        ("comments_hidden", "", current.hidden, previous.hidden),
        ("median_seconds_to_removal", "", seconds(current.median_to_removal),
         seconds(previous.median_to_removal)),
    ]
    return rows


def render_csv(report: MonthlyReport, group: GroupSummary) -> bytes:
    """Given a report and one of its groups, return its CSV (UTF-8, a header row): one row per
    member per metric (and label or platform), then the group's totals (scope ``group``).
    Repeat senders are counted, never named, here."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for m in group.members:
        for metric, key, value, previous in _metric_rows(m.current, m.previous):
            writer.writerow((report.month, group.name, "member", m.member_id, m.name, metric,
                             key, value, previous))
    for metric, key, value, previous in _metric_rows(group.current, group.previous):
        writer.writerow((report.month, group.name, "group", "", "", metric, key, value,
                         previous))
    return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------
# One group's files


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "group"


def slugs(report: MonthlyReport) -> dict[str, str]:
    """Given a report, return {group name: file-name part}, distinct for every group (two
    names that differ only in case or punctuation get ``-2``, ``-3``)."""
    taken: set[str] = set()
    out = {}
    for g in report.groups:
        base = slug = _slug(g.name)
        n = 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        out[g.name] = slug
    return out


@dataclass(frozen=True)
class RenderedGroup:
    """One group's summary made: the file names' stem, the page for files and for email, the
    text version, the CSV and the charts."""

    group: str
    stem: str
    html_file: str
    html_email: str
    text: str
    csv: bytes
    charts: tuple[Chart, ...]

    def chart_name(self, chart: Chart) -> str:
        return f"{self.stem}-{chart.kind}.png"

    def chart_cid(self, chart: Chart) -> str:
        return f"{chart.kind}.{self.stem}"

    @property
    def html_name(self) -> str:
        return f"{self.stem}.html"

    @property
    def csv_name(self) -> str:
        return f"{self.stem}.csv"


def file_stem(month: str, slug: str) -> str:
    """The name (without extension) of a group's summary files for a month."""
    return f"safety-summary-{month}-{slug}"


def render_group(report: MonthlyReport, group: GroupSummary, slug: str) -> RenderedGroup:
    """Given a report, one of its groups and its file-name part, return everything the group's
    summary consists of."""
    stem = file_stem(report.month, slug)
    chart_list = charts(report, group)
    base = RenderedGroup(group.name, stem, "", "", "", b"", chart_list)
    return RenderedGroup(
        group=group.name, stem=stem,
        html_file=render_html(report, group, chart_list, base.chart_name),
        html_email=render_html(report, group, chart_list,
                               lambda c: f"cid:{base.chart_cid(c)}"),
        text=render_text(report, group), csv=render_csv(report, group), charts=chart_list)


def _write(path: Path, data: bytes) -> None:
    # Written beside and renamed: a reader (or a web server) never sees half a file.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_monthly(report: MonthlyReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Given a report and a folder (created if missing), write each group's HTML page, CSV and
    chart PNGs there (the page shows the PNGs beside it by relative name) and return the paths
    written, group by group: HTML, CSV, then charts. Files of the same name are replaced.

    Raises ReportError naming the folder if it cannot be created or written.
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the report folder {folder}: "
                          f"{exc.strerror or exc}") from None
    written: list[Path] = []
    names = slugs(report)
    for group in report.groups:
        made = render_group(report, group, names[group.name])
        files = [(made.html_name, made.html_file.encode("utf-8")), (made.csv_name, made.csv)]
        files += [(made.chart_name(c), c.png) for c in made.charts]
        for name, data in files:
            try:
                _write(folder / name, data)
            except OSError as exc:
                raise ReportError(f"cannot write the report into {folder}: "
                                  f"{exc.strerror or exc}") from None
            written.append(folder / name)
    log.info("report.written", month=report.month, folder=str(folder), files=len(written))
    return written


# ---------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class GroupDelivery:
    """What became of one group's summary.

    ``status``: ``sent`` (every leader), ``partly_sent`` (some leaders refused), ``failed``
    (none delivered), ``already_sent`` (sent before: ``previously_sent_at``) or
    ``no_leaders``. ``refused`` holds (address, why) for each leader not delivered to.
    """

    group: str
    status: str
    delivered: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    previously_sent_at: datetime | None = None


@dataclass(frozen=True)
class SendOutcome:
    month: str
    groups: tuple[GroupDelivery, ...]

    @property
    def sent(self) -> tuple[str, ...]:
        """The groups delivered to at least one leader by this run."""
        return tuple(g.group for g in self.groups if g.delivered)

    @property
    def refused(self) -> tuple[tuple[str, str, str], ...]:
        """(group, address, why) for every leader not delivered to."""
        return tuple((g.group, a, why) for g in self.groups for a, why in g.refused)

    @property
    def ok(self) -> bool:
        return not self.refused


def _message_id(stem: str, address: str, sender: str, force: bool) -> str:
    """A Message-ID stable for (month, group, leader), so a copy sent again after a crash
    between delivery and its record is recognised as the same; a forced resend is new."""
    domain = sender.rpartition("@")[2] or "councillor-watcher.invalid"
    who = hashlib.sha256(address.lower().encode("utf-8")).hexdigest()[:12]
    extra = f".{uuid.uuid4().hex[:12]}" if force else ""
    return f"<{stem}.{who}{extra}@{domain}>"


def _message(made: RenderedGroup, group: GroupSummary, report: MonthlyReport, address: str,
             sender: str, force: bool) -> Message:
    return Message(
        to=(address,),
        subject=f"{heading(group)}: online safety summary for {report.title}",
        text=made.text, html=made.html_email,
        message_id=_message_id(made.stem, address, sender, force),
        inline_images=tuple((made.chart_cid(c), c.png) for c in made.charts),
        attachments=((made.csv_name, "text/csv", made.csv),))


def _sent_before(store: Store, month: str) -> dict[str, datetime]:
    with store.session() as s:
        return {group: sent_at for group, sent_at in s.execute(
            select(ReportRunRow.group_name, ReportRunRow.sent_at)
            .where(ReportRunRow.month == month))}


def _record_run(store: Store, month: str, group: str, delivered: Sequence[str]) -> None:
    """Record that ``group``'s summary for ``month`` reached ``delivered`` (replacing an
    earlier record when forced)."""
    now = store.clock()
    try:
        with store.session() as s:
            row = s.scalar(select(ReportRunRow).where(ReportRunRow.month == month,
                                                      ReportRunRow.group_name == group))
            if row is None:
                row = ReportRunRow(month=month, group_name=group)
                s.add(row)
            row.sent_at, row.recipients_json = now, json.dumps(sorted(delivered))
            record_action(s, now, "report.sent", month=month, group=group,
                          recipients=len(delivered))
    except IntegrityError:
        # Another run recorded the same group at the same moment: it was sent, which is all
        # the record is for.
        log.warning("report.recorded_elsewhere", month=month, group=group)


def _deliver(channel: Channel, messages: Sequence[tuple[str, Message]], month: str,
             group: str) -> tuple[list[str], list[tuple[str, str]]]:
    delivered: list[str] = []
    refused: list[tuple[str, str]] = []
    for address, message in messages:
        try:
            channel.send(message)
        except DeliveryError as exc:
            reason = logs.redact_text(str(exc))
            refused.append((address, reason))
            log.warning("report.delivery_failed", month=month, group=group, to=address,
                        error=reason)
        else:
            delivered.append(address)
    return delivered, refused


def send_monthly(store: Store, config: Config, channel: Channel, month: str, *,
                 force: bool = False, report: MonthlyReport | None = None) -> SendOutcome:
    """Given the store, config, a channel and a month that has ended, email each group's
    summary to each of its leaders (one message per leader: the HTML with its charts inline,
    a plain-text alternative, the CSV attached) and record each group reached in
    ``report_runs``. ``report`` is the month's report if already built.

    A group whose summary was sent before is skipped unless ``force``; a group without
    leaders is skipped. A leader the mail server refuses is reported in the outcome and logged;
    the other leaders and groups are still sent. A group is recorded as sent when at least one
    of its leaders received it, so a later run does not send it again (``force`` does).

    Raises ReportError for a malformed month or one not yet over (a summary sent early would
    stand in for the full month's).
    """
    _, end = month_bounds(month, config.timezone)
    now = store.clock()
    if now < end:
        until = end.astimezone(_zone(config.timezone)).strftime("%d %b %Y %H:%M")
        raise ReportError(f"{month} is not over until {until}: its summary cannot be sent yet")
    if report is None or report.month != month:
        report = build_monthly(store, config, month)
    sent_before = _sent_before(store, month)
    names = slugs(report)
    results = []
    for group in report.groups:
        if not group.leader_emails:
            log.info("report.no_leaders", month=month, group=group.name)
            results.append(GroupDelivery(group.name, "no_leaders"))
            continue
        if group.name in sent_before and not force:
            log.info("report.already_sent", month=month, group=group.name,
                     sent_at=sent_before[group.name].isoformat())
            results.append(GroupDelivery(group.name, "already_sent",
                                         previously_sent_at=sent_before[group.name]))
            continue
        made = render_group(report, group, names[group.name])
        leaders = list(dict.fromkeys(group.leader_emails))  # a leader listed twice: one copy
        messages = [(a, _message(made, group, report, a, config.smtp.sender, force))
                    for a in leaders]
        delivered, refused = _deliver(channel, messages, month, group.name)
        if delivered:
            _record_run(store, month, group.name, delivered)
            log.info("report.sent", month=month, group=group.name, recipients=len(delivered),
                     refused=len(refused))
        status = "failed" if not delivered else "partly_sent" if refused else "sent"
        results.append(GroupDelivery(group.name, status, tuple(delivered), tuple(refused),
                                     sent_before.get(group.name)))
    return SendOutcome(month=month, groups=tuple(results))


def _send_time(config: Config) -> tuple[int, int]:
    hours, _, minutes = config.reports.send_at.partition(":")
    return int(hours), int(minutes)


def due(now: datetime, config: Config, store: Store) -> str | None:
    """Given the time (naive = UTC), the config and the store, return the month whose summary
    the daemon should send now, or None.

    That is the previous local month, from the 1st at ``reports.send_at`` local time on, while
    some group with leaders has not been sent it; None when ``reports.monthly`` is off, before
    that time, when no group has leaders, or when every such group has it.
    """
    if not config.reports.monthly:
        return None
    local = _aware(now).astimezone(_zone(config.timezone))
    if local.day == 1 and (local.hour, local.minute) < _send_time(config):
        return None
    month = previous_month(now, config.timezone)
    with_leaders = {g.name for g in config.groups if g.leader_emails}
    if not with_leaders or with_leaders <= set(_sent_before(store, month)):
        return None
    return month
