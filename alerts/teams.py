"""Alerts as cards in a Microsoft Teams channel, through an incoming webhook.

The payload is an Adaptive Card in the message envelope that both kinds of Teams webhook take
(Microsoft's "Send Adaptive Cards using an Incoming Webhook", msteams-docs
webhooks-and-connectors/how-to/connectors-using.md; the Workflows app's "When a Teams webhook
request is received" takes Adaptive Cards only, not the older MessageCard)::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.2",
                                  "body": [TextBlock, ...],
                                  "actions": [{"type": "Action.OpenUrl", ...}]}}]}

Answers: a classic connector webhook answers 200 with the body ``1`` when it posted the card,
and also answers 200 when it did not, with the reason as text (its throttling reads "Microsoft
Teams endpoint returned HTTP error 429"); a Workflows webhook answers 202 with an empty body.
So a 2xx counts as delivered only with a body of ``1`` or nothing.

The webhook URL is a secret (whoever has it can post to the channel): it is read at send time
and never appears in an error or a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import structlog

from alerts.base import Channel, Message
from watcher.errors import CredentialError, DeliveryError

log = structlog.get_logger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: Teams refuses a message over about 28 KB; a card is cut well before that.
MAX_TEXT = 6000
LINK_PREFIX = "Link:"


def split_link(text: str) -> tuple[str, str]:
    """Given a card's text, return (the text without its ``Link: URL`` line, the URL or "")."""
    lines, link = [], ""
    for line in text.splitlines():
        if not link and line.startswith(LINK_PREFIX):
            link = line[len(LINK_PREFIX):].strip()
        else:
            lines.append(line)
    return "\n".join(lines).strip(), link


def card(title: str, text: str, link: str = "", urgent: bool = False) -> dict[str, Any]:
    """Given a title, Markdown text (one paragraph per line) and an optional link, return
    the webhook payload: one Adaptive Card with a title, the text and an "Open" button."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": title, "weight": "Bolder",
                                   "size": "Medium", "wrap": True,
                                   **({"color": "Attention"} if urgent else {})}]
    body += [{"type": "TextBlock", "text": line, "wrap": True}
             for line in text[:MAX_TEXT].splitlines() if line.strip()]
    content: dict[str, Any] = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": "1.2",
                               "body": body}
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": link}]
    return {"type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None,
                             "content": content}]}


class TeamsChannel(Channel):
    """Posts each message as a card: its subject as the title, its text as the body, and the
    text's ``Link: URL`` line (see :mod:`watcher.messages`) as the card's button."""

    name = "teams"

    def __init__(self, webhook_url: Callable[[], str], timeout: float = 20.0) -> None:
        self._webhook_url = webhook_url
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """Post ``message`` as a card.

        Raises DeliveryError (never naming the URL) if the URL is missing, Teams cannot be
        reached, answers with an error status, or answers 2xx with a refusal in the body.
        """
        try:
            url = self._webhook_url()
        except CredentialError as exc:
            raise DeliveryError(f"Teams webhook URL unavailable: {exc}") from None
        text, link = split_link(message.text)
        payload = card(message.subject, text, link, urgent=message.urgent)
        try:
            answer = requests.post(url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            # requests' own message names the URL's path, which holds the secret.
            raise DeliveryError(f"cannot reach the Teams webhook: {type(exc).__name__}"
                                ) from None
        body = answer.text.strip()
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"the Teams webhook answered HTTP {answer.status_code}"
                                + (f": {_first_line(body)}" if body else ""))
        if body not in ("", "1"):
            raise DeliveryError(f"the Teams webhook did not post the card: {_first_line(body)}")
        log.info("teams.sent", reference=message.message_id, status=answer.status_code)


def _first_line(body: str) -> str:
    return (body.splitlines() or [""])[0][:200]
