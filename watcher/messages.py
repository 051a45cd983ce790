"""Alert wording: plain text and HTML, readable on a phone. Pure functions.

Every alert names the member, the platform, one link to the item, the labels, the reasons, and
what to do (CONTRACT §5).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from watcher.config import Config, MemberConfig
from watcher.domain import Account, Finding, Item, Severity

PLATFORM_NAMES = {"facebook": "Facebook", "x": "X"}
QUOTE_LIMIT = 600  # characters of a comment quoted in an alert; the store keeps all of it

LABEL_NAMES = {
    "threat": "threat",
    "offensive": "offensive",
    "defamation": "possibly defamatory",
    "personal_data": "personal data",
    "account_problem": "account problem",
    "copyright_image": "possible copyright image",
    "meeting_burst": "posting during a meeting",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _what_to_do(labels: Sequence[str], services: str) -> list[str]:
    steps: list[str] = []
    if "threat" in labels:
        steps += [
            "If you are in immediate danger, call 999 now.",
            "Otherwise report it to the police on 101, and to your group leader and "
            f"{services}.",
            "Do not reply to the author. Keep the item: Councillor Watcher has saved a copy "
            "as evidence, but a screenshot with the date helps the police too.",
        ]
    if "defamation" in labels:
        steps.append("Remove or hide it as soon as possible: as the page's host you can be sued "
                     "for leaving a libel up.")
    if "offensive" in labels:
        steps.append("Hide or remove it as soon as possible (council protocol).")
    if "personal_data" in labels:
        steps.append("Remove it as soon as possible: it publishes someone's private details.")
    if "threat" in labels:
        steps.append("Hide it once you have reported it.")
    if "copyright_image" in labels:
        steps.append("Check the image's rights: unless you or the council hold a licence for it, "
                     "remove the image (or the post) and use your own photo or one the council "
                     f"has cleared. {services} can check the council's licences.")
    return steps


def _when(config: Config, at: datetime) -> str:
    return at.astimezone(ZoneInfo(config.timezone)).strftime("%a %d %b %Y %H:%M")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "… (shortened)"


def _quote(text: str) -> str:
    return _shorten(text, QUOTE_LIMIT)


def _where(account: Account) -> str:
    platform = PLATFORM_NAMES.get(account.platform, account.platform)
    handle = f" ({account.handle})" if account.handle else ""
    return f"{platform}{handle}"


def render_item_alert(config: Config, member: MemberConfig, account: Account, item: Item,
                      findings: Sequence[Finding], hide_outcome: str | None = None,
                      revision: int = 0) -> Rendered:
    """Given one flagged item, its findings, what auto-hide did (None: not tried, "hidden",
    or why not) and its edit number (0: as first posted), return the alert's subject, text
    and HTML."""
    labels = [f.label for f in findings]
    urgent = any(f.severity is Severity.URGENT for f in findings)
    names = " and ".join(LABEL_NAMES.get(lab, lab) for lab in labels)
    platform = PLATFORM_NAMES.get(account.platform, account.platform)
    kind = item.kind.value if hasattr(item.kind, "value") else str(item.kind)
    edited = " (edited)" if revision else ""
    subject = (f"{'URGENT: ' if urgent else ''}{names.capitalize()} {kind}{edited} on "
               f"{member.name}'s {platform}")
    link = item.permalink or "(no link: the platform gave none)"
    author = item.author_name or item.author_id or "unknown (the platform did not say)"
    reasons = [_shorten(r, 200) for f in findings for r in f.reasons]
    steps = _what_to_do(labels, config.member_services.name)
    if hide_outcome == "hidden":
        steps.insert(0, "Councillor Watcher has already hidden it (hidden, not deleted: it stays "
                        "as evidence). Unhide it if you think it was flagged wrongly.")
    elif hide_outcome:
        steps.insert(0, f"Councillor Watcher could not hide it ({hide_outcome}): hide it "
                        "yourself.")
    text_lines = [
        subject, "",
        f"Member:   {member.name}",
        f"Where:    {_where(account)}",
        f"Link:     {link}",
        f"Flagged:  {', '.join(labels)}",
        f"Author:   {author}",
        f"Posted:   {_when(config, item.created_at)}",
        "", f"What they wrote: \"{_quote(item.text)}\"",
        "", "Why it was flagged:", *[f"  - {r}" for r in reasons],
        "", "What to do:", *[f"  {i}. {s}" for i, s in enumerate(steps, 1)],
        "", f"Questions: {config.member_services.name} "
            f"({', '.join(config.member_services.emails)}).",
    ]
    colour = "#b00020" if urgent else "#8a4b00"
    body = (
        f'<div style="font-family:Arial,sans-serif;max-width:600px;font-size:16px">'
        f'<p style="background:{colour};color:#fff;padding:12px;font-weight:bold;margin:0">'
        f"{html.escape(subject)}</p>"
        f'<p><a href="{html.escape(item.permalink or "")}" style="font-size:18px">'
        f"Open the {html.escape(kind)} on {html.escape(platform)}</a></p>"
        "<p><b>What to do</b></p><ol>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in steps) + "</ol>"
        f'<blockquote style="border-left:4px solid #ccc;margin:0;padding:8px">'
        f"{html.escape(_quote(item.text))}</blockquote>"
        f"<p>By {html.escape(author)}, {html.escape(_when(config, item.created_at))}, on "
        f"{html.escape(member.name)}'s {html.escape(_where(account))}.</p>"
        "<p><b>Why it was flagged</b></p><ul>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in reasons) + "</ul>"
        f'<p style="color:#555;font-size:13px">Labels: {html.escape(", ".join(labels))}. '
        f"Questions: {html.escape(config.member_services.name)}.</p></div>"
    )
    return Rendered(subject=subject, text="\n".join(text_lines) + "\n", html=body)


def render_pile_on(config: Config, member: MemberConfig, account: Account,
                   items: Sequence[tuple[Item, Sequence[Finding], str | None]]) -> Rendered:
    """Given many flagged items on one account (each with its findings and auto-hide
    outcome), return one summary alert."""
    platform = PLATFORM_NAMES.get(account.platform, account.platform)
    subject = f"Pile-on: {len(items)} flagged comments on {member.name}'s {platform}"
    counts: dict[str, int] = {}
    for _, findings, _ in items:
        for f in findings:
            counts[f.label] = counts.get(f.label, 0) + 1
    summary = ", ".join(f"{n} {LABEL_NAMES.get(lab, lab)}" for lab, n in sorted(counts.items()))
    hidden = sum(outcome == "hidden" for _, _, outcome in items)
    if hidden:
        summary += f"; {hidden} already hidden automatically"
    steps = [
        "Consider turning comments off or limiting who can comment on the post for a while.",
        *_what_to_do(sorted(counts), config.member_services.name),
    ]
    lines = [subject, "", f"Member:  {member.name}", f"Where:   {_where(account)}",
             f"Flagged: {summary}", "", "What to do:",
             *[f"  {i}. {s}" for i, s in enumerate(steps, 1)], "", "The comments:"]
    rows = []
    for item, findings, outcome in items:
        labels = ", ".join(f.label for f in findings) + (" (hidden)" if outcome == "hidden"
                                                          else "")
        lines += [f"  - [{labels}] {item.author_name or '?'}: \"{_quote(item.text)[:200]}\"",
                  f"    {item.permalink or ''}"]
        rows.append(f'<li><a href="{html.escape(item.permalink or "")}">'
                    f"{html.escape(labels)}</a> — {html.escape(item.author_name or '?')}: "
                    f"{html.escape(_quote(item.text)[:200])}</li>")
    body = (f'<div style="font-family:Arial,sans-serif;max-width:600px;font-size:16px">'
            f'<p style="background:#8a4b00;color:#fff;padding:12px;font-weight:bold;margin:0">'
            f"{html.escape(subject)}</p><p>{html.escape(summary)}</p><p><b>What to do</b></p><ol>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in steps) + "</ol><ul>"
            + "".join(rows) + "</ul></div>")
    return Rendered(subject=subject, text="\n".join(lines) + "\n", html=body)


def render_meeting_burst(config: Config, member: MemberConfig, title: str, start: datetime,
                         end: datetime, posts: Sequence[tuple[datetime, str, str, str]],
                         reasons: Sequence[str]) -> Rendered:
    """Given a meeting the member attended and their own posts during it (each: time,
    platform name, link, text), return the gentle note to the member."""
    subject = (f"Reminder: {len(posts)} post{'s' if len(posts) != 1 else ''} during "
               f"{title} on {_when(config, start)[:15]}")
    steps = [
        "Council protocol asks members not to make conspicuous use of social media during "
        "council and committee meetings, especially while a vote is expected.",
        "Nothing needs removing: this is a reminder. Consider scheduling posts for after the "
        "meeting.",
    ]
    when = f"{_when(config, start)} to {_when(config, end)[-5:]}"
    lines = [subject, "", f"Member:  {member.name}", f"Meeting: {title}", f"When:    {when}", "",
             "Your posts during the meeting:"]
    rows = []
    for at, platform, link, text in posts:
        lines += [f"  - {_when(config, at)[-5:]} on {platform}: \"{_shorten(text, 120)}\"",
                  f"    {link}"]
        rows.append(f'<li>{html.escape(_when(config, at)[-5:])} on {html.escape(platform)}: '
                    f'<a href="{html.escape(link)}">{html.escape(_shorten(text, 120) or "(no text)")}'
                    "</a></li>")
    lines += ["", "Why:", *[f"  - {r}" for r in reasons], "",
              *[f"{i}. {s}" for i, s in enumerate(steps, 1)]]
    body = (f'<div style="font-family:Arial,sans-serif;max-width:600px;font-size:16px">'
            f'<p style="background:#2d5f8a;color:#fff;padding:12px;font-weight:bold;margin:0">'
            f"{html.escape(subject)}</p><p>{html.escape(title)}, {html.escape(when)}.</p>"
            "<p><b>Your posts during the meeting</b></p><ul>" + "".join(rows) + "</ul>"
            "<p><b>Why</b></p><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
            + "</ul><ol>" + "".join(f"<li>{html.escape(s)}</li>" for s in steps) + "</ol></div>")
    return Rendered(subject=subject, text="\n".join(lines) + "\n", html=body)


def render_account_problem(config: Config, member: MemberConfig, account: Account, error: str,
                           since: datetime) -> Rendered:
    """Given an account that cannot be polled, return the alert to member services."""
    subject = f"Account problem: {member.name}'s {_where(account)} cannot be checked"
    steps = [
        "Ask the member to reconnect the account or issue a new access token.",
        f"Put the new token in the credential named '{account.credential}' "
        "(see the README, 'Credentials'); polling resumes by itself at the next poll.",
    ]
    lines = [subject, "", f"Member:  {member.name}", f"Where:   {_where(account)}",
             f"Since:   {_when(config, since)}", f"Problem: {error}", "",
             "Until this is fixed, comments on this account are not being checked.", "",
             "What to do:", *[f"  {i}. {s}" for i, s in enumerate(steps, 1)]]
    body = (f'<div style="font-family:Arial,sans-serif;max-width:600px;font-size:16px">'
            f'<p style="background:#444;color:#fff;padding:12px;font-weight:bold;margin:0">'
            f"{html.escape(subject)}</p><p>{html.escape(error)}</p>"
            "<p>Until this is fixed, comments on this account are not being checked.</p><ol>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in steps) + "</ol></div>")
    return Rendered(subject=subject, text="\n".join(lines) + "\n", html=body)
