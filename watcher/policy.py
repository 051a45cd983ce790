"""Who is told, how urgently, and how flagged items are grouped into alerts. Pure functions.

Rules (CONTRACT §5):

- one alert per flagged item, naming all its labels;
- a threat goes at once to the member *and* member services (``to`` both), marked urgent;
- offensive, defamatory and personal-data comments go to the member, copied to member services;
- a pile-on (more than ``pile_on_threshold`` flagged items on one account within
  ``pile_on_window``) becomes one summary alert per poll instead of one per comment; threats are
  never folded into a summary;
- ``account_problem`` goes to member services;
- an item whose only findings are about the member's own conduct (``copyright_image``) goes to
  the member alone and is never folded into a pile-on; ``meeting_burst`` likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from watcher.config import Config, MemberConfig
from watcher.domain import Account, Finding, Item, Severity
from watcher.messages import Rendered, render_account_problem, render_item_alert, render_pile_on

#: Labels about what the member posts (or hosts) rather than abuse: told to the member only.
OWN_CONDUCT_LABELS = frozenset({"copyright_image", "meeting_burst"})


@dataclass(frozen=True)
class Flagged:
    """An item with the findings on it and its row id in the store."""

    item: Item
    item_row_id: int
    findings: tuple[Finding, ...]
    #: None: auto-hide not tried; "hidden"; or why it could not be hidden
    hide_outcome: str | None = None
    #: 0 for an item seen for the first time; n for its n-th edit
    revision: int = 0

    @property
    def key(self) -> str:
        """The outbox key of an alert about this item (an edit is a new alert)."""
        return f"item:{self.item_row_id}" + (f":r{self.revision}" if self.revision else "")

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f.label for f in self.findings)


@dataclass(frozen=True)
class PlannedAlert:
    """An alert to write to the outbox. ``dedupe_key`` makes a second write of it a no-op."""

    dedupe_key: str
    kind: str
    severity: Severity
    to: tuple[str, ...]
    cc: tuple[str, ...]
    rendered: Rendered
    flagged: tuple[Flagged, ...]


def _dedupe(addresses: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    seen = {a.lower() for a in exclude}
    out = []
    for a in addresses:
        if a.lower() not in seen:
            seen.add(a.lower())
            out.append(a)
    return tuple(out)


def plan_item_alerts(config: Config, member: MemberConfig, account: Account,
                     flagged: Sequence[Flagged], recent_alerts: int,
                     dashboard_hint: str = "") -> list[PlannedAlert]:
    """Given the flagged items of one poll of one account and how many item alerts that
    account already had within the pile-on window, return the alerts to send."""
    services = config.member_services.emails
    threats = [f for f in flagged if f.severity is Severity.URGENT]
    conduct = [f for f in flagged if f.severity is not Severity.URGENT
               and set(f.labels) <= OWN_CONDUCT_LABELS]
    others = [f for f in flagged if f.severity is not Severity.URGENT and f not in conduct]
    plans: list[PlannedAlert] = []
    for f in conduct:
        plans.append(PlannedAlert(
            dedupe_key=f.key, kind="item", severity=f.severity, to=(member.email,), cc=(),
            rendered=render_item_alert(config, member, account, f.item, f.findings,
                                       f.hide_outcome, f.revision),
            flagged=(f,)))
    for f in threats:
        to = _dedupe((member.email, *services))
        plans.append(PlannedAlert(
            dedupe_key=f.key, kind="item", severity=Severity.URGENT,
            to=to, cc=(), rendered=render_item_alert(config, member, account, f.item,
                                                     f.findings, f.hide_outcome, f.revision),
            flagged=(f,)))
    threshold = config.alerts.pile_on_threshold
    if others and recent_alerts + len(others) > threshold and len(others) > 1:
        first = min(f.item_row_id for f in others)
        plans.append(PlannedAlert(
            dedupe_key=f"pileon:{account.key}:{first}", kind="pile_on",
            severity=Severity.HIGH, to=(member.email,), cc=_dedupe(services, [member.email]),
            rendered=render_pile_on(config, member, account,
                                    [(f.item, f.findings, f.hide_outcome) for f in others]),
            flagged=tuple(others)))
    else:
        for f in others:
            plans.append(PlannedAlert(
                dedupe_key=f.key, kind="item", severity=f.severity,
                to=(member.email,), cc=_dedupe(services, [member.email]),
                rendered=render_item_alert(config, member, account, f.item, f.findings,
                                           f.hide_outcome, f.revision),
                flagged=(f,)))
    return plans


def plan_account_problem(config: Config, member: MemberConfig, account: Account, error: str,
                         since: datetime) -> PlannedAlert:
    """Given an account whose polling fails for want of a valid token, return the one alert
    to member services (its dedupe key is tied to when the problem began)."""
    return PlannedAlert(
        dedupe_key=f"account_problem:{account.key}:{since.isoformat()}", kind="account_problem",
        severity=Severity.HIGH, to=tuple(config.member_services.emails), cc=(),
        rendered=render_account_problem(config, member, account, error, since), flagged=())
