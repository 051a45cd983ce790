"""Email alerts over SMTP: multipart plain text + HTML, via the standard library.

The message's ``Message-ID`` is the alert's own stable id, so a copy re-sent after a crash
between the server's acceptance and our record of it threads as the same message.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

import structlog

from alerts.base import Channel, Message
from watcher.errors import DeliveryError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 20.0


#: Python's default folding moves a 70-77 character header whole onto a continuation line
#: ("Subject:\r\n URGENT: ..."), which some readers show with a leading space. Headers are
#: folded only past RFC 5322's hard limit of 998 characters instead; alert subjects are short.
_POLICY = policy.default.clone(max_line_length=998)


def build(message: Message, sender: str) -> EmailMessage:
    """Given an alert message and the sender address, return the MIME email."""
    email = EmailMessage(policy=_POLICY)
    email["From"] = sender
    email["To"] = ", ".join(message.to)
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    if message.urgent:
        email["X-Priority"] = "1"
        email["Importance"] = "high"
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    if message.inline_images:
        html_part = email.get_body(("html",))
        assert html_part is not None
        for cid, png in message.inline_images:
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                                  disposition="inline", filename=f"{cid}.png")
    for name, mime, data in message.attachments:
        maintype, _, subtype = mime.partition("/")
        if maintype == "text":
            email.add_attachment(data.decode("utf-8"), subtype=subtype, filename=name)
        else:
            email.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return email


class EmailChannel(Channel):
    """Sends each message with one SMTP conversation.

    ``password`` is looked up lazily (a credential name resolved at send time) so a rotated
    password takes effect without a restart.
    """

    name = "email"

    def __init__(self, settings: SmtpSettings, password: Callable[[], str] | None = None) -> None:
        self.settings = settings
        self._password = password

    def send(self, message: Message) -> None:
        """Deliver ``message`` to all its recipients.

        Raises DeliveryError (naming the server, never the password) if the server cannot be
        reached, refuses the login, or refuses every recipient.
        """
        s = self.settings
        if not message.to and not message.cc:
            raise DeliveryError("message has no recipients")
        email = build(message, s.sender)
        where = f"{s.host}:{s.port}"
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, self._password() if self._password else s.password)
                refused = smtp.send_message(email)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP server {where} refused the login for {s.username!r} "
                                f"({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP server {where} refused every recipient: "
                                f"{', '.join(exc.recipients)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot deliver through {where}: "
                                f"{type(exc).__name__}: {exc}") from None
        if refused:
            # Others accepted it, so it is delivered: retrying would send them a second copy.
            log.warning("email.recipients_refused", server=where, refused=sorted(refused),
                        message_id=message.message_id)
