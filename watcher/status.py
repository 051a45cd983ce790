"""Where the watcher stands, read from the database: ``watcher status`` and the metrics gauges.

The queries here are shared: :func:`account_states` and :func:`outbox_state` are what the
Prometheus collector (:mod:`watcher.metrics`) exports on every scrape, and :func:`gather` adds
the heavier per-account counts for the command. Everything comes from the store, so the
numbers are right straight after a restart and agree between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watcher import logs
from watcher.errors import StoreError
from watcher.store import Store
from watcher.store.models import AccountRow, AlertRow, FindingRow, ItemRow, MemberRow, PollStateRow

#: An alert pending longer than this makes the watcher unhealthy (``watcher status`` exits 1).
PENDING_TOO_LONG = timedelta(hours=1)
#: How far back ``watcher status`` counts findings.
FINDINGS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class AccountState:
    """One registered account and how its polling stands.

    ``last_error`` is the error of the last failed poll, already redacted when it was stored;
    ``failures`` counts failed polls in a row (0 after a success).
    """

    id: int
    member_id: str
    member_name: str
    platform: str
    external_id: str
    handle: str
    enabled: bool
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    not_before: datetime | None

    @property
    def key(self) -> str:
        """``platform:external_id``, as ``Account.key``."""
        return f"{self.platform}:{self.external_id}"

    @property
    def outcome(self) -> str:
        """``never`` (not polled yet), ``ok`` or ``failed``: how the last poll went."""
        if self.last_poll_at is None:
            return "never"
        return "failed" if self.failures else "ok"


@dataclass(frozen=True)
class OutboxState:
    """The alerts not yet delivered: how many, how many of them failed at least once (and
    are waiting to be retried), and when the oldest was queued."""

    pending: int
    failing: int
    oldest_pending_at: datetime | None
    last_error: str | None

    def oldest_age(self, now: datetime) -> float:
        """Seconds the oldest pending alert has waited (0 when none is pending)."""
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_pending_at).total_seconds())


@dataclass(frozen=True)
class StatusReport:
    """Everything ``watcher status`` prints, as of ``now``."""

    now: datetime
    database: str
    accounts: tuple[AccountState, ...]
    outbox: OutboxState
    items: Mapping[int, int] = field(default_factory=dict)  # account id -> items stored
    # account id -> {label: findings in FINDINGS_WINDOW}
    findings: Mapping[int, Mapping[str, int]] = field(default_factory=dict)

    @property
    def findings_total(self) -> dict[str, int]:
        """Findings in the window by label, over every account."""
        total: dict[str, int] = {}
        for by_label in self.findings.values():
            for label, n in by_label.items():
                total[label] = total.get(label, 0) + n
        return dict(sorted(total.items()))

    @property
    def problems(self) -> list[str]:
        """Why the watcher is unhealthy: an enabled account whose last poll failed, an alert
        pending for more than PENDING_TOO_LONG. Empty when healthy."""
        out = [f"{a.key} ({a.member_id}): last poll failed"
               + (f" ({a.failures} in a row)" if a.failures > 1 else "")
               for a in self.accounts if a.enabled and a.outcome == "failed"]
        age = self.outbox.oldest_age(self.now)
        if self.outbox.pending and age > PENDING_TOO_LONG.total_seconds():
            out.append(f"an alert has been pending for {_duration(age)} "
                       f"(more than {_duration(PENDING_TOO_LONG.total_seconds())})")
        return out

    @property
    def healthy(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------
# Queries (shared with the metrics collector)


def account_states(session: Session) -> list[AccountState]:
    """Given a session, return every registered account (enabled or not) with its poll state,
    ordered by member then account."""
    rows = session.execute(
        select(AccountRow, PollStateRow, MemberRow.name)
        .join(MemberRow, AccountRow.member_id == MemberRow.id)
        .outerjoin(PollStateRow, PollStateRow.account_id == AccountRow.id)
        .order_by(AccountRow.member_id, AccountRow.platform, AccountRow.external_id))
    out = []
    for account, state, member_name in rows:
        out.append(AccountState(
            id=account.id, member_id=account.member_id, member_name=member_name,
            platform=account.platform, external_id=account.external_id,
            handle=account.handle or "",
            enabled=account.enabled,
            last_poll_at=state.last_poll_at if state else None,
            last_success_at=state.last_success_at if state else None,
            last_error=state.last_error if state else None,
            failures=(state.failures or 0) if state else 0,
            not_before=state.not_before if state else None))
    return out


def outbox_state(session: Session) -> OutboxState:
    """Given a session, return how the outbox stands (see :class:`OutboxState`)."""
    pending = AlertRow.status == "pending"
    count, oldest = session.execute(
        select(func.count(AlertRow.id), func.min(AlertRow.created_at)).where(pending)).one()
    failing = session.scalar(select(func.count(AlertRow.id))
                             .where(pending, AlertRow.attempts > 0)) or 0
    last_error = session.scalar(select(AlertRow.last_error)
                                .where(pending, AlertRow.last_error.is_not(None))
                                .order_by(AlertRow.id.desc()).limit(1))
    return OutboxState(pending=count or 0, failing=failing, oldest_pending_at=oldest,
                       last_error=logs.redact_text(last_error) if last_error else None)


def items_by_account(session: Session) -> dict[int, int]:
    """Given a session, return {account id: items stored}."""
    rows = session.execute(select(ItemRow.account_id, func.count(ItemRow.id))
                           .group_by(ItemRow.account_id))
    return {account_id: n for account_id, n in rows}


def findings_by_account(session: Session, since: datetime) -> dict[int, dict[str, int]]:
    """Given a session and a time, return {account id: {label: findings created since}}."""
    rows = session.execute(select(FindingRow.account_id, FindingRow.label,
                                  func.count(FindingRow.id))
                           .where(FindingRow.created_at >= since)
                           .group_by(FindingRow.account_id, FindingRow.label))
    out: dict[int, dict[str, int]] = {}
    for account_id, label, n in rows:
        out.setdefault(account_id, {})[label] = n
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def gather(store: Store, now: datetime | None = None) -> StatusReport:
    """Given the store (and the time to report as of, default its clock), return the report.

    Raises StoreError if the database cannot be read (unreachable, or no schema yet).
    """
    now = now or store.clock()
    try:
        with store.session() as s:
            return StatusReport(
                now=now, database=store.safe_url, accounts=tuple(account_states(s)),
                outbox=outbox_state(s), items=items_by_account(s),
                findings=findings_by_account(s, now - FINDINGS_WINDOW))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the status from {store.safe_url}: "
                         f"{str(exc).splitlines()[0]} (has `watcher db upgrade` been run?)"
                         ) from None


# ---------------------------------------------------------------------------------------------
# Formatting


def _duration(seconds: float) -> str:
    """Given seconds, return a short human duration: ``45s``, ``12m``, ``3h05m``, ``2d4h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    age = (now - at).total_seconds()
    ago = f"{_duration(age)} ago" if age >= 0 else f"in {_duration(-age)}"
    return f"{at.strftime('%Y-%m-%d %H:%M:%S')} UTC ({ago})"


def _labels(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items()) or "none"


def format_report(report: StatusReport) -> str:
    """Given a report, return it as text for a terminal (no trailing newline)."""
    now = report.now
    lines = [f"Councillor Watcher status at {now.strftime('%Y-%m-%d %H:%M:%S')} UTC",
             f"database: {report.database}", ""]
    accounts: Sequence[AccountState] = report.accounts
    if not accounts:
        lines += ["no accounts registered (the daemon adds them from the config at start)", ""]
    for a in accounts:
        handle = f" @{a.handle}" if a.handle and a.platform == "x" else \
            (f" ({a.handle})" if a.handle else "")
        state = "enabled" if a.enabled else "disabled (no longer in the config)"
        lines.append(f"{a.key}{handle}  {a.member_name} [{a.member_id}]  {state}")
        outcome = {"ok": "ok", "failed": "FAILED", "never": "not polled yet"}[a.outcome]
        if a.outcome == "failed" and a.failures > 1:
            outcome += f" ({a.failures} in a row)"
        lines.append(f"  last poll     {_when(a.last_poll_at, now)}  {outcome}"
                     if a.last_poll_at else f"  last poll     {outcome}")
        lines.append(f"  last success  {_when(a.last_success_at, now)}")
        if a.last_error and a.outcome == "failed":
            lines.append(f"  last error    {' '.join(a.last_error.split())[:300]}")
        if a.not_before and a.not_before > now:
            lines.append(f"  backing off   until {_when(a.not_before, now)}")
        lines.append(f"  items stored  {report.items.get(a.id, 0)}")
        lines.append(f"  findings 24h  {_labels(report.findings.get(a.id, {}))}")
        lines.append("")
    lines.append(f"findings in the last 24 h: {_labels(report.findings_total)}")
    ob = report.outbox
    line = f"alerts: {ob.pending} pending"
    if ob.pending:
        line += (f", {ob.failing} of them retrying after a failed delivery; "
                 f"oldest queued {_duration(ob.oldest_age(now))} ago")
    lines.append(line)
    if ob.pending and ob.last_error:
        lines.append(f"  last delivery error: {' '.join(ob.last_error.split())[:300]}")
    problems = report.problems
    lines.append("")
    lines.append("health: OK" if not problems else "health: PROBLEMS")
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)
