"""The systemd unit and the example config shipped in ``systemd/``.

``systemd-analyze verify`` must find nothing to say about the unit, and ``systemd-analyze
security --offline=true`` must rate its exposure 2.0 or lower. Both skip only when
``systemd-analyze`` is not installed. The directives the daemon relies on, and the example
config's validity, are checked from the files themselves, with or without systemd.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from watcher import config as config_mod
from watcher.daemon import STOP_DEADLINE

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "watcher.service"
EXAMPLE = ROOT / "systemd" / "watcher.toml"
MAX_EXPOSURE = 2.0
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
# systemd-analyze must not page, colour or localise what the tests parse.
ANALYZE_ENV = {**os.environ, "SYSTEMD_PAGER": "cat", "SYSTEMD_COLORS": "0", "LC_ALL": "C"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Given a unit file's text, return {section: {directive: [values in order]}}.

    Comments and blank lines are skipped; a value is kept as written (stripped). Raises
    AssertionError for a line that is none of section, directive, comment or blank.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"line {number}: {raw!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(span: str) -> float:
    """Given a systemd time span such as "120s", "3min", "1h 30min" or "15", return seconds.

    Raises ValueError for a unit this small parser does not know.
    """
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span.strip())
    if not parts:
        raise ValueError(f"not a time span: {span!r}")
    return sum(float(n) * units[u or "s"] for n, u in parts)


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def the(unit: dict[str, dict[str, list[str]]], key: str) -> str:
    """Return the one value of [Service] ``key``; fail if it is missing or set twice."""
    values = unit["Service"].get(key, [])
    assert len(values) == 1, f"[Service] {key}= is set {len(values)} times: {values}"
    return values[0]


def real_watcher_command() -> str:
    """Return a command line that starts this checkout's ``watcher`` on this machine."""
    script = Path(sys.executable).with_name("watcher")
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    found = shutil.which("watcher")
    return found if found else f"{sys.executable} -m watcher.cli"


WEB_UNIT = ROOT / "systemd" / "watcher-web.service"
#: Each shipped unit and how many Exec lines run /usr/local/bin/watcher in it.
UNITS = [(UNIT, 2), (WEB_UNIT, 1)]


def verifiable(unit_path: Path, execs: int, tmp_path: Path) -> Path:
    """The unit, copied to tmp_path with each Exec line's program replaced by this machine's
    ``watcher``: verify checks that the program exists, and /usr/local/bin/watcher is where
    a council installs it, not where the tests run. Nothing else changes."""
    text = unit_path.read_text(encoding="utf-8")
    command = real_watcher_command()
    text, count = re.subn(r"(?m)^(ExecStart(?:Pre)?=[-@:+!]*)/usr/local/bin/watcher(?= )",
                          lambda m: m.group(1) + command, text)
    assert count == execs, f"expected {execs} Exec lines to run /usr/local/bin/watcher"
    path = tmp_path / unit_path.name  # verify wants the unit's own name
    path.write_text(text, encoding="utf-8")
    return path


@needs_analyze
@pytest.mark.parametrize(("unit_path", "execs"), UNITS, ids=lambda v: getattr(v, "name", v))
def test_systemd_analyze_verify_is_clean(unit_path: Path, execs: int, tmp_path: Path) -> None:
    result = subprocess.run([ANALYZE, "verify", str(verifiable(unit_path, execs, tmp_path))],
                            capture_output=True, text=True, timeout=60, env=ANALYZE_ENV)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


@needs_analyze
@pytest.mark.parametrize("unit_path", [u for u, _ in UNITS], ids=lambda v: v.name)
def test_security_exposure_is_at_most_two(unit_path: Path) -> None:
    result = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager",
                             str(unit_path)], capture_output=True, text=True, timeout=60,
                            env=ANALYZE_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(rf"Overall exposure level for {re.escape(unit_path.name)}: "
                      r"(\d+\.\d+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr
    exposure = float(found.group(1))
    failing = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert exposure <= MAX_EXPOSURE, "\n".join(failing)


def test_unit_has_what_the_daemon_relies_on(unit: dict[str, dict[str, list[str]]]) -> None:
    # READY=1 and WATCHDOG=1 (sent from a thread of the main process), and restarts.
    assert the(unit, "Type") == "notify"
    assert the(unit, "NotifyAccess") == "main"
    assert seconds(the(unit, "WatchdogSec")) >= 10
    assert the(unit, "Restart") == "on-failure"
    assert "2" in the(unit, "RestartPreventExitStatus").split()  # bad config: exit 2
    # The daemon stops within STOP_DEADLINE; systemd must not SIGKILL it before that.
    assert seconds(the(unit, "TimeoutStopSec")) > STOP_DEADLINE + 1
    # The default database lives in the state directory systemd creates.
    state = the(unit, "StateDirectory")
    assert state == "watcher"
    assert config_mod.DatabaseConfig().url.startswith(f"sqlite:////var/lib/{state}/")
    assert the(unit, "ConfigurationDirectory") == "watcher"
    assert the(unit, "DynamicUser") == "yes"
    # Nothing it writes is readable by anyone else.
    umask = int(the(unit, "UMask"), 8)
    assert umask & 0o007 == 0o007, f"UMask={umask:04o} leaves files world-accessible"
    # The notify socket and PostgreSQL's Unix socket need AF_UNIX; the APIs and SMTP, INET.
    families = set(the(unit, "RestrictAddressFamilies").split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= families
    assert the(unit, "ExecStart").split()[1:] == ["run", "--config", config_mod.DEFAULT_PATH]
    assert the(unit, "ExecStartPre").split()[1:] == ["check", "--config",
                                                     config_mod.DEFAULT_PATH]


def test_unit_shows_a_load_credential_line_for_each_credential_of_the_example() -> None:
    named = set()
    example = config_mod.load(EXAMPLE)
    for member in example.members:
        for account in member.accounts:
            named |= {n for n in (account.credential, account.credential_user) if n}
    named |= {n for n in (example.smtp.password_credential,
                          example.alerts.teams_webhook_credential,
                          example.alerts.notify_api_key_credential) if n}
    shown = set(re.findall(r"(?m)^# LoadCredential=([^:\s]+):/etc/watcher/credentials/\1$",
                           UNIT.read_text(encoding="utf-8")))
    assert named and named <= shown, f"add '# LoadCredential=' lines for {named - shown}"


def test_example_config_passes_watcher_check(tmp_path: Path) -> None:
    """The example is valid as shipped; with its database moved to tmp_path (the real path
    is /var/lib/watcher, not to be touched here) and every credential it names provided the
    way systemd provides them, ``watcher check`` finds nothing wrong."""
    example = config_mod.load(EXAMPLE)
    assert example.database.url == config_mod.DatabaseConfig().url
    text = EXAMPLE.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^url = "sqlite:////var/lib/watcher/watcher\.db"',
                          f'url = "sqlite:///{tmp_path / "watcher.db"}"', text)
    assert count == 1
    config = tmp_path / "watcher.toml"
    config.write_text(text, encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for member in example.members:
        for account in member.accounts:
            for name in filter(None, (account.credential, account.credential_user)):
                (credentials / name).write_text(f"token-for-{name}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env["CREDENTIALS_DIRECTORY"] = str(credentials)
    result = subprocess.run([sys.executable, "-m", "watcher.cli", "check", "--config",
                             str(config)], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all well" in result.stdout



def test_web_unit_shares_the_daemons_user_database_and_config(
        unit: dict[str, dict[str, list[str]]]) -> None:
    web = parse_unit(WEB_UNIT.read_text(encoding="utf-8"))
    for key in ("DynamicUser", "User", "StateDirectory", "ConfigurationDirectory"):
        assert web["Service"][key] == unit["Service"][key], key
    assert web["Service"]["User"] == ["watcher"]
    assert web["Service"]["ExecStart"] == [
        "/usr/local/bin/watcher web --config /etc/watcher/watcher.toml"]
    assert web["Service"]["RestartPreventExitStatus"] == ["2"]
