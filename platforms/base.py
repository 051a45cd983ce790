"""The interface every platform adapter implements, and its settings.

An adapter is built once per platform by :func:`platforms.registry.create` with its
:class:`PlatformSettings` and a credential lookup, then asked to ``fetch`` each account in turn.
It translates every vendor error (requests, tweepy, facebook-sdk) into :mod:`watcher.errors`
in one place.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from platforms._http import Download, counting_session, download
from watcher.domain import MAX_ID_CHARS, MAX_NAME_CHARS, Account, Batch, Item

#: Given a credential name, return its secret value. Raises ``CredentialError`` if missing.
SecretLookup = Callable[[str], str]

# An Item over the store's column widths (MAX_ID_CHARS, MAX_NAME_CHARS) would fail its poll's
# transaction on PostgreSQL, and every later poll too.
# Platform ids are digits, with '_' (Graph) or letters (media keys): visible ASCII only, so an
# id never holds NUL, a lone surrogate or a newline that a database or a log line would trip on.
_ID = re.compile(rf"[!-~]{{1,{MAX_ID_CHARS}}}")


def payload_id(value: Any, what: str = "id") -> str:
    """Given an id from a platform payload (a string of visible ASCII up to
    :data:`MAX_ID_CHARS` long, or a non-negative whole number), return it as a string.

    Raises ValueError naming ``what`` for anything else (null, "", a float, a list, ...).
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
        return str(value)
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise ValueError(f"bad {what} {value!r:.60}")


def optional_id(value: Any) -> str | None:
    """Like :func:`payload_id`, but None for a missing or unreadable id (authors, parents)."""
    try:
        return payload_id(value)
    except ValueError:
        return None


def payload_name(value: Any) -> str | None:
    """A display name from a payload: a non-empty string, cut to :data:`MAX_NAME_CHARS`;
    None for anything else."""
    return value[:MAX_NAME_CHARS] if isinstance(value, str) and value else None


@dataclass(frozen=True)
class PlatformSettings:
    """Where a platform's API is and how long to wait for it."""

    base_url: str
    api_version: str = ""
    timeout_seconds: float = 10.0


class Platform(ABC):
    """A social media platform the daemon can poll.

    Subclasses set ``name`` and implement :meth:`fetch` and :meth:`hide`.
    """

    name: ClassVar[str]

    def __init__(self, settings: PlatformSettings, secrets: SecretLookup) -> None:
        self.settings = settings
        self.secrets = secrets

    @abstractmethod
    def fetch(self, account: Account, cursor: str | None) -> Batch:
        """Given an account and the cursor its last poll returned (None the first time),
        return the items new since then and the cursor for the next poll.

        Raises AuthExpired, RateLimited, TransientPlatformError or CredentialError.
        """

    def fetch_media(self, account: Account, url: str, *, max_bytes: int, timeout: float
                    ) -> Download:
        """Given an account and the URL of an image in one of its items, download it within
        the limits (http(s) only, at most ``max_bytes`` within ``timeout`` seconds).

        Media sit on the platforms' public CDNs: no token is sent. Raises ImageError.
        """
        with counting_session(timeout) as session:
            return download(session, url, max_bytes=max_bytes, timeout=timeout)

    @abstractmethod
    def hide(self, account: Account, item: Item) -> None:
        """Hide (never delete) a third party's item on the member's page or conversation.

        Raises HideNotSupported where the platform or the item does not allow it, and the
        same errors as :meth:`fetch` otherwise.
        """
