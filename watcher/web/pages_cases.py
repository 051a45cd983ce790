"""The case board, the case page (with its changes, notes and evidence pack) and the page of
one sender: everything they wrote on the accounts the viewer may see, and their cases.

Every change goes through :mod:`watcher.cases` with the signed-in user as the actor, so the
case's timeline and the actions log say who did it. A member sees and changes only their own
cases; group leaders reach none of these pages.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from watcher import cases, evidence, senders
from watcher.config import KNOWN_PLATFORMS
from watcher.domain import platform_name
from watcher.errors import CaseError
from watcher.store.models import AccountRow, CaseItemRow, ItemRow
from watcher.web import queries
from watcher.web.core import (
    Ctx,
    FormError,
    back_to,
    field,
    flash_messages,
    forbidden,
    not_found,
    page,
    path_id,
    read_form,
    render,
)
from watcher.web.users import MEMBER, MEMBER_SERVICES

STATUS_TITLES = {"open": "Open", "reported_to_police": "Reported to police",
                 "with_platform": "With the platform", "closed": "Closed"}
#: Closed cases shown on the board unless all are asked for (newest first).
CLOSED_SHOWN = 20
#: A note's length; the form refuses more before the case is touched.
MAX_NOTE = 4000
MAX_TITLE = 300
#: Items of one sender listed on their page (newest first); the counts cover all of them.
SENDER_ITEMS_SHOWN = 200

CASE_MESSAGES = {
    "opened": "Case opened.",
    "status": "Status changed.",
    "fields": "Saved.",
    "note": "Note added to the timeline.",
}


# ---------------------------------------------------------------------------------------------
# The board


@page(MEMBER_SERVICES, MEMBER)
async def board(request: Request, ctx: Ctx) -> Response:
    """The cases the viewer may see, grouped by status in the order of ``cases.STATUSES``,
    most recently updated first; closed ones cut to the newest ``CLOSED_SHOWN`` unless
    ``?closed=all``. Member services may filter by member (``?member=ID``)."""
    wanted = request.query_params.get("member", "")[:64] if ctx.viewer.sees_everything else ""
    show_all_closed = request.query_params.get("closed") == "all"
    with ctx.app.store.session() as s:
        members = queries.members(s, ctx.viewer)
    names = dict(members)
    if wanted and wanted not in names:
        return not_found(request, ctx, "such member")
    member_id = wanted or (None if ctx.viewer.sees_everything else ctx.viewer.member_id)
    if member_id is None and not ctx.viewer.sees_everything:
        # A member account without a member sees no case rather than every case.
        found: list[cases.CaseSummary] = []
    else:
        found = cases.list_cases(ctx.app.store, member_id=member_id)
    groups, closed_total = _group_by_status(found, show_all_closed)
    return render(request, ctx.app, "cases.html", ctx, title="Cases", groups=groups,
                  names=names, members=members, member=wanted, closed_total=closed_total,
                  closed_shown=CLOSED_SHOWN, show_all_closed=show_all_closed,
                  statuses=STATUS_TITLES, total=len(found))


def _group_by_status(found: list[cases.CaseSummary], all_closed: bool
                     ) -> tuple[list[tuple[str, list[cases.CaseSummary]]], int]:
    """Given cases, return [(status, cases newest-updated first)] for every status in
    ``cases.STATUSES`` order (closed ones cut to ``CLOSED_SHOWN`` unless ``all_closed``), and
    how many closed cases there are in all."""
    by_status: dict[str, list[cases.CaseSummary]] = {s: [] for s in cases.STATUSES}
    for c in found:
        by_status.setdefault(c.status, []).append(c)
    for group in by_status.values():
        group.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
    closed_total = len(by_status["closed"])
    if not all_closed:
        by_status["closed"] = by_status["closed"][:CLOSED_SHOWN]
    return list(by_status.items()), closed_total


# ---------------------------------------------------------------------------------------------
# One case


async def _case_page(request: Request, ctx: Ctx, *, status: int = 200,
                     error: str = "") -> Response:
    """Render the case page (404 for no such case, 403 for another member's), with
    ``error`` shown if given."""
    case_id = path_id(request, "case_id")
    try:
        detail = cases.show(ctx.app.store, case_id) if case_id is not None else None
    except CaseError:
        detail = None
    if detail is None:
        return not_found(request, ctx, "such case")
    c = detail.case
    if not ctx.viewer.may_see_member(c.member_id):
        return forbidden(request, ctx, f"case {c.id} of member {c.member_id}")
    with ctx.app.store.session() as s:
        names = dict(queries.members(s, ctx.viewer))
    # A case against a sender names them as their comments in it do, if any does.
    sender_name = next((i.author_name for i in detail.items if i.author_name
                        and (i.platform, i.author_id) == (c.sender_platform, c.sender_id)),
                       None)
    flash_ok, flash_error = flash_messages(request, CASE_MESSAGES)
    return render(request, ctx.app, "case.html", ctx, status=status,
                  title=f"Case #{c.id}: {c.title}", detail=detail,
                  c=c, member_name=names.get(c.member_id, c.member_id),
                  sender_name=sender_name,
                  ok="" if error else flash_ok, error=error or flash_error,
                  statuses=STATUS_TITLES, max_field=cases.MAX_FIELD, max_note=MAX_NOTE)


@page(MEMBER_SERVICES, MEMBER)
async def case_page(request: Request, ctx: Ctx) -> Response:
    """A case: its fields, its items, its timeline, and the forms to change it."""
    return await _case_page(request, ctx)


def _owned_case(request: Request, ctx: Ctx) -> tuple[int | None, Response | None]:
    """Return (the path's case id, None) if the viewer may change that case, else
    (None, the 404 or 403 response)."""
    case_id = path_id(request, "case_id")
    try:
        member_id = cases.case_member(ctx.app.store, case_id) if case_id is not None else None
    except CaseError:
        member_id = None
    if case_id is None or member_id is None:
        return None, not_found(request, ctx, "such case")
    if not ctx.viewer.may_see_member(member_id):
        return None, forbidden(request, ctx, f"case {case_id} of member {member_id}")
    return case_id, None


async def _change(request: Request, ctx: Ctx, ok: str, **form_fields: dict[str, Any]
                  ) -> Response:
    """Apply one case form through ``cases.update`` and go back to the case.

    Given the flash key to show on success and, per form field to read, ``field``'s keyword
    arguments. A bad field or a CaseError re-renders the case page with the message (400);
    nothing is changed then.
    """
    case_id, refused = _owned_case(request, ctx)
    if refused:
        return refused
    assert case_id is not None
    form = await read_form(request)
    try:
        values = {name: field(form, name, **opts) for name, opts in form_fields.items()}
        cases.update(ctx.app.store, case_id, actor=ctx.viewer.actor, **values)
    except (FormError, CaseError) as exc:
        return await _case_page(request, ctx, status=400, error=str(exc))
    return back_to(f"/cases/{case_id}", ok=ok)


@page(MEMBER_SERVICES, MEMBER)
async def case_status(request: Request, ctx: Ctx) -> Response:
    """Change the case's status."""
    return await _change(request, ctx, "status",
                         status={"required": True, "choices": cases.STATUSES})


@page(MEMBER_SERVICES, MEMBER)
async def case_fields(request: Request, ctx: Ctx) -> Response:
    """Set the assignee and the police's and the platform's references (empty clears)."""
    limit = {"limit": cases.MAX_FIELD}
    return await _change(request, ctx, "fields", assignee=limit, police_reference=limit,
                         platform_reference=limit)


@page(MEMBER_SERVICES, MEMBER)
async def case_note(request: Request, ctx: Ctx) -> Response:
    """Add a note to the case's timeline."""
    return await _change(request, ctx, "note", note={"limit": MAX_NOTE, "required": True})


@page(MEMBER_SERVICES, MEMBER)
async def case_export(request: Request, ctx: Ctx) -> Response:
    """Send the case's evidence pack as a zip download (``case.exported`` is recorded)."""
    case_id, refused = _owned_case(request, ctx)
    if refused:
        return refused
    assert case_id is not None
    try:
        # The PDF views take a while: off the event loop, so other pages stay responsive.
        data = await run_in_threadpool(_pack_bytes, ctx, case_id)
    except CaseError as exc:
        return await _case_page(request, ctx, status=400,
                                error=f"The evidence pack could not be made: {exc}")
    name = f"case-{case_id}-evidence.zip"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _pack_bytes(ctx: Ctx, case_id: int) -> bytes:
    """Write the case's pack into a temporary folder and return its bytes; the folder (and
    the personal data in it) is gone when this returns. Raises CaseError as export_pack."""
    with tempfile.TemporaryDirectory(prefix="watcher-pack-") as tmp:
        path = evidence.export_pack(ctx.app.store, ctx.app.config, case_id, tmp,
                                    actor=ctx.viewer.actor)
        return path.read_bytes()


# ---------------------------------------------------------------------------------------------
# One sender


@dataclass(frozen=True)
class SenderView:
    """What the viewer may see of one sender: their items (newest first, at most
    ``SENDER_ITEMS_SHOWN``), how many in all, per member what was stored, findings by label
    and the cases that involve them."""

    platform: str
    author_id: str
    author_name: str | None
    items: list[queries.ItemView]
    total: int
    members: list[tuple[str, str, senders.SenderHistory]]
    labels: list[tuple[str, int]]
    cases: list[cases.CaseSummary]


def _sender_item_ids(session: Session, ctx: Ctx, platform: str, author_id: str) -> list[int]:
    """The ids of the sender's items on accounts the viewer may see, newest first."""
    q = (select(ItemRow.id).join(AccountRow, AccountRow.id == ItemRow.account_id)
         .where(ItemRow.platform == platform, ItemRow.author_id == author_id))
    q = queries.scope_members(q, ctx.viewer, AccountRow.member_id)
    return list(session.scalars(q.order_by(ItemRow.created_at.desc(), ItemRow.id.desc())))


def _sender_member_ids(session: Session, ctx: Ctx, platform: str, author_id: str) -> list[str]:
    """The members (that the viewer may see) on whose accounts the sender wrote."""
    q = (select(AccountRow.member_id, func.min(ItemRow.created_at))
         .join(ItemRow, ItemRow.account_id == AccountRow.id)
         .where(ItemRow.platform == platform, ItemRow.author_id == author_id)
         .group_by(AccountRow.member_id))
    q = queries.scope_members(q, ctx.viewer, AccountRow.member_id)
    return [m for m, _ in sorted(session.execute(q), key=lambda r: (r[1], r[0]))]


def _sender_cases(ctx: Ctx, platform: str, author_id: str, holding: set[int]
                  ) -> list[cases.CaseSummary]:
    """The viewer's cases against this sender or among ``holding`` (the ids of the cases
    holding any of the sender's items), newest first."""
    scope = None if ctx.viewer.sees_everything else ctx.viewer.member_id
    found = [c for c in cases.list_cases(ctx.app.store, member_id=scope)
             if ctx.viewer.may_see_member(c.member_id)
             and (c.id in holding or (c.sender_platform == platform
                                      and c.sender_id == author_id))]
    return sorted(found, key=lambda c: c.id, reverse=True)


def _cases_holding(session: Session, platform: str, author_id: str) -> set[int]:
    """The ids of the cases (anyone's) that hold any item of the sender."""
    return set(session.scalars(
        select(CaseItemRow.case_id).join(ItemRow, ItemRow.id == CaseItemRow.item_id)
        .where(ItemRow.platform == platform, ItemRow.author_id == author_id)))


def load_sender(ctx: Ctx, platform: str, author_id: str) -> SenderView | None:
    """Given a platform and the platform's author id, return what the viewer may see of that
    sender, or None if the viewer may see none of their items (so a member cannot tell a
    sender who wrote only to others from one who never wrote)."""
    store = ctx.app.store
    with store.session() as s:
        ids = _sender_item_ids(s, ctx, platform, author_id)
        if not ids:
            return None
        items = queries.load_items(s, ids[:SENDER_ITEMS_SHOWN])
        items.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        names = dict(queries.members(s, ctx.viewer))
        now = store.clock()
        per_member = []
        for member_id in _sender_member_ids(s, ctx, platform, author_id):
            found = senders.history(s, member_id=member_id, platform=platform,
                                    author_id=author_id, before=now)
            if found is not None:
                per_member.append((member_id, names.get(member_id, member_id), found))
        holding = _cases_holding(s, platform, author_id)
    found_cases = _sender_cases(ctx, platform, author_id, holding)
    labels: Counter[str] = Counter()
    for _, _, found in per_member:
        labels.update({label: len(times) for label, times in found.by_label().items()})
    return SenderView(platform=platform, author_id=author_id,
                      author_name=next((v.author_name for v in items if v.author_name), None),
                      items=items, total=len(ids), members=per_member,
                      labels=labels.most_common(), cases=found_cases)


def _sender_path(request: Request) -> tuple[str, str] | None:
    """The path's (platform, author id), or None for an unknown platform or an empty id."""
    platform = request.path_params["platform"]
    author_id = request.path_params["author_id"]
    if platform not in KNOWN_PLATFORMS or not author_id.strip() or len(author_id) > 300:
        return None
    return platform, author_id


async def _sender_page(request: Request, ctx: Ctx, *, status: int = 200,
                       error: str = "") -> Response:
    """Render the sender's page (404 if unknown or the viewer may see none of their
    items), with ``error`` shown if given."""
    path = _sender_path(request)
    view = load_sender(ctx, *path) if path else None
    if view is None:
        return not_found(request, ctx, "such sender")
    who = view.author_name or view.author_id
    return render(request, ctx.app, "sender.html", ctx, status=status,
                  title=f"{who} on {platform_name(view.platform)}",
                  sender=view, error=error, statuses=STATUS_TITLES, max_title=MAX_TITLE)


@page(MEMBER_SERVICES, MEMBER)
async def sender_page(request: Request, ctx: Ctx) -> Response:
    """Everything one sender wrote on the accounts the viewer may see, and their cases."""
    return await _sender_page(request, ctx)


@page(MEMBER_SERVICES, MEMBER)
async def sender_case(request: Request, ctx: Ctx) -> Response:
    """Open a case against the sender for one member (a member: only for themselves), with
    every item the sender left on that member's accounts; then go to the new case."""
    path = _sender_path(request)
    view = load_sender(ctx, *path) if path else None
    if view is None or path is None:
        return not_found(request, ctx, "such sender")
    form = await read_form(request)
    try:
        member_id = field(form, "member_id", limit=64, required=True)
        title = field(form, "title", limit=MAX_TITLE)
    except FormError as exc:
        return await _sender_page(request, ctx, status=400, error=str(exc))
    if not ctx.viewer.may_see_member(member_id):
        return forbidden(request, ctx, f"a case for member {member_id}")
    if member_id not in {m for m, _, _ in view.members}:
        return await _sender_page(request, ctx, status=400,
                                  error="Choose one of the members this sender wrote to.")
    title = title or (f"{view.author_name or view.author_id} on "
                      f"{platform_name(view.platform)}")
    try:
        case_id = cases.open_case(ctx.app.store, member_id=member_id, title=title,
                                  actor=ctx.viewer.actor, sender=path)
    except CaseError as exc:
        return await _sender_page(request, ctx, status=400, error=str(exc))
    return back_to(f"/cases/{case_id}", ok="opened")


ROUTES = [
    Route("/cases", board),
    Route("/cases/{case_id}", case_page),
    Route("/cases/{case_id}/status", case_status, methods=["POST"]),
    Route("/cases/{case_id}/fields", case_fields, methods=["POST"]),
    Route("/cases/{case_id}/note", case_note, methods=["POST"]),
    Route("/cases/{case_id}/export", case_export, methods=["POST"]),
    Route("/senders/{platform}/{author_id}", sender_page),
    Route("/senders/{platform}/{author_id}/case", sender_case, methods=["POST"]),
]
