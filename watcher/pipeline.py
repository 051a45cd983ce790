"""One poll of one account, end to end: fetch, store, detect, plan alerts, write the outbox.

Everything a poll learns is written in ONE transaction: new items, their findings, the alerts
about them and the account's new cursor. If anything fails before the commit, nothing is
written and the cursor does not move, so the next poll fetches the same items again: a crash or
a bad payload loses nothing and cannot produce an alert twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from detectors.base import Context, Detector
from platforms.base import Platform
from watcher import logs, senders
from watcher.cases import open_for_threat
from watcher.config import Config, MemberConfig
from watcher.domain import Account, Finding, Item, ItemKind, Severity
from watcher.errors import (
    AuthExpired,
    CredentialError,
    DetectorError,
    HideNotSupported,
    PlatformError,
    RateLimited,
    WatcherError,
)
from watcher.metrics import RATE_LIMITED, USAGE, Metrics
from watcher.policy import (
    OWN_CONDUCT_LABELS,
    Flagged,
    OpenPileOn,
    PlannedAlert,
    channel_copies,
    plan_account_problem,
    plan_item_alerts,
)
from watcher.store import Clock, Store, clean_text, record_action, sha256_text, utcnow
from watcher.store.models import (
    AccountRow,
    ActionRow,
    AlertFindingRow,
    AlertRow,
    FindingRow,
    ItemRow,
    ItemVersionRow,
    PollStateRow,
)

log = logs.get(__name__)

#: Labels whose items are hidden automatically on accounts with ``auto_hide = true``
#: (CONTRACT §1: "hide (never delete) comments flagged as threat/offensive").
HIDE_LABELS = frozenset({"threat", "offensive"})
HIDDEN = "hidden"


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of one account did. ``status`` is ok, skipped, auth_problem,
    rate_limited or failed."""

    account: str
    status: str
    new_items: int = 0
    findings: int = 0
    alerts: int = 0
    requests: int = 0
    error: str | None = None


def account_from_row(row: AccountRow) -> Account:
    """Return the domain Account for a stored account row."""
    return Account(member_id=row.member_id, platform=row.platform, external_id=row.external_id,
                   handle=row.handle or None, credential=row.credential,
                   credential_user=row.credential_user, auto_hide=row.auto_hide,
                   interval_seconds=row.interval_seconds)


def write_alert(session: Session, plan: PlannedAlert, member_id: str, account_id: int | None,
                finding_ids: Sequence[int], sender: str, now: datetime) -> AlertRow | None:
    """Write one planned alert to the outbox (on the plan's channel) unless its dedupe key is
    already there, linked to ``finding_ids``.

    Returns the new row, or None if an alert with that key exists (it is never sent twice).
    """
    if session.scalar(select(AlertRow.id).where(AlertRow.dedupe_key == plan.dedupe_key)):
        return None
    domain = sender.rpartition("@")[2] or "councillor-watcher.invalid"
    row = AlertRow(
        dedupe_key=plan.dedupe_key, kind=plan.kind, severity=plan.severity.value,
        member_id=member_id, account_id=account_id,
        recipients_json=json.dumps({"to": list(plan.to), "cc": list(plan.cc)}),
        subject=plan.rendered.subject, body_text=plan.rendered.text,
        body_html=plan.rendered.html, message_id=f"<{uuid.uuid4().hex}@{domain}>",
        status="pending", attempts=0, next_attempt_at=now, created_at=now, channel=plan.channel,
    )
    session.add(row)
    session.flush()
    for fid in finding_ids:
        session.add(AlertFindingRow(alert_id=row.id, finding_id=fid))
    record_action(session, now, "alert.queued", member_id=member_id, account_id=account_id,
                  alert_id=row.id, kind=plan.kind, severity=plan.severity.value,
                  recipients=len(plan.to) + len(plan.cc), channel=plan.channel)
    return row


def fold_alert(session: Session, plan: PlannedAlert, member_id: str, account_id: int | None,
               finding_ids: Sequence[int], now: datetime) -> bool | None:
    """Add findings to an alert already in the outbox (an open pile-on summary): link them
    to it and, if it is still waiting to be sent (pending and not claimed by the outbox),
    replace its wording with the plan's, which covers them too.

    Returns True if the wording was replaced, False if the alert had already gone (the
    findings are then in its record only), None if there is no alert with the plan's key.
    """
    row_id = session.scalar(select(AlertRow.id).where(AlertRow.dedupe_key == plan.dedupe_key))
    if row_id is None:
        return None
    for fid in finding_ids:
        session.add(AlertFindingRow(alert_id=row_id, finding_id=fid))
    # Compare-and-set against the outbox's claim: a summary being sent is not rewritten.
    updated = session.execute(
        update(AlertRow)
        .where(AlertRow.id == row_id, AlertRow.status == "pending",
               or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now))
        .values(subject=plan.rendered.subject, body_text=plan.rendered.text,
                body_html=plan.rendered.html)
        .execution_options(synchronize_session=False)).rowcount == 1
    record_action(session, now, "alert.folded", member_id=member_id, account_id=account_id,
                  alert_id=row_id, kind=plan.kind, channel=plan.channel,
                  findings=len(finding_ids), reworded=updated)
    return updated


def _note_failure(state: PollStateRow, now: datetime, exc: BaseException) -> None:
    """Record a failed poll on the account's state: when, how many in a row, the requests it
    cost, and the error (secrets redacted)."""
    state.last_poll_at = now
    state.failures = (state.failures or 0) + 1
    state.requests_total = (state.requests_total or 0) + getattr(exc, "requests", 0)
    state.last_error = logs.redact_text(f"{type(exc).__name__}: {exc}")[:2000]


class Poller:
    """Polls accounts one at a time. Safe to call from several threads for different accounts.

    Counts polls, items, findings and rate-limit waits into ``metrics`` (a private
    :class:`Metrics` when none is given).
    """

    def __init__(self, config: Config, store: Store, platforms: Mapping[str, Platform],
                 detectors: Sequence[Detector], clock: Clock = utcnow,
                 metrics: Metrics | None = None) -> None:
        self.config = config
        self.store = store
        self.platforms = platforms
        self.detectors = list(detectors)
        self.clock = clock
        self.metrics = metrics or Metrics()

    def enabled_accounts(self) -> dict[int, Account]:
        """Return the accounts to poll by row id, in a stable order."""
        with self.store.session() as s:
            rows = s.scalars(select(AccountRow).where(AccountRow.enabled.is_(True))
                             .order_by(AccountRow.id))
            return {row.id: account_from_row(row) for row in rows}

    def poll(self, account_id: int, force: bool = False) -> PollOutcome:
        """Poll one account by its row id, unless it is backing off (``force`` ignores that).

        Never raises for platform, credential or detector trouble: that is recorded on the
        account's poll state and logged, and the outcome says so. Raises StoreError (or the
        database's own errors) only when the store itself fails.
        """
        now = self.clock()
        with self.store.session() as s:
            row = s.get(AccountRow, account_id)
            state = s.get(PollStateRow, account_id)
            if row is None or state is None or not row.enabled:
                return PollOutcome(str(account_id), "skipped", error="account not enabled")
            account = account_from_row(row)
            cursor = state.cursor
            if not force and state.not_before and state.not_before > now:
                return PollOutcome(account.key, "skipped", error="backing off until "
                                   f"{state.not_before.isoformat()}")
        try:
            member = self.config.member(account.member_id)
        except KeyError:
            return PollOutcome(account.key, "skipped", error="member not in the config")
        try:
            outcome = self._poll(account_id, account, member, cursor, now)
        except Exception:  # the store failed: still a poll, and an unsuccessful one
            self.metrics.poll_finished(account.platform, ok=False)
            raise
        self.metrics.poll_finished(account.platform, ok=outcome.status == "ok")
        return outcome

    def _poll(self, account_id: int, account: Account, member: MemberConfig,
              cursor: str | None, now: datetime) -> PollOutcome:
        """Fetch, then store and detect; see :meth:`poll`."""
        bound = log.bind(account=account.key, member=member.id)
        platform = self.platforms[account.platform]
        try:
            batch = platform.fetch(account, cursor)
        except (AuthExpired, CredentialError) as exc:
            return self._auth_problem(account_id, account, member, exc)
        except RateLimited as exc:
            retry_at = exc.retry_at or now + timedelta(seconds=account.interval_seconds or 300)
            self._record_failure(account_id, now, exc, not_before=retry_at)
            self.metrics.rate_limit_wait(account.platform, RATE_LIMITED,
                                         (retry_at - now).total_seconds())
            bound.warning("poll.rate_limited", retry_at=retry_at.isoformat())
            return PollOutcome(account.key, "rate_limited", error=logs.redact_text(str(exc)))
        except PlatformError as exc:
            self._record_failure(account_id, now, exc)
            bound.warning("poll.failed", error_type=type(exc).__name__,
                          error=logs.redact_text(str(exc)))
            return PollOutcome(account.key, "failed", error=logs.redact_text(str(exc)))
        except Exception as exc:  # an adapter bug must not stop the other accounts
            self._record_failure(account_id, now, exc)
            bound.exception("poll.crashed", error_type=type(exc).__name__)
            return PollOutcome(account.key, "failed", error=f"{type(exc).__name__}: "
                               f"{logs.redact_text(str(exc))}")
        self.metrics.items_fetched(account.platform, len(batch.items))
        try:
            outcome = self._store_batch(account_id, account, member, batch.items, batch.cursor,
                                        batch.requests, batch.slow_down)
        except WatcherError as exc:  # a detector failed: nothing written, retried next poll
            self._record_failure(account_id, now, exc)
            bound.error("poll.detect_failed", error_type=type(exc).__name__,
                        error=logs.redact_text(str(exc)))
            return PollOutcome(account.key, "failed", error=str(exc))
        bound.info("poll.done", new_items=outcome.new_items, findings=outcome.findings,
                   alerts=outcome.alerts, requests=outcome.requests)
        return outcome

    # -- success ------------------------------------------------------------------------------

    def _store_batch(self, account_id: int, account: Account, member: MemberConfig,
                     items: Sequence[Item], cursor: str | None, requests: int,
                     slow_down: float) -> PollOutcome:
        now = self.clock()
        unique: dict[str, Item] = {}
        for item in items:  # a platform may return one item twice in a batch
            unique.setdefault(item.external_id, item)
        with self.store.session() as s:
            known = self._known(s, account_id, list(unique))
        cleaned = {eid: self._clean(item) for eid, item in unique.items()}
        new_items = [item for eid, item in cleaned.items() if eid not in known]
        # A platform may return an item again because it was edited: its new text is
        # checked like a new item's, and the old one kept as evidence.
        edited = [item for eid, item in cleaned.items()
                  if eid in known and item.text != known[eid]]
        # Detection and hiding happen before the write transaction: the model is CPU work and
        # hiding is a network call, and neither should hold the database's write lock.
        to_check = new_items + edited
        findings = self._detect(to_check, account, member, now) if to_check else []
        by_item: dict[str, list[Finding]] = {}
        for f in findings:
            by_item.setdefault(f.item_id, []).append(f)
        hides = self._auto_hide(account, [cleaned[eid] for eid in by_item], by_item)
        with self.store.session() as s:
            # Another daemon may have stored some of them meanwhile: never store one twice.
            raced = self._known(s, account_id, [i.external_id for i in new_items])
            rows: dict[str, ItemRow] = {}
            revisions: dict[str, int] = {}
            for item in edited:
                row, revision = self._record_edit(s, account_id, member.id, item, now)
                if row is not None:
                    rows[item.external_id], revisions[item.external_id] = row, revision
            for item in new_items:
                if item.external_id in raced:
                    continue
                raw = item.raw
                rows[item.external_id] = ItemRow(
                    account_id=account_id, platform=item.platform, external_id=item.external_id,
                    kind=item.kind.value, parent_external_id=item.parent_id,
                    author_id=item.author_id, author_name=item.author_name, is_own=item.is_own,
                    text=item.text, created_at=item.created_at, permalink=item.permalink,
                    media_json=json.dumps([m.__dict__ for m in item.media]),
                    raw=raw, raw_sha256=sha256_text(raw), fetched_at=now)
            s.add_all(rows.values())
            s.flush()
            finding_ids: dict[str, list[int]] = {}
            stored_labels: list[str] = []
            for eid, item_findings in by_item.items():
                item_row = rows.get(eid)
                if item_row is None:
                    continue
                if eid in revisions:  # an edit alerts only on what is newly wrong with it
                    had = set(s.scalars(select(FindingRow.label).where(
                        FindingRow.item_id == item_row.id)))
                    item_findings = [f for f in item_findings if f.label not in had]
                for f in item_findings:
                    frow = FindingRow(
                        dedupe_key=f"item:{item_row.id}:{f.label}", item_id=item_row.id,
                        account_id=account_id, member_id=member.id, label=f.label,
                        score=f.score, severity=f.severity.value,
                        reasons_json=json.dumps(list(f.reasons)), detector=f.detector,
                        detector_version=f.detector_version, created_at=now)
                    s.add(frow)
                    s.flush()
                    stored_labels.append(f.label)
                    finding_ids.setdefault(eid, []).append(frow.id)
                    record_action(s, now, "finding.created", member_id=member.id,
                                  account_id=account_id, item_id=item_row.id,
                                  finding_id=frow.id, label=f.label, score=round(f.score, 3))
                    if f.label == "threat" and self.config.cases.auto_open_threats \
                            and not cleaned[eid].is_own:
                        # In the poll's transaction: the case exists exactly when the finding
                        # does (a poll rolled back opens none; the next one opens it once).
                        open_for_threat(s, member_id=member.id, item_id=item_row.id,
                                        finding_id=frow.id, now=now)
                if eid in hides:
                    record_action(s, now, "item.hidden" if hides[eid] == HIDDEN
                                  else "item.hide_failed", member_id=member.id,
                                  account_id=account_id, item_id=item_row.id,
                                  outcome=hides[eid])
            flagged = [Flagged(item=cleaned[eid], item_row_id=rows[eid].id,
                               findings=tuple(by_item[eid]), hide_outcome=hides.get(eid),
                               revision=revisions.get(eid, 0))
                       for eid in finding_ids]
            alerts = 0
            if flagged:
                alerts = self._write_alerts(s, account_id, account, member, flagged, finding_ids,
                                            [row.id for row in rows.values()], now)
            state = s.get(PollStateRow, account_id)
            assert state is not None
            if state.problem_open:
                record_action(s, now, "account.recovered", member_id=member.id,
                              account_id=account_id)
                log.info("account.recovered", account=account.key)
            state.cursor = cursor
            state.last_poll_at = state.last_success_at = now
            state.last_error, state.failures, state.problem_open = None, 0, False
            state.requests_total = (state.requests_total or 0) + requests
            interval = account.interval_seconds or self.config.polling.interval
            # Near a platform limit: stretch this account's interval before we hit it.
            held_back = interval * (slow_down - 1) if slow_down > 1 else 0.0
            state.not_before = now + timedelta(seconds=held_back) if held_back else None
        # Counted once committed, so that a poll rolled back counts nothing twice.
        new_count = len(rows) - len(revisions)
        self.metrics.items_stored(account.platform, new_count)
        self.metrics.findings_stored(stored_labels)
        if held_back:
            self.metrics.rate_limit_wait(account.platform, USAGE, held_back)
        return PollOutcome(account.key, "ok", new_items=new_count,
                           findings=len(stored_labels),
                           alerts=alerts, requests=requests)

    def _write_alerts(self, session: Session, account_id: int, account: Account,
                      member: MemberConfig, flagged: Sequence[Flagged],
                      finding_ids: Mapping[str, Sequence[int]], poll_item_ids: Sequence[int],
                      now: datetime) -> int:
        """Inside the poll's transaction: give each flagged item its sender's history, count
        the account's flagged comments earlier in the pile-on window, find the pile-on
        summary still open on it, then write (or fold) the planned alerts. Returns how many
        outbox rows were written."""
        flagged = self._with_histories(session, member.id, flagged, poll_item_ids, now)
        window_start = now - timedelta(seconds=self.config.alerts.pile_on_window)
        recent = _recent_flagged(session, account_id, window_start, poll_item_ids)
        open_pile_on = _open_pile_on(session, account_id, window_start)
        sender = self.config.smtp.sender
        written = 0
        for plan in plan_item_alerts(self.config, member, account, flagged, recent,
                                     open_pile_on=open_pile_on):
            # Findings are linked to the email alert only: it is the record; the SMS and
            # Teams rows are copies of it.
            ids_for = [fid for f in plan.flagged for fid in finding_ids[f.item.external_id]] \
                if plan.channel == "email" else []
            if plan.fold:
                reworded = fold_alert(session, plan, member.id, account_id, ids_for, now)
                log.info("alert.folded", account=account.key, key=plan.dedupe_key,
                         channel=plan.channel, comments=len(plan.flagged), reworded=reworded)
            elif write_alert(session, plan, member.id, account_id, ids_for, sender, now):
                written += 1
        return written

    @staticmethod
    def _with_histories(session: Session, member_id: str, flagged: Sequence[Flagged],
                        poll_item_ids: Sequence[int], now: datetime) -> list[Flagged]:
        """Return ``flagged`` with each third-party item's sender history on the member's
        accounts as it stood before this poll (one lookup per sender)."""
        found: dict[tuple[str, str], senders.SenderHistory | None] = {}
        out = []
        for f in flagged:
            author = f.item.author_id
            if f.item.is_own or not author:
                out.append(f)
                continue
            key = (f.item.platform, author)
            if key not in found:
                found[key] = senders.history(session, member_id=member_id,
                                             platform=f.item.platform, author_id=author,
                                             before=now, exclude_item_ids=poll_item_ids)
            out.append(replace(f, history=found[key]))
        return out

    @staticmethod
    def _known(session: Session, account_id: int, external_ids: Sequence[str]
               ) -> dict[str, str]:
        """Return {external id: stored text} for those of ``external_ids`` already stored."""
        known: dict[str, str] = {}
        for i in range(0, len(external_ids), 500):
            rows = session.execute(select(ItemRow.external_id, ItemRow.text).where(
                ItemRow.account_id == account_id,
                ItemRow.external_id.in_(external_ids[i:i + 500])))
            known.update((eid, text) for eid, text in rows)
        return known

    @staticmethod
    def _record_edit(session: Session, account_id: int, member_id: str, item: Item,
                     now: datetime) -> tuple[ItemRow | None, int]:
        """Keep the stored version of an edited item in ``item_versions`` and store the new
        one in its place. Returns the row and its revision number (1 for the first edit), or
        (None, 0) if the text is in fact unchanged."""
        row = session.scalars(select(ItemRow).where(
            ItemRow.account_id == account_id, ItemRow.external_id == item.external_id)).one()
        if row.text == item.text:
            return None, 0
        session.add(ItemVersionRow(item_id=row.id, text=row.text, raw=row.raw,
                                   raw_sha256=row.raw_sha256, fetched_at=row.fetched_at,
                                   superseded_at=now))
        old_sha = row.raw_sha256
        row.text, row.raw, row.raw_sha256 = item.text, item.raw, sha256_text(item.raw)
        row.fetched_at = now
        revision = (session.scalar(select(func.count(ItemVersionRow.id)).where(
            ItemVersionRow.item_id == row.id)) or 0) + 1
        record_action(session, now, "item.edited", member_id=member_id, account_id=account_id,
                      item_id=row.id, previous_sha256=old_sha, sha256=row.raw_sha256,
                      revision=revision)
        return row, revision

    def _auto_hide(self, account: Account, items: Sequence[Item],
                   findings: Mapping[str, Sequence[Finding]]) -> dict[str, str]:
        """Hide (never delete) third-party items flagged with a label in HIDE_LABELS, when the
        account has ``auto_hide = true``. Returns {external id: HIDDEN or why not}.

        Never raises: a hide that fails is reported in the alert and the actions log, and the
        member is told to hide it by hand.
        """
        if not account.auto_hide:
            return {}
        platform = self.platforms[account.platform]
        outcomes: dict[str, str] = {}
        for item in items:
            labels = {f.label for f in findings.get(item.external_id, ())}
            if not labels & HIDE_LABELS or item.is_own or item.is_hidden:
                continue
            try:
                platform.hide(account, item)
            except HideNotSupported as exc:
                outcomes[item.external_id] = f"not possible: {logs.redact_text(str(exc))}"
            except (PlatformError, CredentialError) as exc:
                outcomes[item.external_id] = f"failed: {logs.redact_text(str(exc))}"
            else:
                outcomes[item.external_id] = HIDDEN
            log.info("item.auto_hide", account=account.key, item=item.external_id,
                     outcome=outcomes[item.external_id])
        return outcomes

    @staticmethod
    def _clean(item: Item) -> Item:
        return replace(item, text=clean_text(item.text or ""), raw=clean_text(item.raw),
                       author_name=clean_text(item.author_name) if item.author_name else None)

    def _detect(self, items: Sequence[Item], account: Account, member: MemberConfig,
                now: datetime) -> list[Finding]:
        context = Context(member_id=member.id, member_name=member.name, account=account,
                          now=now, thresholds=dict(self.config.text.thresholds))
        found: list[Finding] = []
        for detector in self.detectors:
            try:
                found.extend(detector.detect(items, context))
            except WatcherError:
                raise
            except Exception as exc:  # a model that cannot run (e.g. under a sandbox)
                raise DetectorError(f"detector {type(detector).__name__} failed: "
                                    f"{type(exc).__name__}: {exc}") from exc
        return found

    # -- failure ------------------------------------------------------------------------------

    def _record_failure(self, account_id: int, now: datetime, exc: BaseException,
                        not_before: datetime | None = None) -> None:
        with self.store.session() as s:
            state = s.get(PollStateRow, account_id)
            if state is None:
                return
            _note_failure(state, now, exc)
            if not_before is not None:
                state.not_before = not_before

    def _auth_problem(self, account_id: int, account: Account, member: MemberConfig,
                      exc: WatcherError) -> PollOutcome:
        """An expired token or missing credential: one account_problem alert to member
        services when the problem starts, none on the polls after it."""
        now = self.clock()
        error = logs.redact_text(str(exc))
        alerted = opened = False
        with self.store.session() as s:
            state = s.get(PollStateRow, account_id)
            assert state is not None
            _note_failure(state, now, exc)
            if not state.problem_open:
                state.problem_open = opened = True
                plan = plan_account_problem(self.config, member, account, error, now)
                frow = FindingRow(
                    dedupe_key=plan.dedupe_key, item_id=None, account_id=account_id,
                    member_id=member.id, label="account_problem", score=1.0,
                    severity=Severity.HIGH.value, reasons_json=json.dumps([error]),
                    detector="poller", detector_version="1", created_at=now)
                s.add(frow)
                s.flush()
                alerted = write_alert(s, plan, member.id, account_id, [frow.id],
                                      self.config.smtp.sender, now) is not None
                for copy in channel_copies(self.config, member, account, plan):
                    write_alert(s, copy, member.id, account_id, [], self.config.smtp.sender, now)
                record_action(s, now, "account.problem", member_id=member.id,
                              account_id=account_id, finding_id=frow.id, error=error)
        if opened:
            self.metrics.findings_stored(["account_problem"])
        log.warning("poll.account_problem", account=account.key, member=member.id,
                    error_type=type(exc).__name__, error=error, alerted=alerted)
        return PollOutcome(account.key, "auth_problem", alerts=int(alerted), error=error)


# -- pile-ons ---------------------------------------------------------------------------------


def _recent_flagged(session: Session, account_id: int, since: datetime,
                    poll_item_ids: Sequence[int]) -> int:
    """Return how many third-party comments on the account were flagged since ``since``,
    leaving out this poll's items. Comments are counted, not alerts: a pile-on summary of
    eight comments is eight, so the polls after it still see a pile-on."""
    query = select(func.count(func.distinct(FindingRow.item_id))).where(
        FindingRow.account_id == account_id, FindingRow.created_at >= since,
        FindingRow.item_id.is_not(None), FindingRow.label.notin_(OWN_CONDUCT_LABELS))
    if poll_item_ids:
        query = query.where(FindingRow.item_id.notin_(list(poll_item_ids)))
    return session.scalar(query) or 0


def _open_pile_on(session: Session, account_id: int, since: datetime) -> OpenPileOn | None:
    """Return the account's latest pile-on summary written since ``since``, with the flagged
    comments it covers (as stored), or None if there is none."""
    found = session.execute(
        select(AlertRow.id, AlertRow.dedupe_key)
        .where(AlertRow.account_id == account_id, AlertRow.kind == "pile_on",
               AlertRow.channel == "email", AlertRow.created_at >= since)
        .order_by(AlertRow.created_at.desc(), AlertRow.id.desc()).limit(1)).first()
    if found is None:
        return None
    alert_id, key = found
    pairs = session.execute(
        select(ItemRow, FindingRow)
        .join(FindingRow, FindingRow.item_id == ItemRow.id)
        .join(AlertFindingRow, AlertFindingRow.finding_id == FindingRow.id)
        .where(AlertFindingRow.alert_id == alert_id)
        .order_by(ItemRow.id, FindingRow.id)).all()
    item_ids = sorted({item.id for item, _ in pairs})
    hidden = set(session.scalars(select(ActionRow.item_id).where(
        ActionRow.action == "item.hidden", ActionRow.item_id.in_(item_ids)))) if item_ids else set()
    items: dict[int, ItemRow] = {}
    findings: dict[int, list[Finding]] = {}
    for item, finding in pairs:
        items[item.id] = item
        findings.setdefault(item.id, []).append(Finding(
            item_id=item.external_id, label=finding.label, score=finding.score,
            severity=Severity(finding.severity), reasons=tuple(json.loads(finding.reasons_json)),
            detector=finding.detector, detector_version=finding.detector_version))
    covered = tuple(
        Flagged(item=item_from_row(row), item_row_id=row.id, findings=tuple(findings[row.id]),
                hide_outcome=HIDDEN if row.id in hidden else None)
        for row in items.values())
    return OpenPileOn(dedupe_key=key, flagged=covered)


def item_from_row(row: ItemRow) -> Item:
    """The domain Item of a stored item (enough to word an alert about it)."""
    return Item(platform=row.platform, external_id=row.external_id, kind=ItemKind(row.kind),
                text=row.text, created_at=row.created_at, author_id=row.author_id,
                author_name=row.author_name, permalink=row.permalink,
                parent_id=row.parent_external_id, is_own=row.is_own)
