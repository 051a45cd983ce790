"""The outbox job: delivers queued alerts, retrying with back-off until their channel takes them.

Each alert row names its channel (``email``, ``sms``, ``teams``) and goes through the channel
of that name; a channel that fails stops only its own alerts for the rest of the run (a Teams
outage must not hold back a threat's email).

Alerts were written in the same transaction as their findings (see :mod:`watcher.pipeline`).
Here each due alert is first *claimed* with a compare-and-set UPDATE (a short lease), so that
two outbox runs, threads or daemons never send the same alert; then sent; then marked sent.
The only window in which a message can go out twice is a crash between the mail server's
acceptance and that last commit (milliseconds); the message keeps the same Message-ID then.

A lease names its holder (host, process id and the process's start time). A daemon starting
on the same host releases the leases of holders that are no longer running
(:meth:`Outbox.release_stale`), so an alert claimed by a killed daemon goes out at once rather
than when its lease runs out.
"""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, or_, select, update

from alerts.base import Channel, Message
from watcher import logs
from watcher.config import AlertsConfig
from watcher.errors import DeliveryError
from watcher.metrics import Metrics
from watcher.store import Clock, Store, record_action, utcnow
from watcher.store.models import AlertRow

log = logs.get(__name__)
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0


def _start_ticks(pid: int) -> str:
    """A process's start time in clock ticks since boot (Linux /proc), "" where unknown: it
    tells a process from a later one that got the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces, so count from its closing ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def holder(pid: int | None = None) -> str:
    """The lease holder name of a process (this one by default): ``host:pid:start``."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def holder_alive(name: str) -> bool:
    """Given a holder name of this host, whether that very process is still running (a
    malformed name counts as running: its lease is left to expire)."""
    try:
        _host, pid_text, start = name.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        pass
    return not start or _start_ticks(pid) in ("", start)


def backoff(attempts: int, initial: float, maximum: float, rng: random.Random | None = None
            ) -> float:
    """Given how many attempts failed so far (>= 1), return seconds to wait before the next:
    exponential from ``initial``, capped at ``maximum``, with +-20% jitter so that many alerts
    queued during one outage do not all retry in the same second."""
    base = min(maximum, initial * (2 ** max(0, attempts - 1)))
    return base * (0.8 + 0.4 * (rng or random).random())


def _masked_phone(number: str) -> str:
    """A phone number fit for a log line or the actions log: its last three digits."""
    return "…" + number[-3:] if len(number) > 3 else "…"


class Outbox:
    """Delivers the outbox's alerts, each through the channel its row names: ``channels``
    maps channel names to channels (a single channel serves the rows of its own name).
    Counts sent and failed deliveries into ``metrics`` (a private :class:`Metrics` when none
    is given)."""

    def __init__(self, store: Store, channels: Channel | Mapping[str, Channel],
                 settings: AlertsConfig, clock: Clock = utcnow,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.channels: dict[str, Channel] = (
            {channels.name: channels} if isinstance(channels, Channel) else dict(channels))
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()

    def pending(self) -> int:
        """Return how many alerts are waiting to be delivered."""
        with self.store.session() as s:
            return s.scalar(select(func.count(AlertRow.id))
                            .where(AlertRow.status == "pending")) or 0

    def deliver_due(self, limit: int = 100) -> DeliveryReport:
        """Send every alert that is due, urgent first, at most ``limit`` of them.

        Never raises for delivery trouble: a failed alert is rescheduled. After a failure the
        rest of that channel's alerts wait for the next run, since they would meet the same
        closed door; other channels' alerts still go.
        """
        now = self.clock()
        with self.store.session() as s:
            due = list(s.execute(
                select(AlertRow.id, AlertRow.channel).where(
                    AlertRow.status == "pending", AlertRow.next_attempt_at <= now,
                    or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now))
                .order_by((AlertRow.severity == "urgent").desc(), AlertRow.id).limit(limit)))
        sent = failed = 0
        closed: set[str] = set()
        for alert_id, channel in due:
            if channel in closed:
                continue
            result = self._deliver_one(alert_id)
            if result is True:
                sent += 1
                self.metrics.alert_sent()
            elif result is False:
                failed += 1
                self.metrics.alert_failed()
                closed.add(channel)
        return DeliveryReport(sent=sent, failed=failed, pending=self.pending())

    def release_stale(self) -> int:
        """Release the leases held by processes of this host that are no longer running (a
        daemon killed between claiming an alert and recording it sent), so their alerts are
        due again now. Returns how many were released. Leases of other hosts, and of running
        processes, are left alone."""
        now = self.clock()
        mine = holder()
        host = mine.split(":", 1)[0]
        released = 0
        with self.store.session() as s:
            held = list(s.execute(select(AlertRow.id, AlertRow.claimed_by).where(
                AlertRow.status == "pending", AlertRow.claimed_until >= now,
                AlertRow.claimed_by.like(f"{host}:%"))))
            for alert_id, by in held:
                # LIKE's "_" matches any character: compare the host exactly.
                if by == mine or by.rsplit(":", 2)[0] != host or holder_alive(by):
                    continue
                done = s.execute(
                    update(AlertRow)
                    .where(AlertRow.id == alert_id, AlertRow.claimed_by == by,
                           AlertRow.status == "pending")
                    .values(claimed_until=None, claimed_by=None)
                    .execution_options(synchronize_session=False)).rowcount
                if done:
                    released += 1
                    record_action(s, now, "alert.lease_released", alert_id=alert_id,
                                  holder=by)
        if released:
            log.warning("outbox.leases_released", released=released)
        return released

    def _claim(self, alert_id: int) -> AlertRow | None:
        now = self.clock()
        with self.store.session() as s:
            claimed = s.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status == "pending",
                       or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now))
                .values(claimed_until=now + LEASE, claimed_by=holder())
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                return None
            return s.get(AlertRow, alert_id)

    def _deliver_one(self, alert_id: int) -> bool | None:
        """Returns True if sent, False if it failed, None if someone else has it."""
        row = self._claim(alert_id)
        if row is None:
            return None
        channel = self.channels.get(row.channel or "email")
        if channel is None:
            # Written while that channel was configured: kept, and retried, until it is again.
            self._failed(row, DeliveryError(f"no {row.channel!r} channel is configured"))
            return False
        message = self._message(row)
        try:
            channel.send(message)
        except DeliveryError as exc:
            self._failed(row, exc)
            return False
        now = self.clock()
        # A phone number is personal data: the logs and the append-only actions log keep
        # only its last digits (the alert row holds it, and is purged with the rest).
        shown = [*message.to, *message.cc] if row.channel != "sms" \
            else [_masked_phone(n) for n in message.to]
        with self.store.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == alert_id).values(
                status="sent", sent_at=now, attempts=AlertRow.attempts + 1, claimed_until=None,
                claimed_by=None, last_error=None))
            record_action(s, now, "alert.sent", member_id=row.member_id,
                          account_id=row.account_id, alert_id=row.id, channel=channel.name,
                          recipients=shown)
        log.info("alert.sent", alert_id=row.id, kind=row.kind, severity=row.severity,
                 channel=channel.name, to=shown if row.channel == "sms" else list(message.to),
                 cc=list(message.cc), attempts=row.attempts + 1)
        return True

    @staticmethod
    def _message(row: AlertRow) -> Message:
        """The channel's message for an alert row. An email keeps the row's own Message-ID;
        other channels get the alert's dedupe key, stable across retries, as their
        reference."""
        recipients = json.loads(row.recipients_json)
        email = (row.channel or "email") == "email"
        return Message(to=tuple(recipients["to"]), cc=tuple(recipients.get("cc", ())),
                       subject=row.subject, text=row.body_text, html=row.body_html,
                       message_id=row.message_id if email else row.dedupe_key,
                       urgent=row.severity == "urgent")

    def _failed(self, row: AlertRow, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        wait = backoff(attempts, self.settings.retry_initial, self.settings.retry_max)
        # Channels never put a secret in their errors; redacting again costs nothing.
        error = logs.redact_text(str(exc))
        with self.store.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == row.id).values(
                attempts=attempts, claimed_until=None, claimed_by=None, last_error=error[:2000],
                next_attempt_at=now + timedelta(seconds=wait)))
        log.warning("alert.delivery_failed", alert_id=row.id, channel=row.channel,
                    attempts=attempts, retry_in_seconds=round(wait, 1), error=error)
