"""The interfaces every detector implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from watcher.domain import Account, Classification, Finding, Item


@dataclass(frozen=True)
class Context:
    """What a detector may know besides the items: whose account it is, and when."""

    member_id: str
    member_name: str
    account: Account
    now: datetime
    thresholds: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Given a batch of items from one account, return the findings on them."""

    name: str
    version: str

    def detect(self, items: Sequence[Item], context: Context) -> list[Finding]: ...


@runtime_checkable
class TextClassifier(Protocol):
    """Given texts (and optionally whose page each is on), return one Classification each,
    in order, with a score for every label in ``watcher.domain.TEXT_LABELS``."""

    name: str
    version: str

    def classify(
        self, texts: Sequence[str], members: Sequence[str | None] | None = None
    ) -> list[Classification]: ...
