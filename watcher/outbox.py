"""The outbox job: delivers queued alerts, retrying with back-off until the channel takes them.

Alerts were written in the same transaction as their findings (see :mod:`watcher.pipeline`).
Here each due alert is first *claimed* with a compare-and-set UPDATE (a short lease), so that
two outbox runs, threads or daemons never send the same alert; then sent; then marked sent.
The only window in which a message can go out twice is a crash between the mail server's
acceptance and that last commit (milliseconds); the message keeps the same Message-ID then.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import timedelta

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


def backoff(attempts: int, initial: float, maximum: float, rng: random.Random | None = None
            ) -> float:
    """Given how many attempts failed so far (>= 1), return seconds to wait before the next:
    exponential from ``initial``, capped at ``maximum``, with +-20% jitter so that many alerts
    queued during one outage do not all retry in the same second."""
    base = min(maximum, initial * (2 ** max(0, attempts - 1)))
    return base * (0.8 + 0.4 * (rng or random).random())


class Outbox:
    """Delivers the outbox's alerts through ``channel``, counting sent and failed deliveries
    into ``metrics`` (a private :class:`Metrics` when none is given)."""

    def __init__(self, store: Store, channel: Channel, settings: AlertsConfig,
                 clock: Clock = utcnow, metrics: Metrics | None = None) -> None:
        self.store = store
        self.channel = channel
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

        Never raises for delivery trouble: a failed alert is rescheduled. Stops early after a
        connection-level failure, since the next alert would meet the same closed door.
        """
        now = self.clock()
        with self.store.session() as s:
            due = list(s.scalars(
                select(AlertRow.id).where(
                    AlertRow.status == "pending", AlertRow.next_attempt_at <= now,
                    or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now))
                .order_by((AlertRow.severity == "urgent").desc(), AlertRow.id).limit(limit)))
        sent = failed = 0
        for alert_id in due:
            result = self._deliver_one(alert_id)
            if result is True:
                sent += 1
                self.metrics.alert_sent()
            elif result is False:
                failed += 1
                self.metrics.alert_failed()
                break
        return DeliveryReport(sent=sent, failed=failed, pending=self.pending())

    def _claim(self, alert_id: int) -> AlertRow | None:
        now = self.clock()
        with self.store.session() as s:
            claimed = s.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status == "pending",
                       or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until < now))
                .values(claimed_until=now + LEASE)
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                return None
            return s.get(AlertRow, alert_id)

    def _deliver_one(self, alert_id: int) -> bool | None:
        """Returns True if sent, False if it failed, None if someone else has it."""
        row = self._claim(alert_id)
        if row is None:
            return None
        recipients = json.loads(row.recipients_json)
        message = Message(to=tuple(recipients["to"]), cc=tuple(recipients.get("cc", ())),
                          subject=row.subject, text=row.body_text, html=row.body_html,
                          message_id=row.message_id, urgent=row.severity == "urgent")
        try:
            self.channel.send(message)
        except DeliveryError as exc:
            self._failed(row, exc)
            return False
        now = self.clock()
        with self.store.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == alert_id).values(
                status="sent", sent_at=now, attempts=AlertRow.attempts + 1, claimed_until=None,
                last_error=None))
            record_action(s, now, "alert.sent", member_id=row.member_id,
                          account_id=row.account_id, alert_id=row.id, channel=self.channel.name,
                          recipients=[*message.to, *message.cc])
        log.info("alert.sent", alert_id=row.id, kind=row.kind, severity=row.severity,
                 to=list(message.to), cc=list(message.cc), attempts=row.attempts + 1)
        return True

    def _failed(self, row: AlertRow, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        wait = backoff(attempts, self.settings.retry_initial, self.settings.retry_max)
        with self.store.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == row.id).values(
                attempts=attempts, claimed_until=None, last_error=str(exc)[:2000],
                next_attempt_at=now + timedelta(seconds=wait)))
        log.warning("alert.delivery_failed", alert_id=row.id, attempts=attempts,
                    retry_in_seconds=round(wait, 1), error=str(exc))
