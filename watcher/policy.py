"""Who is told, how urgently, on which channels, and how flagged items are grouped into
alerts. Pure functions.

Rules (CONTRACT §5):

- one alert per flagged item, naming all its labels, with its sender's history;
- a threat goes at once to the member *and* member services (``to`` both), marked urgent;
- offensive, defamatory and personal-data comments go to the member, copied to member services;
- a pile-on (more than ``pile_on_threshold`` flagged comments on one account within
  ``pile_on_window``) becomes one summary alert instead of one per comment. While that summary
  is open (written within the window), every later non-threat flagged comment on the account
  is folded into it, whichever poll brings it: into its wording while it waits to be sent,
  into its record (and no other email) once it has gone. Threats are never folded;
- ``account_problem`` goes to member services;
- an item whose only findings are about the member's own conduct (``copyright_image``) goes to
  the member alone and is never folded into a pile-on; ``meeting_burst`` likewise.

Besides email (always), an alert may be copied to two more channels, each only when configured:

- ``sms`` (GOV.UK Notify: an API key credential and an SMS template id): a short text to the
  member's mobile for every threat alert, if the member has a mobile;
- ``teams`` (a Teams webhook credential): a card for every alert at or above
  ``teams_min_severity``, except those meant for the member alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from watcher.config import Config, MemberConfig
from watcher.domain import Account, Finding, Item, Severity
from watcher.messages import (
    Rendered,
    dashboard_link,
    render_account_problem,
    render_item_alert,
    render_pile_on,
    render_sms,
)
from watcher.senders import OWN_CONDUCT_LABELS, SenderHistory

__all__ = ["OWN_CONDUCT_LABELS", "Flagged", "OpenPileOn", "PlannedAlert", "channel_copies",
           "plan_account_problem", "plan_item_alerts", "sms_configured", "teams_configured"]

EMAIL, SMS, TEAMS = "email", "sms", "teams"


@dataclass(frozen=True)
class Flagged:
    """An item with the findings on it, its row id in the store, and its sender's history."""

    item: Item
    item_row_id: int
    findings: tuple[Finding, ...]
    #: None: auto-hide not tried; "hidden"; or why it could not be hidden
    hide_outcome: str | None = None
    #: 0 for an item seen for the first time; n for its n-th edit
    revision: int = 0
    #: the sender's history on the member's accounts before this poll (None: unknown sender)
    history: SenderHistory | None = None

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
class OpenPileOn:
    """A pile-on summary written for an account within the pile-on window, and the flagged
    comments it already covers."""

    dedupe_key: str
    flagged: tuple[Flagged, ...]


@dataclass(frozen=True)
class PlannedAlert:
    """An alert to write to the outbox. ``dedupe_key`` makes a second write of it a no-op.

    ``channel`` is where it goes (email, sms, teams); ``to`` holds that channel's addresses
    (email addresses, a phone number, nothing for Teams). ``fold`` marks the plan of an open
    pile-on that this poll adds to: the outbox row with ``dedupe_key`` exists already.
    """

    dedupe_key: str
    kind: str
    severity: Severity
    to: tuple[str, ...]
    cc: tuple[str, ...]
    rendered: Rendered
    flagged: tuple[Flagged, ...]
    channel: str = EMAIL
    fold: bool = False


def sms_configured(config: Config) -> bool:
    """Whether SMS alerts are configured: a Notify API key credential and a template id."""
    return bool(config.alerts.notify_api_key_credential and config.alerts.notify_sms_template_id)


def teams_configured(config: Config) -> bool:
    """Whether Teams alerts are configured: a webhook URL credential."""
    return bool(config.alerts.teams_webhook_credential)


def _dedupe(addresses: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    seen = {a.lower() for a in exclude}
    out = []
    for a in addresses:
        if a.lower() not in seen:
            seen.add(a.lower())
            out.append(a)
    return tuple(out)


def _member_only(plan: PlannedAlert) -> bool:
    """Alerts about the member's own conduct are for the member alone."""
    return plan.kind == "meeting_burst" or (
        bool(plan.flagged) and all(set(f.labels) <= OWN_CONDUCT_LABELS for f in plan.flagged))


def channel_copies(config: Config, member: MemberConfig, account: Account,
                   plan: PlannedAlert) -> list[PlannedAlert]:
    """Given an email alert, return its copies for the other configured channels: an SMS to
    the member for a threat (when Notify is configured and the member has a mobile), a Teams
    card for an alert at or above ``teams_min_severity`` (when Teams is configured). Their
    dedupe keys are the email's suffixed ``:sms`` / ``:teams``."""
    copies: list[PlannedAlert] = []
    if (plan.kind == "item" and plan.severity is Severity.URGENT and plan.flagged
            and member.mobile and sms_configured(config)):
        item = plan.flagged[0].item
        text = render_sms(member, account, item, dashboard_link(config, item))
        copies.append(replace(plan, dedupe_key=f"{plan.dedupe_key}:{SMS}", channel=SMS,
                              to=(member.mobile,), cc=(),
                              rendered=Rendered(subject=text, text=text, html="",
                                                link=plan.rendered.link)))
    minimum = Severity(config.alerts.teams_min_severity).rank
    if teams_configured(config) and plan.severity.rank >= minimum and not _member_only(plan):
        rendered = plan.rendered
        copies.append(replace(plan, dedupe_key=f"{plan.dedupe_key}:{TEAMS}", channel=TEAMS,
                              to=(), cc=(),
                              rendered=Rendered(subject=rendered.subject, text=rendered.card,
                                                html="", card=rendered.card,
                                                link=rendered.link)))
    return copies


def _item_plan(config: Config, member: MemberConfig, account: Account, f: Flagged,
               to: tuple[str, ...], cc: tuple[str, ...]) -> PlannedAlert:
    return PlannedAlert(
        dedupe_key=f.key, kind="item", severity=f.severity, to=to, cc=cc,
        rendered=render_item_alert(config, member, account, f.item, f.findings, f.hide_outcome,
                                   f.revision, history=f.history),
        flagged=(f,))


def plan_item_alerts(config: Config, member: MemberConfig, account: Account,
                     flagged: Sequence[Flagged], recent_alerts: int,
                     dashboard_hint: str = "", *,
                     open_pile_on: OpenPileOn | None = None) -> list[PlannedAlert]:
    """Given the flagged items of one poll of one account, how many flagged third-party
    comments that account already had within the pile-on window (before this poll), and
    the pile-on summary still open on it (if any), return the alerts to write, each email
    followed by its copies for the other configured channels."""
    services = config.member_services.emails
    threats = [f for f in flagged if f.severity is Severity.URGENT]
    conduct = [f for f in flagged if f.severity is not Severity.URGENT
               and set(f.labels) <= OWN_CONDUCT_LABELS]
    others = [f for f in flagged if f.severity is not Severity.URGENT and f not in conduct]
    emails: list[PlannedAlert] = []
    for f in conduct:
        emails.append(_item_plan(config, member, account, f, (member.email,), ()))
    for f in threats:
        emails.append(_item_plan(config, member, account, f, _dedupe((member.email, *services)),
                                 ()))
    cc = _dedupe(services, [member.email])
    threshold = config.alerts.pile_on_threshold
    if others and open_pile_on is not None:
        covered = (*open_pile_on.flagged, *others)
        # Its earlier comments are among recent_alerts: the rest were alerted one by one.
        earlier = max(0, recent_alerts - len(open_pile_on.flagged))
        emails.append(PlannedAlert(
            dedupe_key=open_pile_on.dedupe_key, kind="pile_on", severity=Severity.HIGH,
            to=(member.email,), cc=cc,
            rendered=_render_pile_on(config, member, account, covered, earlier),
            flagged=tuple(others), fold=True))
    elif others and recent_alerts + len(threats) + len(others) > threshold:
        first = min(f.item_row_id for f in others)
        emails.append(PlannedAlert(
            dedupe_key=f"pileon:{account.key}:{first}", kind="pile_on",
            severity=Severity.HIGH, to=(member.email,), cc=cc,
            rendered=_render_pile_on(config, member, account, others, recent_alerts),
            flagged=tuple(others)))
    else:
        for f in others:
            emails.append(_item_plan(config, member, account, f, (member.email,), cc))
    plans: list[PlannedAlert] = []
    for plan in emails:
        plans.append(plan)
        plans.extend(channel_copies(config, member, account, plan))
    return plans


def _render_pile_on(config: Config, member: MemberConfig, account: Account,
                    covered: Sequence[Flagged], earlier: int) -> Rendered:
    return render_pile_on(config, member, account,
                          [(f.item, f.findings, f.hide_outcome) for f in covered],
                          earlier=earlier, histories=[f.history for f in covered])


def plan_account_problem(config: Config, member: MemberConfig, account: Account, error: str,
                         since: datetime) -> PlannedAlert:
    """Given an account whose polling fails for want of a valid token, return the one alert
    to member services (its dedupe key is tied to when the problem began). Its copies for
    other channels come from :func:`channel_copies`."""
    return PlannedAlert(
        dedupe_key=f"account_problem:{account.key}:{since.isoformat()}", kind="account_problem",
        severity=Severity.HIGH, to=tuple(config.member_services.emails), cc=(),
        rendered=render_account_problem(config, member, account, error, since), flagged=())
