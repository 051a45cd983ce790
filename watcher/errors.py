"""The one error tree of Councillor Watcher.

::

    WatcherError
    ├── ConfigError            bad configuration; carries every problem found
    ├── CredentialError        a named credential is missing or unreadable
    ├── PlatformError          anything a platform adapter could not do
    │   ├── AuthExpired        token expired or revoked, permission withdrawn, page gone
    │   ├── RateLimited        the platform asked us to slow down (carries ``retry_at``)
    │   ├── TransientPlatformError   5xx, timeouts, malformed or truncated payloads
    │   └── HideNotSupported   the platform (or this item) cannot be hidden by us
    ├── DetectorError          a detector could not run (model missing, bad input)
    ├── DeliveryError          an alert channel could not deliver a message
    └── StoreError             the database could not be reached or migrated

Vendor exceptions (requests, tweepy, facebook-sdk, smtplib, SQLAlchemy) are translated into
these at the edge, with ``raise ... from exc``, so the daemon only ever handles this tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class WatcherError(Exception):
    """Root of every error the product raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where (dotted key path and line) and what."""

    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(WatcherError):
    """The configuration is invalid. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid configuration {source}".strip()
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class CredentialError(WatcherError):
    """A credential named in the config could not be read. The message never holds its value."""


class PlatformError(WatcherError):
    """A platform adapter failed to fetch or act."""


class AuthExpired(PlatformError):
    """The account's token is expired or revoked, or the page/account is gone."""


class RateLimited(PlatformError):
    """The platform refused the request for rate limiting; do not retry before ``retry_at``."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class TransientPlatformError(PlatformError):
    """A failure that may pass by itself: server error, timeout, malformed payload."""


class HideNotSupported(PlatformError):
    """The item cannot be hidden by us (platform limits, not the member's conversation, ...)."""


class DetectorError(WatcherError):
    """A detector could not run."""


class ImageError(WatcherError):
    """An image could not be fetched or read (too big, not an image, truncated, timed out)."""


class MeetingSourceError(WatcherError):
    """A meeting calendar (modern.gov web service or iCalendar feed) could not be read."""


class CaseError(WatcherError):
    """A case (or what a case command was given) does not exist or cannot be changed so."""


class ReportError(WatcherError):
    """A report cannot be made or written (a bad month, a folder that cannot be written)."""


class DeliveryError(WatcherError):
    """An alert could not be delivered; the outbox keeps it and retries."""


class StoreError(WatcherError):
    """The database could not be reached, or its schema could not be brought up to date."""


class UserError(WatcherError):
    """A dashboard account could not be created or changed: bad name, role, member or group."""
