"""What the dashboard does to an item: hide it on the platform (through the adapter), mark it
removed, or mark it "not a problem". Each decision is stored in ``item_reviews`` and appended
to the actions log with the user who made it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select

from platforms.base import Platform
from watcher import logs
from watcher.domain import platform_name
from watcher.errors import CredentialError, HideNotSupported, PlatformError, WatcherError
from watcher.pipeline import account_from_row, item_from_row
from watcher.store import Store, record_action
from watcher.store.models import AccountRow, ItemReviewRow, ItemRow
from watcher.web.queries import REVIEW_STATES
from watcher.web.users import Viewer

log = logs.get(__name__)

MAX_NOTE = 2000


class ActionError(WatcherError):
    """An action on an item could not be done; the message says why, for the user."""


def hide(store: Store, platforms: Mapping[str, Platform] | Callable[[], Mapping[str, Platform]],
         item_id: int, viewer: Viewer) -> None:
    """Hide the item on its platform through the adapter and record it as hidden.

    Raises ActionError saying why if the platform refuses, cannot be reached or the item is
    the member's own; nothing is recorded as hidden then (the failure is logged and audited).
    """
    with store.session() as s:
        row = s.get(ItemRow, item_id)
        if row is None:
            raise ActionError(f"no item {item_id}")
        account_row = s.get(AccountRow, row.account_id)
        assert account_row is not None
        item, account = item_from_row(row), account_from_row(account_row)
    found = platforms() if callable(platforms) else platforms
    platform = found.get(item.platform)
    if platform is None:
        raise ActionError(f"{item.platform} is not set up on this server")
    try:
        platform.hide(account, item)
    except HideNotSupported as exc:
        _audit_failure(store, viewer, item_id, account.member_id, str(exc))
        raise ActionError(f"{platform_name(item.platform)} does not allow hiding this item: "
                          f"{logs.redact_text(str(exc))}") from exc
    except (PlatformError, CredentialError) as exc:
        _audit_failure(store, viewer, item_id, account.member_id, str(exc))
        raise ActionError(f"{platform_name(item.platform)} did not hide it: "
                          f"{logs.redact_text(str(exc))}. Nothing was changed; try again, or "
                          "hide it on the platform yourself and mark it removed.") from exc
    review(store, item_id, "hidden", viewer, note="")
    log.info("web.item_hidden", item=item_id, user=viewer.username)


def _audit_failure(store: Store, viewer: Viewer, item_id: int, member_id: str,
                   why: str) -> None:
    with store.session() as s:
        record_action(s, store.clock(), "item.hide_failed", actor=viewer.actor,
                      member_id=member_id, item_id=item_id, outcome=logs.redact_text(why))
    log.warning("web.hide_failed", item=item_id, user=viewer.username,
                error=logs.redact_text(why))


def review(store: Store, item_id: int, state: str, viewer: Viewer, *, note: str = "") -> None:
    """Record a decision about an item (``hidden``, ``removed``, ``not_a_problem``, or
    ``open`` to undo one) with who made it. Raises ActionError for an unknown state, an
    unknown item or a note over ``MAX_NOTE`` characters."""
    if state not in (*REVIEW_STATES, "open"):
        raise ActionError(f"unknown decision {state!r}")
    if len(note) > MAX_NOTE:
        raise ActionError(f"the note is too long: at most {MAX_NOTE} characters")
    now = store.clock()
    with store.session() as s:
        row = s.get(ItemRow, item_id)
        if row is None:
            raise ActionError(f"no item {item_id}")
        member_id = s.scalar(select(AccountRow.member_id).where(
            AccountRow.id == row.account_id))
        current = s.get(ItemReviewRow, item_id)
        before = current.state if current else "open"
        if state == "open":
            if current is not None:
                s.delete(current)
        elif current is None:
            s.add(ItemReviewRow(item_id=item_id, state=state, actor=viewer.actor, at=now,
                                note=note))
        else:
            current.state, current.actor, current.at, current.note = \
                state, viewer.actor, now, note
        action = {"hidden": "item.hidden", "removed": "item.marked_removed",
                  "not_a_problem": "item.not_a_problem", "open": "item.reopened"}[state]
        record_action(s, now, action, actor=viewer.actor, member_id=member_id,
                      item_id=item_id, before=before, note=note or None)
