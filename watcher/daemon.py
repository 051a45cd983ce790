"""The daemon: builds the parts from the config and runs them on APScheduler 3.x.

Jobs: one interval job per enabled account (its own interval, with jitter; first run at once),
the outbox job, retention (daily), the monthly summary (checked hourly; sent from the 1st at
``reports.send_at``) and, when calendars are configured, the meeting-calendar refresh (every
``meetings.refresh``) and the meeting-burst check (after the polls, every polling interval). A poll that queues alerts wakes the outbox at once, so a threat goes out in
seconds, not at the next outbox tick. With ``[metrics] enabled = true`` a Prometheus endpoint
is served too (see :mod:`watcher.metrics`). SIGTERM/SIGINT stop it within 10 s: the scheduler stops
taking jobs, running polls get a few seconds to finish, and since every poll is one
transaction, a poll cut short loses nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from alerts.base import Channel
from alerts.email import EmailChannel, SmtpSettings
from alerts.notify import NotifySmsChannel
from alerts.teams import TeamsChannel
from detectors import registry as detector_registry
from detectors.base import Detector
from detectors.images import ImageDetector
from detectors.text import TextDetector
from platforms import registry as platform_registry
from platforms.base import Platform, PlatformSettings
from watcher import imageregister, logs, reports, sdnotify
from watcher.config import Config, database_url
from watcher.credentials import Credentials
from watcher.meetingwatch import MeetingWatch
from watcher.metrics import Metrics, MetricsServer, serve
from watcher.outbox import DeliveryReport, Outbox
from watcher.pipeline import Poller, PollOutcome
from watcher.policy import sms_configured, teams_configured
from watcher.retention import purge
from watcher.store import Clock, Store, sync_config, utcnow

log = logs.get(__name__)
STOP_DEADLINE = 8.0  # seconds; systemd and the contract allow 10
MEETING_CHECK_MAX = 300.0  # seconds between meeting-burst checks at most
MEETING_CHECK_DELAY = 5.0  # seconds after start before the first check
RETENTION_INTERVAL, RETENTION_DELAY = 86400.0, 600.0  # daily, first 10 minutes after start
REPORT_CHECK_INTERVAL, REPORT_CHECK_DELAY = 3600.0, 60.0  # hourly, first a minute after start


@dataclass
class Parts:
    """Everything the daemon runs, built once from the config."""

    config: Config
    store: Store
    poller: Poller
    outbox: Outbox
    meetings: MeetingWatch
    #: where monthly summaries are sent (the email channel)
    mail: Channel
    # The poller's and outbox's counters and the store's gauges; served only when enabled.
    metrics: Metrics = field(default_factory=Metrics)


def build_platforms(config: Config, credentials: Callable[[str], str]) -> dict[str, Platform]:
    """Given the config, return one adapter per platform that some account uses."""
    used = {a.platform for m in config.members for a in m.accounts}
    out: dict[str, Platform] = {}
    for name in sorted(used):
        pc = config.platforms[name]
        out[name] = platform_registry.create(
            name, PlatformSettings(base_url=pc.base_url, api_version=pc.api_version,
                                   timeout_seconds=config.polling.timeout), credentials)
    return out


def build_detectors(config: Config, platforms: Mapping[str, Platform] | None = None,
                    store: Store | None = None) -> list[Detector]:
    """Given the config (and, for the image detector, the adapters to download through and
    the store holding the image register), return the detectors to run on every batch."""
    text = config.text
    detectors: list[Detector] = [TextDetector(detector_registry.text_classifier(
        text.engine, model_dir=text.model_dir, prefer_onnx=text.prefer_onnx))]
    if config.images.enabled and platforms is not None and store is not None:
        detectors.append(ImageDetector(config.images, platforms,
                                       lambda: imageregister.load(store)))
    return detectors


def build_channel(config: Config, credentials: Credentials) -> Channel:
    """Given the config, return the email channel (its password read at send time)."""
    smtp = config.smtp
    password = (lambda: credentials.get(smtp.password_credential)) \
        if smtp.password_credential else None
    return EmailChannel(SmtpSettings(host=smtp.host, port=smtp.port, sender=smtp.sender,
                                     starttls=smtp.starttls, username=smtp.username,
                                     timeout=smtp.timeout), password=password)


def build_channels(config: Config, credentials: Credentials) -> dict[str, Channel]:
    """Given the config, return the alert channels by name: email always; ``sms`` (GOV.UK
    Notify) and ``teams`` (a webhook) when configured. Every secret (SMTP password, Notify API
    key, webhook URL) is read from its credential at send time, so a rotation needs no
    restart and a missing one is a retried delivery failure, not a start-up failure."""
    alerts = config.alerts
    # Every alert channel waits on the far end as long as the mail server may: smtp.timeout.
    channels: dict[str, Channel] = {"email": build_channel(config, credentials)}
    if sms_configured(config):
        channels["sms"] = NotifySmsChannel(
            lambda: credentials.get(alerts.notify_api_key_credential),
            alerts.notify_sms_template_id, alerts.notify_base_url,
            timeout=config.smtp.timeout)
    if teams_configured(config):
        channels["teams"] = TeamsChannel(
            lambda: credentials.get(alerts.teams_webhook_credential), timeout=config.smtp.timeout)
    return channels


def build(config: Config, credentials: Credentials | None = None, clock: Clock = utcnow,
          channel: Channel | None = None,
          channels: Mapping[str, Channel] | None = None) -> Parts:
    """Given the config, migrate and sync the store and return the daemon's parts.

    ``channel`` replaces the email channel and ``channels`` any of them by name (tests); the
    others are built from the config.

    Raises StoreError if the database cannot be reached or migrated, CredentialError if the
    database password's credential is missing.
    """
    credentials = credentials or Credentials()
    store = Store(database_url(config, credentials), clock=clock)
    store.upgrade()
    sync_config(store, config.members)
    metrics = Metrics()
    metrics.watch_store(store)
    platforms = build_platforms(config, credentials)
    poller = Poller(config, store, platforms, build_detectors(config, platforms, store),
                    clock=clock, metrics=metrics)
    delivery = build_channels(config, credentials)
    if channel is not None:
        delivery["email"] = channel
    delivery.update(channels or {})
    outbox = Outbox(store, delivery, config.alerts, clock=clock, metrics=metrics)
    return Parts(config=config, store=store, poller=poller, outbox=outbox,
                 meetings=MeetingWatch(config, store, clock=clock), mail=delivery["email"],
                 metrics=metrics)


def poll_once(parts: Parts) -> tuple[list[PollOutcome], DeliveryReport]:
    """Read the meeting calendars (if any), poll every enabled account once (ignoring
    back-off), check for meeting bursts, then deliver due alerts."""
    parts.outbox.release_stale()
    if parts.meetings.configured:
        parts.meetings.refresh()
    outcomes = [parts.poller.poll(aid, force=True) for aid in parts.poller.enabled_accounts()]
    if parts.meetings.configured:
        parts.meetings.check()
    return outcomes, parts.outbox.deliver_due()


class Daemon:
    """Runs the parts on a schedule until ``stop()`` is called (or a signal arrives)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.stopping = threading.Event()
        self._waking = threading.Lock()
        self.metrics_server: MetricsServer | None = None
        # The heartbeat has its own thread: busy polls must not starve it, but a scheduler
        # that stops running jobs at all stops it, and so the watchdog pings.
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4),
                       "heartbeat": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone="UTC",
        )

    def _poll_job(self, account_id: int) -> None:
        if self.stopping.is_set():
            return
        try:
            outcome = self.parts.poller.poll(account_id)
        except Exception:  # the store failed; log and let the next run try again
            log.exception("poll.store_failed", account_id=account_id)
            return
        if outcome.alerts:
            self.wake_outbox()

    def _outbox_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            report = self.parts.outbox.deliver_due()
        except Exception:
            log.exception("outbox.store_failed")
            return
        if report.sent or report.failed:
            log.info("outbox.run", sent=report.sent, failed=report.failed,
                     pending=report.pending)

    def _meetings_refresh_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.parts.meetings.refresh()
        except Exception:  # the store failed (a calendar that fails is logged inside)
            log.exception("meetings.store_failed")

    def _meetings_check_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            report = self.parts.meetings.check()
        except Exception:
            log.exception("meetings.store_failed")
            return
        if report.alerts:
            self.wake_outbox()

    def _retention_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            purge(self.parts.store, self.parts.config)
        except Exception:
            log.exception("retention.store_failed")

    def _report_job(self) -> None:
        """Send last month's summary once it is due (from the 1st at ``reports.send_at``) and
        not yet sent to every group; a group whose leaders the mail server refused is tried
        again at the next hourly run."""
        if self.stopping.is_set():
            return
        parts = self.parts
        try:
            month = reports.due(parts.store.clock(), parts.config, parts.store)
            if month is not None:
                reports.send_monthly(parts.store, parts.config, parts.mail, month)
        except Exception:
            log.exception("reports.store_failed")

    def _heartbeat_job(self) -> None:
        """Tell systemd's watchdog the scheduler is alive. Sent from a scheduled job, not
        from the main thread, so that a hung scheduler stops the pings and gets restarted."""
        if not self.stopping.is_set():
            sdnotify.notify("WATCHDOG=1")

    def wake_outbox(self) -> None:
        """Run the outbox job now rather than at its next tick (not once stopping: a poll
        finishing during shutdown would otherwise wait on the scheduler's lock, which
        ``shutdown(wait=True)`` holds while it waits for that very poll)."""
        with self._waking:
            if self.stopping.is_set():
                return
            try:
                self.scheduler.modify_job("outbox", next_run_time=self.parts.store.clock())
            except Exception:  # scheduler shutting down or job gone: the next tick will do
                pass

    def start(self) -> None:
        """Start the metrics endpoint if enabled, schedule every job and start the scheduler
        (returns at once).

        Raises MetricsError, before anything is scheduled, if the metrics address cannot be
        listened on.
        """
        config = self.parts.config
        if config.metrics.enabled and self.metrics_server is None:
            self.metrics_server = serve(self.parts.metrics, config.metrics.host,
                                        config.metrics.port)
            log.info("metrics.listening", address=self.metrics_server.address)
        # Alerts a killed predecessor had claimed go out now, not when their leases run out.
        self.parts.outbox.release_stale()
        now = self.parts.store.clock()
        accounts = self.parts.poller.enabled_accounts()
        for aid, account in accounts.items():
            self.scheduler.add_job(
                self._poll_job, "interval", args=[aid], id=f"poll:{aid}",
                seconds=account.interval_seconds or config.polling.interval,
                jitter=int(config.polling.jitter) or None, next_run_time=now,
                name=f"poll {account.key}")
        self.scheduler.add_job(self._outbox_job, "interval", id="outbox",
                               seconds=config.alerts.outbox_interval, next_run_time=now,
                               name="outbox")
        if self.parts.meetings.configured:
            self.scheduler.add_job(self._meetings_refresh_job, "interval", id="meetings-refresh",
                                   seconds=config.meetings.refresh, next_run_time=now,
                                   name="meeting calendars")
            # After the first polls have had a moment; then as often as posts arrive.
            self.scheduler.add_job(self._meetings_check_job, "interval", id="meetings-check",
                                   seconds=min(config.polling.interval, MEETING_CHECK_MAX),
                                   next_run_time=now + timedelta(seconds=MEETING_CHECK_DELAY),
                                   name="meeting bursts")
        # Daily, the first a few minutes after start (not at once: a restart loop must not
        # purge in a loop, and start-up is for polling).
        self.scheduler.add_job(self._retention_job, "interval", id="retention",
                               seconds=RETENTION_INTERVAL,
                               next_run_time=now + timedelta(seconds=RETENTION_DELAY),
                               name="retention")
        if config.reports.monthly:
            self.scheduler.add_job(self._report_job, "interval", id="reports",
                                   seconds=REPORT_CHECK_INTERVAL,
                                   next_run_time=now + timedelta(seconds=REPORT_CHECK_DELAY),
                                   name="monthly summary")
        watchdog = sdnotify.watchdog_interval()
        if watchdog:
            self.scheduler.add_job(self._heartbeat_job, "interval", id="heartbeat",
                                   seconds=watchdog, next_run_time=now, executor="heartbeat",
                                   name="watchdog heartbeat")
        self.scheduler.start()
        log.info("daemon.started", accounts=len(accounts), database=self.parts.store.safe_url,
                 pid=os.getpid())

    def stop(self) -> None:
        """Ask the daemon to stop; ``run`` returns soon after."""
        self.stopping.set()

    def run(self) -> bool:
        """Start (the scheduler pings systemd's watchdog), tell systemd READY once the
        schedule runs, and block until ``stop()``.

        Returns whether every running job finished before the stop deadline.
        """
        self.start()
        sdnotify.notify("READY=1\nSTATUS=polling")
        self.stopping.wait()
        return self.shutdown()

    def shutdown(self) -> bool:
        """Stop the scheduler, giving running jobs until STOP_DEADLINE to finish.

        Returns False if some job was still running then (the caller should exit anyway:
        each poll is one transaction, so cutting it short loses nothing)."""
        sdnotify.notify("STOPPING=1")
        started = time.monotonic()
        done = threading.Event()

        def _wait() -> None:
            with self._waking:  # no wake-up is half-way through modify_job any more
                pass
            self.scheduler.shutdown(wait=True)
            done.set()

        threading.Thread(target=_wait, name="scheduler-shutdown", daemon=True).start()
        finished = done.wait(timeout=STOP_DEADLINE)
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        log.info("daemon.stopped", clean=finished,
                 seconds=round(time.monotonic() - started, 2))
        if finished:
            self.parts.store.dispose()
        return finished
