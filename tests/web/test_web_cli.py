"""``watcher users`` and ``watcher web`` as a council runs them: real processes, a real
config file, a real socket."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import config_text
from tests.web.conftest import MEMBERS, PASSWORD

WATCHER = [sys.executable, "-m", "watcher.cli"]


def write_config(tmp_path: Path, db_url: str, extra: str = "") -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, members=MEMBERS, extra=extra), encoding="utf-8")
    path.chmod(0o600)
    return path


def watcher(*args: str, stdin: str = "", config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WATCHER, *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_users_add_list_passwd_disable(db_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, db_url)
    r = watcher("users", "add", "Alice", "--role", "member-services", "--password-stdin",
                stdin=PASSWORD + "\n", config=cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "added alice (member-services)"
    r = watcher("users", "add", "jane", "--role", "member", "--member", "jsmith",
                "--password-stdin", stdin=PASSWORD + "\n", config=cfg)
    assert r.returncode == 0 and "for member jsmith" in r.stdout, r.stderr
    r = watcher("users", "add", "bob", "--role", "member", "--member", "nobody",
                "--password-stdin", stdin=PASSWORD + "\n", config=cfg)
    assert r.returncode == 1 and "no member 'nobody'" in r.stderr
    r = watcher("users", "add", "carol", "--role", "group-leader", "--group",
                "Riverside Independents", "--password-stdin", stdin="short\n", config=cfg)
    assert r.returncode == 1 and "at least 12 characters" in r.stderr
    r = watcher("users", "add", "dave", "--role", "member-services", config=cfg)
    assert r.returncode == 1 and "--password-stdin" in r.stderr  # no terminal to ask on
    r = watcher("users", "disable", "jane", config=cfg)
    assert r.returncode == 0
    r = watcher("users", "list", config=cfg)
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["alice", "jane"]
    assert "DISABLED" in lines[1] and "all members" in lines[0]
    r = watcher("users", "passwd", "ghost", "--password-stdin", stdin=PASSWORD + "\n",
                config=cfg)
    assert r.returncode == 1 and "no user 'ghost'" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_web_serves_and_stops_cleanly_on_sigterm(db_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, db_url)
    port = free_port()
    proc = subprocess.Popen([*WATCHER, "web", "--config", str(cfg), "--listen",
                             f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    assert r.status == 200 and b"Sign in" in r.read()
                    assert r.headers["X-Frame-Options"] == "DENY"
                    assert "server" not in {k.lower() for k in r.headers}
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(f"http://127.0.0.1:{port}/inbox", timeout=5)
        assert caught.value.code == 303
        assert caught.value.headers["Location"].startswith("/login?next=")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert time.monotonic() - started < 10
        events = [json.loads(line)["event"] for line in out.splitlines()
                  if line.startswith("{")]
        assert "web.start" in events and "web.stopped" in events
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_web_says_clearly_when_the_port_is_taken(db_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, db_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = watcher("web", "--listen", f"127.0.0.1:{port}", config=cfg)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "in use" in r.stderr


def test_web_refuses_a_bad_web_section(db_url: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, db_url, extra='[web]\nlisten = "nowhere"\ncookie_secur = 1\n')
    r = watcher("web", config=cfg)
    assert r.returncode == 2
    assert "web.listen" in r.stderr and "unknown key 'cookie_secur'" in r.stderr


def test_demo_web_serves_the_dashboard_on_the_demos_data(tmp_path: Path) -> None:
    import http.cookiejar
    import os
    import re
    import urllib.parse

    port = free_port()
    proc = subprocess.Popen([*WATCHER, "demo", "--seconds", "12", "--dir", str(tmp_path),
                             "--web", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "password" in line and "sign in as" in line:
                break
        text = "".join(lines)
        assert f"Dashboard: http://127.0.0.1:{port}/" in text, text + proc.stderr.read()
        password = line.split("password ")[1].strip()
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                login = opener.open(base + "/login", timeout=5).read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode({"csrf_token": token, "username": "ms",
                                       "password": password}).encode()
        inbox = opener.open(base + "/login?next=/inbox", data=form, timeout=10)
        page = inbox.read().decode()
        assert inbox.url.endswith("/inbox") and "Urgent" in page and "Threat" in page
        # The alerts the demo mailed link to the dashboard.
        mails = "".join(p.read_text(errors="replace") for p in (tmp_path / "mail").glob("*"))
        assert f"{base}/go/" in mails
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
