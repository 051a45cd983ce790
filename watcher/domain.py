"""Plain, frozen dataclasses shared by every package. Imports nothing of ours.

Times are timezone-aware UTC ``datetime`` values throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class ItemKind(str, Enum):
    """What an item is on its platform."""

    POST = "post"          # a top-level post on the page / the member's own tweet
    COMMENT = "comment"    # a comment on a post
    REPLY = "reply"        # a reply to a comment, or a reply in the member's X conversation
    MENTION = "mention"    # a tweet that mentions the member outside their conversations


class Severity(str, Enum):
    """How urgently a finding needs a human. Ordered: ``urgent`` is the highest."""

    URGENT = "urgent"      # threats: member and member services at once
    HIGH = "high"          # offensive, defamatory, personal data: remove as soon as possible
    NORMAL = "normal"      # own-conduct findings (meeting bursts, copyright)
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"urgent": 3, "high": 2, "normal": 1, "low": 0}[self.value]


# Text labels from CONTRACT §4; other finding labels from the same section.
TEXT_LABELS: tuple[str, ...] = ("offensive", "threat", "defamation", "personal_data")
OTHER_LABELS: tuple[str, ...] = ("copyright_image", "meeting_burst", "account_problem")

#: The longest platform id (of an account, item, parent or author) and author display name an
#: Item may carry: the widths of the store's columns for them (``watcher/store/models.py``).
#: How each platform is named to people (alerts, pages, evidence packs).
PLATFORM_NAMES = {"facebook": "Facebook", "x": "X"}


def platform_name(platform: str) -> str:
    """Given a platform key ("facebook"), return its name for people ("Facebook")."""
    return PLATFORM_NAMES.get(platform, platform)


MAX_ID_CHARS = 128
MAX_NAME_CHARS = 300


@dataclass(frozen=True)
class Account:
    """One platform account or page a member registered.

    ``credential`` names the secret holding the read token (CONTRACT §2); the token itself is
    never stored here.
    """

    member_id: str
    platform: str
    external_id: str
    handle: str | None = None
    credential: str = ""
    credential_user: str = ""
    auto_hide: bool = False
    interval_seconds: float | None = None

    @property
    def key(self) -> str:
        """A stable, human-readable key: ``platform:external_id``."""
        return f"{self.platform}:{self.external_id}"


@dataclass(frozen=True)
class Media:
    """An image or video attached to an item."""

    url: str
    kind: str = "photo"


@dataclass(frozen=True)
class Item:
    """A post, comment, reply or mention as fetched from a platform.

    ``raw`` is the item's own JSON object as the platform sent it, serialised with sorted keys;
    the store keeps it with its SHA-256 as evidence.
    """

    platform: str
    external_id: str
    kind: ItemKind
    text: str
    created_at: datetime
    author_id: str | None = None
    author_name: str | None = None
    permalink: str | None = None
    parent_id: str | None = None
    is_own: bool = False
    is_hidden: bool = False
    can_hide: bool | None = None
    media: tuple[Media, ...] = ()
    raw: str = "{}"


@dataclass(frozen=True)
class Batch:
    """What one poll of one account returned.

    ``cursor`` is what to pass to the next fetch (a watermark); ``requests`` counts HTTP
    requests made; ``slow_down`` is a factor >= 1 by which the account's interval should be
    stretched because the platform's usage headers say we are near a limit.
    """

    items: tuple[Item, ...]
    cursor: str | None
    requests: int = 0
    slow_down: float = 1.0


@dataclass(frozen=True)
class Finding:
    """Something a detector flagged on one item of a batch (``item_id`` is its external id)."""

    item_id: str
    label: str
    score: float
    severity: Severity
    reasons: tuple[str, ...]
    detector: str
    detector_version: str


@dataclass(frozen=True)
class Classification:
    """A text classifier's verdict on one text: a score in [0, 1] and reasons for each label."""

    scores: dict[str, float]
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
