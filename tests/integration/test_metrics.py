"""The Prometheus endpoint: a real poll cycle (simulated platform over HTTP through the real
SDKs, the real store, a real SMTP server), then a real scrape over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from platforms.simulated import SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from watcher import config, logs
from watcher.credentials import Credentials
from watcher.daemon import Daemon, Parts, build, poll_once
from watcher.mailsink import MailSink
from watcher.metrics import MetricsError, serve
from watcher.status import gather
from watcher.store.models import FindingRow, ItemRow

TOKENS = {FB: "metrics-fb-token", X: "metrics-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})
METRICS_ON = '[metrics]\nenabled = true\nlisten = "127.0.0.1:0"\n'
RULES = '[detectors.text]\nengine = "rules"\n'

TIMELINE = SMALL_TIMELINE

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def make(db_url: str, sim: SimulatedPlatform, smtp_port: int, clock: Clock,
         extra: str = METRICS_ON) -> Parts:
    cfg = config.parse(config_text(db_url, smtp_port=smtp_port, sim_url=sim.base_url,
                                   members=MEMBERS, extra=extra))
    return build(cfg, credentials=CREDS, clock=clock)


def scrape(address: str) -> tuple[Samples, str]:
    """Fetch /metrics over HTTP; return {(sample name, labels): value} and the raw text."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def test_poll_cycle_is_counted_and_scraped_over_http(db_url: str, sink: MailSink) -> None:
    clock = Clock()
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink.port, clock)
        outcomes, report = poll_once(parts)
        assert [o.status for o in outcomes] == ["ok", "ok"] and report.sent == 2
        server = serve(parts.metrics, "127.0.0.1", 0)
        try:
            samples, text = scrape(server.address)
        finally:
            server.close()
        with parts.store.session() as s:
            items = Counter(s.scalars(select(ItemRow.platform)))
            labels = Counter(s.scalars(select(FindingRow.label)))
        parts.store.dispose()

    assert value(samples, "watcher_polls_total", platform="facebook", outcome="ok") == 1
    assert value(samples, "watcher_polls_total", platform="x", outcome="ok") == 1
    assert value(samples, "watcher_polls_total", platform="facebook", outcome="error") is None
    assert items == {"facebook": 3, "x": 2}
    for platform, n in items.items():
        assert value(samples, "watcher_items_fetched_total", platform=platform) == n
        assert value(samples, "watcher_items_new_total", platform=platform) == n
    assert labels["offensive"] >= 1 and labels["threat"] >= 1
    for label, n in labels.items():
        assert value(samples, "watcher_findings_total", label=label) == n
    assert value(samples, "watcher_alerts_sent_total") == 2 == len(sink.messages)
    assert value(samples, "watcher_alerts_failed_total") == 0
    assert value(samples, "watcher_alerts_pending") == 0
    assert value(samples, "watcher_outbox_oldest_pending_age_seconds") == 0
    assert value(samples, "watcher_store_up") == 1
    for key, member in (("facebook:111", "jsmith"), ("x:222", "tok")):
        assert value(samples, "watcher_account_last_success_timestamp_seconds",
                     account=key, member=member) == clock.now.timestamp()
        assert value(samples, "watcher_account_last_poll_ok", account=key, member=member) == 1
    assert not any(token in text for token in TOKENS.values())


def test_rate_limit_failed_delivery_and_pending_age_survive_a_restart(db_url: str) -> None:
    clock = Clock()
    closed = free_port()  # nothing listens there: every delivery fails
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, closed, clock)
        sim.faults.inject("rate_limit", times=1, platform="facebook")
        outcomes, report = poll_once(parts)
        assert {o.account: o.status for o in outcomes} == {"facebook:111": "rate_limited",
                                                           "x:222": "ok"}
        assert report.failed == 1 and report.pending == 1
        clock.now += timedelta(seconds=90)
        server = serve(parts.metrics, "127.0.0.1", 0)
        try:
            samples, _ = scrape(server.address)
        finally:
            server.close()
        assert value(samples, "watcher_polls_total", platform="facebook", outcome="error") == 1
        assert value(samples, "watcher_polls_total", platform="x", outcome="ok") == 1
        assert value(samples, "watcher_rate_limit_waits_total", platform="facebook",
                     reason="rate_limited") == 1
        waited = value(samples, "watcher_rate_limit_wait_seconds_total", platform="facebook",
                       reason="rate_limited")
        assert waited is not None and waited > 0
        assert value(samples, "watcher_alerts_failed_total") == 1
        assert value(samples, "watcher_alerts_sent_total") == 0
        assert value(samples, "watcher_alerts_pending") == 1
        assert value(samples, "watcher_alerts_pending_failing") == 1
        assert value(samples, "watcher_outbox_oldest_pending_age_seconds") == 90
        assert value(samples, "watcher_account_last_poll_ok", account="facebook:111",
                     member="jsmith") == 0
        assert value(samples, "watcher_account_last_success_timestamp_seconds",
                     account="facebook:111", member="jsmith") is None
        assert value(samples, "watcher_account_last_success_timestamp_seconds",
                     account="x:222", member="tok") == (clock.now - timedelta(seconds=90)
                                                        ).timestamp()
        # The gauges are the numbers `watcher status` prints: the same queries.
        status = gather(parts.store)
        assert status.outbox.pending == 1 and status.outbox.oldest_age(clock.now) == 90
        assert [a.outcome for a in status.accounts] == ["failed", "ok"]
        parts.store.dispose()

        # A restarted daemon starts its counters at zero, but its gauges come from the
        # database and are right at once.
        clock.now += timedelta(seconds=30)
        restarted = make(db_url, sim, closed, clock)
        server = serve(restarted.metrics, "127.0.0.1", 0)
        try:
            samples, _ = scrape(server.address)
        finally:
            server.close()
            restarted.store.dispose()
        assert value(samples, "watcher_alerts_failed_total") == 0
        assert value(samples, "watcher_alerts_pending") == 1
        assert value(samples, "watcher_outbox_oldest_pending_age_seconds") == 120
        assert value(samples, "watcher_account_last_poll_ok", account="facebook:111",
                     member="jsmith") == 0


@pytest.fixture
def info_logs() -> Iterator[io.StringIO]:
    """Capture INFO log events as JSON lines (the suite runs at WARNING)."""
    buffer = io.StringIO()
    logs.configure(level="INFO", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        logs.configure(level="WARNING", json=True)


def test_daemon_serves_metrics_while_running_and_frees_the_port(
        db_url: str, sink: MailSink, info_logs: io.StringIO) -> None:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink.port, Clock(), extra=METRICS_ON + RULES)
        daemon = Daemon(parts)
        daemon.start()
        try:
            assert daemon.metrics_server is not None
            address = daemon.metrics_server.address
            assert address.startswith("127.0.0.1:") and not address.endswith(":0")
            deadline = time.monotonic() + 20
            while True:  # the daemon polls every account at once when it starts
                samples, _ = scrape(address)
                polls = sum(v for (name, _), v in samples.items()
                            if name == "watcher_polls_total")
                if polls >= 2 and value(samples, "watcher_alerts_sent_total") == 2:
                    break
                assert time.monotonic() < deadline, samples
                time.sleep(0.2)
        finally:
            daemon.stop()
            assert daemon.shutdown()
        events = [json.loads(line) for line in info_logs.getvalue().splitlines()
                  if line.startswith("{")]
        (listening,) = [e for e in events if e["event"] == "metrics.listening"]
        assert listening["address"] == address
        with pytest.raises(urllib.error.URLError):
            scrape(address)


def test_metrics_are_off_unless_enabled(db_url: str, sink: MailSink) -> None:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS) as sim:
        parts = make(db_url, sim, sink.port, Clock(), extra=RULES)
        assert not parts.config.metrics.enabled
        assert (parts.config.metrics.host, parts.config.metrics.port) == ("127.0.0.1", 9464)
        daemon = Daemon(parts)
        daemon.start()
        daemon.stop()
        assert daemon.shutdown()
        assert daemon.metrics_server is None


def test_port_in_use_is_a_clear_error_at_start(db_url: str, sink: MailSink,
                                               tmp_path: Path) -> None:
    with socket.socket() as busy, SimulatedPlatform(TIMELINE, tokens=TOKENS) as sim:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        extra = f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{port}"\n' + RULES
        parts = make(db_url, sim, sink.port, Clock(), extra=extra)
        daemon = Daemon(parts)
        with pytest.raises(MetricsError, match=f"127.0.0.1:{port}: the port is already in use"):
            daemon.start()
        assert not daemon.scheduler.running  # nothing was started
        parts.store.dispose()

        # The command says so in one line and exits 1, with no traceback.
        path = tmp_path / "watcher.toml"
        path.write_text(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                    members=MEMBERS, extra=extra))
        result = subprocess.run([sys.executable, "-m", "watcher.cli", "run", "--config",
                                 str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"watcher: cannot serve metrics on 127.0.0.1:{port}: the port is already in use" \
        in result.stderr
    assert "[metrics] listen" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
