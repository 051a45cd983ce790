"""The harassment case log member services keep.

A case belongs to one member. It gathers stored items (by id, or every item one sender left
on the member's accounts, optionally within a date range), has a status (``open``,
``reported_to_police``, ``with_platform``, ``closed``), an assignee, and the police's and the
platform's references. Its timeline is its :class:`~watcher.store.models.CaseNoteRow` rows;
every change is also written to the append-only actions log with who made it and when.

A threat finding can open a case by itself (:func:`open_for_threat`, called from the poll's
own transaction), never twice for one item.

Everything here raises :class:`~watcher.errors.CaseError` for a case, member or item that
does not exist and for arguments that make no sense; nothing is half-written then, as each
function does its work in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watcher import logs
from watcher.config import KNOWN_PLATFORMS
from watcher.domain import platform_name
from watcher.errors import CaseError
from watcher.store import Store, clean_text, record_action
from watcher.store.models import (
    AccountRow,
    CaseItemRow,
    CaseNoteRow,
    CaseRow,
    FindingRow,
    ItemRow,
    MemberRow,
)

log = logs.get(__name__)

#: A case's statuses, in the order a case usually goes through them.
STATUSES = ("open", "reported_to_police", "with_platform", "closed")
#: The actor of what the daemon does by itself.
WATCHER_ACTOR = "watcher"
#: Column widths of the schema, checked here so SQLite (which ignores them) and PostgreSQL
#: (which refuses the transaction) behave alike.
MAX_ACTOR = 64
MAX_FIELD = 200

Sender = tuple[str, str]


# ---------------------------------------------------------------------------------------------
# What callers get back


@dataclass(frozen=True)
class CaseSummary:
    """One case's own fields and how many items it holds. Times are aware UTC datetimes."""

    id: int
    member_id: str
    title: str
    status: str
    assignee: str
    police_reference: str
    platform_reference: str
    sender_platform: str | None
    sender_id: str | None
    auto_key: str | None
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    closed_at: datetime | None
    items: int

    def as_dict(self) -> dict[str, object]:
        """Return the fields as JSON-ready values (times in ISO 8601)."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class CaseFinding:
    """A finding of an item in a case."""

    id: int
    label: str
    score: float
    severity: str
    reasons: tuple[str, ...]
    detector: str
    detector_version: str
    created_at: datetime


@dataclass(frozen=True)
class CaseItem:
    """An item in a case, as stored, with its findings (``account`` is the page or user id
    of the member's account it was read from)."""

    item_id: int
    platform: str
    account: str
    external_id: str
    kind: str
    parent_external_id: str | None
    author_id: str | None
    author_name: str | None
    text: str
    created_at: datetime
    permalink: str | None
    fetched_at: datetime
    raw_sha256: str
    added_at: datetime
    added_by: str
    findings: tuple[CaseFinding, ...]


@dataclass(frozen=True)
class CaseNote:
    """One entry of a case's timeline."""

    id: int
    at: datetime
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class CaseDetail:
    """A case: its fields, its items (oldest first) and its timeline (in order)."""

    case: CaseSummary
    items: tuple[CaseItem, ...]
    timeline: tuple[CaseNote, ...]


# ---------------------------------------------------------------------------------------------
# Opening and filling cases


def open_case(store: Store, *, member_id: str, title: str, actor: str,
              item_ids: Iterable[int] = (), sender: Sender | None = None,
              since: datetime | None = None, until: datetime | None = None,
              assignee: str = "") -> int:
    """Open a case for a member and return its id.

    Given the member's id, a title, who opens it, and what it gathers: items by store id
    and/or every item by one ``sender`` (``(platform, author id)``) on any of the member's
    accounts, optionally limited to ``since <= created_at < until`` (aware datetimes; they
    apply to the sender's items only). A case against a sender records the sender.

    Raises CaseError for an unknown member, an item id that does not exist or is another
    member's, an empty title, a bad sender or range, or a field too long to store.
    """
    actor = _actor(actor)
    title = _text("title", title, limit=None)
    assignee = _text("assignee", assignee, limit=MAX_FIELD, required=False)
    _check_range(sender, since, until)
    now = store.clock()
    with store.session() as s:
        if s.get(MemberRow, member_id) is None:
            raise CaseError(f"no member {member_id!r}")
        wanted = _gather(s, member_id, item_ids, sender, since, until)
        row = CaseRow(member_id=member_id, title=title, status="open", assignee=assignee,
                      police_reference="", platform_reference="",
                      sender_platform=sender[0] if sender else None,
                      sender_id=sender[1] if sender else None, auto_key=None,
                      opened_at=now, opened_by=actor, updated_at=now, closed_at=None)
        s.add(row)
        s.flush()
        _attach(s, row.id, wanted, actor, now)
        what = f"{len(wanted)} item(s)"
        if sender:
            what += f" including every item by {sender[0]}:{sender[1]}"
            what += _range_text(since, until)
        _note(s, row.id, now, actor, "opened", f"opened by {actor}: {title} ({what})")
        record_action(s, now, "case.opened", actor=actor, member_id=member_id, case_id=row.id,
                      items=sorted(wanted), sender=f"{sender[0]}:{sender[1]}" if sender else None,
                      since=since, until=until)
        case_id = row.id
    log.info("case.opened", case_id=case_id, member_id=member_id, items=len(wanted),
             actor=actor, sender=bool(sender))
    return case_id


def add_items(store: Store, case_id: int, *, actor: str, item_ids: Iterable[int] = (),
              sender: Sender | None = None, since: datetime | None = None,
              until: datetime | None = None) -> int:
    """Add items to a case and return how many were not in it yet.

    Given the case id, who adds them and what to add (as for :func:`open_case`).

    Raises CaseError if the case does not exist or is closed (reopen it first), if nothing
    is named, or for items as :func:`open_case` does.
    """
    actor = _actor(actor)
    item_ids = list(item_ids)
    if not item_ids and sender is None:
        raise CaseError("nothing to add: name items or a sender")
    _check_range(sender, since, until)
    now = store.clock()
    with store.session() as s:
        case = _case(s, case_id)
        if case.status == "closed":
            raise CaseError(f"case {case_id} is closed; reopen it before adding items")
        wanted = _gather(s, case.member_id, item_ids, sender, since, until)
        have = set(s.scalars(select(CaseItemRow.item_id).where(CaseItemRow.case_id == case_id)))
        new = sorted(set(wanted) - have)
        if not new:
            return 0
        _attach(s, case_id, new, actor, now)
        text = f"added {len(new)} item(s): {', '.join(map(str, new))}"
        if sender:
            text += f" (items by {sender[0]}:{sender[1]}{_range_text(since, until)})"
        _note(s, case_id, now, actor, "items", text)
        case.updated_at = now
        record_action(s, now, "case.items_added", actor=actor, member_id=case.member_id,
                      case_id=case_id, items=new)
    log.info("case.items_added", case_id=case_id, added=len(new), actor=actor)
    return len(new)


def open_for_threat(session: Session, *, member_id: str, item_id: int, finding_id: int,
                    now: datetime) -> int | None:
    """Open a case for a threat finding's item inside the caller's transaction.

    Given an open session (the poll's), the member, the stored item and finding ids, and the
    time. Returns the new case's id, or None if one was already opened for this item (its
    ``auto_key`` is ``threat:item:<item id>``): a second threat label, an edit or another
    daemon never opens a second case. Nothing is committed here.

    Raises CaseError if the item does not exist or is not the member's.
    """
    key = f"threat:item:{item_id}"
    if session.scalar(select(CaseRow.id).where(CaseRow.auto_key == key)) is not None:
        return None
    item = session.get(ItemRow, item_id)
    if item is None:
        raise CaseError(f"no item {item_id}")
    account = session.get(AccountRow, item.account_id)
    if account is None or account.member_id != member_id:
        raise CaseError(f"item {item_id} is not on an account of member {member_id!r}")
    author = item.author_name or item.author_id or "an unknown sender"
    platform = platform_name(item.platform)
    row = CaseRow(member_id=member_id, title=f"Threat on {platform} by {author}",
                  status="open", assignee="", police_reference="", platform_reference="",
                  sender_platform=None, sender_id=None, auto_key=key, opened_at=now,
                  opened_by=WATCHER_ACTOR, updated_at=now, closed_at=None)
    session.add(row)
    session.flush()
    _attach(session, row.id, [item_id], WATCHER_ACTOR, now)
    _note(session, row.id, now, WATCHER_ACTOR, "opened",
          f"opened automatically for threat finding {finding_id} on item {item_id}")
    record_action(session, now, "case.opened", actor=WATCHER_ACTOR, member_id=member_id,
                  item_id=item_id, finding_id=finding_id, case_id=row.id, auto=True)
    log.info("case.auto_opened", case_id=row.id, member_id=member_id, item_id=item_id,
             finding_id=finding_id)
    return row.id


# ---------------------------------------------------------------------------------------------
# Changing cases


def update(store: Store, case_id: int, *, actor: str, status: str | None = None,
           assignee: str | None = None, police_reference: str | None = None,
           platform_reference: str | None = None, note: str | None = None) -> None:
    """Change a case's status, assignee or references and/or add a note to its timeline.

    Given the case id, who makes the change, and only what changes (None = leave as is).
    Each field that really changes adds a timeline entry ("old -> new") and a
    ``case.updated`` action; closing sets ``closed_at``, reopening clears it.

    Raises CaseError if the case does not exist, for an unknown status (listing the valid
    ones), an empty note, a value too long to store, or if nothing is given.
    """
    actor = _actor(actor)
    if status is not None and status not in STATUSES:
        raise CaseError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    changes: dict[str, str] = {}
    for name, value in (("status", status), ("assignee", assignee),
                        ("police_reference", police_reference),
                        ("platform_reference", platform_reference)):
        if value is not None:
            changes[name] = _text(name, value, limit=MAX_FIELD, required=False)
    if note is not None:
        note = _text("note", note, limit=None)
    if not changes and note is None:
        raise CaseError("nothing to update: give a status, assignee, reference or note")
    now = store.clock()
    done: list[str] = []
    with store.session() as s:
        case = _case(s, case_id)
        for name, new in changes.items():
            old = getattr(case, name)
            if old == new:
                continue
            setattr(case, name, new)
            if name == "status":
                case.closed_at = now if new == "closed" else None
            _note(s, case_id, now, actor, name, f"{_shown(old)} -> {_shown(new)}")
            record_action(s, now, "case.updated", actor=actor, member_id=case.member_id,
                          case_id=case_id, field=name, old=old, new=new)
            done.append(name)
        if note is not None:
            row = _note(s, case_id, now, actor, "note", note)
            # The note's text stays in the case (which retention may purge); the append-only
            # log only says that a note was added, so it never holds personal data for good.
            record_action(s, now, "case.updated", actor=actor, member_id=case.member_id,
                          case_id=case_id, field="note", note_id=row.id)
            done.append("note")
        if done:
            case.updated_at = now
    log.info("case.updated", case_id=case_id, fields=done, actor=actor)


# ---------------------------------------------------------------------------------------------
# Reading cases


def list_cases(store: Store, *, status: str | None = None,
               member_id: str | None = None) -> list[CaseSummary]:
    """Return the cases (oldest first), optionally only those with a status or of a member.

    Raises CaseError for an unknown status.
    """
    if status is not None and status not in STATUSES:
        raise CaseError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    counts = (select(CaseItemRow.case_id, func.count(CaseItemRow.item_id).label("n"))
              .group_by(CaseItemRow.case_id).subquery())
    query = (select(CaseRow, counts.c.n).outerjoin(counts, counts.c.case_id == CaseRow.id)
             .order_by(CaseRow.id))
    if status is not None:
        query = query.where(CaseRow.status == status)
    if member_id is not None:
        query = query.where(CaseRow.member_id == member_id)
    with store.session() as s:
        return [_summary(row, n or 0) for row, n in s.execute(query)]


def show(store: Store, case_id: int) -> CaseDetail:
    """Return a case with its items (oldest first, each with its findings) and timeline.

    Raises CaseError if the case does not exist.
    """
    with store.session() as s:
        return load_detail(s, case_id)


def load_detail(session: Session, case_id: int) -> CaseDetail:
    """Within an open session, return the case as :func:`show` does (for the evidence pack,
    which reads the rest of what it needs in the same transaction).

    Raises CaseError if the case does not exist.
    """
    case = _case(session, case_id)
    rows = session.execute(
        select(ItemRow, AccountRow.external_id, CaseItemRow)
        .join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
        .join(AccountRow, AccountRow.id == ItemRow.account_id)
        .where(CaseItemRow.case_id == case_id)
        .order_by(ItemRow.created_at, ItemRow.id)).all()
    findings: dict[int, list[CaseFinding]] = {}
    ids = [item.id for item, _, _ in rows]
    for i in range(0, len(ids), 500):
        for f in session.scalars(select(FindingRow).where(FindingRow.item_id.in_(ids[i:i + 500]))
                                 .order_by(FindingRow.id)):
            assert f.item_id is not None
            findings.setdefault(f.item_id, []).append(CaseFinding(
                id=f.id, label=f.label, score=f.score, severity=f.severity,
                reasons=tuple(json.loads(f.reasons_json or "[]")), detector=f.detector,
                detector_version=f.detector_version, created_at=f.created_at))
    items = tuple(CaseItem(
        item_id=item.id, platform=item.platform, account=account, external_id=item.external_id,
        kind=item.kind, parent_external_id=item.parent_external_id, author_id=item.author_id,
        author_name=item.author_name, text=item.text, created_at=item.created_at,
        permalink=item.permalink, fetched_at=item.fetched_at, raw_sha256=item.raw_sha256,
        added_at=link.added_at, added_by=link.added_by,
        findings=tuple(findings.get(item.id, ()))) for item, account, link in rows)
    notes = tuple(CaseNote(id=n.id, at=n.at, actor=n.actor, kind=n.kind, text=n.text)
                  for n in session.scalars(select(CaseNoteRow)
                                           .where(CaseNoteRow.case_id == case_id)
                                           .order_by(CaseNoteRow.at, CaseNoteRow.id)))
    return CaseDetail(case=_summary(case, len(items)), items=items, timeline=notes)


def resolve_items(store: Store, member_id: str, refs: Sequence[str]) -> tuple[int, ...]:
    """Given a member and item references as typed on the command line (a store item id such
    as ``42``, or ``platform:external_id`` such as ``x:1790012``), return the store ids.

    ``platform:external_id`` is looked up on the member's accounts only (one tweet can be
    stored once per councillor it mentions). Raises CaseError for a reference that is neither
    form or names no item of the member.
    """
    out: list[int] = []
    with store.session() as s:
        for ref in refs:
            text = ref.strip()
            if text.isascii() and text.isdigit():
                out.append(int(text))
                continue
            platform, sep, external_id = text.partition(":")
            if not sep or platform not in KNOWN_PLATFORMS or not external_id:
                raise CaseError(f"item {ref!r}: expected a store item id (as 'watcher "
                                "findings' shows) or PLATFORM:EXTERNAL_ID, e.g. x:1790012")
            found = s.scalar(select(ItemRow.id).join(AccountRow,
                                                     AccountRow.id == ItemRow.account_id)
                             .where(ItemRow.platform == platform,
                                    ItemRow.external_id == external_id,
                                    AccountRow.member_id == member_id))
            if found is None:
                raise CaseError(f"item {ref!r}: no such item on member {member_id!r}'s "
                                "accounts")
            out.append(found)
    return tuple(out)


def case_member(store: Store, case_id: int) -> str:
    """Return the id of the member a case belongs to. Raises CaseError if there is no case."""
    with store.session() as s:
        return _case(s, case_id).member_id


# ---------------------------------------------------------------------------------------------
# Helpers


def _case(session: Session, case_id: int) -> CaseRow:
    case = session.get(CaseRow, case_id)
    if case is None:
        raise CaseError(f"no case {case_id}")
    return case


def _summary(row: CaseRow, items: int) -> CaseSummary:
    return CaseSummary(
        id=row.id, member_id=row.member_id, title=row.title, status=row.status,
        assignee=row.assignee, police_reference=row.police_reference,
        platform_reference=row.platform_reference, sender_platform=row.sender_platform,
        sender_id=row.sender_id, auto_key=row.auto_key, opened_at=row.opened_at,
        opened_by=row.opened_by, updated_at=row.updated_at, closed_at=row.closed_at,
        items=items)


def _gather(session: Session, member_id: str, item_ids: Iterable[int], sender: Sender | None,
            since: datetime | None, until: datetime | None) -> list[int]:
    """Return the store ids (no repeats, in order) of the named items and the sender's.

    Raises CaseError for an item that does not exist or is not on the member's accounts.
    """
    found: dict[int, None] = {}
    for item_id in item_ids:
        row = session.execute(select(ItemRow.id, AccountRow.member_id)
                              .join(AccountRow, AccountRow.id == ItemRow.account_id)
                              .where(ItemRow.id == item_id)).first()
        if row is None:
            raise CaseError(f"no item {item_id}")
        if row.member_id != member_id:
            raise CaseError(f"item {item_id} is on another member's account, "
                            f"not {member_id!r}'s")
        found[row.id] = None
    if sender is not None:
        query = (select(ItemRow.id).join(AccountRow, AccountRow.id == ItemRow.account_id)
                 .where(AccountRow.member_id == member_id, ItemRow.platform == sender[0],
                        ItemRow.author_id == sender[1])
                 .order_by(ItemRow.created_at, ItemRow.id))
        if since is not None:
            query = query.where(ItemRow.created_at >= since)
        if until is not None:
            query = query.where(ItemRow.created_at < until)
        for item_id in session.scalars(query):
            found[item_id] = None
    return list(found)


def _attach(session: Session, case_id: int, item_ids: Iterable[int], actor: str,
            now: datetime) -> None:
    session.add_all(CaseItemRow(case_id=case_id, item_id=i, added_at=now, added_by=actor)
                    for i in item_ids)
    session.flush()


def _note(session: Session, case_id: int, at: datetime, actor: str, kind: str,
          text: str) -> CaseNoteRow:
    row = CaseNoteRow(case_id=case_id, at=at, actor=actor, kind=kind, text=text)
    session.add(row)
    session.flush()
    return row


def _check_range(sender: Sender | None, since: datetime | None, until: datetime | None) -> None:
    """Raise CaseError for a malformed sender, a range without a sender, naive times, or a
    range that ends before it starts."""
    if sender is not None:
        if (not isinstance(sender, tuple) or len(sender) != 2
                or sender[0] not in KNOWN_PLATFORMS or not str(sender[1]).strip()):
            raise CaseError(f"sender must be (platform, sender id) with platform one of "
                            f"{', '.join(KNOWN_PLATFORMS)}, got {sender!r}")
    elif since is not None or until is not None:
        raise CaseError("a date range limits a sender's items: give a sender too")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise CaseError(f"{name} must be an aware datetime")
    if since is not None and until is not None and until <= since:
        raise CaseError(f"the range ends ({until.isoformat()}) before it starts "
                        f"({since.isoformat()})")


def _range_text(since: datetime | None, until: datetime | None) -> str:
    parts = []
    if since is not None:
        parts.append(f"from {since.isoformat()}")
    if until is not None:
        parts.append(f"before {until.isoformat()}")
    return (" " + " ".join(parts)) if parts else ""


def _actor(actor: str) -> str:
    actor = clean_text(str(actor or "")).strip()
    if not actor:
        raise CaseError("who makes the change (actor) must be given")
    # A long user name is cut rather than refused: the log must never be skipped for it.
    return actor[:MAX_ACTOR]


def _text(name: str, value: str, *, limit: int | None, required: bool = True) -> str:
    """Return a text field cleaned for storage. Raises CaseError if it is required and empty
    or longer than ``limit``."""
    if not isinstance(value, str):
        raise CaseError(f"{name} must be text, got {type(value).__name__}")
    value = clean_text(value).strip()
    if required and not value:
        raise CaseError(f"{name} must not be empty")
    if limit is not None and len(value) > limit:
        raise CaseError(f"{name} is {len(value)} characters long; at most {limit}")
    return value


def _shown(value: str) -> str:
    return value if value else "(none)"
