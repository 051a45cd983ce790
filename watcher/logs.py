"""structlog, configured once: JSON lines off a terminal (journald), readable on one.

Secrets never reach the output: a processor replaces the value of any key that looks secret,
any ``access_token=...`` / ``Bearer ...`` fragment, and every credential value the process has
read (registered by :mod:`watcher.credentials`), wherever it appears in an event.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any

import structlog

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(r"(token|password|secret|authorization|api_key|apikey|credential_value)",
                          re.I)
#: A password in a URL's user part: ``scheme://user:secret@host``.
URL_PASSWORD = re.compile(r"(://[^/?#@]*:)[^/?#]*@")
_INLINE = [
    (re.compile(r"(access_token=)[^&\s'\"]+", re.I), r"\1" + REDACTED),
    (URL_PASSWORD, r"\1" + REDACTED + "@"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=%-]+", re.I), r"\1" + REDACTED),
]
_secrets: set[str] = set()
_lock = threading.Lock()
_configured = False


def register_secret(value: str) -> None:
    """Remember a secret value so it is redacted from every later log event."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact_text(text: str) -> str:
    """Given any text, return it with known secrets and token-looking fragments replaced."""
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value("", v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: redact secrets in every field of the event."""
    return {k: _redact_value(k, v) for k, v in event_dict.items()}


def _redact_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    # Last line of defence: tracebacks are rendered after the field processor ran.
    return redact_text(rendered) if isinstance(rendered, str) else rendered


class _StdStream:
    """Writes to whatever ``sys.stdout`` or ``sys.stderr`` is at the time of each write, so
    that replacing them (pytest's capture, a test runner) never leaves logging on a closed
    file."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return getattr(sys, self.name).write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()

    def isatty(self) -> bool:
        stream = getattr(sys, self.name)
        return bool(getattr(stream, "isatty", lambda: False)())


def configure(level: str = "INFO", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog and stdlib logging once per process.

    Given a level name, whether to emit JSON (default: when the stream is not a terminal) and
    the stream (default stdout), set up the processor chain. Idempotent unless called with
    different arguments, which reconfigures.
    """
    global _configured
    if stream is None or stream is sys.stdout:
        stream = _StdStream("stdout")
    elif stream is sys.stderr:
        stream = _StdStream("stderr")
    if json is None:
        json = not stream.isatty()
    renderer: Any = (structlog.processors.JSONRenderer(sort_keys=False) if json
                     else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_processor,
    ]
    if json:
        processors.append(structlog.processors.format_exc_info)
    processors += [renderer, _redact_rendered]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Vendor libraries log through stdlib logging; tweepy logs request headers (the bearer
    # token) at DEBUG, so keep them at WARNING and never let them print below it.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    for noisy in ("tweepy", "urllib3", "requests_oauthlib", "apscheduler", "mail.log", "facebook"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def get(name: str) -> Any:
    """Return a structlog logger bound to ``name`` (configuring defaults on first use)."""
    if not _configured:
        configure()
    return structlog.get_logger(name)
