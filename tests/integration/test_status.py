"""``watcher status``: after real polls of the simulated platform, in process via ``main``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from platforms.simulated import SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from watcher.cli import main
from watcher.mailsink import MailSink
from watcher.status import StatusReport, format_report, gather
from watcher.store import Store
from watcher.store.models import AlertRow

TOKENS = {FB: "status-fb-token", X: "status-x-token"}
RULES = '[detectors.text]\nengine = "rules"\n'
TIMELINE = SMALL_TIMELINE


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_CRED_FB_JSMITH", TOKENS[FB])
    monkeypatch.setenv("WATCHER_CRED_X_TOK", TOKENS[X])


@pytest.fixture
def sim() -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as s:
        yield s


def write_config(tmp_path: Path, db_url: str, sim: SimulatedPlatform, smtp_port: int) -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, smtp_port=smtp_port, sim_url=sim.base_url,
                                members=MEMBERS, extra=RULES))
    return path


def status(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["status", "--config", str(path)])
    return code, capsys.readouterr().out


def block(out: str, key: str) -> str:
    """Return the lines of one account's block in the output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(key))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_healthy_after_a_poll(db_url: str, tmp_path: Path, sim: SimulatedPlatform, creds: None,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with MailSink() as sink:
        path = write_config(tmp_path, db_url, sim, sink.port)
        assert main(["poll", "--once", "--config", str(path)]) == 0
        code, out = status(path, capsys)
    assert code == 0, out
    fb, x = block(out, "facebook:111"), block(out, "x:222")
    assert "Cllr Jane Smith [jsmith]  enabled" in fb
    assert "x:222 @CllrTom  Cllr Tom Okafor [tok]  enabled" in x
    for account in (fb, x):
        assert "last poll     20" in account and " UTC (" in account
        assert account.splitlines()[1].endswith("  ok")
        assert "last error" not in account
    assert "items stored  3" in fb and "items stored  2" in x
    assert "findings 24h  offensive 1" in fb and "findings 24h  threat 1" in x
    assert "findings in the last 24 h: offensive 1, threat 1" in out
    assert "alerts: 0 pending" in out
    assert out.rstrip().endswith("health: OK")


def test_failing_account_is_unhealthy_and_shows_its_error(
        db_url: str, tmp_path: Path, sim: SimulatedPlatform, creds: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    with MailSink() as sink:
        path = write_config(tmp_path, db_url, sim, sink.port)
        assert main(["poll", "--once", "--config", str(path)]) == 0
        sim.faults.inject("server_error", times=2, platform="facebook")
        assert main(["poll", "--once", "--config", str(path)]) == 1
        assert main(["poll", "--once", "--config", str(path)]) == 1
        code, out = status(path, capsys)
    assert code == 1, out
    fb = block(out, "facebook:111")
    assert "FAILED (2 in a row)" in fb
    assert "last error    TransientPlatformError: " in fb
    assert "last success  20" in fb and "items stored  3" in fb  # history kept
    assert "x:222" in out and block(out, "x:222").splitlines()[1].endswith("  ok")
    assert "health: PROBLEMS" in out
    assert "  - facebook:111 (jsmith): last poll failed (2 in a row)" in out
    assert not any(token in out for token in TOKENS.values())

    with MailSink() as sink:  # the account recovers: healthy again
        path = write_config(tmp_path, db_url, sim, sink.port)
        assert main(["poll", "--once", "--config", str(path)]) == 0
        code, out = status(path, capsys)
    assert code == 0 and "health: OK" in out


def test_alert_pending_over_an_hour_is_unhealthy(db_url: str, tmp_path: Path,
                                                 sim: SimulatedPlatform, creds: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nothing listens on: the mail server is down
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    path = write_config(tmp_path, db_url, sim, closed)
    assert main(["poll", "--once", "--config", str(path)]) == 1  # delivery failed
    code, out = status(path, capsys)
    assert code == 0, out  # queued for seconds only: the outbox is retrying
    assert "alerts: 2 pending, 1 of them retrying after a failed delivery; oldest queued " \
        in out
    assert "last delivery error: " in out

    store = Store(db_url)
    with store.session() as session:
        session.execute(update(AlertRow).values(
            created_at=datetime.now(UTC) - timedelta(hours=2, minutes=5)))
    store.dispose()
    code, out = status(path, capsys)
    assert code == 1, out
    assert "oldest queued 2h05m ago" in out
    assert "  - an alert has been pending for 2h05m (more than 1h00m)" in out


def test_empty_database_and_unreadable_database(db_url: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, members=MEMBERS))
    assert main(["status", "--config", str(path)]) == 1  # no schema yet
    err = capsys.readouterr().err
    assert "cannot read the status" in err and "watcher db upgrade" in err
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    code, out = status(path, capsys)
    assert code == 0 and "no accounts registered" in out


def test_format_of_a_disabled_account_and_back_off() -> None:
    from watcher.status import AccountState, OutboxState

    now = datetime(2025, 11, 24, 12, 0, tzinfo=UTC)
    account = AccountState(
        id=1, member_id="jsmith", member_name="Cllr Jane Smith",
        platform="facebook", external_id="111", handle="", enabled=False,
        last_poll_at=now - timedelta(minutes=3), last_success_at=None,
        last_error="RateLimited: (#4) limit", failures=1, not_before=now + timedelta(minutes=7))
    report = StatusReport(now=now, database="sqlite:///w.db", accounts=(account,),
                          outbox=OutboxState(0, 0, None, None))
    out = format_report(report)
    assert account.key == "facebook:111"
    assert "disabled (no longer in the config)" in out
    assert "last poll     2025-11-24 11:57:00 UTC (3m ago)  FAILED" in out
    assert "last success  never" in out
    assert "backing off   until 2025-11-24 12:07:00 UTC (in 7m)" in out
    assert report.healthy  # a disabled account is not polled, so not a problem


def test_status_is_what_gather_reports(db_url: str, tmp_path: Path, sim: SimulatedPlatform,
                                       creds: None) -> None:
    with MailSink() as sink:
        path = write_config(tmp_path, db_url, sim, sink.port)
        assert main(["poll", "--once", "--config", str(path)]) == 0
    store = Store(db_url)
    report = gather(store)
    store.dispose()
    assert [a.key for a in report.accounts] == ["facebook:111", "x:222"]
    assert dict(report.items) == {report.accounts[0].id: 3, report.accounts[1].id: 2}
    assert report.findings_total == {"offensive": 1, "threat": 1}
    assert report.outbox.pending == 0 and report.healthy
