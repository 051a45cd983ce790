"""Facebook Pages through facebook-sdk's ``GraphAPI``.

One poll reads the page feed of the last ``lookback`` (three days) with every comment and
reply expanded in the same request (``comments.filter(stream).order(reverse_chronological)``),
follows ``after`` cursors, and keeps what is newer than the cursor's watermark. Posts whose
new comments do not fit in the expanded first page get their next pages in one Graph batch
request per round (at most 50 operations each), not one request per post. An idle poll of a
page with up to 25 recent posts is one request.

The platform's answers are not trusted to be tidy: items repeated within or across pages,
pages out of order, empty pages that still link onwards, missing ``from`` or ``message`` and
unknown fields are all absorbed; each poll returns an item once. An object without a readable
id or time is logged (``facebook.item_skipped``) and left out, and so are a post's unreadable
comments page or attachments, not the rest; a response that is not a Graph list at all raises
TransientPlatformError. Ids, author names and links are checked to fit the store.

Edits: every poll re-reads the posts of the look-back window and the newest comment page of
each, so a changed text is noticed there and the item is returned again (same id, new text).
Comments on older pages are not re-read; their edits go unnoticed.

The cursor is JSON: ``{"v": 2, "wm": unix seconds, "edge": [ids created at wm], "seen":
{id: digest of text}}``. Graph times have one-second resolution, so ids already seen in the
watermark's second are remembered; ``seen`` holds the digests of what the next poll reads
again (the posts and each one's first comment page; at most ``edit_memory``). Version 1
cursors (no ``seen``) are still read.

``Batch.requests`` is the number of HTTP requests sent (a batch request is one); a failed
fetch's error carries the same count as ``requests``.

facebook-sdk 3.1 validates versions only up to 3.1 and puts the token in the query string;
we construct it with "3.1" and then set ``graph.version``, route it through
:func:`platforms._http.base_url_session`, and scrub the token from every message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import facebook
import requests
import structlog

from platforms._http import (
    BaseUrlSession,
    CountingSession,
    base_url_session,
    redact,
    translating,
)
from platforms.base import (
    Platform,
    PlatformSettings,
    SecretLookup,
    optional_id,
    payload_id,
    payload_name,
)
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
# A permalink goes into alert emails as the one link to follow: web links only, in visible
# ASCII (Graph's always are), never "javascript:" or text with NUL or lone surrogates.
_URL = re.compile(r"https?://[!-~]+")


@dataclass(frozen=True)
class _Cursor:
    """What the last poll left: the watermark, ids created in its second, text digests."""

    watermark: float = float("-inf")
    edge: frozenset[str] = frozenset()
    seen: Mapping[str, str] = field(default_factory=dict)


class FacebookPlatform(Platform):
    """Polls Facebook Pages and hides comments through the Graph API."""

    name = "facebook"
    #: how far back posts are read, so late comments on recent posts are caught
    lookback = timedelta(days=3)
    page_size = 25
    comment_page_size = 100
    #: feed pages (and rounds of comment pages) followed at most per poll
    max_pages = 20
    #: operations per Graph batch request (Graph's own limit)
    batch_limit = 50
    #: items whose text digest the cursor keeps, to notice edits
    edit_memory = 1000
    #: when a rate-limit answer says nothing about when to come back
    default_retry = timedelta(minutes=10)

    def __init__(self, settings: PlatformSettings, secrets: SecretLookup, *,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(settings, secrets)
        #: wall time in seconds; where the look-back window ends (tests move it)
        self.clock: Callable[[], float] = clock or time.time

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
        """Run the body, turning any vendor error into a :mod:`watcher.errors` one that
        carries the request count."""
        return translating(token, lambda exc: translate_error(exc, token, session, op,
                                                              self.default_retry), session)

    # ------------------------------------------------------------------ fetch

    def fetch(self, account: Account, cursor: str | None) -> Batch:
        """Given a page account and its last cursor, return the new posts, comments and
        replies of the last ``lookback`` days, those seen before whose text changed, and
        the next cursor.

        Raises AuthExpired, RateLimited, TransientPlatformError or CredentialError.
        """
        token = self.secrets(account.credential)
        state = _load_cursor(cursor)
        graph, session = self._graph(token)
        since = int(self.clock() - self.lookback.total_seconds())
        with self._translated(token, session, "fetch"):
            posts = self._read_feed(graph, account.external_id, since)
            self._read_comment_pages(graph, session, posts, state)
            items = _to_items(posts, account.external_id)
        new = [i for i in items if _is_new(i, state)]
        edited = [i for i in items if not _is_new(i, state) and _was_edited(i, state)]
        # Only what the next poll reads again can show an edit: posts and first pages.
        again = {str(p.get("id")) for p in posts} | {i for p in posts for i in p["_first"]}
        next_cursor = _next_cursor(items, state, again, self.edit_memory)
        slow = _slow_down(session.headers_seen)
        log.info("facebook.fetch", account=account.key, items=len(new), edited=len(edited),
                 seen=len(items), requests=session.request_count, slow_down=slow)
        return Batch(items=tuple(new + edited), cursor=next_cursor,
                     requests=session.request_count, slow_down=slow)

    def _post_fields(self) -> str:
        return ("id,message,created_time,from{id,name},permalink_url,is_hidden,status_type,"
                "full_picture,attachments{media,type,url,subattachments},"
                f"comments.filter(stream).order(reverse_chronological)"
                f".limit({self.comment_page_size}){{{_COMMENT_FIELDS}}}")

    def _read_feed(self, graph: facebook.GraphAPI, page_id: str, since: int
                   ) -> list[dict[str, Any]]:
        """Return the feed's posts since ``since``, each once, with the first page of its
        comments under the private key ``_comments`` (their ids under ``_first``) and that
        page's ``after`` cursor (if Graph says there are more) under ``_after``."""
        posts: dict[str, dict[str, Any]] = {}
        args: dict[str, Any] = {"fields": self._post_fields(), "since": since,
                                "limit": self.page_size}
        for _ in range(self.max_pages):
            page_posts, after = _feed_page(graph.get_connections(page_id, "feed", **args))
            for post in page_posts:
                posts.setdefault(str(post.get("id")), post)  # a repeated post: keep the first
            if after is None:
                return list(posts.values())
            args["after"] = after
        log.warning("facebook.fetch_truncated", page=page_id, pages=self.max_pages)
        return list(posts.values())

    def _read_comment_pages(self, graph: facebook.GraphAPI, session: CountingSession,
                            posts: list[dict[str, Any]], state: _Cursor) -> None:
        """Follow the comment pages (newest first) of every post whose comments may reach
        further back than the watermark, appending them to its ``_comments``. Each round
        fetches the next page of all such posts in one batch request."""
        pending = [(post, after) for post in posts
                   if (after := post.pop("_after", None)) and optional_id(post.get("id"))
                   and _wants_more(post["_comments"], state)]
        for _ in range(self.max_pages):
            if not pending:
                return
            urls = [self._comments_url(graph, str(post["id"]), after) for post, after in pending]
            pages = self._batch_get(graph, session, urls)
            following = []
            for (post, _), page in zip(pending, pages):
                comments, after = _comment_page(page, post.get("id"))
                post["_comments"].extend(comments)
                if after and _wants_more(comments, state):
                    following.append((post, after))
            pending = following
        if pending:
            log.warning("facebook.comments_truncated", posts=len(pending), rounds=self.max_pages)

    def _comments_url(self, graph: facebook.GraphAPI, post_id: str, after: str) -> str:
        """The relative URL of a post's next comment page."""
        query = urlencode({"fields": _COMMENT_FIELDS, "filter": "stream",
                           "order": "reverse_chronological", "limit": self.comment_page_size,
                           "after": after})
        return f"{graph.version}/{post_id}/comments?{query}"

    def _batch_get(self, graph: facebook.GraphAPI, session: CountingSession,
                   relative_urls: list[str]) -> list[Any]:
        """Given relative GET URLs, return their parsed bodies in order, fetched in batch
        requests of at most ``batch_limit`` operations.

        Raises facebook.GraphAPIError for an operation that failed (with the session's
        latest status and headers set to that operation's, for translation),
        TransientPlatformError for one that timed out or a malformed answer.
        """
        bodies: list[Any] = []
        for start in range(0, len(relative_urls), self.batch_limit):
            chunk = relative_urls[start : start + self.batch_limit]
            ops = [{"method": "GET", "relative_url": url} for url in chunk]
            answers = graph.request("", post_args={"batch": json.dumps(ops),
                                                   "include_headers": "true"})
            if not isinstance(answers, list) or len(answers) != len(ops):
                raise TransientPlatformError(f"facebook: malformed batch response: {len(ops)} "
                                             f"operations answered with "
                                             f"{type(answers).__name__} of another length")
            bodies.extend(_batch_body(session, answer) for answer in answers)
        log.debug("facebook.batch", operations=len(relative_urls),
                  requests=-(-len(relative_urls) // self.batch_limit))
        return bodies

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
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, RecursionError)):
        # facebook-sdk calls response.json(): malformed or truncated bodies land here (nested
        # past the stack: RecursionError), as do payloads of an unexpected shape.
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


def _objects(posts: list[dict[str, Any]]
             ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every post (with None) and every comment (with its post) read."""
    for post in posts:
        yield post, None
        for comment in post["_comments"]:
            yield comment, post


def _to_items(posts: list[dict[str, Any]], page_id: str) -> list[Item]:
    """Every post and comment read, as Items, each id once (the first copy wins). An object
    that cannot be read (no id, no time) is logged and skipped: it must not fail this and
    every later poll of the page."""
    out: dict[str, Item] = {}
    for obj, post in _objects(posts):
        try:
            item = _to_item(obj, post, page_id)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("facebook.item_skipped", item=str(obj.get("id"))[:60],
                        post=str(post.get("id"))[:60] if post else None,
                        error=type(exc).__name__, reason=str(exc)[:200])
            continue
        out.setdefault(item.external_id, item)
    return list(out.values())


def _wants_more(comments: list[dict[str, Any]], state: _Cursor) -> bool:
    """Whether the page after these (newest-first) comments may still hold new ones: this
    page is empty (Graph sends empty pages that link onwards), or none of it is older than
    the watermark and, if it reaches the watermark's very second, it still brought news.
    The oldest is looked for, not the last: pages may come out of order."""
    stamps: list[tuple[float, str]] = []
    for comment in comments:
        try:
            stamps.append((_timestamp(comment.get("created_time")), str(comment.get("id"))))
        except ValueError:
            continue  # unreadable: skipped later, no guide to where we are
    if not stamps:
        return True
    oldest = min(t for t, _ in stamps)
    if oldest != state.watermark:
        return oldest > state.watermark
    return any(t > state.watermark or i not in state.edge for t, i in stamps)


def _batch_body(session: CountingSession, answer: Any) -> Any:
    """Given one answer of a Graph batch (``{"code", "headers": [{"name", "value"}],
    "body": JSON text}`` or null), return its parsed body.

    Records the answer's status and headers on the session (usage, and error translation);
    raises facebook.GraphAPIError if it failed, TransientPlatformError if it timed out
    (null) or is malformed.
    """
    if answer is None:
        raise TransientPlatformError("facebook: a batch operation timed out")
    if not isinstance(answer, dict):
        raise TransientPlatformError(f"facebook: malformed batch answer: "
                                     f"{type(answer).__name__}, not an object")
    listed = answer.get("headers")
    headers = {str(h["name"]): str(h.get("value", "")) for h in
               (listed if isinstance(listed, list) else []) if isinstance(h, dict) and "name" in h}
    try:
        code = int(answer.get("code") or 0)
    except (ValueError, TypeError, OverflowError):  # OverflowError: int(float("inf"))
        raise TransientPlatformError(f"facebook: malformed batch answer: code "
                                     f"{answer.get('code')!r:.40}") from None
    session.note_response(code, headers)
    text = answer.get("body") or "null"
    try:
        body = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # TypeError: not a str; RecursionError:
        # nesting deeper than the interpreter's stack
        raise TransientPlatformError(f"facebook: malformed batch answer: body "
                                     f"{type(text).__name__} is not JSON text") from None
    if code != 200 or (isinstance(body, dict) and "error" in body):
        raise facebook.GraphAPIError(body if isinstance(body, dict) else
                                     {"error": {"message": f"batch operation failed, http "
                                                           f"{code}"}})
    return body


def _data(page: Any, where: str = "response") -> list[dict[str, Any]]:
    """The objects in the ``data`` list of a Graph list response (``where`` says which, for
    messages); entries that are not objects are logged and left out.

    Raises TransientPlatformError if ``page`` is not a Graph list response.
    """
    if not isinstance(page, dict):
        raise TransientPlatformError(f"facebook: malformed {where}: expected a JSON object, "
                                     f"got {type(page).__name__}")
    data = page.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise TransientPlatformError(f"facebook: malformed {where}: 'data' is "
                                     f"{type(data).__name__}, not a list")
    objects = [d for d in data if isinstance(d, dict)]
    if len(objects) < len(data):
        log.warning("facebook.item_skipped", where=where, count=len(data) - len(objects),
                    error="not an object")
    return objects


def _next_after(page: Mapping[str, Any], where: str = "response") -> str | None:
    """The ``after`` cursor if the response says there is a next page, else None. Paging
    that cannot be read ends the reading there (logged), like a last page."""
    paging = page.get("paging") or {}
    if not isinstance(paging, dict):
        log.warning("facebook.paging_unreadable", where=where, paging=type(paging).__name__)
        return None
    if not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if not isinstance(after, str) or not after:
        # "next" without a usable cursor: following it would read the first page again.
        log.warning("facebook.paging_unreadable", where=where, after=type(after).__name__)
        return None
    return after


def _feed_page(page: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Given one feed response, return its posts and the feed's ``after`` cursor (None on the
    last page). Each post gets the first page of its comments under the private key
    ``_comments`` (their ids under ``_first``) and that page's ``after`` cursor under
    ``_after``; a post whose comments cannot be read keeps its place without them (logged).

    Raises TransientPlatformError if the response is not a Graph list.
    """
    posts = _data(page, "feed")
    for post in posts:
        post["_comments"], post["_after"] = _comment_page(post.pop("comments", None) or {},
                                                          post.get("id"))
        post["_first"] = {str(c.get("id")) for c in post["_comments"]}
    return posts, _next_after(page, "feed")


def _comment_page(page: Any, post_id: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Given a page of a post's comments (the edge nested in a feed post, or a batch answer's
    body), return the comments and the ``after`` cursor of the next page. A page that is not
    a Graph list is logged and read as empty: one post's comments must not fail the poll."""
    where = f"comments of post {str(post_id)[:60]}"
    try:
        return _data(page, where), _next_after(page, where)
    except TransientPlatformError as exc:
        log.warning("facebook.comments_unreadable", post=str(post_id)[:60], reason=str(exc))
        return [], None


def _timestamp(value: Any) -> float:
    return _parse_time(value).timestamp()


def _parse_time(value: Any) -> datetime:
    """Parse Graph's ``2021-07-04T19:50:58+0000``; raise ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"bad created_time {value!r:.60}")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(timezone.utc)
    except OverflowError:  # e.g. year 1 at +01:00 is before datetime.min in UTC
        raise ValueError(f"created_time out of range {value!r:.60}") from None


def _attachments(value: Any) -> list[Any]:
    """The entries of an ``attachments``/``subattachments`` edge; raise ValueError if it is
    not one."""
    if not value:
        return []
    data = value.get("data") if isinstance(value, dict) else None
    if not isinstance(data, list):
        raise ValueError(f"attachments are {type(value).__name__}, not a Graph list")
    return data


def _media(obj: Mapping[str, Any]) -> tuple[Media, ...]:
    """Images of a post's ``attachments`` (and subattachments) or a comment's ``attachment``.
    Attachments that cannot be read are logged and left out: the item's text must still be
    checked."""
    found: list[Media] = []

    def visit(att: Any) -> None:
        if not isinstance(att, dict):
            return
        media = att.get("media")
        image = media.get("image") if isinstance(media, dict) else None
        if isinstance(image, dict) and isinstance(image.get("src"), str) and image["src"]:
            kind = "video" if "video" in str(att.get("type", "")) else "photo"
            found.append(Media(url=image["src"], kind=kind))
        for sub in _attachments(att.get("subattachments")):
            visit(sub)

    try:
        for att in _attachments(obj.get("attachments")):
            visit(att)
        visit(obj.get("attachment"))
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested attachments
        log.warning("facebook.media_unreadable", item=str(obj.get("id"))[:60],
                    reason=str(exc)[:200])
    if not found and isinstance(obj.get("full_picture"), str) and obj["full_picture"]:
        found.append(Media(url=obj["full_picture"]))
    return tuple(found)


def _to_item(obj: dict[str, Any], post: dict[str, Any] | None, page_id: str) -> Item:
    """Given a post (``post`` None) or a comment with its post, return the Item.

    Raises ValueError if its id (or its post's) or its time cannot be read; other fields that
    cannot be read are left empty.
    """
    sender = obj.get("from") if isinstance(obj.get("from"), dict) else {}
    parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else {}
    if post is None:
        kind, parent_id = ItemKind.POST, None
    elif optional_id(parent.get("id")):
        kind, parent_id = ItemKind.REPLY, optional_id(parent.get("id"))
    else:
        kind, parent_id = ItemKind.COMMENT, payload_id(post.get("id"), "post id")
    author_id = optional_id(sender.get("id"))
    permalink = obj.get("permalink_url")
    can_hide = obj.get("can_hide")
    raw = {k: v for k, v in obj.items() if not k.startswith("_")}
    return Item(
        platform="facebook",
        external_id=payload_id(obj.get("id")),
        kind=kind,
        text=str(obj.get("message") or ""),
        created_at=_parse_time(obj.get("created_time")),
        author_id=author_id,
        author_name=payload_name(sender.get("name")),
        permalink=permalink if isinstance(permalink, str) and _URL.fullmatch(permalink)
        else None,
        parent_id=parent_id,
        is_own=author_id is not None and author_id == page_id,
        is_hidden=bool(obj.get("is_hidden", False)),
        can_hide=can_hide if isinstance(can_hide, bool) else None,
        media=_media(obj),
        raw=json.dumps(raw, sort_keys=True, ensure_ascii=False),
    )


# ---------------------------------------------------------------------- cursor


def _load_cursor(cursor: str | None) -> _Cursor:
    """Return the cursor's state; an empty one the first time, or for a cursor we cannot
    read (logged: the store's dedupe absorbs the re-read)."""
    if not cursor:
        return _Cursor()
    try:
        state = json.loads(cursor)
        seen = state.get("seen") or {}
        watermark = float(state["wm"])
        if not math.isfinite(watermark):  # NaN or inf would hide every item from now on
            raise ValueError(f"watermark {watermark}")
        return _Cursor(watermark=watermark,
                       edge=frozenset(str(i) for i in state.get("edge", [])),
                       seen={str(k): str(v) for k, v in seen.items()})
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        log.warning("facebook.bad_cursor", length=len(cursor))
        return _Cursor()


def _digest(item: Item) -> str:
    """A short fingerprint of an item's text (eight characters; collisions only cost a
    missed edit)."""
    raw = hashlib.blake2b(item.text.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return base64.urlsafe_b64encode(raw).decode()


def _is_new(item: Item, state: _Cursor) -> bool:
    created = item.created_at.timestamp()
    return created > state.watermark or (created == state.watermark
                                         and item.external_id not in state.edge)


def _was_edited(item: Item, state: _Cursor) -> bool:
    """Whether an item returned before now reads differently (unknown items: no)."""
    before = state.seen.get(item.external_id)
    return before is not None and before != _digest(item)


def _next_cursor(items: list[Item], state: _Cursor, again: set[str], memory: int
                 ) -> str | None:
    """Advance the watermark to the newest creation time seen; remember the text digests
    of the items the next poll reads ``again`` (the newest ``memory`` of them)."""
    watermark, edge = state.watermark, set(state.edge)
    if items:
        newest = max(i.created_at.timestamp() for i in items)
        if newest > watermark:
            watermark, edge = newest, set()
        if newest == watermark:
            edge |= {i.external_id for i in items if i.created_at.timestamp() == newest}
    if watermark == float("-inf"):
        return None
    recent = sorted((i for i in items if i.external_id in again), key=lambda i: i.created_at,
                    reverse=True)[:memory]
    seen = {i.external_id: _digest(i) for i in recent}
    return json.dumps({"v": 2, "wm": watermark, "edge": sorted(edge), "seen": seen},
                      sort_keys=True)
