"""What the dashboard's pages read, scoped to who is looking.

Every function takes the signed-in :class:`~watcher.web.users.Viewer` and returns only what
that user may see; a page never filters after the fact. Plain dataclasses come back, so the
templates never touch the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.orm import Session

from watcher.policy import OWN_CONDUCT_LABELS
from watcher.store.models import (
    AccountRow,
    ActionRow,
    CaseItemRow,
    CaseRow,
    FindingRow,
    ItemReviewRow,
    ItemRow,
    MemberRow,
)
from watcher.web.users import Viewer

SEVERITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "info": 3}
#: Where a severity the table does not know sorts: last.
UNKNOWN_RANK = 9
#: What a person can decide about a flagged item, and how the pages say it.
REVIEW_STATES = {"hidden": "Hidden", "removed": "Removed",
                 "not_a_problem": "Not a problem"}
INBOX_STATES = ("open", "done", "all")
PAGE_SIZE = 50


@dataclass(frozen=True)
class FindingView:
    id: int
    label: str
    severity: str
    score: float
    reasons: tuple[str, ...]
    detector: str
    created_at: datetime


@dataclass(frozen=True)
class ItemView:
    """A stored item with its account, member, findings and what was decided about it."""

    id: int
    member_id: str
    member_name: str
    account_id: int
    account_handle: str
    platform: str
    external_id: str
    kind: str
    parent_external_id: str | None
    author_id: str | None
    author_name: str | None
    is_own: bool
    text: str
    created_at: datetime
    permalink: str | None
    findings: tuple[FindingView, ...]
    review_state: str | None
    review_actor: str | None
    review_at: datetime | None
    auto_hidden: bool
    case_ids: tuple[int, ...]

    @property
    def severity(self) -> str:
        """The most urgent of its findings' severities ("normal" with none)."""
        return min((f.severity for f in self.findings),
                   key=lambda s: SEVERITY_RANK.get(s, UNKNOWN_RANK), default="normal")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.label for f in self.findings))

    @property
    def needs_action(self) -> bool:
        return self.review_state is None


@dataclass(frozen=True)
class InboxFilter:
    member: str = ""
    label: str = ""
    platform: str = ""
    state: str = "open"


def scope_members(query: Select, viewer: Viewer, column: object) -> Select:
    """Restrict ``query`` to the members ``viewer`` may see (``column`` holds a member id)."""
    if viewer.sees_everything:
        return query
    if viewer.role == "member" and viewer.member_id:
        return query.where(column == viewer.member_id)  # type: ignore[operator]
    return query.where(False)


def members(session: Session, viewer: Viewer) -> list[tuple[str, str]]:
    """Return (id, name) of the members ``viewer`` may see, by name."""
    q = scope_members(select(MemberRow.id, MemberRow.name), viewer, MemberRow.id)
    return [(i, n) for i, n in session.execute(q.order_by(MemberRow.name))]


def _third_party_flagged() -> Select:
    return (select(ItemRow.id)
            .join(FindingRow, FindingRow.item_id == ItemRow.id)
            .join(AccountRow, AccountRow.id == ItemRow.account_id)
            .where(ItemRow.is_own.is_(False), FindingRow.label.notin_(OWN_CONDUCT_LABELS)))


def _matching(viewer: Viewer, flt: InboxFilter) -> Select:
    """The ids of the flagged third-party items ``viewer`` may see that match ``flt``."""
    q = scope_members(_third_party_flagged(), viewer, AccountRow.member_id)
    if flt.member:
        q = q.where(AccountRow.member_id == flt.member)
    if flt.label:
        q = q.where(FindingRow.label == flt.label)
    if flt.platform:
        q = q.where(ItemRow.platform == flt.platform)
    reviewed = exists().where(ItemReviewRow.item_id == ItemRow.id)
    if flt.state == "open":
        q = q.where(~reviewed)
    elif flt.state == "done":
        q = q.where(reviewed)
    return q.distinct()


def inbox(session: Session, viewer: Viewer, flt: InboxFilter, *, limit: int = PAGE_SIZE
          ) -> tuple[list[ItemView], int]:
    """Return the flagged third-party items ``viewer`` may see that match ``flt``, most
    urgent first (by the most urgent of all an item's findings) and then newest, at most
    ``limit`` of them, and how many match in all.

    Ordered and cut in the database: only the shown items are loaded, however many have
    been dealt with over the years."""
    matching = _matching(viewer, flt).subquery()
    rank = case(SEVERITY_RANK, value=FindingRow.severity, else_=UNKNOWN_RANK)
    ranks = (select(FindingRow.item_id, func.min(rank).label("rank"))
             .group_by(FindingRow.item_id).subquery())
    ids = list(session.scalars(
        select(ItemRow.id).join(matching, matching.c.id == ItemRow.id)
        .join(ranks, ranks.c.item_id == ItemRow.id)
        .order_by(ranks.c.rank, ItemRow.created_at.desc(), ItemRow.id.desc()).limit(limit)))
    total = session.scalar(select(func.count()).select_from(matching)) or 0
    views = {v.id: v for v in load_items(session, ids)}
    return [views[i] for i in ids], total


def load_items(session: Session, ids: Sequence[int]) -> list[ItemView]:
    """Return the items with these ids (any order), with their findings and review."""
    if not ids:
        return []
    out: list[ItemView] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        rows = session.execute(
            select(ItemRow, AccountRow, MemberRow)
            .join(AccountRow, AccountRow.id == ItemRow.account_id)
            .join(MemberRow, MemberRow.id == AccountRow.member_id)
            .where(ItemRow.id.in_(chunk))).all()
        findings: dict[int, list[FindingView]] = {}
        for f in session.scalars(select(FindingRow).where(FindingRow.item_id.in_(chunk))
                                 .order_by(FindingRow.id)):
            findings.setdefault(f.item_id or 0, []).append(FindingView(
                f.id, f.label, f.severity, f.score, tuple(json.loads(f.reasons_json or "[]")),
                f.detector, f.created_at))
        reviews = {r.item_id: r for r in session.scalars(
            select(ItemReviewRow).where(ItemReviewRow.item_id.in_(chunk)))}
        hidden = set(session.scalars(select(ActionRow.item_id).where(
            ActionRow.item_id.in_(chunk), ActionRow.action == "item.hidden")))
        cases: dict[int, list[int]] = {}
        for item_id, case_id in session.execute(
                select(CaseItemRow.item_id, CaseItemRow.case_id)
                .where(CaseItemRow.item_id.in_(chunk)).order_by(CaseItemRow.case_id)):
            cases.setdefault(item_id, []).append(case_id)
        for item, account, member in rows:
            review = reviews.get(item.id)
            out.append(ItemView(
                id=item.id, member_id=member.id, member_name=member.name,
                account_id=account.id, account_handle=account.handle or account.external_id,
                platform=item.platform, external_id=item.external_id, kind=item.kind,
                parent_external_id=item.parent_external_id, author_id=item.author_id,
                author_name=item.author_name, is_own=item.is_own, text=item.text,
                created_at=item.created_at, permalink=item.permalink,
                findings=tuple(findings.get(item.id, ())),
                review_state=review.state if review else None,
                review_actor=review.actor if review else None,
                review_at=review.at if review else None,
                auto_hidden=item.id in hidden, case_ids=tuple(cases.get(item.id, ()))))
    return out


def item(session: Session, item_id: int) -> ItemView | None:
    """Return one item, or None if there is no such item (the caller checks who may see)."""
    found = load_items(session, [item_id])
    return found[0] if found else None


def items_by_external_id(session: Session, platform: str, external_id: str) -> list[ItemView]:
    """Return the stored items with this platform id (one per member account it was read
    from: a post mentioning two members is stored twice), oldest first."""
    ids = list(session.scalars(select(ItemRow.id).where(
        ItemRow.platform == platform, ItemRow.external_id == external_id[:200])
        .order_by(ItemRow.id)))
    return sorted(load_items(session, ids), key=lambda v: v.id)


def thread(session: Session, view: ItemView) -> tuple[ItemView | None, list[ItemView]]:
    """Return the item's thread on its account: the post it answers (None if not stored) and
    the comments on that post, oldest first (the item among them)."""
    root_id = view.parent_external_id or view.external_id
    parent = session.scalar(select(ItemRow.id).where(
        ItemRow.account_id == view.account_id, ItemRow.external_id == root_id))
    siblings = list(session.scalars(
        select(ItemRow.id).where(ItemRow.account_id == view.account_id,
                                 or_(ItemRow.parent_external_id == root_id,
                                     ItemRow.id == view.id))
        .order_by(ItemRow.created_at, ItemRow.id).limit(200)))
    loaded = {v.id: v for v in load_items(session, ([parent] if parent else []) + siblings)}
    return (loaded.get(parent) if parent else None,
            [loaded[i] for i in siblings if i in loaded])


def open_cases(session: Session, member_id: str) -> list[tuple[int, str]]:
    """Return (id, title) of the member's cases that are not closed, newest first."""
    return [(i, t) for i, t in session.execute(
        select(CaseRow.id, CaseRow.title).where(CaseRow.member_id == member_id,
                                                CaseRow.status != "closed")
        .order_by(CaseRow.id.desc()))]


def inbox_counts(session: Session, viewer: Viewer) -> int:
    """How many flagged items wait for a decision, for the navigation badge."""
    return session.scalar(select(func.count()).select_from(
        _matching(viewer, InboxFilter()).subquery())) or 0
