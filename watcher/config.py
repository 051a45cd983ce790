"""The configuration file (CONTRACT §1), validated once into typed, frozen objects.

:func:`load` reads a TOML file, checks every key against :data:`SCHEMA`, and either returns a
:class:`Config` or raises one :class:`~watcher.errors.ConfigError` listing *every* problem,
each with its dotted key and its line in the file. Nothing downstream re-validates.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher import logs
from watcher.domain import TEXT_LABELS, Account
from watcher.errors import ConfigError, Problem

DEFAULT_PATH = "/etc/watcher/watcher.toml"
KNOWN_PLATFORMS = ("facebook", "x")

# ---------------------------------------------------------------------------------------------
# Typed configuration


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:////var/lib/watcher/watcher.db"
    # Name of a credential holding the database password, set into the URL at connect time
    # so that the config file never holds it ("" = the URL needs none).
    password_credential: str = ""


@dataclass(frozen=True)
class PollingConfig:
    interval: float = 300.0
    jitter: float = 30.0
    timeout: float = 20.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    sender: str = "social-media-watcher@example.gov.uk"
    starttls: bool = False
    username: str = ""
    password_credential: str = ""
    timeout: float = 20.0


@dataclass(frozen=True)
class MemberServicesConfig:
    name: str = "Member Services"
    emails: tuple[str, ...] = ("member.services@example.gov.uk",)


@dataclass(frozen=True)
class PlatformConfig:
    base_url: str
    api_version: str = ""


@dataclass(frozen=True)
class TextDetectorConfig:
    engine: str = "default"
    # The "detoxify" engine's model directory ("" = $STATE_DIRECTORY/models/detoxify) and
    # whether it runs the int8 ONNX export when one was made at import.
    model_dir: str = ""
    prefer_onnx: bool = True
    thresholds: Mapping[str, float] = field(
        default_factory=lambda: {"offensive": 0.8, "threat": 0.5, "defamation": 0.5,
                                 "personal_data": 0.5}
    )


@dataclass(frozen=True)
class ImageDetectorConfig:
    """``[detectors.images]``: which images are checked for others' copyright, and limits."""

    enabled: bool = True
    # Images in third parties' comments too, not only in the member's own posts.
    comments: bool = True
    # The council's own names (as they appear in credits); the member's name is always own.
    council_names: tuple[str, ...] = ()
    # Picture and news agencies whose credit flags an image; () = the built-in list.
    agencies: tuple[str, ...] = ()
    # Perceptual-hash distance (of 64 bits) at or below which two images are the same.
    max_distance: int = 8
    max_bytes: int = 15_000_000
    max_pixels: int = 40_000_000
    timeout: float = 20.0


@dataclass(frozen=True)
class QuietWindow:
    """A part of matching meetings in which any own post is flagged (a vote is expected):
    from ``after`` seconds past the start, for ``length`` seconds (None: to the end)."""

    title: str
    after: float = 0.0
    length: float | None = None


@dataclass(frozen=True)
class MeetingsConfig:
    moderngov_url: str = ""
    ical_urls: tuple[str, ...] = ()
    refresh: float = 3600.0
    default_duration: float = 3 * 3600.0
    # Per committee: {title substring: duration}, used before default_duration.
    durations: Mapping[str, float] = field(default_factory=dict)
    burst_posts: int = 3
    quiet: tuple[QuietWindow, ...] = ()

    def duration_for(self, title: str) -> float:
        """Given a meeting title, return its default length in seconds: the first
        ``durations`` entry whose key is in the title (case-insensitive), else
        ``default_duration``."""
        lowered = title.lower()
        for key, seconds in self.durations.items():
            if key.lower() in lowered:
                return seconds
        return self.default_duration


@dataclass(frozen=True)
class AlertsConfig:
    teams_webhook_credential: str = ""
    notify_api_key_credential: str = ""
    # GOV.UK Notify: the SMS template (one ((message)) placeholder) and the API's address.
    notify_sms_template_id: str = ""
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    # Alerts of this severity or above also go to the Teams channel: urgent, high or normal.
    teams_min_severity: str = "high"
    # More flagged comments than this on one account within pile_on_window -> one summary.
    pile_on_threshold: int = 5
    pile_on_window: float = 1800.0
    outbox_interval: float = 15.0
    retry_initial: float = 30.0
    retry_max: float = 3600.0


@dataclass(frozen=True)
class CasesConfig:
    # A threat finding opens a harassment case by itself (one per finding's item).
    auto_open_threats: bool = True


@dataclass(frozen=True)
class RetentionConfig:
    """GDPR minimisation: how long third-party text is kept."""

    # Third-party items with no finding and in no case: their text is purged after this.
    unflagged: float = 90 * 86400.0
    # Items in a closed case (and no open one): kept this long after the case closed.
    closed_cases: float = 365 * 86400.0


@dataclass(frozen=True)
class ReportsConfig:
    # The daemon sends last month's summary to each group's leaders on the 1st.
    monthly: bool = True
    # At this local time of day (HH:MM).
    send_at: str = "08:00"


@dataclass(frozen=True)
class MetricsConfig:
    """The optional Prometheus endpoint: off unless ``enabled``; loopback by default."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464

    @property
    def listen(self) -> str:
        """The address as written in the config: ``host:port`` (``[v6]:port`` for IPv6)."""
        return format_address(self.host, self.port)


@dataclass(frozen=True)
class WebConfig:
    """The dashboard (``watcher web``): loopback by default, for a reverse proxy with TLS."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Where members reach the dashboard (https://watcher.example.gov.uk); alerts link to the
    # item's page there. Empty: alerts link to the platform only.
    public_url: str = ""
    # A sign-in lasts this long at most, and ends after idle_timeout without a request.
    session_lifetime: float = 12 * 3600.0
    idle_timeout: float = 2 * 3600.0
    # Session cookies carry the Secure flag (HTTPS only). Turn off only to try the dashboard
    # over plain HTTP on the server itself.
    cookie_secure: bool = True

    @property
    def listen(self) -> str:
        """The address as written in the config: ``host:port`` (``[v6]:port`` for IPv6)."""
        return format_address(self.host, self.port)


@dataclass(frozen=True)
class GroupConfig:
    name: str
    leader_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberConfig:
    id: str
    name: str
    email: str
    mobile: str = ""
    group: str = ""
    moderngov_id: str = ""
    attends: tuple[str, ...] = ()
    accounts: tuple[Account, ...] = ()


@dataclass(frozen=True)
class Config:
    timezone: str = "Europe/London"
    database: DatabaseConfig = DatabaseConfig()
    polling: PollingConfig = PollingConfig()
    smtp: SmtpConfig = SmtpConfig()
    member_services: MemberServicesConfig = MemberServicesConfig()
    platforms: Mapping[str, PlatformConfig] = field(default_factory=dict)
    text: TextDetectorConfig = TextDetectorConfig()
    images: ImageDetectorConfig = ImageDetectorConfig()
    meetings: MeetingsConfig = MeetingsConfig()
    alerts: AlertsConfig = AlertsConfig()
    cases: CasesConfig = CasesConfig()
    retention: RetentionConfig = RetentionConfig()
    reports: ReportsConfig = ReportsConfig()
    metrics: MetricsConfig = MetricsConfig()
    web: WebConfig = WebConfig()
    groups: tuple[GroupConfig, ...] = ()
    members: tuple[MemberConfig, ...] = ()
    source: str = "<defaults>"

    def member(self, member_id: str) -> MemberConfig:
        """Given a member id, return its config. Raises KeyError if there is none."""
        for m in self.members:
            if m.id == member_id:
                return m
        raise KeyError(member_id)


DEFAULT_PLATFORMS: dict[str, PlatformConfig] = {
    "facebook": PlatformConfig(base_url="https://graph.facebook.com", api_version="v21.0"),
    "x": PlatformConfig(base_url="https://api.twitter.com"),
}

# ---------------------------------------------------------------------------------------------
# Durations

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Given a duration such as ``"90s"``, ``"5m"``, ``"1h30m"`` or ``"7d"``, return seconds.

    Raises ValueError saying what was expected if ``text`` is not one.
    """
    if not isinstance(text, str):
        raise ValueError(f'expected a duration string like "90s", "5m" or "1h", got {text!r}')
    s = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(s):
        if s[pos:match.start()].strip():
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not s or pos == 0 or s[pos:].strip():
        raise ValueError(f'expected a duration like "90s", "5m" or "1h", got {text!r}')
    return total


# ---------------------------------------------------------------------------------------------
# Schema: each key's checker returns the typed value or raises ValueError with a message.

Check = Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__}")
    return v


def _nonempty(v: Any) -> str:
    if not _str(v).strip():
        raise ValueError("must not be empty")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _int_range(lo: int, hi: int) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"expected a whole number from {lo} to {hi}, got {v!r}")
        return v
    return check


#: The longest duration any key takes: a typo of "999999w" must not schedule never.
MAX_DURATION = 366 * 86400.0


def _duration(v: Any) -> float:
    seconds = parse_duration(v)
    if not seconds <= MAX_DURATION:  # also catches inf and nan
        raise ValueError(f"{v!r} is too long: at most 366 days")
    return seconds


def _positive_duration(v: Any) -> float:
    seconds = _duration(v)
    if seconds <= 0:  # an interval or timeout of 0 would poll or retry without pause
        raise ValueError(f"must be longer than 0, got {v!r}")
    return seconds


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(v: Any) -> str:
    if not _EMAIL.match(_str(v)):
        raise ValueError(f"not an email address: {v!r}")
    return v


def _emails(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError("expected a list of email addresses")
    return tuple(_email(x) for x in v)


def _strings(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError("expected a list of strings")
    return tuple(_str(x) for x in v)


def _url(v: Any) -> str:
    s = _str(v)
    if s and not re.match(r"^https?://[^\s/]+", s):
        raise ValueError(f"expected an http(s) URL, got {v!r}")
    return s.rstrip("/")


def parse_listen(v: Any) -> tuple[str, int]:
    """Given ``"host:port"``, return (host, port). Raises ValueError saying what was expected."""
    return _listen(v)


def _db_url(v: Any) -> str:
    s = _nonempty(v)
    if "://" not in s:
        # The value is not echoed: it may hold a password.
        raise ValueError("expected an SQLAlchemy URL such as sqlite:////path/watcher.db or "
                         "postgresql+psycopg://watcher@dbhost/watcher")
    return s


def format_address(host: str, port: int) -> str:
    """Given a host and port, return ``host:port``, bracketing an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _listen(v: Any) -> tuple[str, int]:
    """Given ``"host:port"`` (``"[::1]:9464"`` for IPv6; port 0 = any free port), return
    (host, port). Raises ValueError saying what was expected."""
    s = _str(v).strip()
    expected = 'expected "host:port" such as "127.0.0.1:9464"'
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", s)
    if not match:
        raise ValueError(f"{expected}, got {v!r}")
    host, port_text = (match.group(1), match.group(2)) if match.group(1) is not None \
        else (match.group(3), match.group(4))
    if match.group(1) is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address ({expected})") from None
    elif not _HOSTNAME.match(host):
        raise ValueError(f"{host!r} is not an IP address or host name ({expected})")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be from 0 to 65535, got {port}")
    return host, port


def _timezone(v: Any) -> str:
    try:
        ZoneInfo(_nonempty(v))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name too long to be a file name in the zone database.
        shown = v if not isinstance(v, str) or len(v) <= 60 else v[:60] + "..."
        raise ValueError(f"unknown time zone {shown!r} (expected e.g. \"Europe/London\")") \
            from None
    return v


def _durations(v: Any) -> dict[str, float]:
    if not isinstance(v, dict):
        raise ValueError('expected a table of {"meeting title" = "3h"}')
    out: dict[str, float] = {}
    for title, text in v.items():
        if not title.strip():
            raise ValueError("a meeting title must not be empty")
        try:
            out[title] = _positive_duration(text)
        except ValueError as exc:
            raise ValueError(f"{title!r}: {exc}") from None
    return out


_QUIET_KEYS = {"title", "after", "length"}


def _quiet(v: Any) -> tuple[QuietWindow, ...]:
    if not isinstance(v, list):
        raise ValueError('expected a list like [{ title = "Full Council", after = "1h", '
                         'length = "30m" }]')
    out: list[QuietWindow] = []
    for i, w in enumerate(v):
        where = f"entry {i + 1}"
        if not isinstance(w, dict):
            raise ValueError(f"{where}: expected a table with title, after, length")
        unknown = set(w) - _QUIET_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                             f"(known: {', '.join(sorted(_QUIET_KEYS))})")
        try:
            title = _str(w.get("title", ""))
            after = _duration(w.get("after", "0s"))
            length = _positive_duration(w["length"]) if "length" in w else None
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        out.append(QuietWindow(title=title, after=after, length=length))
    return tuple(out)


def _at_least(seconds: float, shown: str) -> Check:
    # Retention shorter than the platforms' look-back (Facebook: 3 days) would purge items
    # the next poll fetches and stores again.
    def check(v: Any) -> float:
        value = _duration(v)
        if value < seconds:
            raise ValueError(f"must be at least {shown}, got {v!r}")
        return value
    return check


def _choice(*allowed: str) -> Check:
    def check(v: Any) -> str:
        if _str(v) not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {v!r}")
        return v
    return check


def _clock_time(v: Any) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", _str(v)):
        raise ValueError(f'expected a time of day like "08:00", got {v!r}')
    return v


def _member_id(v: Any) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", _str(v)):
        raise ValueError(f"must be lower-case letters, digits and '-', got {v!r}")
    return v


def _mobile(v: Any) -> str:
    s = _str(v)
    if s and not re.fullmatch(r"\+[1-9]\d{7,14}", s.replace(" ", "")):
        raise ValueError(f"expected an international number like +447700900123, got {v!r}")
    return s.replace(" ", "")


def _platform(v: Any) -> str:
    if _str(v) not in KNOWN_PLATFORMS:
        raise ValueError(f"unknown platform {v!r}; known: {', '.join(KNOWN_PLATFORMS)}")
    return v


def _thresholds(v: Any) -> dict[str, float]:
    if not isinstance(v, dict):
        raise ValueError("expected a table of label = number")
    out = dict(TextDetectorConfig().thresholds)
    for label, value in v.items():
        if label not in TEXT_LABELS:
            raise ValueError(f"unknown label {label!r}; known: {', '.join(TEXT_LABELS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"threshold for {label!r} must be a number from 0 to 1, got {value!r}")
        out[label] = float(value)
    return out


def _engine(v: Any) -> str:
    if _str(v) not in ("default", "rules", "detoxify"):
        raise ValueError(f"unknown engine {v!r}; known: default, rules, detoxify")
    return v


_REQUIRED = object()

# table name -> {key: (checker, default)}; a default of _REQUIRED makes the key mandatory.
TABLES: dict[str, dict[str, tuple[Check, Any]]] = {
    "database": {"url": (_db_url, DatabaseConfig.url), "password_credential": (_str, "")},
    "polling": {"interval": (_positive_duration, "5m"), "jitter": (_duration, "30s"),
                "timeout": (_positive_duration, "20s")},
    "smtp": {"host": (_nonempty, "localhost"), "port": (_int_range(1, 65535), 25),
             "sender": (_email, SmtpConfig.sender), "starttls": (_bool, False),
             "username": (_str, ""), "password_credential": (_str, ""),
             "timeout": (_positive_duration, "20s")},
    "member_services": {"name": (_nonempty, "Member Services"),
                        "emails": (_emails, list(MemberServicesConfig.emails))},
    "meetings": {"moderngov_url": (_url, ""), "ical_urls": (_strings, []),
                 "refresh": (_positive_duration, "1h"),
                 "default_duration": (_positive_duration, "3h"),
                 "durations": (_durations, {}),
                 "burst_posts": (_int_range(1, 1000), 3), "quiet": (_quiet, [])},
    "alerts": {"teams_webhook_credential": (_str, ""), "notify_api_key_credential": (_str, ""),
               "notify_sms_template_id": (_str, ""),
               "notify_base_url": (_url, AlertsConfig.notify_base_url),
               "teams_min_severity": (_choice("urgent", "high", "normal"), "high"),
               "pile_on_threshold": (_int_range(1, 10000), 5),
               "pile_on_window": (_positive_duration, "30m"),
               "outbox_interval": (_positive_duration, "15s"),
               "retry_initial": (_positive_duration, "30s"),
               "retry_max": (_positive_duration, "1h")},
    "metrics": {"enabled": (_bool, False), "listen": (_listen, "127.0.0.1:9464")},
    "cases": {"auto_open_threats": (_bool, True)},
    "retention": {"unflagged": (_at_least(7 * 86400.0, "7d"), "90d"),
                  "closed_cases": (_positive_duration, "365d")},
    "reports": {"monthly": (_bool, True), "send_at": (_clock_time, "08:00")},
    "web": {"listen": (_listen, "127.0.0.1:8080"), "public_url": (_url, ""),
            "session_lifetime": (_positive_duration, "12h"),
            "idle_timeout": (_positive_duration, "2h"), "cookie_secure": (_bool, True)},
}
PLATFORM_KEYS: dict[str, tuple[Check, Any]] = {"base_url": (_url, None), "api_version": (_str, None)}
TEXT_KEYS: dict[str, tuple[Check, Any]] = {"engine": (_engine, "default"),
                                           "thresholds": (_thresholds, {}),
                                           "model_dir": (_str, ""),
                                           "prefer_onnx": (_bool, True)}
IMAGE_KEYS: dict[str, tuple[Check, Any]] = {
    "enabled": (_bool, True), "comments": (_bool, True), "council_names": (_strings, []),
    "agencies": (_strings, []), "max_distance": (_int_range(0, 32), 8),
    "max_megabytes": (_int_range(1, 200), 15), "max_megapixels": (_int_range(1, 500), 40),
    "timeout": (_positive_duration, "20s"),
}
GROUP_KEYS: dict[str, tuple[Check, Any]] = {"name": (_nonempty, _REQUIRED),
                                            "leader_emails": (_emails, [])}
MEMBER_KEYS: dict[str, tuple[Check, Any]] = {
    "id": (_member_id, _REQUIRED), "name": (_nonempty, _REQUIRED), "email": (_email, _REQUIRED),
    "mobile": (_mobile, ""), "group": (_str, ""), "moderngov_id": (_str, ""),
    "attends": (_strings, []),
}
ACCOUNT_KEYS: dict[str, tuple[Check, Any]] = {
    "platform": (_platform, _REQUIRED), "id": (_nonempty, _REQUIRED), "handle": (_str, ""),
    "credential": (_str, ""), "credential_user": (_str, ""), "auto_hide": (_bool, False),
    "interval": (_positive_duration, None),
}
TOP_KEYS = {"timezone", "database", "polling", "smtp", "member_services", "platforms",
            "detectors", "meetings", "alerts", "cases", "retention", "reports", "metrics",
            "web", "groups", "members"}


# ---------------------------------------------------------------------------------------------
# Line locator: tomllib keeps no positions, so find each key's line from the text itself.


class _Lines:
    """Given TOML text, map dotted key paths (with array indices) to 1-based line numbers."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
                      r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[Any, ...], int] = {}
        current: tuple[Any, ...] = ()
        # TOML ends lines at \n only; str.splitlines() would also break at U+2028 and the
        # like inside strings and miscount every later line.
        for number, line in enumerate(text.split("\n"), start=1):
            header = self._HEADER.match(line)
            if header:
                parts = self._split(header.group(2))
                if not parts:  # "[.]" inside a multi-line string: not a header at all
                    continue
                # Resolve each parent name to its latest array element, as TOML does.
                path: tuple[Any, ...] = ()
                for part in parts[:-1]:
                    path += (part,)
                    if path in counts:
                        path += (counts[path] - 1,)
                path += (parts[-1],)
                if header.group(1) == "[[":
                    counts[path] = counts.get(path, 0) + 1
                    path += (counts[path] - 1,)
                current = path
                self.lines.setdefault(current, number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault(current + tuple(self._split(key.group(1))), number)

    @staticmethod
    def _split(dotted: str) -> list[str]:
        return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]

    def find(self, path: tuple[Any, ...]) -> int | None:
        """Return the line of ``path``, or of its nearest enclosing key or table."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


# ---------------------------------------------------------------------------------------------
# Secrets: the file may be readable by every user; passwords and tokens belong in credentials.


def _secret_name(name: str) -> bool:
    """Whether a key's name says it holds a secret (``*password``, ``*token``)."""
    lowered = name.lower()
    return lowered.endswith("password") or lowered.endswith("token")


def _literal_secrets(raw: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Given parsed TOML, return the paths of keys named like a secret that hold a value
    (a credential *name* is held by ``*_credential`` keys, which never match)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(raw, dict):
        for name, value in raw.items():
            literal = (isinstance(value, str) and value.strip()) or \
                (isinstance(value, int | float) and not isinstance(value, bool)) or \
                (isinstance(value, list) and value and
                 all(not isinstance(v, dict) for v in value))
            if _secret_name(str(name)) and literal:
                found.append(path + (name,))
            else:
                found += _literal_secrets(value, path + (name,))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            found += _literal_secrets(value, path + (i,))
    return found


def url_has_password(url: str) -> bool:
    """Given a database URL, return whether it holds a password (``user:secret@`` or a
    ``password=`` query parameter). Never raises."""
    # Imported here: every command reads the config, few need SQLAlchemy's URL parser.
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # unparseable: the Store will say so; look for the usual shape
        return bool(logs.URL_PASSWORD.search(url)) or "password=" in url.lower()
    return bool(parsed.password) or bool(parsed.query.get("password"))


def database_url(config: Config, secrets: Callable[[str], str]) -> str:
    """Given the config and a credential lookup, return the URL to connect with: the
    configured one, with the password read from ``database.password_credential`` set in it
    when that names a credential.

    Raises CredentialError if the credential is missing. The returned URL may hold a
    password: never log it (``Store.safe_url`` hides it).
    """
    db = config.database
    if not db.password_credential:
        return db.url
    from sqlalchemy.engine import make_url

    url = make_url(db.url).set(password=secrets(db.password_credential))
    return url.render_as_string(hide_password=False)


# ---------------------------------------------------------------------------------------------
# Validation


class _Checker:
    """Collects problems while typed values are built, so all are reported together."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, path: tuple[Any, ...], message: str) -> None:
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")
        self.problems.append(Problem(key=key, message=message, line=self.lines.find(path)))

    def table(self, raw: Any, path: tuple[Any, ...], keys: Mapping[str, tuple[Check, Any]]
              ) -> dict[str, Any]:
        """Check one table against ``keys``; return {key: typed value or default}."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.problem(path, f"expected a table, got {type(raw).__name__}")
            raw = {}
        for name in raw:
            if name not in keys:
                hint = ("; passwords and tokens never go in the config file: name a "
                        "credential instead (the *_credential keys)"
                        if _secret_name(name) else "")
                self.problem(path + (name,), f"unknown key {name!r} "
                             f"(known here: {', '.join(sorted(keys))}){hint}")
        out: dict[str, Any] = {}
        for name, (check, default) in keys.items():
            if name not in raw:
                if default is _REQUIRED:
                    self.problem(path + (name,), "is required")
                    out[name] = None
                else:
                    out[name] = check(default) if default is not None else None
                continue
            try:
                out[name] = check(raw[name])
            except ValueError as exc:
                self.problem(path + (name,), str(exc))
                out[name] = None
        return out

    def array(self, raw: Any, path: tuple[Any, ...]) -> list[Any]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(path, "expected an array of tables ([[...]])")
            return []
        return raw


def parse(text: str, source: str = "<string>", *, file_mode: int | None = None) -> Config:
    """Given TOML text, return the validated Config. ``file_mode`` is the ``st_mode`` of the
    file it was read from, if any: a file every user can read must hold no password or token.

    Raises ConfigError listing every problem (syntax error, unknown key, bad value, missing
    required key, duplicate member id, unknown group, a secret in a world-readable file),
    each with its key and line. No message ever holds a secret's value.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError([Problem("<syntax>", str(exc), int(line.group(1)) if line else None)],
                          source) from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ConfigError([Problem("<syntax>", "values nested too deeply")], source) from None
    c = _Checker(_Lines(text))

    for name in raw:
        if name not in TOP_KEYS:
            c.problem((name,), f"unknown key {name!r} (known: {', '.join(sorted(TOP_KEYS))})")
    timezone = "Europe/London"
    if "timezone" in raw:
        try:
            timezone = _timezone(raw["timezone"])
        except ValueError as exc:
            c.problem(("timezone",), str(exc))

    sections = {name: c.table(raw.get(name), (name,), keys) for name, keys in TABLES.items()}
    _check_secrets(c, raw, sections["database"], source, file_mode)

    platforms: dict[str, PlatformConfig] = dict(DEFAULT_PLATFORMS)
    raw_platforms = raw.get("platforms", {})
    if not isinstance(raw_platforms, dict):
        c.problem(("platforms",), "expected a table of platforms")
        raw_platforms = {}
    for pname, praw in raw_platforms.items():
        if pname not in KNOWN_PLATFORMS:
            c.problem(("platforms", pname),
                      f"unknown platform {pname!r}; known: {', '.join(KNOWN_PLATFORMS)}")
            continue
        values = c.table(praw, ("platforms", pname), PLATFORM_KEYS)
        base = DEFAULT_PLATFORMS[pname]
        platforms[pname] = PlatformConfig(
            base_url=values["base_url"] or base.base_url,
            api_version=values["api_version"] or base.api_version,
        )

    detectors_raw = raw.get("detectors", {})
    if not isinstance(detectors_raw, dict):
        c.problem(("detectors",), "expected a table")
        detectors_raw = {}
    for dname in detectors_raw:
        if dname not in ("text", "images"):
            c.problem(("detectors", dname), f"unknown detector {dname!r} (known: images, text)")
    text_values = c.table(detectors_raw.get("text"), ("detectors", "text"), TEXT_KEYS)
    image_values = c.table(detectors_raw.get("images"), ("detectors", "images"), IMAGE_KEYS)

    groups: list[GroupConfig] = []
    for i, graw in enumerate(c.array(raw.get("groups"), ("groups",))):
        g = c.table(graw, ("groups", i), GROUP_KEYS)
        if g["name"]:
            groups.append(GroupConfig(name=g["name"], leader_emails=g["leader_emails"] or ()))
    group_names = {g.name for g in groups}

    members: list[MemberConfig] = []
    seen_members: set[str] = set()
    seen_accounts: dict[tuple[str, str], str] = {}
    polling = sections["polling"]
    for i, mraw in enumerate(c.array(raw.get("members"), ("members",))):
        path = ("members", i)
        if isinstance(mraw, dict):
            mraw = dict(mraw)
            accounts_raw = mraw.pop("accounts", [])
        else:
            accounts_raw = []
        m = c.table(mraw, path, MEMBER_KEYS)
        if m["id"]:
            if m["id"] in seen_members:
                c.problem(path + ("id",), f"duplicate member id {m['id']!r}")
            seen_members.add(m["id"])
        if m["group"] and m["group"] not in group_names:
            c.problem(path + ("group",), f"no [[groups]] entry is named {m['group']!r}")
        accounts: list[Account] = []
        for j, araw in enumerate(c.array(accounts_raw, path + ("accounts",))):
            apath = path + ("accounts", j)
            a = c.table(araw, apath, ACCOUNT_KEYS)
            if not (a["platform"] and a["id"]):
                continue
            ident = (a["platform"], a["id"])
            if ident in seen_accounts:
                c.problem(apath + ("id",), f"{a['platform']} account {a['id']!r} is already "
                          f"registered to member {seen_accounts[ident]!r}")
            seen_accounts[ident] = m["id"] or "?"
            accounts.append(Account(
                member_id=m["id"] or "", platform=a["platform"], external_id=a["id"],
                handle=a["handle"] or None, credential=a["credential"],
                credential_user=a["credential_user"], auto_hide=a["auto_hide"],
                interval_seconds=a["interval"] if a["interval"] is not None
                else polling["interval"],
            ))
        if m["id"] and m["name"] and m["email"]:
            members.append(MemberConfig(
                id=m["id"], name=m["name"], email=m["email"], mobile=m["mobile"] or "",
                group=m["group"] or "", moderngov_id=m["moderngov_id"] or "",
                attends=m["attends"] or (), accounts=tuple(accounts),
            ))

    if c.problems:
        raise ConfigError(c.problems, source)

    s, ms, mt, al = sections["smtp"], sections["member_services"], sections["meetings"], \
        sections["alerts"]
    host, port = sections["metrics"]["listen"]
    web = dict(sections["web"])
    web_host, web_port = web.pop("listen")
    return Config(
        timezone=timezone,
        database=DatabaseConfig(**sections["database"]),
        polling=PollingConfig(**polling),
        smtp=SmtpConfig(**s),
        member_services=MemberServicesConfig(name=ms["name"], emails=ms["emails"]),
        platforms=platforms,
        text=TextDetectorConfig(engine=text_values["engine"],
                                thresholds=text_values["thresholds"],
                                model_dir=text_values["model_dir"],
                                prefer_onnx=text_values["prefer_onnx"]),
        images=ImageDetectorConfig(
            enabled=image_values["enabled"], comments=image_values["comments"],
            council_names=image_values["council_names"], agencies=image_values["agencies"],
            max_distance=image_values["max_distance"],
            max_bytes=image_values["max_megabytes"] * 1_000_000,
            max_pixels=image_values["max_megapixels"] * 1_000_000,
            timeout=image_values["timeout"]),
        meetings=MeetingsConfig(**mt),
        alerts=AlertsConfig(**al),
        cases=CasesConfig(**sections["cases"]),
        retention=RetentionConfig(**sections["retention"]),
        reports=ReportsConfig(**sections["reports"]),
        metrics=MetricsConfig(enabled=sections["metrics"]["enabled"], host=host, port=port),
        web=WebConfig(host=web_host, port=web_port, **web),
        groups=tuple(groups),
        members=tuple(members),
        source=source,
    )


def _check_secrets(c: _Checker, raw: Mapping[str, Any], database: Mapping[str, Any],
                   source: str, file_mode: int | None) -> None:
    """Report a database password given twice or where it cannot go, and, when the file is
    readable by every user, each password or token written in it (never their values)."""
    url, credential = database["url"], database["password_credential"]
    in_url = bool(url) and url_has_password(url)
    if credential and in_url:
        c.problem(("database", "password_credential"), "database.url holds a password as "
                  "well: remove it from the URL")
    elif credential and url and url.startswith("sqlite"):
        c.problem(("database", "password_credential"), "an SQLite database takes no password")
    if file_mode is None or not file_mode & stat.S_IROTH:
        return
    where = (f"and {source} is readable by every user on this machine "
             f"(mode {stat.S_IMODE(file_mode):04o})")
    # The shipped unit runs as a dynamic user that can only read a world-readable file, so
    # the credential is the fix to offer first; chmod suits a service run as its own user.
    private = (f"or, if the service runs as a user in the file's group, make it private: "
               f"chmod 640 {source}")
    if in_url:
        c.problem(("database", "url"), f"names a password directly, {where}: remove the "
                  "password from the URL and name a credential holding it in "
                  f"database.password_credential (see Credentials in the README), {private}")
    for path in _literal_secrets(raw):
        c.problem(path, f"holds a password or token directly, {where}: remove it and name a "
                  f"credential instead (the *_credential keys), {private}")


def resolve_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Return the config path: ``--config``, else ``$WATCHER_CONFIG``, else the default."""
    return Path(explicit or environ.get("WATCHER_CONFIG") or DEFAULT_PATH)


def load(path: str | os.PathLike[str]) -> Config:
    """Given a path, read and validate the config file.

    Raises ConfigError (with the path) if it cannot be read or is invalid, or if every user
    can read it and it holds a password or token.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        mode = p.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("<file>", f"cannot read {p}: {exc}")], str(p)) from exc
    return parse(text, str(p), file_mode=mode)
