"""SMS alerts through GOV.UK Notify, with its official client (notifications-python-client).

The SMS template in Notify holds one placeholder, ``((message))``; the whole text is ours. The
API key (``{key_name}-{service_id}-{secret}``) is read at send time, so a rotated key takes
effect without a restart; the client signs a short-lived JWT with its secret part for each
request. Notify's answers are translated into DeliveryError here, naming the status and
Notify's own error (never the key), so the outbox retries with its back-off.

Request (``POST /v2/notifications/sms``, JSON): ``phone_number``, ``template_id``,
``personalisation`` ({"message": text}), ``reference`` (the alert's dedupe key: no personal
data, as Notify asks). Success is 201 with the notification's ``id``, ``reference``,
``content`` {body, from_number}, ``uri`` and ``template`` {id, version, uri}; an error is
``{"status_code": N, "errors": [{"error": "AuthError", "message": "..."}]}`` (the client's
DOCUMENTATION.md, "Send a text message"; notifications-api app/v2/errors.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
import structlog
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import APIError

from alerts.base import Channel, Message
from watcher.errors import CredentialError, DeliveryError

log = structlog.get_logger(__name__)

# The client logs each failed request on its own (a plain stdlib line); ours is structured.
logging.getLogger("notifications_python_client").setLevel(logging.ERROR)

DEFAULT_BASE_URL = "https://api.notifications.service.gov.uk"


def _describe(exc: APIError) -> str:
    """Notify's error list as one line: "AuthError: Invalid token: ..."."""
    message: Any = exc.message
    if isinstance(message, list):
        parts = [f"{e.get('error', 'Error')}: {e.get('message', '')}" if isinstance(e, dict)
                 else str(e) for e in message]
        return "; ".join(parts)[:500]
    return str(message)[:500]


class NotifySmsChannel(Channel):
    """Sends each message's ``text`` as an SMS to each number in its ``to``, through the
    Notify template ``template_id`` (one ``((message))`` placeholder)."""

    name = "sms"

    def __init__(self, api_key: Callable[[], str], template_id: str,
                 base_url: str = DEFAULT_BASE_URL, timeout: float = 20.0) -> None:
        self._api_key = api_key
        self.template_id = template_id
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _client(self) -> NotificationsAPIClient:
        try:
            key = self._api_key()
        except CredentialError as exc:
            raise DeliveryError(f"GOV.UK Notify API key unavailable: {exc}") from None
        try:
            return NotificationsAPIClient(key, base_url=self.base_url, timeout=self.timeout)
        except Exception:  # the client asserts on a key of the wrong shape
            raise DeliveryError("GOV.UK Notify API key is malformed: expected "
                                "{key name}-{service id}-{secret key}") from None

    def send(self, message: Message) -> None:
        """Send ``message.text`` to every number in ``message.to``, with the message's id (the
        alert's dedupe key) as Notify's reference.

        Raises DeliveryError (naming Notify's status and error, never the key) if the key is
        missing or malformed, Notify cannot be reached, or Notify refuses the message.
        """
        if not message.to:
            raise DeliveryError("SMS has no phone number")
        client = self._client()
        for number in message.to:
            try:
                answer = client.send_sms_notification(
                    phone_number=number, template_id=self.template_id,
                    personalisation={"message": message.text},
                    reference=message.message_id)
            except APIError as exc:
                if exc.response is None:  # no answer at all: connection refused, timeout
                    raise DeliveryError(f"cannot reach GOV.UK Notify at {self.base_url}"
                                        ) from None
                raise DeliveryError(f"GOV.UK Notify refused the SMS ({exc.status_code}): "
                                    f"{_describe(exc)}") from None
            except requests.RequestException as exc:
                raise DeliveryError(f"cannot reach GOV.UK Notify at {self.base_url}: "
                                    f"{type(exc).__name__}") from None
            notification = answer.get("id") if isinstance(answer, dict) else None
            log.info("sms.sent", notification_id=notification, reference=message.message_id)
