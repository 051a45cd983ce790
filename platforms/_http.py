"""A ``requests.Session`` that sends a vendor SDK's requests to a configured base URL.

facebook-sdk builds its URLs from the module constant ``FACEBOOK_GRAPH_URL`` and tweepy from a
host fixed inside ``Client.request``; both accept (or let us replace) their ``requests.Session``.
Mounting a rewriting transport adapter on the SDK's own URL prefix routes the real SDK to the
simulated server, a proxy or a test double without forking it or patching module globals.
(:func:`rebase` is the same rewrite for code that swaps the URL itself, as ``platforms.x``'s
client subclass does.) Every session counts the HTTP requests it sends: ``Batch.requests``.

The module also installs a logging filter that scrubs access tokens from the debug lines that
urllib3 (full URLs, with facebook-sdk's ``access_token=`` query) and tweepy (request headers,
with ``Authorization: Bearer``) write through the standard library's logging.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from watcher.errors import ImageError, WatcherError
from watcher.httpread import TooLarge, TooSlow, read_capped

_TOKEN_PATTERNS = (
    re.compile(r"(access_token=)[^&\s'\"]+"),
    re.compile(r"(access_token['\"]?\s*[:=]\s*['\"])[^'\"]+"),
    re.compile(r"(Bearer\s+)[^\s'\",}]+"),
)


def redact(text: str, *secrets: str) -> str:
    """Given any text and optionally the secret values in play, return it with every
    ``access_token=...``, ``Bearer ...`` and literal secret replaced by ``***``."""
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _RedactTokens(logging.Filter):
    """Rewrites a log record's message with tokens scrubbed (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = _RedactTokens()
# Loggers of vendor code that writes URLs or headers at DEBUG level.
_VENDOR_LOGGERS = ("urllib3.connectionpool", "tweepy.client", "requests_oauthlib")


def install_log_redaction() -> None:
    """Attach the token-scrubbing filter to the vendor loggers (idempotent)."""
    for name in _VENDOR_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class _RebasingAdapter(HTTPAdapter):
    """Sends requests whose URL starts with ``original_prefix`` to ``base_url`` instead."""

    def __init__(self, base_url: str, original_prefix: str) -> None:
        super().__init__(max_retries=0)  # retries are the daemon's business, not urllib3's
        self.base_url = base_url.rstrip("/") + "/"
        self.original_prefix = original_prefix

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if url.startswith(self.original_prefix):
            request.url = self.base_url + url[len(self.original_prefix):]
        return super().send(request, **kwargs)


class CountingSession(requests.Session):
    """A Session that counts every HTTP request it sends, applies a default timeout, never
    retries, and remembers the responses' status and headers.

    ``request_count`` counts requests sent, answered or not (a refused connection or a
    timeout counts too: the benchmark compares it with the server's log); ``last_headers``
    / ``last_status`` describe the latest response (usage and rate-limit headers, also of
    error responses an SDK turned into an exception); ``headers_seen`` holds every
    response's headers in order.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.request_count = 0
        self.last_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        self.last_status: int | None = None
        self.headers_seen: list[Mapping[str, str]] = []
        for prefix in ("http://", "https://"):
            self.mount(prefix, HTTPAdapter(max_retries=0))
        self.hooks["response"].append(self._remember)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout  # tweepy never passes one
        self.request_count += 1
        return super().send(request, **kwargs)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_headers = response.headers
        self.last_status = response.status_code
        self.headers_seen.append(response.headers)

    def note_response(self, status: int, headers: Mapping[str, str]) -> None:
        """Record a logical response that arrived inside another one (a Graph batch
        operation), so usage headers and error translation see it as the latest."""
        self.last_headers = CaseInsensitiveDict(headers)
        self.last_status = status
        self.headers_seen.append(self.last_headers)


class BaseUrlSession(CountingSession):
    """A :class:`CountingSession` whose ``original_prefix`` requests go to ``base_url``."""

    def __init__(self, base_url: str, original_prefix: str, timeout: float) -> None:
        super().__init__(timeout)
        self.mount(original_prefix, _RebasingAdapter(base_url, original_prefix))


def counting_session(timeout: float) -> CountingSession:
    """Given a timeout in seconds, return a :class:`CountingSession` (token redaction in
    vendor logs installed)."""
    install_log_redaction()
    return CountingSession(timeout)


def base_url_session(base_url: str, original_prefix: str, timeout: float) -> BaseUrlSession:
    """Given the configured base URL, the SDK's own URL prefix (e.g.
    ``"https://graph.facebook.com/"``) and a timeout in seconds, return a Session that sends
    the SDK's requests to ``base_url`` with that timeout unless the caller passed one.

    With ``base_url == original_prefix`` (production) URLs are left as they are.
    """
    install_log_redaction()
    return BaseUrlSession(base_url, original_prefix, timeout)


def rebase(url: str, base_url: str, original_prefix: str) -> str:
    """Given a URL, return it with ``original_prefix`` replaced by ``base_url`` (unchanged
    if it does not start with the prefix)."""
    if url.startswith(original_prefix):
        return base_url.rstrip("/") + "/" + url[len(original_prefix):]
    return url


@contextmanager
def translating(token: str, translate: Callable[[Exception], WatcherError],
                session: CountingSession | None = None) -> Iterator[None]:
    """Run the body; turn any vendor exception into ours with ``translate``.

    Errors of our own tree pass through. An exception whose text names the token is not
    chained (``from None``), so no traceback can show the token. With ``session``, the
    error raised carries ``requests``: the HTTP requests the session had sent by then.
    """
    try:
        yield
    except WatcherError as exc:
        _count_onto(exc, session)
        raise
    except Exception as exc:
        error = translate(exc)
        _count_onto(error, session)
        if token and token in (str(exc) + repr(exc.args)):
            raise error from None
        raise error from exc


def _count_onto(error: WatcherError, session: CountingSession | None) -> None:
    # Failed polls cost requests too; whoever keeps count can read them off the error.
    if session is not None:
        error.requests = session.request_count  # type: ignore[attr-defined]


#: Redirects a media download follows (each checked: http or https only).
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Download:
    """The bytes of one downloaded file, the URL they finally came from, and their
    declared Content-Type ("" if none)."""

    data: bytes
    url: str
    content_type: str


def download(session: requests.Session, url: str, *, max_bytes: int, timeout: float
             ) -> Download:
    """Given a session, a media URL and limits, return its bytes.

    Follows at most :data:`MAX_REDIRECTS` redirects, each only to http(s); reads at most
    ``max_bytes`` (refusing a larger Content-Length before reading) within ``timeout``
    seconds in all. Never sends a platform token: media are on public CDNs.

    Raises ImageError saying what went wrong: a scheme other than http(s), too many
    redirects, an HTTP error status, an HTML page instead of a file, too large, too slow,
    or a connection failure.
    """
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if not re.match(r"(?i)^https?://", current):
            raise ImageError(f"refusing to fetch {_short(current)}: only http and https URLs")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ImageError(f"{_short(url)}: no answer within {timeout:g} s")
        try:
            response = session.get(current, stream=True, allow_redirects=False,
                                   timeout=(min(remaining, 10.0), remaining))
        except requests.Timeout as exc:
            raise ImageError(f"{_short(url)}: no answer within {timeout:g} s") from exc
        except requests.RequestException as exc:
            raise ImageError(f"{_short(url)}: {type(exc).__name__}: "
                             f"{redact(str(exc))[:200]}") from exc
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                current = requests.compat.urljoin(current, location)
                continue
            return _read_body(response, url, current, max_bytes, deadline, timeout)
    raise ImageError(f"{_short(url)}: more than {MAX_REDIRECTS} redirects")


def _read_body(response: requests.Response, url: str, final: str, max_bytes: int,
               deadline: float, timeout: float) -> Download:
    if response.status_code != 200:
        raise ImageError(f"{_short(url)}: HTTP {response.status_code}")
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        raise ImageError(f"{_short(url)}: the server sent a web page ({ctype}), not an image")
    try:
        data = read_capped(response, max_bytes=max_bytes, deadline=deadline)
    except TooLarge as exc:
        if exc.declared is not None:
            raise ImageError(f"{_short(url)}: {exc.declared:,} bytes is over the "
                             f"{max_bytes:,}-byte limit") from None
        raise ImageError(f"{_short(url)}: more than the {max_bytes:,}-byte limit") from None
    except TooSlow:
        raise ImageError(f"{_short(url)}: not downloaded within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise ImageError(f"{_short(url)}: download broke off: {type(exc).__name__}") from exc
    return Download(data=data, url=final, content_type=ctype)


def _short(url: str) -> str:
    """A URL fit for a log line: tokens redacted, the query dropped, at most 120 chars."""
    return redact(url.split("?", 1)[0])[:120]
