"""A local SMTP server (aiosmtpd) that keeps what it receives: for the demo and the tests.

It is a real SMTP server on 127.0.0.1; mail reaches it over a real SMTP conversation.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._received(message, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    """Given an optional callback and folder, receive mail on ``port`` until ``stop()``.

    ``messages`` holds (EmailMessage, envelope recipients) in arrival order; each message is
    also written to ``folder`` as an ``.eml`` file when one is given.
    """

    def __init__(self, port: int | None = None,
                 on_message: Callable[[EmailMessage, list[str]], None] | None = None,
                 folder: Path | None = None) -> None:
        self.port = port or free_port()
        self.on_message = on_message
        self.folder = folder
        self.messages: list[tuple[EmailMessage, list[str]]] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def _received(self, message: EmailMessage, rcpt: list[str]) -> None:
        with self._lock:
            self.messages.append((message, rcpt))
            count = len(self.messages)
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{count:04d}.eml").write_bytes(bytes(message))
        if self.on_message:
            self.on_message(message, rcpt)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def message_ids(self) -> list[str]:
        """Return the Message-ID of every message received, in order."""
        with self._lock:
            return [str(m["Message-ID"]) for m, _ in self.messages]
