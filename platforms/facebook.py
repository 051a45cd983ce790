"""Facebook Pages through facebook-sdk's ``GraphAPI``.

One poll reads the page feed of the last ``lookback`` (three days) with every comment and
reply expanded in the same request (``comments.filter(stream).order(reverse_chronological)``),
follows ``after`` cursors, and keeps what is newer than the cursor's watermark. An idle poll
of a page with up to 25 recent posts is one request.

The cursor is JSON: ``{"v": 1, "wm": unix seconds, "edge": [ids created at wm]}``. Graph times
have one-second resolution, so ids already seen in the watermark's second are remembered.

facebook-sdk 3.1 validates versions only up to 3.1 and puts the token in the query string;
we construct it with "3.1" and then set ``graph.version``, route it through
:func:`platforms._http.base_url_session`, and scrub the token from every message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Any

import facebook
import requests
import structlog

from platforms._http import BaseUrlSession, base_url_session, redact, translating
from platforms.base import Platform
from watcher.domain import Account, Batch, Item, ItemKind, Media
from watcher.errors import (
    AuthExpired,
    HideNotSupported,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)

log = structlog.get_logger(__name__)

GRAPH_PREFIX = "https://graph.facebook.com/"
DEFAULT_VERSION = "v21.0"
_COMMENT_FIELDS = ("id,message,created_time,from{id,name},permalink_url,is_hidden,can_hide,"
                   "parent{id},attachment")
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80002, 80003, 80004, 80005, 80006,
                               80008, 80009, 80014})
_AUTH_CODES = frozenset({102, 190, 10, 200})


class FacebookPlatform(Platform):
    """Polls Facebook Pages and hides comments through the Graph API."""

    name = "facebook"
    #: how far back posts are read, so late comments on recent posts are caught
    lookback = timedelta(days=3)
    page_size = 25
    comment_page_size = 100
    #: feed pages (and comment pages per post) followed at most per poll
    max_pages = 20
    #: when a rate-limit answer says nothing about when to come back
    default_retry = timedelta(minutes=10)

    # ------------------------------------------------------------------ plumbing

    def _graph(self, token: str) -> tuple[facebook.GraphAPI, BaseUrlSession]:
        """Return a GraphAPI on a fresh rebasing session (one per call: thread-safe)."""
        timeout = self.settings.timeout_seconds
        session = base_url_session(self.settings.base_url, GRAPH_PREFIX, timeout)
        graph = facebook.GraphAPI(access_token=token, timeout=timeout, version="3.1",
                                  session=session)
        graph.version = self.settings.api_version or DEFAULT_VERSION
        return graph, session

    def _translated(self, token: str, session: BaseUrlSession, op: str
                    ) -> AbstractContextManager[None]:
        """Run the body, turning any vendor error into a :mod:`watcher.errors` one."""
        return translating(token, lambda exc: translate_error(exc, token, session, op,
                                                              self.default_retry))

    # ------------------------------------------------------------------ fetch

    def fetch(self, account: Account, cursor: str | None) -> Batch:
        """Given a page account and its last cursor, return the new posts, comments and
        replies of the last ``lookback`` days and the next cursor.

        Raises AuthExpired, RateLimited, TransientPlatformError or CredentialError.
        """
        token = self.secrets(account.credential)
        watermark, edge = _load_cursor(cursor)
        graph, session = self._graph(token)
        since = int(time.time() - self.lookback.total_seconds())
        with self._translated(token, session, "fetch"):
            posts = self._read_feed(graph, account.external_id, since, watermark)
            objects = [(post, None) for post in posts]
            for post in posts:
                objects.extend((c, post) for c in post.pop("_comments"))
            items = [_to_item(obj, post, account.external_id) for obj, post in objects]
        new = [i for i in items if _is_new(i, watermark, edge)]
        next_cursor = _next_cursor(items, watermark, edge)
        slow = _slow_down(session.headers_seen)
        log.info("facebook.fetch", account=account.key, items=len(new), seen=len(items),
                 requests=session.request_count, slow_down=slow)
        return Batch(items=tuple(new), cursor=next_cursor, requests=session.request_count,
                     slow_down=slow)

    def _post_fields(self) -> str:
        return ("id,message,created_time,from{id,name},permalink_url,is_hidden,status_type,"
                "full_picture,attachments{media,type,url,subattachments},"
                f"comments.filter(stream).order(reverse_chronological)"
                f".limit({self.comment_page_size}){{{_COMMENT_FIELDS}}}")

    def _read_feed(self, graph: facebook.GraphAPI, page_id: str, since: int,
                   watermark: float) -> list[dict[str, Any]]:
        """Return the feed's posts since ``since``, each with its comments (newer than the
        watermark at least) under the private key ``_comments``."""
        posts: list[dict[str, Any]] = []
        args: dict[str, Any] = {"fields": self._post_fields(), "since": since,
                                "limit": self.page_size}
        for _ in range(self.max_pages):
            page = graph.get_connections(page_id, "feed", **args)
            for post in _data(page):
                edge = post.pop("comments", None) or {}
                post["_comments"] = list(_data(edge)) + self._more_comments(
                    graph, post, edge, watermark)
                posts.append(post)
            after = _next_after(page)
            if after is None:
                return posts
            args["after"] = after
        log.warning("facebook.fetch_truncated", page=page_id, pages=self.max_pages)
        return posts

    def _more_comments(self, graph: facebook.GraphAPI, post: Mapping[str, Any],
                       edge: Mapping[str, Any], watermark: float) -> list[dict[str, Any]]:
        """Follow a post's comment pages (newest first) until they reach the watermark."""
        more: list[dict[str, Any]] = []
        comments = list(_data(edge))
        after = _next_after(edge)
        for _ in range(self.max_pages):
            if after is None or not comments:
                break
            if _timestamp(comments[-1].get("created_time")) < watermark:
                break  # the rest is older than what we already have
            page = graph.get_connections(str(post["id"]), "comments", fields=_COMMENT_FIELDS,
                                         filter="stream", order="reverse_chronological",
                                         limit=self.comment_page_size, after=after)
            comments = list(_data(page))
            more.extend(comments)
            after = _next_after(page)
        return more

    # ------------------------------------------------------------------ hide

    def hide(self, account: Account, item: Item) -> None:
        """Hide a third party's comment (or visitor post) on the page with ``is_hidden=true``.

        Raises HideNotSupported for the page's own items or where ``can_hide`` is false, and
        the same errors as :meth:`fetch` otherwise.
        """
        if item.platform != self.name:
            raise HideNotSupported(f"not a facebook item: {item.platform}:{item.external_id}")
        if item.is_own:
            raise HideNotSupported(f"facebook item {item.external_id} is the page's own")
        if item.can_hide is False:
            raise HideNotSupported(f"facebook says item {item.external_id} cannot be hidden")
        token = self.secrets(account.credential)
        graph, session = self._graph(token)
        with self._translated(token, session, "hide"):
            result = graph.request(f"{graph.version}/{item.external_id}",
                                   post_args={"is_hidden": "true"})
        if not (isinstance(result, dict) and result.get("success") is True):
            raise PlatformError(f"facebook did not confirm hiding {item.external_id}")
        log.info("facebook.hide", account=account.key, item=item.external_id)


# ---------------------------------------------------------------------- errors


def translate_error(exc: BaseException, token: str, session: BaseUrlSession | None, op: str,
                    default_retry: timedelta = timedelta(minutes=10)) -> PlatformError:
    """Given a vendor exception raised while talking to Graph, the token in use, the session
    (for the last status and headers) and the operation ("fetch" or "hide"), return the
    :mod:`watcher.errors` exception to raise. Its message never holds the token.
    """
    status = session.last_status if session is not None else None
    headers = session.last_headers if session is not None else {}
    if isinstance(exc, facebook.GraphAPIError):
        error = exc.result.get("error", {}) if isinstance(exc.result, dict) else {}
        error = error if isinstance(error, dict) else {}
        code = exc.code if isinstance(exc.code, int) else None
        subcode = error.get("error_subcode")
        text = redact(f"facebook: {exc.message} (code {code}, subcode {subcode}, "
                      f"http {status})", token)
        if code in _RATE_LIMIT_CODES:
            return RateLimited(text, retry_at=_retry_at(headers, default_retry))
        if code in _AUTH_CODES or (code is not None and 200 <= code < 300):
            return AuthExpired(text)
        if op == "fetch" and code == 100 and subcode == 33:
            return AuthExpired(text)  # the page is gone or no longer shared with us
        if code is None or code in (1, 2) or error.get("is_transient") or (status or 0) >= 500:
            return TransientPlatformError(text)
        return PlatformError(text)
    if isinstance(exc, requests.Timeout):
        return TransientPlatformError(f"facebook: timed out ({type(exc).__name__})")
    if isinstance(exc, requests.RequestException):
        return TransientPlatformError(redact(f"facebook: {type(exc).__name__}: {exc}", token))
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError)):
        # facebook-sdk calls response.json(): malformed or truncated bodies land here, as do
        # payloads of an unexpected shape.
        return TransientPlatformError(redact(f"facebook: malformed response (http {status}): "
                                             f"{type(exc).__name__}: {exc}", token))
    return PlatformError(redact(f"facebook: {type(exc).__name__}: {exc}", token))


def _retry_at(headers: Mapping[str, str], default: timedelta) -> datetime:
    """When to come back: Business-Use-Case usage says minutes to regain access."""
    wait = default
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
        minutes = [float(entry.get("estimated_time_to_regain_access") or 0)
                   for entries in usage.values() for entry in entries]
        if minutes and max(minutes) > 0:
            wait = timedelta(minutes=max(minutes))
    except (ValueError, AttributeError, TypeError):
        pass  # unreadable usage header: fall back to the default wait
    return datetime.now(timezone.utc) + wait


def _slow_down(headers_seen: list[Mapping[str, str]]) -> float:
    """Given the responses' headers, return a factor >= 1 to stretch the poll interval by
    as usage (percent of the app's or page's allowance) passes 50%."""
    usage = 0.0
    for headers in headers_seen:
        for name in ("X-App-Usage", "X-Page-Usage"):
            try:
                values = json.loads(headers.get(name) or "{}")
                usage = max([usage] + [float(v) for v in values.values()])
            except (ValueError, AttributeError, TypeError):
                continue
        try:
            buc = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
            for entries in buc.values():
                for entry in entries:
                    usage = max([usage] + [float(entry.get(k) or 0) for k in
                                           ("call_count", "total_cputime", "total_time")])
        except (ValueError, AttributeError, TypeError):
            continue
    if usage < 50:
        return 1.0
    return min(8.0, 1.0 + (usage - 50) / 10)


# ---------------------------------------------------------------------- payloads


def _data(page: Any) -> list[dict[str, Any]]:
    """The ``data`` list of a Graph list response; raise ValueError if it is not one."""
    if not isinstance(page, dict):
        raise ValueError(f"expected a JSON object, got {type(page).__name__}")
    data = page.get("data", [])
    if not isinstance(data, list):
        raise ValueError("'data' is not a list")
    return [d for d in data if isinstance(d, dict)]


def _next_after(page: Mapping[str, Any]) -> str | None:
    """The ``after`` cursor if the response says there is a next page, else None."""
    paging = page.get("paging") or {}
    if not paging.get("next"):
        return None
    return (paging.get("cursors") or {}).get("after")


def _timestamp(value: Any) -> float:
    return _parse_time(value).timestamp()


def _parse_time(value: Any) -> datetime:
    """Parse Graph's ``2021-07-04T19:50:58+0000``; raise ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"bad created_time {value!r}")
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(timezone.utc)


def _media(obj: Mapping[str, Any]) -> tuple[Media, ...]:
    """Images of a post's ``attachments`` (and subattachments) or a comment's ``attachment``."""
    found: list[Media] = []

    def visit(att: Any) -> None:
        if not isinstance(att, dict):
            return
        image = (att.get("media") or {}).get("image") if isinstance(att.get("media"), dict) \
            else None
        if isinstance(image, dict) and image.get("src"):
            kind = "video" if "video" in str(att.get("type", "")) else "photo"
            found.append(Media(url=str(image["src"]), kind=kind))
        for sub in _data(att.get("subattachments") or {}):
            visit(sub)

    for att in _data(obj.get("attachments") or {}):
        visit(att)
    visit(obj.get("attachment"))
    if not found and obj.get("full_picture"):
        found.append(Media(url=str(obj["full_picture"])))
    return tuple(found)


def _to_item(obj: dict[str, Any], post: dict[str, Any] | None, page_id: str) -> Item:
    """Given a post (``post`` None) or a comment with its post, return the Item."""
    sender = obj.get("from") if isinstance(obj.get("from"), dict) else None
    parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else None
    if post is None:
        kind, parent_id = ItemKind.POST, None
    elif parent and parent.get("id"):
        kind, parent_id = ItemKind.REPLY, str(parent["id"])
    else:
        kind, parent_id = ItemKind.COMMENT, str(post["id"])
    can_hide = obj.get("can_hide")
    raw = {k: v for k, v in obj.items() if not k.startswith("_")}
    return Item(
        platform="facebook",
        external_id=str(obj["id"]),
        kind=kind,
        text=str(obj.get("message") or ""),
        created_at=_parse_time(obj.get("created_time")),
        author_id=str(sender["id"]) if sender and sender.get("id") else None,
        author_name=str(sender["name"]) if sender and sender.get("name") else None,
        permalink=obj.get("permalink_url") if isinstance(obj.get("permalink_url"), str) else None,
        parent_id=parent_id,
        is_own=bool(sender and str(sender.get("id")) == page_id),
        is_hidden=bool(obj.get("is_hidden", False)),
        can_hide=can_hide if isinstance(can_hide, bool) else None,
        media=_media(obj),
        raw=json.dumps(raw, sort_keys=True, ensure_ascii=False),
    )


# ---------------------------------------------------------------------- cursor


def _load_cursor(cursor: str | None) -> tuple[float, frozenset[str]]:
    """Return (watermark, ids seen at the watermark's second); (-inf, {}) the first time or
    for a cursor we cannot read (logged: the store's dedupe absorbs the re-read)."""
    if not cursor:
        return float("-inf"), frozenset()
    try:
        state = json.loads(cursor)
        return float(state["wm"]), frozenset(str(i) for i in state.get("edge", []))
    except (ValueError, KeyError, TypeError):
        log.warning("facebook.bad_cursor", length=len(cursor))
        return float("-inf"), frozenset()


def _is_new(item: Item, watermark: float, edge: frozenset[str]) -> bool:
    created = item.created_at.timestamp()
    return created > watermark or (created == watermark and item.external_id not in edge)


def _next_cursor(items: list[Item], watermark: float, edge: frozenset[str]) -> str | None:
    """Advance the watermark to the newest creation time seen."""
    if not items:
        if watermark == float("-inf"):
            return None
        return json.dumps({"v": 1, "wm": watermark, "edge": sorted(edge)})
    newest = max(i.created_at.timestamp() for i in items)
    if newest < watermark:
        return json.dumps({"v": 1, "wm": watermark, "edge": sorted(edge)})
    at_edge = {i.external_id for i in items if i.created_at.timestamp() == newest}
    if newest == watermark:
        at_edge |= edge
    return json.dumps({"v": 1, "wm": newest, "edge": sorted(at_edge)})
