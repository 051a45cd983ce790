"""Prometheus metrics: counters the pipeline and outbox update, gauges read from the store.

:class:`Metrics` is always there (the poller and outbox count into it; counting in memory is
cheap); the HTTP endpoint is started only when ``[metrics] enabled = true`` (see
:func:`serve`). Each :class:`Metrics` has its own ``CollectorRegistry``, never the global one,
so that two daemons in one process (or two tests) never share numbers.

Gauges that describe the database (alerts pending, the oldest one's age, each account's last
successful poll) are computed from the store on every scrape by :class:`StoreCollector`, with
the same queries as ``watcher status``, so they are right straight after a restart.
Labels are platform names, finding labels and account keys (``facebook:111``): never a token.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from watcher import logs
from watcher.config import format_address
from watcher.errors import WatcherError
from watcher.status import account_states, outbox_state
from watcher.store import Store

log = logs.get(__name__)

#: ``reason`` label values of the rate-limit metrics.
RATE_LIMITED = "rate_limited"  # the platform refused a request (HTTP 429, Graph codes 4/17/32/613)
USAGE = "usage"  # usage headers near the limit stretched the account's interval


class MetricsError(WatcherError):
    """The metrics endpoint could not be started (address in use, not on this machine)."""


class Metrics:
    """The counters of one daemon, in a registry of its own (``registry``).

    The poller and the outbox call the methods below as things happen; each is a few
    in-memory additions and never raises.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._polls = Counter("watcher_polls", "Polls of an account, by platform and outcome "
                              "(ok, or error: failed, rate limited, credential problem).",
                              ["platform", "outcome"], registry=r)
        self._fetched = Counter("watcher_items_fetched", "Items the platform returned to polls "
                                "(including ones already stored).", ["platform"], registry=r)
        self._new = Counter("watcher_items_new", "New items stored.", ["platform"], registry=r)
        self._findings = Counter("watcher_findings", "Findings stored, by label.", ["label"],
                                 registry=r)
        self._sent = Counter("watcher_alerts_sent", "Alerts the mail server accepted.",
                             registry=r)
        self._failed = Counter("watcher_alerts_failed", "Alert delivery attempts that failed "
                               "(the alert stays queued and is retried).", registry=r)
        self._waits = Counter("watcher_rate_limit_waits", "Times polling of an account was "
                              "held back by a platform limit, by platform and reason "
                              "(rate_limited: the platform refused; usage: usage headers near "
                              "the limit stretched the interval).", ["platform", "reason"],
                              registry=r)
        self._wait_seconds = Counter("watcher_rate_limit_wait_seconds", "Seconds of polling "
                                     "held back by those waits (as scheduled when each began).",
                                     ["platform", "reason"], registry=r)

    # -- the pipeline -------------------------------------------------------------------------

    def poll_finished(self, platform: str, ok: bool) -> None:
        """Count one poll of an account on ``platform`` (skipped polls are not counted)."""
        self._polls.labels(platform=platform, outcome="ok" if ok else "error").inc()

    def items_fetched(self, platform: str, fetched: int) -> None:
        """Count the items one poll fetched, whether new or already stored."""
        self._fetched.labels(platform=platform).inc(fetched)

    def items_stored(self, platform: str, new: int) -> None:
        """Count the new items one poll stored (after its transaction committed)."""
        self._new.labels(platform=platform).inc(new)

    def findings_stored(self, labels: Iterable[str]) -> None:
        """Count stored findings, one label per finding."""
        for label in labels:
            self._findings.labels(label=label).inc()

    def rate_limit_wait(self, platform: str, reason: str, seconds: float) -> None:
        """Count one hold-back of an account's polling for ``reason`` (RATE_LIMITED or USAGE)
        and the seconds it was held back for."""
        self._waits.labels(platform=platform, reason=reason).inc()
        self._wait_seconds.labels(platform=platform, reason=reason).inc(max(0.0, seconds))

    # -- the outbox ---------------------------------------------------------------------------

    def alert_sent(self) -> None:
        self._sent.inc()

    def alert_failed(self) -> None:
        self._failed.inc()

    # -- the store ----------------------------------------------------------------------------

    def watch_store(self, store: Store) -> None:
        """Export the store's gauges (see :class:`StoreCollector`) from this registry."""
        self.registry.register(StoreCollector(store))


class StoreCollector(Collector):
    """Gauges read from the database at each scrape, with the queries ``watcher status`` uses.

    A database that cannot be read gives ``watcher_store_up 0`` and no other gauge, rather
    than a failed scrape.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Lets the registry check names at registration without querying the database.
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("watcher_store_up", "1 if the database could be read at this "
                              "scrape, else 0."),
            GaugeMetricFamily("watcher_alerts_pending", "Alerts queued and not yet delivered."),
            GaugeMetricFamily("watcher_alerts_pending_failing", "Pending alerts whose delivery "
                              "failed at least once (being retried)."),
            GaugeMetricFamily("watcher_outbox_oldest_pending_age_seconds", "Seconds the oldest "
                              "pending alert has waited (0 when none is pending)."),
            GaugeMetricFamily("watcher_account_last_success_timestamp_seconds", "Unix time of "
                              "each enabled account's last successful poll (absent until one "
                              "succeeds).", labels=["account", "member"]),
            GaugeMetricFamily("watcher_account_last_poll_ok", "1 if each enabled account's last "
                              "poll succeeded, 0 if it failed (absent until polled).",
                              labels=["account", "member"]),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up, pending, failing, age, last_success, last_ok = self._families()
        try:
            with self.store.session() as s:
                accounts = account_states(s)
                outbox = outbox_state(s)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics.store_failed", error_type=type(exc).__name__,
                        error=logs.redact_text(str(exc).splitlines()[0] if str(exc) else ""))
            up.add_metric([], 0)
            yield up
            return
        now = self.store.clock()
        up.add_metric([], 1)
        pending.add_metric([], outbox.pending)
        failing.add_metric([], outbox.failing)
        age.add_metric([], outbox.oldest_age(now))
        for a in accounts:
            if not a.enabled:
                continue
            if a.last_success_at is not None:
                last_success.add_metric([a.key, a.member_id], a.last_success_at.timestamp())
            if a.outcome != "never":
                last_ok.add_metric([a.key, a.member_id], 1 if a.outcome == "ok" else 0)
        yield from (up, pending, failing, age, last_success, last_ok)


@dataclass
class MetricsServer:
    """A running metrics endpoint; ``address`` is where it listens (the real port when the
    config asked for port 0)."""

    address: str
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Given the metrics and an address, serve them over HTTP (any path, e.g. ``/metrics``)
    from a daemon thread, and return the running server.

    Raises MetricsError saying what to change if the address cannot be listened on.
    """
    address = format_address(host, port)
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "the port is already in use by another process"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "that address is not one of this machine's"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
        else:
            why = exc.strerror or str(exc)
        raise MetricsError(f"cannot serve metrics on {address}: {why}; choose another address "
                           "with [metrics] listen, or set [metrics] enabled = false") from None
    bound_host, bound_port = server.server_address[:2]
    return MetricsServer(address=format_address(str(bound_host), int(bound_port)),
                         _server=server, _thread=thread)
