"""A local SMTP server (aiosmtpd) that keeps what it receives: for the demo and the tests.

It is a real SMTP server on 127.0.0.1; mail reaches it over a real SMTP conversation. It can be
stopped and started again on the same port (a mail server that is down for a while), and can
require SMTP AUTH (to check that a client logs in, and that its password goes nowhere else).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietLoginData(logging.Filter):
    """Drops aiosmtpd's own deprecation warning, logged at every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLoginData())


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, _server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        # AUTH is enforced here rather than with aiosmtpd's auth_required, which warns on
        # every connection when TLS is not required as well.
        if self.sink.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._received(message, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    """Given an optional callback and folder, receive mail on ``port`` until ``stop()``.

    ``messages`` holds (EmailMessage, envelope recipients) in arrival order and ``arrivals``
    the wall-clock time (``time.time()``) each one arrived; each message is also written to
    ``folder`` as an ``.eml`` file when one is given. After ``stop()``, ``start()`` serves
    again on the same port, keeping what was received.

    ``auth``: a (username, password) pair the server then requires (AUTH PLAIN or LOGIN,
    offered without TLS since it listens on 127.0.0.1 only); ``logins`` counts the successful
    logins and ``failed_logins`` the refused ones.
    """

    def __init__(self, port: int | None = None,
                 on_message: Callable[[EmailMessage, list[str]], None] | None = None,
                 folder: Path | None = None, auth: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.on_message = on_message
        self.folder = folder
        self.auth = auth
        self.messages: list[tuple[EmailMessage, list[str]]] = []
        self.arrivals: list[float] = []
        self.logins = 0
        self.failed_logins = 0
        self._lock = threading.Lock()
        self._controller = self._new_controller()
        self._running = False

    def _new_controller(self) -> Controller:
        # aiosmtpd closes a controller's event loop when it stops, so every start needs a new
        # controller.
        if self.auth is None:
            return Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        return Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                          auth_require_tls=False, authenticator=self._authenticate)

    def _authenticate(self, _server: Any, _session: Any, _envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert self.auth is not None
        ok = (mechanism in ("LOGIN", "PLAIN") and isinstance(auth_data, LoginPassword)
              and (auth_data.login, auth_data.password)
              == (self.auth[0].encode(), self.auth[1].encode()))
        with self._lock:
            if ok:
                self.logins += 1
            else:
                self.failed_logins += 1
        return AuthResult(success=ok, handled=False)

    def _received(self, message: EmailMessage, rcpt: list[str]) -> None:
        with self._lock:
            self.messages.append((message, rcpt))
            self.arrivals.append(time.time())
            count = len(self.messages)
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{count:04d}.eml").write_bytes(bytes(message))
        if self.on_message:
            self.on_message(message, rcpt)

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._running

    def start(self) -> MailSink:
        """Serve on ``port`` (again, after a ``stop()``); return self."""
        if self._running:
            return self
        if self._controller.loop.is_closed():
            self._controller = self._new_controller()
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving and release the port; what was received is kept."""
        if not self._running:
            return
        self._controller.stop()
        self._running = False

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def message_ids(self) -> list[str]:
        """Return the Message-ID of every message received, in order."""
        with self._lock:
            return [str(m["Message-ID"]) for m, _ in self.messages]
