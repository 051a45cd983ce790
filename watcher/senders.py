"""Who wrote it before: a sender's history on one member's accounts, and repeat offenders.

A sender is a platform's author id (``ItemRow.author_id``) on that platform: ids are only
unique within a platform, so "52" on Facebook and "52" on X are two people. A member's
history with a sender spans all of the member's accounts on that platform (a member may
have a page and a profile, or two X accounts).

Read-only queries on the caller's session, so the pipeline can look a sender up inside the
poll's own transaction (the items just stored are visible, and excluded by id).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.store.models import AccountRow, FindingRow, ItemRow

#: Findings about the member's own posts: never held against a third-party sender.
OWN_CONDUCT_LABELS = frozenset({"copyright_image", "meeting_burst"})


@dataclass(frozen=True)
class EarlierFinding:
    """One finding on one of the sender's earlier items."""

    label: str
    created_at: datetime


@dataclass(frozen=True)
class SenderHistory:
    """What the store knew about one sender on one member's accounts at a given time.

    ``first_seen`` is when their earliest stored item was posted (None: no earlier item is
    stored); ``items_stored`` counts their earlier items (comments, replies, mentions);
    ``findings`` are the findings on those items, oldest first.
    """

    platform: str
    author_id: str
    author_name: str | None
    first_seen: datetime | None
    items_stored: int
    findings: tuple[EarlierFinding, ...]

    @property
    def is_new(self) -> bool:
        """True when nothing earlier of theirs is stored: a first-time sender."""
        return self.items_stored == 0

    def by_label(self) -> dict[str, list[datetime]]:
        """Return {label: [when, ...]} of the earlier findings, labels in first-seen order."""
        out: dict[str, list[datetime]] = {}
        for f in self.findings:
            out.setdefault(f.label, []).append(f.created_at)
        return out


@dataclass(frozen=True)
class RepeatOffender:
    """A sender with several findings since some time, across the members they targeted."""

    platform: str
    author_id: str
    author_name: str | None
    findings: int
    items: int
    #: (label, count), most frequent first
    labels: tuple[tuple[str, int], ...]
    #: member ids, in the order first targeted
    members: tuple[str, ...]
    first_at: datetime
    last_at: datetime


def history(session: Session, *, member_id: str, platform: str, author_id: str | None,
            before: datetime, exclude_item_ids: Collection[int] = ()) -> SenderHistory | None:
    """Given a member, a sender (platform and the platform's author id) and a time, return
    what was stored of that sender on the member's accounts at or before that time, leaving
    out ``exclude_item_ids`` (the items an alert is about, and the rest of their poll).

    Returns None for an unknown author id (None or ""): such items cannot be tied together.
    Raises only the database's own errors.
    """
    if not author_id:
        return None
    excluded = list(exclude_item_ids)
    items = (select(ItemRow.id, ItemRow.created_at, ItemRow.author_name, ItemRow.fetched_at)
             .join(AccountRow, AccountRow.id == ItemRow.account_id)
             .where(AccountRow.member_id == member_id, ItemRow.platform == platform,
                    ItemRow.author_id == author_id, ItemRow.fetched_at <= before))
    if excluded:
        items = items.where(ItemRow.id.notin_(excluded))
    rows = session.execute(items).all()
    name = max(rows, key=lambda r: r.fetched_at).author_name if rows else None
    first_seen = min((r.created_at for r in rows), default=None)
    found: list[EarlierFinding] = []
    if rows:
        query = (select(FindingRow.label, FindingRow.created_at)
                 .join(ItemRow, ItemRow.id == FindingRow.item_id)
                 .join(AccountRow, AccountRow.id == ItemRow.account_id)
                 .where(AccountRow.member_id == member_id, ItemRow.platform == platform,
                        ItemRow.author_id == author_id, FindingRow.created_at <= before,
                        FindingRow.label.notin_(OWN_CONDUCT_LABELS))
                 .order_by(FindingRow.created_at, FindingRow.id))
        if excluded:
            query = query.where(FindingRow.item_id.notin_(excluded))
        found = [EarlierFinding(label=label, created_at=at)
                 for label, at in session.execute(query)]
    return SenderHistory(platform=platform, author_id=author_id, author_name=name,
                         first_seen=first_seen, items_stored=len(rows), findings=tuple(found))


def repeat_offenders(session: Session, *, since: datetime, min_findings: int = 2,
                     member_id: str | None = None) -> list[RepeatOffender]:
    """Given a time (and optionally one member), return the senders with at least
    ``min_findings`` findings on third-party items since then, most findings first.

    Own-conduct findings (a member's own posts) never count. Raises only the database's
    own errors.
    """
    query = (select(ItemRow.platform, ItemRow.author_id, ItemRow.author_name, ItemRow.id,
                    FindingRow.member_id, FindingRow.label, FindingRow.created_at)
             .join(ItemRow, ItemRow.id == FindingRow.item_id)
             .where(FindingRow.created_at >= since, ItemRow.author_id.is_not(None),
                    ItemRow.author_id != "", ItemRow.is_own.is_(False),
                    FindingRow.label.notin_(OWN_CONDUCT_LABELS))
             .order_by(FindingRow.created_at, FindingRow.id))
    if member_id is not None:
        query = query.where(FindingRow.member_id == member_id)
    grouped: dict[tuple[str, str], list[tuple[str | None, int, str, str, datetime]]] = {}
    for platform, author, name, item_id, member, label, at in session.execute(query):
        grouped.setdefault((platform, author), []).append((name, item_id, member, label, at))
    out: list[RepeatOffender] = []
    for (platform, author), rows in grouped.items():
        if len(rows) < max(1, min_findings):
            continue
        labels: dict[str, int] = {}
        members: dict[str, None] = {}
        for _, _, member, label, _ in rows:
            labels[label] = labels.get(label, 0) + 1
            members.setdefault(member, None)
        name = next((r[0] for r in reversed(rows) if r[0]), None)
        out.append(RepeatOffender(
            platform=platform, author_id=author, author_name=name, findings=len(rows),
            items=len({r[1] for r in rows}),
            labels=tuple(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
            members=tuple(members), first_at=rows[0][4], last_at=rows[-1][4]))
    out.sort(key=lambda o: (-o.findings, -o.last_at.timestamp(), o.platform, o.author_id))
    return out

