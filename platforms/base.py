"""The interface every platform adapter implements, and its settings.

An adapter is built once per platform by :func:`platforms.registry.create` with its
:class:`PlatformSettings` and a credential lookup, then asked to ``fetch`` each account in turn.
It translates every vendor error (requests, tweepy, facebook-sdk) into :mod:`watcher.errors`
in one place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from watcher.domain import Account, Batch, Item

#: Given a credential name, return its secret value. Raises ``CredentialError`` if missing.
SecretLookup = Callable[[str], str]


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

    @abstractmethod
    def hide(self, account: Account, item: Item) -> None:
        """Hide (never delete) a third party's item on the member's page or conversation.

        Raises HideNotSupported where the platform or the item does not allow it, and the
        same errors as :meth:`fetch` otherwise.
        """
