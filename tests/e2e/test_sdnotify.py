"""The systemd notify protocol, tested without systemd.

The end-to-end test plays systemd's part: it binds a Unix datagram socket, starts
``watcher run`` with ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` set (against the simulated
platform and a real SMTP server, as ``test_daemon.py`` does), and checks what a
``Type=notify``, ``NotifyAccess=main``, ``WatchdogSec=`` unit needs: READY=1 once the schedule
runs, WATCHDOG=1 well within the watchdog timeout, every message from the main process's PID,
and STOPPING=1 then exit status 0 within 10 s of SIGTERM. The unit tests below cover
``watcher.sdnotify`` itself.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from platforms.simulated import SimComment, SimPost, SimulatedPlatform
from tests.conftest import MEMBERS, config_text
from watcher import sdnotify
from watcher.mailsink import MailSink

pytestmark = pytest.mark.e2e

FB, X = "111", "222"
TOKENS = {FB: "notify-fb-token-111", X: "notify-x-token-222"}
ENV_CREDS = {"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]}
TIMELINE = [
    SimPost(0, "facebook", FB, "111_1", "New crossing on Mill Lane opens on Monday."),
    SimComment(0.5, "facebook", FB, "1_c1", "111_1", "You are a useless idiot.", "52", "Bob"),
    SimPost(0, "x", X, "9001", "Speaking at Full Council tonight on the bus cuts."),
]
WATCHDOG_USEC = 1_000_000  # so the daemon pings every 0.5 s
PING_INTERVAL = WATCHDOG_USEC / 2_000_000
SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes with the terminating NUL


@dataclass(frozen=True)
class Datagram:
    """One notify message: when it arrived (monotonic), its sender's PID, its lines."""

    at: float
    pid: int
    lines: tuple[str, ...]


class NotifyListener:
    """Plays systemd's side: given a path, binds a datagram socket there and records every
    message with its arrival time and the sender's PID (SCM_CREDENTIALS, as systemd checks
    ``NotifyAccess=`` with)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[Datagram] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="notify-listener",
                                        daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        creds_size = socket.CMSG_SPACE(struct.calcsize("iII"))
        while not self._stop.is_set():
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(4096, creds_size)
            except TimeoutError:
                continue
            except OSError:
                return
            pid = -1
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:struct.calcsize("iII")])[0]
            lines = tuple(data.decode("utf-8").splitlines())
            with self._lock:
                self.received.append(Datagram(time.monotonic(), pid, lines))

    def messages(self) -> list[Datagram]:
        """Return a copy of what has arrived so far, in arrival order."""
        with self._lock:
            return list(self.received)

    def first(self, line: str) -> Datagram | None:
        """Return the first message holding ``line`` (e.g. "READY=1"), or None."""
        return next((d for d in self.messages() if line in d.lines), None)

    def wait_for(self, line: str, timeout: float) -> Datagram:
        """Return the first message holding ``line``; raise AssertionError if none arrives
        within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(line)
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {line} within {timeout} s; got {self.messages()}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def notify_dir(tmp_path: Path) -> Iterator[Path]:
    """Where to bind the notify socket: tmp_path, unless its path is too long for a Unix
    socket (a deep --basetemp), then a short directory of our own."""
    if len(str(tmp_path / "notify.sock")) <= SUN_PATH_MAX:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="wn-") as short:
        yield Path(short)


@pytest.fixture
def council(tmp_path: Path) -> Iterator[tuple[SimulatedPlatform, MailSink, Path]]:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim, \
            MailSink() as sink:
        path = tmp_path / "watcher.toml"
        path.write_text(config_text(f"sqlite:///{tmp_path / 'watcher.db'}", smtp_port=sink.port,
                                    sim_url=sim.base_url, members=MEMBERS))
        yield sim, sink, path


def daemon_env(notify_socket: str) -> dict[str, str]:
    """Return the environment systemd would give the main process: this one without any
    inherited notify or credential variables, plus NOTIFY_SOCKET and WATCHDOG_USEC (no
    WATCHDOG_PID: the PID is not known before the start, and it is optional)."""
    drop = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(drop) and not k.startswith("WATCHER_CRED_")}
    env.update(ENV_CREDS)
    # As in watcher.service: log lines reach the file as they are written, so that the log
    # can be compared with the notify messages while the daemon runs.
    env["PYTHONUNBUFFERED"] = "1"
    env["NOTIFY_SOCKET"] = notify_socket
    env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    return env


def test_ready_then_watchdog_pings_then_stopping_on_sigterm(
        council: tuple[SimulatedPlatform, MailSink, Path], notify_dir: Path,
        tmp_path: Path) -> None:
    sim, _sink, config = council
    listener = NotifyListener(notify_dir / "notify.sock")
    log = tmp_path / "daemon.log"
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        daemon = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "--config",
                                   str(config)], stdout=out, stderr=subprocess.STDOUT,
                                  env=daemon_env(str(listener.path)))
    try:
        ready = listener.wait_for("READY=1", 30)
        # READY=1 comes once the schedule runs: the start is already logged.
        assert '"event": "daemon.started"' in log.read_text(), log.read_text()[-3000:]
        assert "STATUS=polling" in ready.lines

        time.sleep(6 * PING_INTERVAL + 0.2)
        pings = [d.at for d in listener.messages() if "WATCHDOG=1" in d.lines]
        after_ready = [t for t in pings if t >= ready.at]
        assert len(after_ready) >= 3, listener.messages()
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        # Roughly every WATCHDOG_USEC/2, and never as late as the timeout itself (systemd
        # would then kill the service).
        assert 0.6 * PING_INTERVAL <= statistics.median(gaps) <= 1.5 * PING_INTERVAL, gaps
        assert max(gaps) < WATCHDOG_USEC / 1_000_000, gaps
        assert sim.requests_log, "the schedule polled nothing"

        sent = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        stopping = listener.wait_for("STOPPING=1", 10)
        daemon.wait(10 - (time.monotonic() - sent))
        stopped_after = time.monotonic() - sent
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(5)
        listener.close()
    output = log.read_text()
    assert daemon.returncode == 0, output[-3000:]
    assert stopped_after < 10
    assert stopping.at >= sent
    # NotifyAccess=main: systemd accepts only messages whose sender is the main PID; the
    # heartbeat runs on a scheduler thread, which must still count as that process.
    senders = {d.pid for d in listener.messages()}
    assert senders == {daemon.pid}, senders
    assert not any(token in output for token in TOKENS.values())


# ---------------------------------------------------------------------------------------------
# watcher.sdnotify on its own


def receive(sock: socket.socket) -> str:
    """Return the next datagram on ``sock`` as text (waiting at most 2 s)."""
    sock.settimeout(2)
    return sock.recv(4096).decode("utf-8")


def test_notify_sends_one_datagram_to_a_path_socket(notify_dir: Path) -> None:
    path = notify_dir / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert sdnotify.notify("READY=1\nSTATUS=polling", {"NOTIFY_SOCKET": str(path)})
        assert receive(sock) == "READY=1\nSTATUS=polling"


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"watcher-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert sdnotify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert receive(sock) == "WATCHDOG=1"


def test_notify_reads_os_environ_by_default(notify_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = notify_dir / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.notify("STOPPING=1")
        assert receive(sock) == "STOPPING=1"


def test_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.notify("READY=1", {}) is False
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": ""}) is False


def test_notify_to_a_socket_that_is_gone_returns_false(tmp_path: Path) -> None:
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False
    nobody = f"@watcher-test-{uuid.uuid4().hex}"  # an abstract name no one has bound
    assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": nobody}) is False


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WATCHDOG_USEC": "120000000"}, 60.0),
    ({"WATCHDOG_USEC": "1000000"}, 0.5),
    ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
    ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
    ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "not-a-pid"}, None),
    ({}, None),
    ({"WATCHDOG_USEC": ""}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "1e6"}, None),
    ({"WATCHDOG_PID": str(os.getpid())}, None),
])
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval(environ) == expected


def test_watchdog_interval_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 2.0
    monkeypatch.setenv("WATCHDOG_PID", "1" if os.getpid() != 1 else "2")
    assert sdnotify.watchdog_interval() is None
