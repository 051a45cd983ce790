"""The interface every alert channel implements, and the message it sends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One alert, ready for a channel.

    ``message_id`` is stable for the alert (derived from its outbox key) so that a message
    re-sent after a crash can be recognised as the same one by mail clients.
    """

    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    message_id: str
    cc: tuple[str, ...] = ()
    urgent: bool = False
    #: images the HTML shows inline, as (content id, PNG bytes): ``<img src="cid:ID">``
    inline_images: tuple[tuple[str, bytes], ...] = ()
    #: files attached, as (file name, MIME type, bytes), e.g. a report's CSV
    attachments: tuple[tuple[str, str, bytes], ...] = ()


class Channel(ABC):
    """Somewhere alerts go."""

    name: str

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver ``message``. Returns only when the far end has accepted it.

        Raises DeliveryError (never returns False) if it could not.
        """
