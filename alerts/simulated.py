"""Local stand-ins for GOV.UK Notify and a Teams incoming webhook: for the tests and demos.

Each is a real HTTP server (the standard library's ThreadingHTTPServer) on 127.0.0.1 on a free
port, served from a daemon thread; ``start()``/``stop()`` or use it as a context manager. Each
keeps what it received and can be told to fail.

:class:`SimulatedNotify` answers ``POST /v2/notifications/sms`` the way Notify does, shaped on
the official client (notifications-python-client) and the API's error handlers
(notifications-api ``app/v2/errors.py``):

- the ``Authorization: Bearer <JWT>`` header is checked like Notify checks it: the token's
  ``iss`` is the service id, its HS256 signature must verify with the secret part of a key of
  that service, and its ``iat`` must be within 30 seconds of now; else 403 with
  ``{"status_code": 403, "errors": [{"error": "AuthError", "message": ...}]}``;
- a body with a phone number that is not a UK mobile gets 400 ``ValidationError``; an unknown
  template 400 ``BadRequestError``; a missing placeholder value 400 ``BadRequestError``;
- success is 201 with ``id``, ``reference``, ``content`` {body, from_number}, ``uri``,
  ``template`` {id, version, uri} and ``scheduled_for``.

An API key is ``{key_name}-{service_id}-{secret_key}``, the last two UUIDs (36 characters
each): :func:`make_api_key` makes one.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import jwt

from watcher.localserver import LocalHTTPServer

#: Notify's tolerance for the token's issue time, in seconds (its client's ``__bound__``).
IAT_BOUND = 30
_UK_MOBILE = re.compile(r"^(?:\+?44|0)7\d{9}$")


def make_api_key(name: str = "watcher_test", service_id: str | None = None,
                 secret: str | None = None) -> str:
    """Return a Notify-shaped API key: ``{name}-{service id}-{secret key}``."""
    return f"{name}-{service_id or uuid.uuid4()}-{secret or uuid.uuid4()}"


def split_api_key(key: str) -> tuple[str, str]:
    """Given an API key, return (service id, secret key), as the official client reads them:
    the two UUIDs at its end."""
    return key[-73:-37], key[-36:]


def _normalise_phone(number: str) -> str:
    return re.sub(r"[\s().-]", "", number or "")


class _Server(LocalHTTPServer):
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, routing to ``handle``."""

    thread_name = "simulated-http"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, str, bytes]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    sim: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # request lines may carry a webhook's secret path: stay quiet

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, ctype, data = self.sim.handle(method, urlsplit(self.path).path, headers, body)
        except Exception:  # a bug in the fake must still answer
            status, ctype, data = 500, "text/plain", b"simulator error"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


_Server.handler_class = _Handler


# --------------------------------------------------------------------------- GOV.UK Notify


@dataclass(frozen=True)
class ReceivedSms:
    """One text message Notify accepted."""

    id: str
    phone_number: str
    template_id: str
    personalisation: dict[str, Any]
    reference: str | None
    body: str
    service_id: str


@dataclass
class SimulatedNotify(_Server):
    """GOV.UK Notify's SMS endpoint for one service with one API key and SMS templates.

    ``templates`` maps a template id to its text with ``((placeholder))`` fields (default:
    ``template_id`` holding just ``((message))``). ``received`` keeps each accepted message;
    ``rejected`` each refused request as (status, error, message). ``fail(status, times)``
    makes the next requests fail with that status (500: Notify's "Internal server error").
    """

    api_key: str = field(default_factory=make_api_key)
    template_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    templates: dict[str, str] = field(default_factory=dict)
    clock: Any = time.time
    received: list[ReceivedSms] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    thread_name = "simulated-notify"

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self.templates = self.templates or {self.template_id: "((message))"}
        self.service_id, self._secret = split_api_key(self.api_key)
        self._failures: list[int] = []

    def fail(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (before any other check)."""
        with self.lock:
            self._failures += [status] * times

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, str, bytes]:
        if method != "POST" or path != "/v2/notifications/sms":
            return self._error(404, "NoResultFound", "No result found")
        with self.lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return self._error(failure, "Exception", "Internal server error")
        problem = self._authorise(headers.get("authorization", ""))
        if problem is not None:
            return problem
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "ValidationError", "Invalid JSON supplied in POST data")
        if not isinstance(request, dict):
            return self._error(400, "ValidationError", "Invalid JSON supplied in POST data")
        for name in ("phone_number", "template_id"):
            if not request.get(name):
                return self._error(400, "ValidationError", f"{name} is a required property")
        phone = _normalise_phone(str(request["phone_number"]))
        if not _UK_MOBILE.match(phone):
            return self._error(400, "ValidationError", "phone_number Not a UK mobile number")
        template = self.templates.get(str(request["template_id"]))
        if template is None:
            return self._error(400, "BadRequestError", "Template not found")
        values = request.get("personalisation") or {}
        missing = [p for p in re.findall(r"\(\((\w+)\)\)", template) if p not in values]
        if missing:
            return self._error(400, "BadRequestError",
                               f"Missing personalisation: {', '.join(missing)}")
        text = re.sub(r"\(\((\w+)\)\)", lambda m: str(values[m.group(1)]), template)
        sms = ReceivedSms(id=str(uuid.uuid4()), phone_number=phone,
                          template_id=str(request["template_id"]), personalisation=dict(values),
                          reference=request.get("reference"), body=text,
                          service_id=self.service_id)
        with self.lock:
            self.received.append(sms)
        answer = {
            "id": sms.id, "reference": sms.reference,
            "content": {"body": text, "from_number": "GOVUK"},
            "uri": f"{self.base_url}/v2/notifications/{sms.id}",
            "template": {"id": sms.template_id, "version": 1,
                         "uri": f"{self.base_url}/services/{self.service_id}/templates/"
                                f"{sms.template_id}"},
            "scheduled_for": None,
        }
        return 201, "application/json", json.dumps(answer).encode()

    def _authorise(self, header: str) -> tuple[int, str, bytes] | None:
        """Check the bearer JWT as Notify does; return the error answer, or None if good."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._error(401, "AuthError",
                               "Unauthorized: authentication token must be provided")
        token = token.strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False},
                                    algorithms=["HS256"])
        except jwt.PyJWTError:
            return self._error(403, "AuthError", "Invalid token: signature, api token not found")
        if unverified.get("iss") != self.service_id:
            return self._error(403, "AuthError", "Invalid token: service not found")
        try:
            claims = jwt.decode(token, key=self._secret, algorithms=["HS256"],
                                options={"verify_iat": False})
        except jwt.PyJWTError:
            return self._error(403, "AuthError", "Invalid token: API key not found")
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or abs(self.clock() - issued) > IAT_BOUND:
            return self._error(403, "AuthError",
                               "Error: Your system clock must be accurate to within 30 seconds")
        return None

    def _error(self, status: int, error: str, message: str) -> tuple[int, str, bytes]:
        with self.lock:
            self.rejected.append((status, error, message))
        body = {"status_code": status, "errors": [{"error": error, "message": message}]}
        return status, "application/json", json.dumps(body).encode()


# --------------------------------------------------------------------------- Teams


@dataclass
class SimulatedTeams(_Server):
    """A Teams incoming webhook at ``url`` (``/webhookb2/<secret>``): takes an Adaptive Card
    message and answers 200 ``1`` like a classic connector (``workflow=True``: 202 and no
    body, like the Workflows app).

    ``cards`` keeps each posted payload. ``fail(status, body, times)`` makes the next posts
    fail: an error status, or (status 200) Teams' refusal in a 200 answer such as its
    throttling text. A post to any other path gets 404; a payload that is not a message with
    an Adaptive Card gets 400.
    """

    secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    workflow: bool = False
    cards: list[dict[str, Any]] = field(default_factory=list)
    thread_name = "simulated-teams"

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self._failures: list[tuple[int, str]] = []

    @property
    def url(self) -> str:
        """The webhook's URL: a secret, like the real one."""
        return f"{self.base_url}/webhookb2/{self.secret}"

    def fail(self, status: int = 500, body: str = "", times: int = 1) -> None:
        """Answer the next ``times`` posts with ``status`` and ``body``."""
        with self.lock:
            self._failures += [(status, body)] * times

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, str, bytes]:
        if method != "POST" or path != f"/webhookb2/{self.secret}":
            return 404, "text/plain", b"Not Found"
        with self.lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure[0], "text/plain", failure[1].encode()
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not _is_card_message(payload):
            return 400, "text/plain", b"Bad payload received by generic incoming webhook."
        with self.lock:
            self.cards.append(payload)
        if self.workflow:
            return 202, "text/plain", b""
        return 200, "text/plain", b"1"


def _is_card_message(payload: Any) -> bool:
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return False
    attachments = payload.get("attachments")
    return bool(attachments) and all(
        isinstance(a, dict) and a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        and isinstance(a.get("content"), dict) and a["content"].get("type") == "AdaptiveCard"
        for a in attachments)
