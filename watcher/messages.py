"""Alert wording, rendered through Jinja2 templates (``alerts/templates``). Pure functions.

Every alert is written to be read on a phone: the subject says how urgent, what, whose and
where; the body starts with what to do, then one big link to the item, then what was written
(in full up to ``QUOTE_LIMIT``), why it was flagged, and who wrote it with their history on
the member's accounts (CONTRACT §5).

Text templates (``*.txt.j2``, ``*.md.j2``) are rendered as they are; HTML templates
(``*.html.j2``) are autoescaped, so nothing a commenter writes can become markup.
Only the *subject* masks slurs and strong profanity (:func:`mask_slurs`): subjects show on lock
screens, in notification previews and in shared mailboxes' lists. The body quotes the text as
written, because the member and the police need the exact words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from watcher.config import Config, MemberConfig
from watcher.domain import Account, Finding, Item, Severity, platform_name
from watcher.senders import OWN_CONDUCT_LABELS, SenderHistory

#: What the dashboard is called in alerts.
DASHBOARD_NAME = "Councillor Watcher"

#: Characters of a comment quoted in an alert body; the store keeps all of it (a 1 MB comment
#: must not become a 1 MB email).
QUOTE_LIMIT = 1000
#: Characters of a comment quoted in a subject, a chat card and an SMS.
SUBJECT_QUOTE_LIMIT = 60
CARD_QUOTE_LIMIT = 200
#: GOV.UK Notify bills an SMS per 160 characters (70 with non-GSM characters): stay short.
SMS_LIMIT = 300
#: Earlier findings listed by date per label in a sender's history (the count is always
#: given).
HISTORY_DATES = 5

LABEL_NAMES = {
    "threat": "threat",
    "offensive": "offensive",
    "defamation": "possibly defamatory",
    "personal_data": "personal data",
    "account_problem": "account problem",
    "copyright_image": "possible copyright image",
    "meeting_burst": "posting during a meeting",
}
#: The same, as headings and tags (pages, reports): "Possibly defamatory".
LABEL_TITLES = {label: name.capitalize() for label, name in LABEL_NAMES.items()}
#: Labels whose text may be quoted in a subject. Never personal data (a subject would spread
#: it further) nor the member's own posts (the alert is about the image or the timing).
SUBJECT_QUOTE_LABELS = frozenset({"threat", "offensive", "defamation"})

# ---------------------------------------------------------------------------------------------
# Masking

#: Words masked in subjects. Kept deliberately short: the strongest general swear words and
#: the strongest discriminatory slurs in Ofcom's research on offensive language (2021), with
#: their common inflections. The classifier decides what is flagged; this list only decides
#: what a subject line may show, so a word missing here is shown, never missed.
MASKED_WORDS: tuple[str, ...] = (
    # strong profanity
    "fuck", "fucks", "fucked", "fucker", "fuckers", "fucking", "fuckin",
    "motherfucker", "motherfuckers", "motherfucking",
    "cunt", "cunts", "twat", "twats", "wanker", "wankers",
    # racist slurs
    "nigger", "niggers", "nigga", "niggas", "paki", "pakis", "chink", "chinks",
    "coon", "coons", "wog", "wogs", "spic", "spics", "kike", "kikes",
    "gyppo", "gyppos", "pikey", "pikeys",
    # homophobic, transphobic and disablist slurs
    "faggot", "faggots", "fag", "fags", "dyke", "dykes", "tranny", "trannies",
    "retard", "retards", "spastic", "spastics", "spaz",
)
_MASK = re.compile(r"(?<!\w)(?:" + "|".join(sorted(MASKED_WORDS, key=len, reverse=True))
                   + r")(?!\w)", re.IGNORECASE)


def mask_slurs(text: str) -> str:
    """Given text, return it with every whole word of :data:`MASKED_WORDS` (any case) masked
    after its first letter ("fuck" -> "f***"). Parts of longer words are left alone
    ("Scunthorpe" stays)."""
    return _MASK.sub(lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text)


# ---------------------------------------------------------------------------------------------
# Templates


def _is_html(name: str | None) -> bool:
    return bool(name and name.endswith(".html.j2"))


def safe_link(url: str | None) -> str:
    """A link fit for an href: http(s) only (a platform payload is not trusted), else ""."""
    if not url:
        return ""
    return url if urlsplit(url).scheme.lower() in ("http", "https") else ""


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!<>|~])")


def _md(text: object) -> str:
    """Escape Markdown so a commenter's text shows as text in a Teams card."""
    return _MARKDOWN.sub(r"\\\1", str(text))


_ENV = Environment(loader=PackageLoader("alerts", "templates"), autoescape=_is_html,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)
_ENV.filters["safe_url"] = safe_link
_ENV.filters["md"] = _md


@dataclass(frozen=True)
class Rendered:
    """An alert's wording: the subject, the plain text and HTML bodies, ``card``, a few lines
    of Markdown for a chat card (its last line ``Link: URL`` when there is a link), and
    ``link``, the one link the alert is about ("" if none)."""

    subject: str
    text: str
    html: str
    card: str = ""
    link: str = ""


def _render(name: str, **context: Any) -> str:
    return _ENV.get_template(name).render(**context)


def _rendered(name: str, context: dict[str, Any], link: str) -> Rendered:
    """Render one alert's three templates (``NAME.txt.j2``, ``.html.j2``, ``.card.j2``)."""
    return Rendered(subject=context["subject"], text=_render(f"{name}.txt.j2", **context),
                    html=_render(f"{name}.html.j2", **context),
                    card=_render(f"{name}.card.j2", **context).strip(), link=link)


# ---------------------------------------------------------------------------------------------
# Helpers


HIDE_AFTER_REPORT = "Hide it once you have reported it."


def _what_to_do(labels: Sequence[str], services: str) -> list[str]:
    steps: list[str] = []
    if "threat" in labels:
        steps += [
            "If you are in immediate danger, call 999 now.",
            "Otherwise report it to the police on 101 or online (www.police.uk), and say it "
            'is an "Operation Ford" incident: the police operation for intimidation and '
            "harassment of councillors.",
            f"Tell {services} and your group leader.",
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
        steps.append(HIDE_AFTER_REPORT)
    if "copyright_image" in labels:
        steps.append("Check the image's rights: unless you or the council hold a licence for it, "
                     "remove the image (or the post) and use your own photo or one the council "
                     f"has cleared. {services} can check the council's licences.")
    return steps


def _when(config: Config, at: datetime) -> str:
    return at.astimezone(ZoneInfo(config.timezone)).strftime("%a %d %b %Y %H:%M")


def _day(config: Config, at: datetime) -> str:
    return at.astimezone(ZoneInfo(config.timezone)).strftime("%d %b %Y")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "… (shortened)"


def _snippet(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _with_quote(subject: str, text: str) -> str:
    """Given a subject and the (masked) text, return the subject with a short quote of it."""
    return f'{subject}: "{_snippet(text, SUBJECT_QUOTE_LIMIT)}"'


def _quote(text: str) -> str:
    return _shorten(text, QUOTE_LIMIT)


def _platform(account: Account) -> str:
    return platform_name(account.platform)


def _where(account: Account) -> str:
    handle = f" ({account.handle})" if account.handle else ""
    return f"{_platform(account)}{handle}"


def _kind(item: Item) -> str:
    return item.kind.value if hasattr(item.kind, "value") else str(item.kind)


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _history_lines(config: Config, member: MemberConfig, account: Account,
                   history: SenderHistory | None) -> list[str]:
    """A sender's history, as sentences: first seen, earlier comments, earlier findings."""
    if history is None:
        return ["The platform did not say who wrote it, so their history is unknown."]
    if history.is_new:
        return [f"First time seen on {member.name}'s {_platform(account)} accounts."]
    seen = f" on {_day(config, history.first_seen)}" if history.first_seen else ""
    lines = [f"First seen on {member.name}'s {_platform(account)} accounts{seen}; "
             f"{_plural(history.items_stored, 'earlier comment')} stored."]
    by_label = history.by_label()
    if not by_label:
        lines.append("No earlier findings.")
        return lines
    parts = []
    for label, dates in by_label.items():
        shown = ", ".join(_day(config, d) for d in dates[-HISTORY_DATES:])
        more = "…, " if len(dates) > HISTORY_DATES else ""
        parts.append(f"{len(dates)} {LABEL_NAMES.get(label, label)} ({more}{shown})")
    lines.append(f"Earlier findings: {'; '.join(parts)}.")
    return lines


def _history_brief(history: SenderHistory | None) -> str:
    """One clause for a list or a card: "" for a first-time or unknown sender."""
    if history is None or not history.findings:
        return ""
    counts = ", ".join(f"{len(d)} {LABEL_NAMES.get(lab, lab)}"
                       for lab, d in history.by_label().items())
    return f"earlier findings: {counts}"


# ---------------------------------------------------------------------------------------------
# Alerts


def render_item_alert(config: Config, member: MemberConfig, account: Account, item: Item,
                      findings: Sequence[Finding], hide_outcome: str | None = None,
                      revision: int = 0, history: SenderHistory | None = None) -> Rendered:
    """Given one flagged item, its findings, what auto-hide did (None: not tried, "hidden",
    or why not), its edit number (0: as first posted) and its sender's history on the
    member's accounts (None: not known), return the alert's subject, text, HTML and card."""
    labels = [f.label for f in findings]
    urgent = any(f.severity is Severity.URGENT for f in findings)
    names = " and ".join(LABEL_NAMES.get(lab, lab) for lab in labels)
    platform = _platform(account)
    kind = _kind(item)
    edited = " (edited)" if revision else ""
    subject = (f"{'URGENT: ' if urgent else ''}{names.capitalize()} {kind}{edited} on "
               f"{member.name}'s {platform}")
    if (set(labels) & SUBJECT_QUOTE_LABELS and "personal_data" not in labels
            and not item.is_own and item.text.strip()):
        subject = _with_quote(subject, mask_slurs(" ".join(item.text.split())))
    on_platform = safe_link(item.permalink)
    dashboard = dashboard_link(config, item)
    # With the dashboard set up, the one big link opens the item there (hide it, mark it,
    # open a case, in one place); the platform's own link stays beside it.
    link = dashboard or on_platform
    author = item.author_name or item.author_id or "unknown (the platform did not say)"
    author_id = f" ({platform} id {item.author_id})" if item.author_id else ""
    reasons = [_shorten(r, 200) for f in findings for r in f.reasons]
    steps = _what_to_do(labels, config.member_services.name)
    note = ""
    if hide_outcome == "hidden":
        note = ("Councillor Watcher has already hidden it (hidden, not deleted: it stays as "
                "evidence). Unhide it if you think it was flagged wrongly.")
    elif hide_outcome:
        note = f"Councillor Watcher could not hide it ({hide_outcome}): hide it yourself."
    if note and "threat" in labels:
        # Safety first: 999 and the police stay the first steps; hiding comes after them.
        steps = [step for step in steps if step != HIDE_AFTER_REPORT] + [note]
    elif note:
        steps.insert(0, note)
    own = set(labels) <= OWN_CONDUCT_LABELS
    context = dict(
        subject=subject, urgent=urgent, colour="#b00020" if urgent else "#8a4b00",
        steps=steps, link=link or "(no link: the platform gave none)", href=link,
        link_label=f"Open it in {DASHBOARD_NAME}: hide it, report it" if dashboard
        else f"Open the {kind} on {platform}",
        platform_link=on_platform if dashboard else "", kind=kind, platform=platform,
        quote=_quote(item.text), edited=bool(revision), labels=labels, label_names=names,
        reasons=reasons, author=author, author_id=author_id, own=own,
        history=[] if own else _history_lines(config, member, account, history),
        member=member.name, where=_where(account), posted=_when(config, item.created_at),
        services=config.member_services.name,
        services_emails=", ".join(config.member_services.emails),
        card_quote=mask_slurs(_snippet(item.text, CARD_QUOTE_LIMIT)),
        card_author=mask_slurs(author), history_brief=_history_brief(history),
        card_reason=mask_slurs(reasons[0]) if reasons else "",
    )
    return _rendered("item_alert", context, link)


def render_pile_on(config: Config, member: MemberConfig, account: Account,
                   items: Sequence[tuple[Item, Sequence[Finding], str | None]],
                   earlier: int = 0,
                   histories: Sequence[SenderHistory | None] | None = None) -> Rendered:
    """Given many flagged items on one account (each with its findings and auto-hide
    outcome), how many other flagged comments on it within the pile-on window were alerted
    separately, and optionally each item's sender history, return one summary alert."""
    platform = _platform(account)
    total = len(items) + earlier
    subject = f"Pile-on: {total} flagged comments on {member.name}'s {platform}"
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
    histories = list(histories) if histories is not None else [None] * len(items)
    rows = []
    for (item, findings, outcome), history in zip(items, histories, strict=True):
        rows.append(dict(
            labels=", ".join(f.label for f in findings)
            + (" (hidden)" if outcome == "hidden" else ""),
            author=item.author_name or "?", quote=_quote(item.text)[:200],
            link=safe_link(item.permalink), history=_history_brief(history)))
    link = next((r["link"] for r in rows if r["link"]), "")
    context = dict(subject=subject, colour="#8a4b00", member=member.name, where=_where(account),
                   summary=summary, steps=steps, rows=rows, earlier=earlier, link=link,
                   window=_minutes(config.alerts.pile_on_window))
    return _rendered("pile_on", context, link)


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
    rows = [dict(at=_when(config, at)[-5:], platform=platform, link=safe_link(link),
                 text=_shorten(text, 120)) for at, platform, link, text in posts]
    link = next((r["link"] for r in rows if r["link"]), "")
    context = dict(subject=subject, colour="#2d5f8a", member=member.name, title=title,
                   when=when, rows=rows, reasons=list(reasons), steps=steps, link=link)
    return _rendered("meeting_burst", context, link)


def render_account_problem(config: Config, member: MemberConfig, account: Account, error: str,
                           since: datetime) -> Rendered:
    """Given an account that cannot be polled, return the alert to member services."""
    subject = f"Account problem: {member.name}'s {_where(account)} cannot be checked"
    steps = [
        "Ask the member to reconnect the account or issue a new access token.",
        f"Put the new token in the credential named '{account.credential}' "
        "(see the README, 'Credentials'); polling resumes by itself at the next poll.",
    ]
    context = dict(subject=subject, colour="#444444", member=member.name, where=_where(account),
                   since=_when(config, since), error=error, steps=steps)
    return _rendered("account_problem", context, "")


def dashboard_link(config: Config, item: Item) -> str:
    """Return the item's page on the dashboard (``[web] public_url``), or "" when no
    dashboard address is configured. The link names the item by platform and id, which the
    alert knows before the item's row exists; the dashboard resolves it."""
    base = config.web.public_url
    if not base:
        return ""
    return f"{base}/go/{item.platform}/{quote(item.external_id, safe='')}"


def render_sms(member: MemberConfig, account: Account, item: Item, dashboard: str = "") -> str:
    """Given a threat's item (and its dashboard link, if any), return the SMS to the member:
    under :data:`SMS_LIMIT` characters, the author's name shortened (or left out) to fit."""
    link = dashboard or safe_link(item.permalink) or "see your email"
    author = mask_slurs(" ".join((item.author_name or item.author_id or "").split()))
    for limit in (40, 20, 0):
        shown = _snippet(author, limit) if limit else ""
        text = _render("sms.txt.j2", member=_snippet(member.name, 60),
                       platform=_platform(account), author=shown, link=link).strip()
        if len(text) <= SMS_LIMIT:
            return text
    return text
