"""Retention (GDPR minimisation) and subject-access exports.

``purge`` applies the council's retention periods (``[retention]``):

- a third party's item with no finding and in no case is deleted ``unflagged`` after it was
  posted (with its earlier versions): nothing about it was ever a concern;
- a third party's flagged item, or one in a case, is kept while any of its cases is open, and
  until ``closed_cases`` after the later of its posting and its last case's closing; then its
  text, author name and raw payload are redacted (the finding's label and time stay, so that
  monthly counts do not change, and the actions log says when and why).

The member's own posts are the member's, not third-party data, and are kept. ``export_sar``
gathers everything stored about one sender (a platform and its id) for a subject-access
request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, delete, exists, func, select

from watcher import logs
from watcher.config import Config
from watcher.errors import WatcherError
from watcher.store import Store, record_action
from watcher.store.models import (
    AccountRow,
    CaseItemRow,
    CaseRow,
    FindingRow,
    ItemRow,
    ItemVersionRow,
)

log = logs.get(__name__)

#: What a redacted item's text, author name and raw payload become.
REDACTED_TEXT = "[removed under the council's retention policy]"
REDACTED_RAW = '{"redacted": "retention"}'
_BATCH = 500


@dataclass(frozen=True)
class PurgeReport:
    deleted: int
    redacted: int


def purge(store: Store, config: Config, now: datetime | None = None) -> PurgeReport:
    """Given the store and config, apply the retention periods as of ``now`` (the store's
    clock if None) and return how many items were deleted and redacted. Idempotent: a second
    run at the same time does nothing. Raises only when the store fails."""
    now = now or store.clock()
    unflagged_before = now - timedelta(seconds=config.retention.unflagged)
    closed_before = now - timedelta(seconds=config.retention.closed_cases)
    deleted = redacted = 0
    with store.session() as s:
        has_finding = exists().where(FindingRow.item_id == ItemRow.id)
        in_case = exists().where(CaseItemRow.item_id == ItemRow.id)
        stale = list(s.scalars(select(ItemRow.id).where(
            ItemRow.is_own.is_(False), ItemRow.created_at < unflagged_before,
            ~has_finding, ~in_case)))
        for i in range(0, len(stale), _BATCH):
            ids = stale[i:i + _BATCH]
            s.execute(delete(ItemVersionRow).where(ItemVersionRow.item_id.in_(ids)))
            s.execute(delete(ItemRow).where(ItemRow.id.in_(ids)))
        deleted = len(stale)
        # Flagged or in a case: kept while a case is open, then for closed_cases after the
        # later of posting and the last closing.
        open_case = exists().where(and_(CaseItemRow.item_id == ItemRow.id,
                                        CaseRow.id == CaseItemRow.case_id,
                                        CaseRow.closed_at.is_(None)))
        last_closed = (select(func.max(CaseRow.closed_at))
                       .join(CaseItemRow, CaseItemRow.case_id == CaseRow.id)
                       .where(CaseItemRow.item_id == ItemRow.id).scalar_subquery())
        candidates = s.execute(select(ItemRow.id, last_closed).where(
            ItemRow.is_own.is_(False), ItemRow.created_at < closed_before,
            has_finding | in_case, ~open_case, ItemRow.raw != REDACTED_RAW)).all()
        due = [item_id for item_id, closed in candidates
               if closed is None or _aware(closed) < closed_before]
        for i in range(0, len(due), _BATCH):
            ids = due[i:i + _BATCH]
            for row in s.scalars(select(ItemRow).where(ItemRow.id.in_(ids))):
                row.text, row.author_name, row.raw = REDACTED_TEXT, None, REDACTED_RAW
            s.execute(delete(ItemVersionRow).where(ItemVersionRow.item_id.in_(ids)))
        redacted = len(due)
        if deleted or redacted:
            record_action(s, now, "retention.purged", deleted=deleted, redacted=redacted,
                          unflagged_days=config.retention.unflagged / 86400,
                          closed_case_days=config.retention.closed_cases / 86400)
    if deleted or redacted:
        log.info("retention.purged", deleted=deleted, redacted=redacted)
    return PurgeReport(deleted=deleted, redacted=redacted)


def _aware(at: datetime) -> datetime:
    # A max() over a column may come back without the column's type on SQLite: naive UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def export_sar(store: Store, platform: str, sender_id: str, out_dir: str | Path,
               actor: str = "cli") -> Path:
    """Given a platform and a sender's platform id, write everything stored about that sender
    to ``out_dir/sar-<platform>-<id>.json`` and return its path: each item (text, times,
    link, the raw payload as fetched, earlier versions), the findings about it, and the
    cases it is in. The export itself is recorded in the actions log.

    Raises WatcherError if nothing is stored about that sender, or the folder cannot be
    written.
    """
    with store.session() as s:
        rows = list(s.execute(
            select(ItemRow, AccountRow.member_id)
            .join(AccountRow, AccountRow.id == ItemRow.account_id)
            .where(ItemRow.platform == platform, ItemRow.author_id == sender_id)
            .order_by(ItemRow.created_at, ItemRow.id)))
        if not rows:
            raise WatcherError(f"nothing is stored about {platform} sender {sender_id!r}")
        items = []
        for item, member_id in rows:
            findings = [{"label": f.label, "at": f.created_at.isoformat(),
                         "reasons": json.loads(f.reasons_json)}
                        for f in s.scalars(select(FindingRow).where(
                            FindingRow.item_id == item.id).order_by(FindingRow.id))]
            versions = [{"text": v.text, "fetched_at": v.fetched_at.isoformat(),
                         "superseded_at": v.superseded_at.isoformat()}
                        for v in s.scalars(select(ItemVersionRow).where(
                            ItemVersionRow.item_id == item.id).order_by(ItemVersionRow.id))]
            cases = list(s.scalars(select(CaseItemRow.case_id).where(
                CaseItemRow.item_id == item.id).order_by(CaseItemRow.case_id)))
            items.append({
                "item_id": item.id, "platform": item.platform, "external_id": item.external_id,
                "kind": item.kind, "on_member_page": member_id, "author_name": item.author_name,
                "text": item.text, "created_at": item.created_at.isoformat(),
                "fetched_at": item.fetched_at.isoformat(), "permalink": item.permalink,
                "raw": json.loads(item.raw) if item.raw else None,
                "raw_sha256": item.raw_sha256, "earlier_versions": versions,
                "findings": findings, "cases": cases})
        document = {"subject": {"platform": platform, "id": sender_id},
                    "exported_at": store.clock().isoformat(), "items": items}
        folder = Path(out_dir)
        target = folder / f"sar-{platform}-{_safe(sender_id)}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")
        except OSError as exc:
            raise WatcherError(f"cannot write the export to {folder}: "
                               f"{exc.strerror or exc}") from exc
        record_action(s, store.clock(), "sar.exported", actor=actor, platform=platform,
                      sender_id=sender_id, items=len(items))
    log.info("sar.exported", platform=platform, items=len(items), path=str(target))
    return target


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:100]
