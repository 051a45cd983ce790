"""The inbox of flagged items and the item page, with its actions: hide on the platform,
mark removed, "not a problem", and open or add to a case."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from watcher import cases, senders
from watcher.domain import PLATFORM_NAMES, platform_name
from watcher.errors import CaseError
from watcher.web import queries
from watcher.web.actions import MAX_NOTE, ActionError, hide, review
from watcher.web.core import (
    LABEL_TITLES,
    Ctx,
    back_to,
    field,
    flash_messages,
    forbidden,
    not_found,
    page,
    parse_id,
    path_id,
    read_form,
    render,
)
from watcher.web.users import MEMBER, MEMBER_SERVICES

ITEM_MESSAGES = {
    "hidden": "Hidden on the platform. It is no longer shown to the public.",
    "removed": "Marked as removed.",
    "not_a_problem": "Marked as not a problem. This is kept to tune what gets flagged.",
    "open": "Put back in the inbox.",
    "case_opened": "Case opened with this comment in it.",
    "case_added": "Added to the case.",
}


@page(MEMBER_SERVICES, MEMBER)
async def inbox(request: Request, ctx: Ctx) -> Response:
    """Flagged comments waiting for a decision, most urgent and newest first."""
    q = request.query_params
    flt = queries.InboxFilter(
        member=q.get("member", "")[:64], label=q.get("label", "")[:32],
        platform=q.get("platform", "")[:32],
        state=q.get("state", "open") if q.get("state") in queries.INBOX_STATES else "open")
    with ctx.app.store.session() as s:
        members = queries.members(s, ctx.viewer)
        if flt.member and flt.member not in {m for m, _ in members}:
            return forbidden(request, ctx, f"member {flt.member}'s inbox")
        items, total = queries.inbox(s, ctx.viewer, flt)
    return render(request, ctx.app, "inbox.html", ctx, title="Inbox", items=items, total=total,
                  flt=flt, members=members, labels=LABEL_TITLES, platforms=PLATFORM_NAMES,
                  states={"open": "Needs action", "done": "Dealt with", "all": "All"})


def _owned(request: Request, ctx: Ctx) -> queries.ItemView | Response:
    """Return the path's item if the viewer may see it, else the 404 or 403 response."""
    item_id = path_id(request, "item_id")
    with ctx.app.store.session() as s:
        view = queries.item(s, item_id) if item_id is not None else None
    if view is None:
        return not_found(request, ctx, "such comment")
    if not ctx.viewer.may_see_member(view.member_id):
        return forbidden(request, ctx, f"item {view.id} of member {view.member_id}")
    return view


async def _item_page(request: Request, ctx: Ctx, *, status: int = 200, error: str = "",
                     ok: str = "") -> Response:
    view = _owned(request, ctx)
    if isinstance(view, Response):
        return view
    with ctx.app.store.session() as s:
        parent, thread = queries.thread(s, view)
        history = senders.history(s, member_id=view.member_id, platform=view.platform,
                                  author_id=view.author_id, before=ctx.app.store.clock(),
                                  exclude_item_ids=[view.id]) if not view.is_own else None
        open_cases = queries.open_cases(s, view.member_id)
    flash_ok, flash_error = flash_messages(request, ITEM_MESSAGES)
    return render(request, ctx.app, "item.html", ctx, status=status,
                  title=f"Comment on {view.member_name}'s {platform_name(view.platform)}",
                  item=view, parent=parent, thread=thread, history=history,
                  open_cases=open_cases, ok=ok or flash_ok, error=error or flash_error,
                  max_note=MAX_NOTE)


@page(MEMBER_SERVICES, MEMBER)
async def item_page(request: Request, ctx: Ctx) -> Response:
    """One comment in its thread, why it was flagged, who sent it, and what to do."""
    return await _item_page(request, ctx)


@page(MEMBER_SERVICES, MEMBER)
async def item_hide(request: Request, ctx: Ctx) -> Response:
    view = _owned(request, ctx)
    if isinstance(view, Response):
        return view
    try:
        hide(ctx.app.store, ctx.app.platforms, view.id, ctx.viewer)
    except ActionError as exc:
        return await _item_page(request, ctx, status=502, error=str(exc))
    return back_to(f"/items/{view.id}", ok="hidden")


@page(MEMBER_SERVICES, MEMBER)
async def item_review(request: Request, ctx: Ctx) -> Response:
    view = _owned(request, ctx)
    if isinstance(view, Response):
        return view
    form = await read_form(request)
    state = field(form, "state", choices=("removed", "not_a_problem", "open"))
    note = field(form, "note", limit=MAX_NOTE)
    try:
        review(ctx.app.store, view.id, state, ctx.viewer, note=note)
    except ActionError as exc:
        return await _item_page(request, ctx, status=400, error=str(exc))
    return back_to(f"/items/{view.id}", ok=state)


@page(MEMBER_SERVICES, MEMBER)
async def item_case(request: Request, ctx: Ctx) -> Response:
    """Open a new case with this item, or add it to one of the member's open cases."""
    view = _owned(request, ctx)
    if isinstance(view, Response):
        return view
    form = await read_form(request)
    target = field(form, "case_id")
    try:
        if target in ("", "new"):
            title = field(form, "title", limit=300) or \
                f"{', '.join(LABEL_TITLES.get(label, label) for label in view.labels) or 'Comment'}" \
                f" from {view.author_name or 'an unknown sender'}"
            case_id = cases.open_case(ctx.app.store, member_id=view.member_id, title=title,
                                      actor=ctx.viewer.actor, item_ids=[view.id])
            return back_to(f"/cases/{case_id}", ok="opened")
        case_id = parse_id(target)
        if case_id is None:
            return await _item_page(request, ctx, status=400, error="Choose a case.")
        if cases.case_member(ctx.app.store, case_id) != view.member_id:
            return forbidden(request, ctx, f"case {case_id}")
        cases.add_items(ctx.app.store, case_id, actor=ctx.viewer.actor, item_ids=[view.id])
    except CaseError as exc:
        return await _item_page(request, ctx, status=400, error=str(exc))
    return back_to(f"/items/{view.id}", ok="case_added")


@page(MEMBER_SERVICES, MEMBER)
async def go(request: Request, ctx: Ctx) -> Response:
    """Where an alert's link lands: the item named by platform and platform id, opened as
    the item page (the alert is written before the item's own id is known)."""
    platform = request.path_params["platform"]
    external_id = request.path_params["external_id"]
    with ctx.app.store.session() as s:
        found = queries.items_by_external_id(s, platform, external_id)
    visible = [v for v in found if ctx.viewer.may_see_member(v.member_id)]
    if visible:
        return back_to(f"/items/{visible[0].id}")
    if found:
        return forbidden(request, ctx, f"item {platform}:{external_id}")
    return not_found(request, ctx, "such comment")


ROUTES = [
    Route("/inbox", inbox),
    Route("/go/{platform}/{external_id:path}", go),
    Route("/items/{item_id}", item_page),
    Route("/items/{item_id}/hide", item_hide, methods=["POST"]),
    Route("/items/{item_id}/review", item_review, methods=["POST"]),
    Route("/items/{item_id}/case", item_case, methods=["POST"]),
]
