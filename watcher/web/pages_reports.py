"""The monthly safety summary (group leaders and member services) with its charts and CSV,
and the service status page (member services).

The summary's numbers, charts and CSV come from :mod:`watcher.reports` (``build_monthly``,
``glance_rows``, ``timing_lines``, ``charts``, ``render_csv``), so a group leader sees on the
dashboard exactly what the emailed summary says; only the layout is the dashboard's (the
report's own HTML carries inline styles, which the dashboard's CSP refuses). The report never
selects comment text, so no comment can reach these pages. The status page shows
:func:`watcher.status.gather`, the same numbers as ``watcher status``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from watcher import reports, status
from watcher.errors import ReportError, StoreError
from watcher.reports import Chart, GroupSummary, MonthlyReport
from watcher.web.core import Ctx, forbidden, not_found, page, render
from watcher.web.users import GROUP_LEADER, MEMBER_SERVICES, Viewer

#: Months offered in the month picker, ending with the current one.
MONTHS_OFFERED = 12
#: Groups' chart sets kept in memory; each is three PNGs of a few tens of KB.
CHART_CACHE_SIZE = 32


# ---------------------------------------------------------------------------------------------
# Months and groups


def _current_month(ctx: Ctx) -> str:
    """The council's current local month, ``YYYY-MM``, by the store's clock."""
    return reports.month_of(ctx.app.store.clock(), ctx.app.config.timezone)


def _checked_month(month: str, current: str) -> str:
    """Given a requested month and the current one, return the month if a summary of it can
    be shown. Raises ReportError (the message says why) for a malformed month or one that
    has not begun."""
    reports.parse_month(month)
    # YYYY-MM strings with four-digit years sort as the months do.
    if month > current:
        raise ReportError(f"{reports.month_title(month)} has not begun yet: the latest "
                          f"summary is for {reports.month_title(current)}, so far")
    return month


def _build(ctx: Ctx, month: str, current: str) -> MonthlyReport:
    """Given a requested month (unchecked) and the current month, return its report.
    Raises ReportError for a month that cannot be shown (including the first months of
    1970, whose six-month trend would start before the reports' range)."""
    return reports.build_monthly(ctx.app.store, ctx.app.config, _checked_month(month, current))


def _bad_month(request: Request, ctx: Ctx, exc: ReportError) -> Response:
    """The 400 page for a month that cannot be shown, saying why (the reason quotes what was
    asked for; the template escapes it)."""
    why = str(exc)
    return render(request, ctx.app, "error.html", ctx, status=400,
                  title="That month cannot be shown",
                  message=f"{why[:1].upper()}{why[1:]}. Choose a month from the list on the "
                          "summary page; months are written year then month, e.g. 2026-03.")


def _default_group(report: MonthlyReport, viewer: Viewer) -> GroupSummary | None:
    """The group a viewer sees when they name none: a leader's own; for member services the
    first group with something this month, else the first group (None when there is none).
    Raises KeyError if a leader's group is not in the report (no longer configured)."""
    if not viewer.sees_everything:
        return report.group(viewer.group_name or "")
    return next((g for g in report.groups if g.has_data),
                report.groups[0] if report.groups else None)


def _months_offered(current: str, chosen: str) -> list[tuple[str, str]]:
    """(``YYYY-MM``, title) of the last ``MONTHS_OFFERED`` months, newest first, and the
    chosen month too if it is older."""
    months = [reports.shift_month(current, -n) for n in range(MONTHS_OFFERED)]
    if chosen not in months:
        months.append(chosen)
    return [(m, reports.month_title(m)) for m in months]


# ---------------------------------------------------------------------------------------------
# Charts, cached: matplotlib takes a good part of a second per set, and the page and its three
# images each need the same set.

_chart_cache: OrderedDict[tuple[str, str, str], tuple[Chart, ...]] = OrderedDict()
_chart_cache_lock = threading.Lock()


def _fingerprint(report: MonthlyReport, group: GroupSummary) -> str:
    """A digest of everything a group's charts are drawn from: its numbers and the months.
    The summaries are frozen dataclasses of plain values, so their repr is their content."""
    data = repr((report.month, report.previous_month, group))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def group_charts(report: MonthlyReport, group: GroupSummary) -> tuple[Chart, ...]:
    """Given a report and one of its groups, return the group's charts (as
    :func:`reports.charts`), from the cache when the same numbers were drawn before."""
    key = (report.month, group.name, _fingerprint(report, group))
    with _chart_cache_lock:
        if key in _chart_cache:
            _chart_cache.move_to_end(key)
            return _chart_cache[key]
    made = reports.charts(report, group)
    with _chart_cache_lock:
        _chart_cache[key] = made
        while len(_chart_cache) > CHART_CACHE_SIZE:
            _chart_cache.popitem(last=False)
    return made


# ---------------------------------------------------------------------------------------------
# The summary page


@page(MEMBER_SERVICES, GROUP_LEADER)
async def summary(request: Request, ctx: Ctx) -> Response:
    """One group's monthly summary: the month so far by default, any earlier month by
    ``?month=YYYY-MM``; member services choose the group with ``?group=NAME``."""
    current = _current_month(ctx)
    month = request.query_params.get("month", "").strip()[:16] or current
    requested = request.query_params.get("group", "").strip()[:200]
    if requested and not ctx.viewer.may_see_group(requested):
        return forbidden(request, ctx, f"the summary of group {requested}")
    try:
        report = _build(ctx, month, current)
    except ReportError as exc:
        return _bad_month(request, ctx, exc)
    try:
        group = report.group(requested) if requested else _default_group(report, ctx.viewer)
    except KeyError:
        return not_found(request, ctx, "summary for that group")
    chart_list = await run_in_threadpool(group_charts, report, group) if group else ()
    return render(request, ctx.app, "summary.html", ctx, **_summary_values(
        report, group, chart_list, current=current, now=ctx.app.store.clock(),
        viewer=ctx.viewer))


def _summary_values(report: MonthlyReport, group: GroupSummary | None,
                    chart_list: tuple[Chart, ...], *, current: str, now: datetime,
                    viewer: Viewer) -> dict[str, object]:
    """The summary template's values for ``group`` (None: there is no group to show)."""
    month = report.month
    following = reports.shift_month(month, 1)
    later = following if following <= current else None  # none to a month not yet begun
    heading = reports.heading(group) if group else "Monthly summary"
    return {
        "title": f"{heading}: {report.title}",
        "heading": heading, "report": report, "group": group, "month": month,
        "month_title": report.title,
        "previous_month": report.previous_month,
        "previous_title": reports.month_title(report.previous_month),
        # Column headings: short, so the tables fit a phone's width without scrolling.
        "month_short": reports.month_title(month)[:3],
        "previous_short": reports.month_title(report.previous_month)[:3],
        "is_current": month == current, "now": now,
        "months": _months_offered(current, month),
        "groups": [(g.name, reports.heading(g)) for g in report.groups]
        if viewer.sees_everything else [],
        "later": later, "later_title": reports.month_title(later) if later else "",
        "slug": reports.slugs(report)[group.name] if group else "",
        "glance": reports.glance_rows(group.current, group.previous) if group else [],
        "timing": reports.timing_lines(group.current) if group else [],
        "about": reports.about_notes(report.timezone),
        "member_rows": _member_rows, "timing_of": reports.timing_lines,
        "change": reports.change_text, "charts": chart_list, "captions": reports.CHART_CAPTIONS,
        "no_data": reports.no_data_text(month),
    }


def _member_rows(member: reports.MemberSummary) -> list[reports.GlanceRow]:
    """A member's comparison rows, as the emailed summary shows them (zero rows left out)."""
    return reports.glance_rows(member.current, member.previous, keep_zero=False)


# ---------------------------------------------------------------------------------------------
# The summary's files: chart PNGs and the CSV


def _group_of(request: Request, ctx: Ctx
              ) -> tuple[MonthlyReport, GroupSummary, str] | Response:
    """Given a request for one of a group's files, resolve ``{month}`` and ``{slug}`` from
    its path and return (report, group, slug) if the viewer may see that group; else the
    refusal to send: 400 for a bad month, 404 for an unknown group, 403 for another group's
    files (audited)."""
    try:
        report = _build(ctx, request.path_params["month"][:16], _current_month(ctx))
    except ReportError as exc:
        return _bad_month(request, ctx, exc)
    slug = request.path_params["slug"]
    by_slug = {s: name for name, s in reports.slugs(report).items()}
    if slug not in by_slug:
        return not_found(request, ctx, "summary for that group")
    name = by_slug[slug]
    if not ctx.viewer.may_see_group(name):
        return forbidden(request, ctx, f"the summary files of group {name}")
    return report, report.group(name), slug


@page(MEMBER_SERVICES, GROUP_LEADER)
async def summary_chart(request: Request, ctx: Ctx) -> Response:
    """One of a group's charts (``members``, ``labels``, ``trend``) as a PNG; 404 for a
    chart the month has none of (it is drawn only when there is something to draw)."""
    resolved = _group_of(request, ctx)
    if isinstance(resolved, Response):
        return resolved
    report, group, _ = resolved
    chart_list = await run_in_threadpool(group_charts, report, group)
    chart = next((c for c in chart_list if c.kind == request.path_params["kind"]), None)
    if chart is None:
        return not_found(request, ctx, "such chart for this month")
    return Response(chart.png, media_type="image/png")


@page(MEMBER_SERVICES, GROUP_LEADER)
async def summary_csv(request: Request, ctx: Ctx) -> Response:
    """A group's month as CSV (every number in the summary; repeat senders counted, never
    named), downloaded as the emailed summary's attachment is named."""
    resolved = _group_of(request, ctx)
    if isinstance(resolved, Response):
        return resolved
    report, group, slug = resolved
    # The name render_group gives the attachment; render_group itself would draw the charts.
    filename = f"{reports.file_stem(report.month, slug)}.csv"
    return Response(reports.render_csv(report, group), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------------------------------------
# The status page


@page(MEMBER_SERVICES)
async def status_page(request: Request, ctx: Ctx) -> Response:
    """The service's health: each account's polling, the alerts outbox, and what was stored
    and flagged; 503 if the database cannot be read."""
    now = ctx.app.store.clock()
    try:
        report = status.gather(ctx.app.store, now)
    except StoreError as exc:
        return render(request, ctx.app, "error.html", ctx, status=503,
                      title="The status cannot be read", message=str(exc))
    return render(request, ctx.app, "status.html", ctx, title="Service status",
                  report=report, problems=report.problems, now=now, ago=_ago(now),
                  oldest_age=reports.duration_text(report.outbox.oldest_age(now))
                  if report.outbox.pending else "",
                  window_hours=int(status.FINDINGS_WINDOW.total_seconds() // 3600))


def _ago(now: datetime) -> Callable[[datetime | None], str]:
    """Given the page's time, return a function from a time to how long before it that was
    (``"35 min ago"``), or ``""`` for no time."""
    def ago(at: datetime | None) -> str:
        if at is None:
            return ""
        seconds = (now - at).total_seconds()
        if seconds < 0:
            return f"in {reports.duration_text(-seconds)}"
        return f"{reports.duration_text(seconds)} ago"
    return ago


ROUTES = [
    Route("/summary", summary),
    Route("/summary/{month}/{slug}/{kind}.png", summary_chart),
    Route("/summary/{month}/{slug}.csv", summary_csv),
    Route("/status", status_page),
]
