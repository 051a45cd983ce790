"""The daemon, unattended, through a bad half-minute: it must lose nothing and repeat nothing.

``watcher run`` runs as a subprocess against the simulated platform (two Facebook pages, two
X accounts, a few hundred comments arriving over the run) and a real SMTP server that
requires a login. From a fixed seed, while comments arrive:

* the platform answers with 429s, 5xx, held requests (timeouts), malformed and truncated
  JSON, expired tokens, slow but good answers, and untidy but valid pages (duplicates,
  shuffled, overlapping, empty pages that link onwards);
* one Facebook and one X token are rotated: the platform refuses the old one until the new
  one is written to the credential file;
* the daemon is SIGKILLed at random moments and restarted, and once stopped with SIGTERM
  and restarted (``systemctl restart``);
* the mail server goes away for a few seconds, twice, and a new one takes its port;
* on SQLite, another writer holds the database's write lock for a few seconds, twice.

Then, with the faults cleared, the test waits (bounded) for the daemon to catch up and checks:
every item the platform served is stored exactly once; every comment that should be flagged
is, and nothing else; every finding is in exactly one alert and every alert reached the mail
server (a second copy of a message only where the documented at-least-once window explains
it: a crash or an outage in the moment between the server's acceptance and our record of
it); no error or traceback in the logs; no token or SMTP password in the logs, the database
or the mails.

Set ``WATCHER_RELIABILITY_SEED`` to try another seed (the default one is what CI runs).
"""

from __future__ import annotations

import heapq
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from random import Random

import pytest
from sqlalchemy.engine import Engine, make_url

from detectors.rules import RulesClassifier
from detectors.text import labels_over
from platforms.simulated import (
    FAULT_KINDS,
    SimComment,
    SimPost,
    SimulatedPlatform,
)
from tests.conftest import config_text as plain_config_text
from tests.reliability.chaos import (
    ACCOUNTS,
    HANDLES,
    MEMBERS,
    POOLS,
    SERVICES,
    SMTP_USER,
    DaemonRunner,
    LogReport,
    Plan,
    Run,
    Snapshot,
    SqliteLock,
    Step,
    Timeline,
    build_schedule,
    build_timeline,
    check_logs,
    config_text,
    daemon_env,
    dump_database,
    engine_for,
    mail_links,
    outbox_state,
    problem_open,
    snapshot,
    stored_items,
    wait_for,
    write_credential,
)
from watcher.config import TextDetectorConfig
from watcher.mailsink import MailSink
from watcher.outbox import LEASE
from watcher.store.models import AlertRow

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("WATCHER_RELIABILITY_SEED", "20250611"))
#: seconds over which comments arrive and faults happen
DURATION = 30.0
#: how long a fault of kind "timeout" holds a request: past the config's 2 s HTTP timeout
HOLD = 2.5
#: how long a fault of kind "slow" holds a request: within that timeout
SLOW = 1.5
#: how long after a rotation the daemon has to notice the refused token
NOTICE_WITHIN = 20.0
#: a second copy of a message is explained by a SIGKILL or a mail server stop this soon
#: after the first copy arrived (the window between the server's 250 and our commit)
REDELIVERY_WINDOW = 2.0
#: bounded waits once the faults stop: for the items, then for the outbox to drain
CATCH_UP = 60.0
DRAIN = 45.0


def test_every_sentence_of_the_timeline_is_flagged_as_intended() -> None:
    """The timeline's expectations hold for the rules engine the daemon runs, with the member
    handle prefix X adds: otherwise a change to the rules would look like a lost alert."""
    rules = RulesClassifier()
    thresholds = dict(TextDetectorConfig().thresholds)
    wrong = []
    for label, pool in POOLS.items():
        for sentence in pool:
            for text in (sentence, *(f"@{h} {sentence}" for h in HANDLES.values())):
                for name, _ in MEMBERS.values():
                    scores = rules.classify_one(text, name).scores
                    got = set(labels_over(scores, thresholds))
                    if got != ({label} if label else set()):
                        wrong.append(f"{text!r} on {name}'s page: {sorted(got)}, "
                                     f"wanted {label}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------------------- the scenario


@dataclass
class Outcome:
    """Everything a scenario run leaves for the checks."""

    backend: str
    timeline: Timeline
    plan: Plan
    runs: list[Run]
    snap: Snapshot
    dump: str  # every row of every table, as text
    db_files: bytes  # the SQLite database and WAL files, byte for byte (b"" on PostgreSQL)
    messages: list[tuple[EmailMessage, list[str]]]
    arrivals: list[float]
    logins: int
    failed_logins: int
    served: Counter[str]
    secrets: set[str]
    #: wall times of SIGKILLs and mail server stops: what can explain a second copy
    disruptions: list[float] = field(default_factory=list)
    lock_spans: list[tuple[float, float]] = field(default_factory=list)
    #: alerts a killed daemon had claimed, whose lease the test had to wait out
    stale_leases: set[int] = field(default_factory=set)


def run_scenario(db_url: str, tmp_path: Path) -> Outcome:
    """Play the seeded timeline and fault schedule against the daemon, wait for it to catch
    up once the faults stop, stop it with SIGTERM, and return what it left behind."""
    rng = Random(SEED)
    timeline = build_timeline(rng, DURATION)
    url = make_url(db_url)
    sqlite_file = Path(url.database or "") if url.get_backend_name() == "sqlite" else None
    plan = build_schedule(rng, DURATION, sqlite=sqlite_file is not None)

    # Every secret is distinctive, so finding it anywhere is unambiguous.
    tokens = {a.external_id: f"tok-{a.credential}-{rng.getrandbits(64):016x}" for a in ACCOUNTS}
    renewed = {acct: f"renewed-{acct}-{rng.getrandbits(64):016x}" for acct in plan.rotations}
    smtp_password = f"smtp-pw-{rng.getrandbits(64):016x}"
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for a in ACCOUNTS:
        write_credential(credentials, a.credential, tokens[a.external_id])
    write_credential(credentials, "smtp-password", smtp_password)
    credential_of = {a.external_id: a.credential for a in ACCOUNTS}

    engine = engine_for(db_url)
    disruptions: list[float] = []
    stale: set[int] = set()
    with SimulatedPlatform(timeline.events, tokens=dict(tokens), handles=HANDLES) as sim, \
            MailSink(auth=(SMTP_USER, smtp_password)) as sink:
        sim.faults.timeout_delay = HOLD
        sim.faults.slow_delay = SLOW
        sim.faults.rate_limit_reset = 2.0  # so that a 429 costs seconds, not minutes
        config = tmp_path / "watcher.toml"
        config.write_text(config_text(db_url, sink.port, sim.base_url))
        runner = DaemonRunner(config, tmp_path / "logs", daemon_env(credentials))
        lock = SqliteLock(sqlite_file) if sqlite_file else None
        try:
            runner.start()
            rotated_at: dict[str, float] = {}
            queue = list(plan.steps)
            heapq.heapify(queue)
            while queue:
                step = heapq.heappop(queue)
                delay = sim.started_at + step.at - time.time()
                if delay > 0:
                    time.sleep(delay)
                args = step.args
                if step.action == "fault":
                    sim.faults.inject(args["kind"], times=args["times"],
                                      platform=args["platform"], account=args["account"])
                elif step.action == "kill":
                    _outside_a_delivery(engine, sink)
                    disruptions.append(time.time())
                    runner.kill()
                elif step.action == "term":
                    if runner.current is not None:  # else it died: the run checks say so
                        runner.stop()
                elif step.action == "restart":
                    runner.start()
                elif step.action == "mail_down":
                    disruptions.append(time.time())
                    sink.stop()
                elif step.action == "mail_up":
                    sink.start()
                elif step.action == "lock":
                    assert lock is not None
                    lock.acquire()
                elif step.action == "unlock":
                    assert lock is not None
                    lock.release()
                elif step.action == "rotate":
                    account = args["account"]
                    assert sim.tokens is not None
                    sim.tokens[account] = renewed[account]  # the old token is refused now
                    rotated_at[account] = step.at
                elif step.action == "renew":
                    account = args["account"]
                    if not problem_open(engine, account):
                        # Not noticed yet (the daemon may be down or backing off): look again
                        # shortly, without holding up the rest of the schedule.
                        assert step.at - rotated_at[account] < NOTICE_WITHIN, (
                            f"the daemon did not notice the refused token of account "
                            f"{account} within {NOTICE_WITHIN:.0f} s")
                        heapq.heappush(queue, Step(step.at + 0.5, step.seq, "renew", args))
                        continue
                    write_credential(credentials, credential_of[account], renewed[account])
                else:
                    raise AssertionError(f"unknown step {step.action}")

            # The bad half-minute is over: everything works again from here on.
            sim.faults.clear()
            sink.start()
            if lock is not None:
                lock.release()
            if runner.current is None:
                runner.start()
            wait_for(lambda: time.time() >= sim.started_at + timeline.duration, 10,
                     "the timeline's last comments to appear")
            wait_for(lambda: timeline.items <= stored_items(engine), CATCH_UP,
                     "every item of the timeline to be stored",
                     lambda: f"not stored: {sorted(timeline.items - stored_items(engine))[:5]}")
            stale = _wait_for_the_outbox_to_drain(engine, sink, runner)
            # A few more poll and outbox cycles: nothing new may arrive.
            before = (len(stored_items(engine)), outbox_state(engine)[0], len(sink.messages))
            time.sleep(3)
            after = (len(stored_items(engine)), outbox_state(engine)[0], len(sink.messages))
            assert after == before, f"(items, alerts, mails) went from {before} to {after}"
            runner.stop()
        finally:
            if lock is not None:
                lock.release()
            runner.close()
        outcome = Outcome(
            backend="sqlite" if sqlite_file else "postgresql", timeline=timeline, plan=plan,
            runs=runner.runs, snap=snapshot(engine), dump=dump_database(engine),
            db_files=b"".join(p.read_bytes() for p in sorted(
                sqlite_file.parent.glob(sqlite_file.name + "*"))) if sqlite_file else b"",
            messages=list(sink.messages), arrivals=list(sink.arrivals), logins=sink.logins,
            failed_logins=sink.failed_logins, served=Counter(sim.faults.served),
            secrets={*tokens.values(), *renewed.values(), smtp_password},
            disruptions=disruptions, lock_spans=list(lock.spans) if lock else [],
            stale_leases=stale)
    engine.dispose()
    return outcome


def _outside_a_delivery(engine: Engine, sink: MailSink, longest: float = 3.0) -> None:
    """Return once no alert is claimed and no mail has arrived for 0.3 s (or after
    ``longest`` seconds): the moment for a SIGKILL.

    A daemon killed between claiming an alert and recording it as sent leaves the alert
    leased to it for two minutes (``watcher.outbox.LEASE``): the restarted daemon sends it
    (again, if the first copy got through) only then. That is the documented at-least-once
    window, reported with this suite; hitting it at random would add two minutes to a run
    now and then, so SIGKILLs wait for a quiet moment of the outbox. Rare hits remain
    possible (the outbox may start right after the check), and are waited out."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        arrivals = sink.arrivals
        quiet = not arrivals or time.time() - arrivals[-1] > 0.3
        if quiet and not outbox_state(engine)[2]:
            return
        time.sleep(0.02)


def _wait_for_the_outbox_to_drain(engine: Engine, sink: MailSink, runner: DaemonRunner
                                  ) -> set[int]:
    """Wait (bounded) until no alert is pending and the mail server has a message for each.

    An alert a killed daemon had claimed stays leased to it (``watcher.outbox.LEASE``) and is
    sent only when the lease runs out: the wait is stretched to cover that, and the ids of
    such alerts are returned."""
    deadline = time.time() + DRAIN
    stale: set[int] = set()
    while True:
        total, pending, claimed = outbox_state(engine)
        if pending == 0 and len(set(sink.message_ids())) >= total:
            return stale
        for alert_id, since in claimed.items():
            if since.timestamp() < runner.runs[-1].started:  # taken by a dead daemon
                stale.add(alert_id)
                deadline = max(deadline, (since + LEASE).timestamp() + 15)
        assert time.time() < deadline, (
            f"timed out waiting for the outbox to drain: {pending} of {total} alerts pending, "
            f"{len(set(sink.message_ids()))} distinct mails received")
        time.sleep(0.2)


# ------------------------------------------------------------------------------- the checks


def check_runs(o: Outcome) -> None:
    """Every run but the last ended by our SIGKILL or SIGTERM, never by itself; every SIGTERM
    stopped the daemon cleanly within the 10 s systemd allows."""
    assert len(o.runs) == o.plan.kills + o.plan.terms + 1
    for n, run in enumerate(o.runs, 1):
        killed = run.killed_at is not None and run.proc.returncode == -signal.SIGKILL
        stopped = run.stop_seconds is not None and run.proc.returncode == 0
        assert killed or stopped, (
            f"run {n} ended with status {run.proc.returncode} without being told to: "
            f"{run.stderr.read_text()[-2000:]}")
        assert run.stop_seconds is None or run.stop_seconds < 10, (
            f"run {n} took {run.stop_seconds:.1f} s to stop after SIGTERM")
    assert sum(r.stop_seconds is not None for r in o.runs) == o.plan.terms + 1


def check_items(o: Outcome) -> None:
    """Every item the platform served stored once, as served, with a correct SHA-256; every
    account polling cleanly again at the end."""
    keys = Counter((p, e) for p, e, _, _ in o.snap.items)
    twice = sorted(k for k, n in keys.items() if n > 1)
    assert not twice, f"items stored more than once: {twice[:10]}"
    assert set(keys) == o.timeline.items, (
        f"not stored: {sorted(o.timeline.items - set(keys))[:10]}; "
        f"never served: {sorted(set(keys) - o.timeline.items)[:10]}")
    changed = [(p, e) for p, e, _, text in o.snap.items if text != o.timeline.text[(p, e)]]
    assert not changed, f"stored text differs from what was served: {changed[:10]}"
    assert not o.snap.bad_hashes, f"raw payloads with a wrong SHA-256: {o.snap.bad_hashes[:5]}"
    unwell = {a: (st.failures, st.problem_open, st.last_error)
              for a, st in o.snap.poll_state.items()
              if st.failures or st.problem_open or st.last_error}
    assert not unwell, f"accounts still failing after the faults stopped: {unwell}"


def check_findings(o: Outcome) -> None:
    """Exactly the comments meant to be flagged are, with the intended label, once; each
    rotated token raised an account problem."""
    findings = Counter((p, e, label) for p, e, label, _ in o.snap.item_findings)
    expected = {(p, e, label) for (p, e), label in o.timeline.flagged.items()}
    assert set(findings) == expected, (
        f"missed: {sorted(expected - set(findings))[:10]}; "
        f"unexpected: {sorted(set(findings) - expected)[:10]}")
    assert max(findings.values()) == 1
    problems = Counter(account for account, _ in o.snap.problem_findings)
    for account in o.plan.rotations:
        assert problems[account] >= 1, (
            f"no account_problem finding for the rotated token of account {account}")
    # A problem opens on a refused token: an expired_token fault, or a rotated token (one
    # problem each: no poll of that account succeeds until the new token is written).
    assert sum(problems.values()) <= o.served["expired_token"] + len(o.plan.rotations)


def check_alerts_and_mails(o: Outcome) -> dict[str, int]:
    """Every finding in exactly one alert, every alert sent, each alert's mail received (a
    second copy only where a SIGKILL or a mail server stop explains it), each flagged comment
    linked from exactly one mail (its alert's), no civil one from any, the right recipients.
    The one exception: a non-threat comment that came after its account's pile-on summary
    had gone out is folded into that summary's alert without a mail (watcher.policy).

    Returns {Message-ID: copies} of the messages received more than once."""
    alerts = {a.id: a for a in o.snap.alerts}
    unsent = [(a.id, a.status, a.attempts, a.last_error) for a in alerts.values()
              if a.status != "sent"]
    assert not unsent, f"alerts never sent: {unsent[:5]}"
    per_finding = Counter(fid for _, fid in o.snap.alert_findings)
    all_findings = [f for *_, f in o.snap.item_findings] + [f for _, f in o.snap.problem_findings]
    assert sorted(per_finding) == sorted(all_findings), "a finding is in no alert"
    assert set(per_finding.values()) == {1}, "a finding is in more than one alert"
    by_message_id = {a.message_id: a for a in alerts.values()}
    assert len(by_message_id) == len(alerts)

    copies = Counter(str(m["Message-ID"]) for m, _ in o.messages)
    assert set(copies) == set(by_message_id), (
        f"alerts never mailed: {sorted(set(by_message_id) - set(copies))[:5]}; "
        f"mails of no alert: {sorted(set(copies) - set(by_message_id))[:5]}")
    redelivered = {mid: n for mid, n in copies.items() if n > 1}
    for mid, n in redelivered.items():
        first = min(t for (m, _), t in zip(o.messages, o.arrivals)
                    if str(m["Message-ID"]) == mid)
        # While another writer holds the database, recording "sent" waits: that stretches
        # the window by as long as the lock was held.
        explained = [d for d in o.disruptions if d >= first and d - first - sum(
            max(0.0, min(b, d) - max(a, first)) for a, b in o.lock_spans) <= REDELIVERY_WINDOW]
        assert n == 2 and explained, (
            f"{n} copies of {mid}, the first at {first:.2f}, and no SIGKILL or mail server "
            f"stop within {REDELIVERY_WINDOW} s after it: a duplicate alert")
    assert o.logins >= len(o.messages) and o.failed_logins == 0, (o.logins, o.failed_logins)

    first_copy: dict[str, tuple[EmailMessage, list[str]]] = {}
    for message, rcpt in o.messages:
        first_copy.setdefault(str(message["Message-ID"]), (message, rcpt))
    key_of = {link: (p, e) for p, e, link, _ in o.snap.items if link}
    finding_key = {fid: (p, e) for p, e, _, fid in o.snap.item_findings}
    alert_keys: dict[int, set[tuple[str, str]]] = {}
    for alert_id, fid in o.snap.alert_findings:
        if fid in finding_key:
            alert_keys.setdefault(alert_id, set()).add(finding_key[fid])
    linked: Counter[tuple[str, str]] = Counter()
    folded: set[tuple[str, str]] = set()
    for mid, (message, rcpt) in first_copy.items():
        alert = by_message_id[mid]
        keys_here = {key_of[link] for link in mail_links(message) if link in key_of}
        linked.update(keys_here)
        about = alert_keys.get(alert.id, set())
        if alert.kind == "pile_on":
            folded |= about - keys_here
            about = about & keys_here
        assert keys_here == about, (
            f"mail {mid} ({message['Subject']}) links {sorted(keys_here)[:5]}, its alert is "
            f"about {sorted(about)[:5]}")
        _check_recipients(o, alert, message, rcpt, keys_here)
    flagged = set(o.timeline.flagged)
    threats_folded = sorted(k for k in folded if o.timeline.flagged.get(k) == "threat")
    assert not threats_folded, f"threats folded into a pile-on: {threats_folded[:5]}"
    assert not folded & set(linked), f"folded and mailed: {sorted(folded & set(linked))[:5]}"
    linked.update(folded)
    assert set(linked) == flagged and set(linked.values()) == {1}, (
        f"flagged but never alerted: {sorted(flagged - set(linked))[:5]}; "
        f"alerted more than once: {sorted(k for k, n in linked.items() if n > 1)[:5]}; "
        f"alerted but civil: {sorted(set(linked) - flagged)[:5]}")
    assert len(o.messages) == len(alerts) + sum(n - 1 for n in redelivered.values())
    return redelivered


def _check_recipients(o: Outcome, alert: AlertRow, message: EmailMessage, rcpt: list[str],
                      keys: set[tuple[str, str]]) -> None:
    """Threats go to the member and member services, marked urgent; other flagged comments
    to the member with member services copied; account problems to member services only."""
    subject = str(message["Subject"])
    member = MEMBERS[alert.member_id][1]
    if alert.kind == "account_problem":
        assert subject.startswith("Account problem") and rcpt == [SERVICES], (subject, rcpt)
    elif any(o.timeline.flagged[k] == "threat" for k in keys):
        assert subject.startswith("URGENT") and alert.kind == "item", subject
        assert set(rcpt) == {member, SERVICES} and SERVICES in str(message["To"]), rcpt
    else:
        assert not subject.startswith("URGENT"), subject
        assert set(rcpt) == {member, SERVICES} and SERVICES in str(message["Cc"]), rcpt


def check_faults_and_logs(o: Outcome) -> LogReport:
    """Every fault kind was really served; the logs are JSON events without errors or
    tracebacks, and show each kind of trouble being handled."""
    for kind in FAULT_KINDS:
        assert o.served[kind] >= 1, f"fault {kind} was injected but never served"
    logs = check_logs(o.runs)
    assert not logs.problems, "\n".join(logs.problems[:20])
    events = logs.events
    # A SIGKILL may come before a restarted daemon has said it started, not a SIGTERM.
    assert sum(r.stop_seconds is not None for r in o.runs) <= events["daemon.started"]
    assert events["daemon.started"] <= len(o.runs)
    assert events["daemon.stopped"] == o.plan.terms + 1
    assert events["poll.rate_limited"] >= 1
    assert events["poll.failed"] >= 1
    assert events["poll.account_problem"] >= len(o.plan.rotations)
    assert events["account.recovered"] >= len(o.plan.rotations)
    assert events["alert.delivery_failed"] >= 1, "no delivery failed while the mail server was down"
    # Each alert is logged as sent once, but a SIGKILL may fall between the commit and the log.
    assert len(o.snap.alerts) - o.plan.kills <= events["alert.sent"] <= len(o.messages)
    return logs


def check_secrets(o: Outcome, logs: LogReport) -> None:
    """No token (old or renewed) and no SMTP password in the logs, the database (its rows
    and its files) or the mails."""
    mails = b"\n".join(bytes(m) for m, _ in o.messages)
    # The haystacks are real: a check of empty text would pass for nothing.
    assert len(logs.text) > 10_000 and "items" in o.dump and mails and o.secrets
    assert o.db_files or o.backend == "postgresql"
    for secret in o.secrets:
        where = [name for name, text in (("logs", logs.text), ("database rows", o.dump))
                 if secret in text]
        where += [name for name, blob in (("database files", o.db_files), ("mails", mails))
                  if secret.encode() in blob]
        assert not where, f"a secret ({secret[:12]}...) appears in: {', '.join(where)}"


def test_daemon_loses_and_repeats_nothing_through_faults_kills_and_outages(
        db_url: str, tmp_path: Path, report_summary: Callable[..., None]) -> None:
    """See the module docstring: the seeded scenario, then every check, then the counts."""
    began = time.monotonic()
    o = run_scenario(db_url, tmp_path)
    check_runs(o)
    check_items(o)
    check_findings(o)
    redelivered = check_alerts_and_mails(o)
    logs = check_faults_and_logs(o)
    check_secrets(o, logs)

    kinds = Counter(a.kind for a in o.snap.alerts)
    line = (f"reliability[{o.backend}] seed={SEED} items={len(o.snap.items)} "
            f"comments={len(o.timeline.comments)} flagged={len(o.timeline.flagged)} "
            f"faults_served={dict(sorted(o.served.items()))} "
            f"faults_injected={dict(sorted(o.plan.injected.items()))} "
            f"restarts={len(o.runs) - 1} (sigkill={o.plan.kills}, sigterm={o.plan.terms}) "
            f"mail_outages={o.plan.mail_outages} delivery_failures="
            f"{logs.events['alert.delivery_failed']} db_locks={o.plan.db_locks} (held "
            f"{sum(b - a for a, b in o.lock_spans):.1f} s) "
            f"token_rotations={len(o.plan.rotations)} "
            f"account_problems={len(o.snap.problem_findings)} "
            f"findings={len(o.snap.item_findings) + len(o.snap.problem_findings)} "
            f"alerts={len(o.snap.alerts)} "
            f"({', '.join(f'{k}={n}' for k, n in sorted(kinds.items()))}) "
            f"mails={len(o.messages)} redelivered={len(redelivered)} "
            f"stale_leases={len(o.stale_leases)} unclean_stops={logs.unclean_stops} "
            f"seconds={time.monotonic() - began:.0f} "
            f"at={datetime.now(UTC):%H:%M:%S}")
    # Every stop, SIGTERM included, finished its jobs in time and disposed of the store.
    assert logs.unclean_stops == 0, line
    report_summary(line, items=len(o.snap.items), flagged=len(o.timeline.flagged),
                   alerts=len(o.snap.alerts), mails=len(o.messages),
                   restarts=len(o.runs) - 1, faults_served=sum(o.served.values()))


# ------------------------------------------------------------------------------- found bugs

# A stand-in for ``watcher db upgrade`` that stops dead after the third CREATE TABLE (says
# HALTED and sleeps), so that the test can SIGKILL it at a known point of the migration.
_HALTING_UPGRADE = """
import sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine

created = 0

@event.listens_for(Engine, "after_cursor_execute")
def _halt(conn, cursor, statement, parameters, context, executemany):
    global created
    if statement.lstrip().upper().startswith("CREATE TABLE"):
        created += 1
        if created == 3:
            print("HALTED", flush=True)
            time.sleep(600)

from watcher.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_during_the_first_migration_leaves_a_database_that_still_starts(
        tmp_path: Path) -> None:
    """The daemon migrates the schema at every start, so the first start on a new server
    (or the first after an upgrade) can be killed part-way: by systemd's start timeout, the
    OOM killer or a power cut. The next start must still work."""
    config = tmp_path / "watcher.toml"
    config.write_text(plain_config_text(f"sqlite:///{tmp_path / 'watcher.db'}"))
    env = daemon_env(tmp_path)
    halting = subprocess.Popen([sys.executable, "-c", _HALTING_UPGRADE, "db", "upgrade",
                                "--config", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env)
    try:
        assert halting.stdout is not None
        ready, _, _ = select.select([halting.stdout], [], [], 60)
        assert ready and halting.stdout.readline().strip() == b"HALTED", (
            "the migration never reached its third table")
        halting.send_signal(signal.SIGKILL)
        halting.wait(10)
    finally:
        if halting.poll() is None:
            halting.kill()
            halting.wait(10)

    again = subprocess.run([sys.executable, "-m", "watcher.cli", "db", "upgrade", "--config",
                            str(config)], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0, again.stderr[-1500:]
    assert "schema up to date" in again.stdout


_FB_ONLY = """
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"

[[members.accounts]]
platform = "facebook"
id = "111"
credential = "fb-jsmith"
"""


def test_sigterm_while_a_poll_that_found_abuse_finishes_stops_cleanly(tmp_path: Path) -> None:
    """systemctl stop/restart while a poll is in flight: the poll may finish (its
    transaction is worth keeping), then the daemon must stop cleanly and at once."""
    # Held well inside the 3 s HTTP timeout of the test config: held for 3 s, the answer
    # raced the client's time-out and the poll sometimes failed instead of finishing.
    slow = 2.0
    timeline = [SimPost(0, "facebook", "111", "111_1", "Mill Lane crossing opens Monday."),
                SimComment(4, "facebook", "111", "111_1_c1", "111_1",
                           "You are a useless idiot and a disgrace.", "52", "Bob")]
    with SimulatedPlatform(timeline, tokens={"111": "fb-token-111-slow"}) as sim, \
            MailSink() as sink:
        config = tmp_path / "watcher.toml"
        config.write_text(plain_config_text(
            f"sqlite:///{tmp_path / 'watcher.db'}", smtp_port=sink.port, sim_url=sim.base_url,
            members=_FB_ONLY, extra='[detectors.text]\nengine = "rules"\n'))
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        write_credential(credentials, "fb-jsmith", "fb-token-111-slow")
        runner = DaemonRunner(config, tmp_path / "logs", daemon_env(credentials))
        try:
            runner.start()
            wait_for(lambda: time.time() >= sim.started_at + 4 - slow / 2, 20,
                     "the moment before the abusive comment appears")
            # The next poll's request is answered only after the comment has appeared, and
            # the SIGTERM arrives while it is held: the poll then finishes with an alert.
            sim.faults.slow_delay = slow
            sim.faults.inject("slow", platform="facebook")
            wait_for(lambda: sim.faults.served.get("slow", 0) == 1, 10,
                     "a poll to take the slow answer")
            code, seconds = runner.stop()
        finally:
            runner.close()
    output = runner.runs[0].stdout.read_text()
    assert code == 0
    assert '"alerts": 1' in output, "the poll in flight did not finish with its alert"
    assert '"clean": true' in output and seconds < slow + 3, (
        f"stopped after {seconds:.1f} s: {output.splitlines()[-1]}")
