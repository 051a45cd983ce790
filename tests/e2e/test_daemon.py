"""The daemon as a subprocess against the simulated platform and a real SMTP server.

The headline test kills ``watcher run`` with SIGKILL mid-run, restarts it, and checks that every
expected alert arrived exactly once and that nothing was alerted for civil comments.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from platforms.simulated import SimComment, SimMention, SimPost, SimulatedPlatform
from tests.conftest import MEMBERS, config_text
from watcher.mailsink import MailSink

pytestmark = pytest.mark.e2e

FB, X = "111", "222"
TOKENS = {FB: "e2e-fb-token-111", X: "e2e-x-token-222"}
ENV_CREDS = {"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]}

# (event, expected alert?) — flagged items come in two waves, one before the kill, one after.
SCRIPT: list[tuple[object, bool]] = [
    (SimPost(0, "facebook", FB, "111_1", "New crossing on Mill Lane opens on Monday."), False),
    (SimPost(0, "x", X, "9001", "Speaking at Full Council tonight on the bus cuts."), False),
    (SimComment(0.5, "facebook", FB, "1_c1", "111_1", "Great news, thank you!", "51", "Ann"),
     False),
    (SimComment(0.5, "facebook", FB, "1_c2", "111_1",
                "You are a useless idiot and a disgrace.", "52", "Bob"), True),
    (SimComment(1, "x", X, "9002", "9001", "I know where you live, watch your back.", "61",
                "threatener"), True),
    (SimComment(1, "x", X, "9003", "9001",
                "Your party broke every promise. Vote them all out in May.", "62", "voter"),
     False),
    # second wave: after the restart
    (SimComment(9, "facebook", FB, "1_c3", "111_1",
                "I hope someone stabs you on your way home.", "53", "Cal"), True),
    (SimComment(9, "facebook", FB, "1_c4", "111_1",
                "I disagree strongly with this and will object.", "54", "Dee"), False),
    (SimMention(9.5, X, "9004", "@CllrTom you stupid muppet, nobody voted for you", "63",
                "troll"), True),
]
EXPECTED = {e.id for e, flagged in SCRIPT if flagged}  # type: ignore[attr-defined]
CIVIL = {e.id for e, flagged in SCRIPT if not flagged and not isinstance(e, SimPost)}  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def council(db_url: str, tmp_path: Path) -> Iterator[tuple[SimulatedPlatform, MailSink, Path]]:
    with SimulatedPlatform([e for e, _ in SCRIPT], tokens=TOKENS,  # type: ignore[misc]
                           handles={X: "CllrTom"}) as sim, MailSink() as sink:
        path = tmp_path / "watcher.toml"
        path.write_text(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                    members=MEMBERS))
        yield sim, sink, path


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_CRED_")}
    env.update(ENV_CREDS)
    return subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def alerted_ids(sink: MailSink, item_ids: set[str]) -> list[str]:
    """Return, per message received, which of ``item_ids`` its text links to or quotes."""
    found = []
    for message, _ in sink.messages:
        body = message.get_body(preferencelist=("plain",)).get_content()
        found += [i for i in item_ids if i in body]
    return found


def test_sigkill_mid_run_then_restart_delivers_every_alert_exactly_once(
        council: tuple[SimulatedPlatform, MailSink, Path], tmp_path: Path) -> None:
    sim, sink, config = council
    log = tmp_path / "daemon.log"
    first = start_daemon(config, log)
    try:
        wait_for(lambda: len(sink.messages) >= 2, 25, "the first wave of alerts")
        time.sleep(1.5)  # let it poll again: kill it mid-run, not between our own checks
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    before = len(sink.messages)

    second = start_daemon(config, log)
    try:
        wait_for(lambda: len(sink.messages) >= len(EXPECTED), 40, "every expected alert")
        time.sleep(3)  # several more poll and outbox cycles: nothing more may arrive
        second.send_signal(signal.SIGTERM)
        started = time.monotonic()
        second.wait(10)
        stop_seconds = time.monotonic() - started
    finally:
        if second.poll() is None:
            second.kill()
    output = log.read_text()
    assert second.returncode == 0, output[-3000:]
    assert stop_seconds < 10
    assert before >= 2 and len(sink.messages) > before  # both runs delivered alerts

    ids = sink.message_ids()
    assert len(ids) == len(set(ids)) == len(EXPECTED), output[-3000:]
    assert sorted(alerted_ids(sink, EXPECTED)) == sorted(EXPECTED)  # each exactly once
    assert alerted_ids(sink, CIVIL) == []
    # Threats went to the member and member services; abuse to the member, services copied.
    for message, rcpt in sink.messages:
        assert "ms@test-council.gov.uk" in rcpt
        if message["Subject"].startswith("URGENT"):
            assert "ms@test-council.gov.uk" in message["To"]
    assert sum(m["Subject"].startswith("URGENT") for m, _ in sink.messages) == 2
    # Tokens never reach the logs.
    assert not any(token in output for token in TOKENS.values())
    assert '"event": "daemon.stopped"' in output


def test_expired_token_sends_one_account_problem_alert(
        council: tuple[SimulatedPlatform, MailSink, Path], tmp_path: Path) -> None:
    sim, sink, config = council
    sim.faults.inject("expired_token", times=1000, platform="facebook")
    daemon = start_daemon(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: any("Account problem" in m["Subject"] for m, _ in sink.messages), 20,
                 "the account_problem alert")
        time.sleep(3)  # three more polls fail the same way: no second alert
        sim.faults.clear()
        wait_for(lambda: len(alerted_ids(sink, EXPECTED & {"1_c2"})) == 1, 20,
                 "polling to resume once the token works again")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
    problems = [(m, r) for m, r in sink.messages if "Account problem" in m["Subject"]]
    assert len(problems) == 1
    assert problems[0][1] == ["ms@test-council.gov.uk"]


def test_poll_once_and_check_and_bad_config(db_url: str, tmp_path: Path,
                                            council: tuple[SimulatedPlatform, MailSink, Path]
                                            ) -> None:
    sim, sink, config = council
    env = {**os.environ, **ENV_CREDS}
    run = [sys.executable, "-m", "watcher.cli"]
    check = subprocess.run(run + ["check", "--config", str(config)], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all well" in check.stdout
    no_creds = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_CRED_")}
    missing = subprocess.run(run + ["check", "--config", str(config)], env=no_creds,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "WATCHER_CRED_FB_JSMITH" in missing.stdout

    frozen = sim.started_at + 1.2  # the first wave is visible, the second not yet
    sim.clock = lambda: frozen
    once = subprocess.run(run + ["poll", "--once", "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "alerts sent: 2" in once.stdout
    assert sorted(alerted_ids(sink, EXPECTED)) == ["1_c2", "9002"]

    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('jitter = "0s"', 'jitter = "soon"\ncolour = 1'))
    result = subprocess.run(run + ["check", "--config", str(bad)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "polling.jitter" in result.stderr and "polling.colour" in result.stderr
    assert "line " in result.stderr


def test_sigterm_stops_within_ten_seconds_even_with_a_poll_hanging(
        council: tuple[SimulatedPlatform, MailSink, Path], tmp_path: Path) -> None:
    sim, sink, config = council
    sim.faults.timeout_delay = 30  # the server holds the request far past the client timeout
    sim.faults.inject("timeout", times=1000)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        wait_for(lambda: len(sim.requests_log) >= 1, 20, "a poll to be in flight")
        time.sleep(0.5)
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        assert time.monotonic() - started < 10
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0
    # Off a terminal every log line is one JSON object with an event name.
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    import json

    events = [json.loads(line)["event"] for line in lines]
    assert "daemon.started" in events and "daemon.signal" in events


def test_demo_alerts_abuse_threats_copyright_and_a_meeting_burst_only() -> None:
    result = subprocess.run([sys.executable, "-m", "watcher.cli", "demo", "--seconds", "20"],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    alerts = [line for line in out.splitlines() if " ALERT " in line]
    assert len(alerts) == 8, out
    assert sum("URGENT: Threat" in a for a in alerts) == 2
    # One of each of #5's findings: Jane's agency photo (not Priya's cleared council photo),
    # and Tom's four tweets during the Planning Committee he sits on.
    assert sum("Possible copyright image post on Cllr Jane Smith" in a for a in alerts) == 1
    # 4 or 5: his earlier tweet falls in the meeting too, if polled before the check runs.
    assert sum(bool(re.search(r"Reminder: [45] posts during Planning Committee", a))
               for a in alerts) == 1
    assert "104698765432109_7002" not in out
    assert '"copyright_image": 1, "meeting_burst": 1' in out
    assert "alerts delivered: 8, still queued: 0" in out
    # Support and blunt political disagreement are never alerted.
    for civil in ("9001_101", "9001_102", "7001_201", "7001_202", "1850000000000000011",
                  "1850000000000000012"):
        assert civil not in out
    assert "watcher findings --config" in out
