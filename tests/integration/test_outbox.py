"""The outbox through a real SMTP server (aiosmtpd): delivery, retry, never twice."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.email import EmailChannel, SmtpSettings
from tests.conftest import MEMBERS, config_text
from watcher import config
from watcher.domain import Finding, Item, ItemKind, Severity
from watcher.mailsink import MailSink, free_port
from watcher.outbox import Outbox, backoff
from watcher.pipeline import write_alert
from watcher.policy import Flagged, plan_item_alerts
from watcher.store import Store, sync_config
from watcher.store.models import ActionRow, AlertRow


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def setup(db_url: str, smtp_port: int, alerts: int = 1) -> tuple[Store, config.Config, Clock]:
    clock = Clock()
    cfg = config.parse(config_text(db_url, smtp_port=smtp_port, members=MEMBERS))
    store = Store(db_url, clock=clock)
    store.upgrade()
    sync_config(store, cfg.members)
    member = cfg.members[0]
    with store.session() as s:
        for n in range(alerts):
            item = Item(platform="facebook", external_id=f"c{n}", kind=ItemKind.COMMENT,
                        text=f"threat number {n}", created_at=clock.now,
                        permalink=f"https://www.facebook.com/c{n}")
            finding = Finding(f"c{n}", "threat", 0.99, Severity.URGENT, ("matched",), "rules", "1")
            (plan,) = plan_item_alerts(cfg, member, member.accounts[0],
                                       [Flagged(item, n + 1, (finding,))], 0)
            write_alert(s, plan, member.id, None, [], cfg.smtp.sender, clock.now)
    return store, cfg, clock


def channel(cfg: config.Config) -> EmailChannel:
    return EmailChannel(SmtpSettings(host=cfg.smtp.host, port=cfg.smtp.port,
                                     sender=cfg.smtp.sender, timeout=3))


def test_alert_is_delivered_as_multipart_text_and_html(db_url: str, mail_sink: MailSink) -> None:
    store, cfg, clock = setup(db_url, mail_sink.port)
    report = Outbox(store, channel(cfg), cfg.alerts, clock).deliver_due()
    assert (report.sent, report.failed, report.pending) == (1, 0, 0)
    ((message, rcpt),) = mail_sink.messages
    assert sorted(rcpt) == ["jane@test-council.gov.uk", "ms@test-council.gov.uk"]
    assert message["Subject"].startswith("URGENT: Threat comment on Cllr Jane Smith")
    assert message["X-Priority"] == "1"
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "999" in plain and "https://www.facebook.com/c0" in plain
    assert "<ol>" in html and "https://www.facebook.com/c0" in html
    with store.session() as s:
        row = s.scalars(select(AlertRow)).one()
        assert row.status == "sent" and row.attempts == 1 and row.sent_at == clock.now
        assert message["Message-ID"] == row.message_id
        assert [a.action for a in s.scalars(select(ActionRow).where(
            ActionRow.alert_id == row.id))] == ["alert.queued", "alert.sent"]
    # Nothing is due any more: a second run sends nothing.
    assert Outbox(store, channel(cfg), cfg.alerts, clock).deliver_due().sent == 0
    assert len(mail_sink.messages) == 1
    store.dispose()


def test_mail_server_down_keeps_alerts_until_it_is_back(db_url: str) -> None:
    port = free_port()
    store, cfg, clock = setup(db_url, port, alerts=3)
    outbox = Outbox(store, channel(cfg), cfg.alerts, clock)
    report = outbox.deliver_due()
    # The first failure stops the run: the others would meet the same closed door.
    assert (report.sent, report.failed, report.pending) == (0, 1, 3)
    with store.session() as s:
        failed = s.scalars(select(AlertRow).where(AlertRow.attempts == 1)).one()
        assert "cannot deliver through 127.0.0.1" in (failed.last_error or "")
        assert failed.next_attempt_at > clock.now
    with MailSink(port=port) as sink:
        clock.now += timedelta(seconds=2)  # past retry_max (2 s in the test config)
        report = outbox.deliver_due()
        assert (report.sent, report.pending) == (3, 0)
        assert len(set(sink.message_ids())) == 3 == len(sink.messages)
    store.dispose()


def test_concurrent_outboxes_never_send_an_alert_twice(db_url: str, mail_sink: MailSink) -> None:
    store, cfg, clock = setup(db_url, mail_sink.port, alerts=12)
    outboxes = [Outbox(store, channel(cfg), cfg.alerts, clock) for _ in range(3)]
    threads = [threading.Thread(target=o.deliver_due) for o in outboxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = mail_sink.message_ids()
    assert len(ids) == 12 and len(set(ids)) == 12
    with store.session() as s:
        rows = list(s.scalars(select(AlertRow)))
        assert all(r.status == "sent" and r.attempts == 1 for r in rows)
        assert json.loads(rows[0].recipients_json)["to"][0] == "jane@test-council.gov.uk"
    store.dispose()


def test_urgent_alerts_go_first(db_url: str, mail_sink: MailSink) -> None:
    store, cfg, clock = setup(db_url, mail_sink.port, alerts=2)
    with store.session() as s:
        first = s.scalars(select(AlertRow).order_by(AlertRow.id)).first()
        assert first is not None
        first.severity = "high"
    Outbox(store, channel(cfg), cfg.alerts, clock).deliver_due()
    subjects = [m["Subject"] for m, _ in mail_sink.messages]
    assert subjects[0].startswith("URGENT") and len(subjects) == 2
    store.dispose()


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    waits = [backoff(n, 30, 3600, rng) for n in range(1, 10)]
    assert 24 <= waits[0] <= 36 and 48 <= waits[1] <= 72
    assert max(waits) <= 3600 * 1.2 and waits[-1] >= 3600 * 0.8


def test_a_dead_processes_leases_are_released_at_start(db_url: str,
                                                       mail_sink: MailSink) -> None:
    """A daemon killed between claiming alerts and recording them sent: the next one on the
    host sends them at once, not when the 2-minute leases run out. Leases of a running
    process, or of another host, are left alone."""
    import subprocess
    import sys

    from watcher.outbox import holder, holder_alive

    store, cfg, clock = setup(db_url, mail_sink.port, alerts=3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_holder = holder(dead.pid)  # named while it runs, as a claim would be
    dead.wait()
    assert not holder_alive(dead_holder) and holder_alive(holder())
    living = holder(os.getppid())
    with store.session() as s:
        ids = sorted(s.scalars(select(AlertRow.id)))
        for alert_id, by in zip(ids, (dead_holder, living, "elsewhere.example:1:1"),
                                strict=True):
            row = s.get(AlertRow, alert_id)
            row.claimed_until, row.claimed_by = clock.now + timedelta(minutes=2), by
    outbox = Outbox(store, channel(cfg), cfg.alerts, clock=clock)
    assert outbox.deliver_due().sent == 0  # all three are leased
    assert outbox.release_stale() == 1
    assert outbox.deliver_due().sent == 1 and len(mail_sink.messages) == 1
    assert outbox.release_stale() == 0
    with store.session() as s:
        released = s.scalars(select(ActionRow.detail_json).where(
            ActionRow.action == "alert.lease_released")).one()
        assert json.loads(released)["holder"] == dead_holder
    clock.now += timedelta(minutes=3)  # the other two go when their leases run out
    assert outbox.deliver_due().sent == 2
