"""X (Twitter) API v2 through ``tweepy.Client``.

A poll reads:

1. the member's mentions (``get_users_mentions``, ``since_id``): mentions, and replies that
   name the member (X prefixes ``@member`` to direct replies);
2. one recent search ``from:<handle> OR conversation_id:<id> OR ...`` (``since_id``): the
   member's new posts and every reply in their recent conversations (at most
   ``max_conversations`` posts of the last ``conversation_days``);
3. only when (2) found new own posts: a catch-up search of those new conversations.

The first poll seeds the member's posts with ``get_users_tweets`` instead of the ``from:``
term. So an idle poll is two requests; a first poll three. Without ``Account.handle`` the
numeric user id is used in ``from:``.

Untidy answers are absorbed: tweets repeated within or across pages, pages out of order
(``since_id`` is the highest id seen, whatever the order), empty pages that still carry a
``next_token``, tweets without an author or text, unknown fields. A tweet without a readable
id (a snowflake: decimal digits) or time is logged (``x.item_skipped``) and left out, as are
unreadable users or media; a response that is not an X list response raises
TransientPlatformError. A tweet is returned once:
an edit in place (same id, new text) is not noticed, as ``since_id`` never reads it again;
X itself gives an edit a new id, which arrives as a new tweet.

Routing: tweepy fixes its host inside ``Client.request``. By default (``routing =
"session"``) the client's session rebases URLs in its transport adapter; ``routing =
"client"`` uses :class:`BaseUrlClient`, which rebases each URL as ``request`` hands it over.

The cursor is JSON: ``{"v": 1, "m": mentions since_id, "s": search since_id,
"own": [[id, unix time], ...], "ahead": [ids already returned that are newer than s]}``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import requests
import structlog
import tweepy

from platforms._http import (
    CountingSession,
    base_url_session,
    counting_session,
    rebase,
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

X_PREFIX = "https://api.twitter.com/"
_TWEET_FIELDS = ["created_at", "conversation_id", "in_reply_to_user_id", "author_id",
                 "attachments", "referenced_tweets"]
_EXPANSIONS = ["author_id", "attachments.media_keys"]
_LOOKUP = {"expansions": _EXPANSIONS, "tweet_fields": _TWEET_FIELDS,
           "user_fields": ["username", "name"], "media_fields": ["url", "type",
                                                                 "preview_image_url"]}
# Tweet ids are snowflakes: decimal digits below 2**63. since_id and the cursor compare them
# with int(), which ASCII digits alone are safe for ("²".isdigit() is true, int("²") fails).
_TWEET_ID = re.compile(r"[0-9]{1,19}")
# What X allows in a username (15 at most today; some room kept), which goes into permalinks.
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,50}")


class _RebasedSession:
    """Stands in for a Session during one ``BaseUrlClient.request``: rebases the URL and
    passes the call on to the real session (which counts it)."""

    def __init__(self, session: CountingSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, rebase(url, self.base_url, X_PREFIX), **kwargs)


class BaseUrlClient(tweepy.Client):
    """A ``tweepy.Client`` whose requests go to ``base_url`` instead of api.twitter.com.

    tweepy builds the URL from a host fixed inside ``request``; rather than copy that method,
    this one lets it run with the session swapped, for the call, for a
    :class:`_RebasedSession` over the real one.
    """

    def __init__(self, *args: Any, base_url: str, session: CountingSession,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_url = base_url
        self.session = session

    def request(self, method: str, route: str, params: Any = None, json: Any = None,
                user_auth: bool = False) -> Any:
        real = self.session
        # A client serves one fetch on one thread, so swapping the attribute is safe.
        self.session = _RebasedSession(real, self.base_url)
        try:
            return super().request(method, route, params=params, json=json,
                                   user_auth=user_auth)
        finally:
            self.session = real


class _Page:
    """Tweets gathered over the pages of one query, with the users and media they cite."""

    def __init__(self) -> None:
        self.tweets: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.newest_id: str | None = None

    def add(self, response: Any) -> str | None:
        """Given one response of a list endpoint (``{"data": [tweets], "includes": {"users",
        "media"}, "meta": {"newest_id", "next_token", ...}}``), add what it holds; return its
        ``next_token`` (None on the last page). Tweets that are not objects, and users or
        media that cannot be read, are logged and left out.

        Raises TransientPlatformError if it is not such a response.
        """
        if not isinstance(response, dict):
            raise TransientPlatformError(f"x: malformed response: expected a JSON object, got "
                                         f"{type(response).__name__}")
        meta = response.get("meta") or {}
        data = response.get("data") or []
        if not isinstance(meta, dict) or not isinstance(data, list):
            raise TransientPlatformError(f"x: malformed response: 'meta' is "
                                         f"{type(meta).__name__} and 'data' is "
                                         f"{type(data).__name__}")
        tweets = [t for t in data if isinstance(t, dict)]
        if len(tweets) < len(data):
            log.warning("x.item_skipped", where="data", count=len(data) - len(tweets),
                        error="not an object")
        self.tweets.extend(tweets)
        # The highest id seen, not the first page's first: pages may come out of order.
        self.newest_id = _max_id([self.newest_id, meta.get("newest_id")]
                                 + [t.get("id") for t in tweets])
        includes = response.get("includes") or {}
        if not isinstance(includes, dict):
            log.warning("x.includes_unreadable", where="includes",
                        includes=type(includes).__name__)
            includes = {}
        self.users.update(_keyed(includes.get("users"), "id", "includes.users"))
        self.media.update(_keyed(includes.get("media"), "media_key", "includes.media"))
        token = meta.get("next_token")
        if token is not None and not isinstance(token, str):
            log.warning("x.paging_unreadable", next_token=type(token).__name__)
            return None
        return token or None


class XPlatform(Platform):
    """Polls X accounts and hides replies in the member's conversations."""

    name = "x"
    page_size = 100
    max_pages = 10
    #: own posts whose conversations are searched (query length caps this; 512 chars)
    max_conversations = 10
    #: recent search only reaches back seven days
    conversation_days = 7
    default_retry = timedelta(minutes=15)
    _AHEAD_LIMIT = 500
    #: how requests reach ``base_url``: "session" (a rebasing transport adapter on the
    #: client's session) or "client" (:class:`BaseUrlClient`)
    routing: ClassVar[str] = "session"
    ROUTINGS: ClassVar[tuple[str, ...]] = ("session", "client")

    def __init__(self, settings: PlatformSettings, secrets: SecretLookup, *,
                 routing: str | None = None, clock: Callable[[], float] | None = None) -> None:
        """Raises ValueError for a ``routing`` other than "session" or "client"."""
        super().__init__(settings, secrets)
        if routing is not None:
            if routing not in self.ROUTINGS:
                raise ValueError(f"unknown routing {routing!r}; known: {self.ROUTINGS}")
            self.routing = routing
        #: wall time in seconds; where the conversation window ends (tests move it)
        self.clock: Callable[[], float] = clock or time.time

    # ------------------------------------------------------------------ plumbing

    def _client(self, token: str) -> tuple[tweepy.Client, CountingSession]:
        """Return a tweepy Client routed to ``base_url`` and its counting session (fresh on
        every call: thread-safe)."""
        timeout = self.settings.timeout_seconds
        if self.routing == "client":
            session = counting_session(timeout)
            client: tweepy.Client = BaseUrlClient(bearer_token=token, return_type=dict,
                                                  base_url=self.settings.base_url,
                                                  session=session)
            return client, session
        client = tweepy.Client(bearer_token=token, return_type=dict)
        session = base_url_session(self.settings.base_url, X_PREFIX, timeout)
        client.session = session
        return client, session

    def _translated(self, token: str, session: CountingSession, op: str
                    ) -> AbstractContextManager[None]:
        """Run the body, turning any vendor error into a :mod:`watcher.errors` one that
        carries the request count."""
        return translating(token, lambda exc: translate_error(exc, token, session, op,
                                                              self.default_retry), session)

    def _paginate(self, call: Callable[..., Any], token_param: str, **kwargs: Any) -> _Page:
        """Call a tweepy list endpoint, following ``next_token`` up to ``max_pages``."""
        out = _Page()
        next_token: str | None = None
        for _ in range(self.max_pages):
            extra = {token_param: next_token} if next_token else {}
            response = call(max_results=self.page_size, **_LOOKUP, **kwargs, **extra)
            next_token = out.add(response)
            if not next_token:
                return out
        log.warning("x.fetch_truncated", pages=self.max_pages)
        return out

    # ------------------------------------------------------------------ fetch

    def fetch(self, account: Account, cursor: str | None) -> Batch:
        """Given an X account and its last cursor, return new mentions, replies in the
        member's recent conversations and the member's own posts, and the next cursor.

        Raises AuthExpired, RateLimited, TransientPlatformError or CredentialError.
        """
        token = self.secrets(account.credential)
        state = _load_cursor(cursor)
        uid = account.external_id
        client, session = self._client(token)
        now = self.clock()
        with self._translated(token, session, "fetch"):
            pages, state = self._poll(client, account, state, now)
            items = self._items(pages, uid, {o[0] for o in state["own"]})
            fresh = [i for i in items if i.external_id not in state["skip"]]
            # Ids returned now that a later query may return again (newer than a since_id) are
            # remembered, and dropped once both since_ids have passed them.
            sinces = [int(v) for v in (state["m"], state["s"]) if v]
            threshold = min(sinces) if sinces else 0
            ahead = set(state["ahead"]) | {i.external_id for i in fresh}
            state["ahead"] = sorted((a for a in ahead if int(a) > threshold), key=int)[
                -self._AHEAD_LIMIT:]
        slow = _slow_down(session.headers_seen)
        log.info("x.fetch", account=account.key, items=len(fresh),
                 requests=session.request_count, slow_down=slow)
        return Batch(items=tuple(fresh), cursor=_dump_cursor(state),
                     requests=session.request_count, slow_down=slow)

    def _poll(self, client: tweepy.Client, account: Account, state: dict[str, Any],
              now: float) -> tuple[list[_Page], dict[str, Any]]:
        """Make the poll's requests; return the pages read and the updated state (with a
        private ``skip`` set of ids returned earlier)."""
        uid = account.external_id
        first = state["s"] is None and not state["own"] and state["m"] is None
        pages: list[_Page] = []
        skip = set(state["ahead"])
        mentions = self._paginate(client.get_users_mentions, "pagination_token", id=uid,
                                  since_id=state["m"])
        pages.append(mentions)
        own = {str(i): float(t) for i, t in state["own"]}
        if first:
            seeded = self._paginate(client.get_users_tweets, "pagination_token", id=uid)
            pages.append(seeded)
            search_since = seeded.newest_id
            new_own = _own_posts(seeded, uid, now)
        else:
            terms = [f"from:{account.handle or uid}"] + [
                f"conversation_id:{i}" for i in _recent(own, now, self.conversation_days,
                                                        self.max_conversations)]
            combined = self._paginate(client.search_recent_tweets, "next_token",
                                      query=" OR ".join(terms), since_id=state["s"])
            pages.append(combined)
            search_since = combined.newest_id or state["s"]
            new_own = {i: t for i, t in _own_posts(combined, uid, now).items()
                       if i not in own}
        recent_new = _recent(new_own, now, self.conversation_days, self.max_conversations)
        if recent_new:
            # Replies already posted in conversations we were not searching yet.
            catch_up = self._paginate(client.search_recent_tweets, "next_token",
                                      query=" OR ".join(f"conversation_id:{i}"
                                                        for i in recent_new),
                                      since_id=None if first else state["s"])
            pages.append(catch_up)
        own.update(new_own)
        kept = sorted(own.items(), key=lambda kv: int(kv[0]))[-self.max_conversations * 3:]
        state = {
            "m": mentions.newest_id or state["m"],
            "s": search_since,
            "own": [[i, t] for i, t in kept if t >= now - self.conversation_days * 86400],
            "ahead": sorted(skip, key=int),
            "skip": skip,
        }
        return pages, state

    @staticmethod
    def _items(pages: list[_Page], uid: str, own_ids: set[str]) -> list[Item]:
        """Turn the tweets of all pages into Items, each id once (the first copy wins)."""
        users: dict[str, dict[str, Any]] = {}
        media: dict[str, dict[str, Any]] = {}
        for page in pages:
            users.update(page.users)
            media.update(page.media)
        items: dict[str, Item] = {}
        for page in pages:
            for tweet in page.tweets:
                tid = str(tweet.get("id"))
                if tid in items:
                    continue
                try:
                    items[tid] = _to_item(tweet, uid, own_ids, users, media)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    # One unreadable tweet must not block the account's every later poll.
                    log.warning("x.item_skipped", item=tid[:40], error=type(exc).__name__,
                                reason=str(exc)[:200])
        return list(items.values())

    # ------------------------------------------------------------------ hide

    def hide(self, account: Account, item: Item) -> None:
        """Hide a reply in the member's own conversation with a user-context token.

        Raises HideNotSupported without ``credential_user``, for the member's own posts and
        for mentions outside their conversations; the same errors as :meth:`fetch` otherwise.
        """
        if item.platform != self.name:
            raise HideNotSupported(f"not an X item: {item.platform}:{item.external_id}")
        if not account.credential_user:
            raise HideNotSupported(f"{account.key} has no user-context credential for hiding")
        if item.is_own:
            raise HideNotSupported(f"X item {item.external_id} is the member's own post")
        if item.kind != ItemKind.REPLY:
            raise HideNotSupported(f"X item {item.external_id} is not a reply in the member's "
                                   f"conversation; X only hides those")
        token = self.secrets(account.credential_user)
        client, session = self._client(token)
        with self._translated(token, session, "hide"):
            response = client.hide_reply(item.external_id, user_auth=False)
            hidden = bool(((response or {}).get("data") or {}).get("hidden"))
        if not hidden:
            raise PlatformError(f"X did not confirm hiding {item.external_id}")
        log.info("x.hide", account=account.key, item=item.external_id)


# ---------------------------------------------------------------------- errors


def translate_error(exc: BaseException, token: str, session: CountingSession | None, op: str,
                    default_retry: timedelta = timedelta(minutes=15)) -> PlatformError:
    """Given a vendor exception raised while talking to X, the token in use, the session
    (for the last headers) and the operation ("fetch" or "hide"), return the
    :mod:`watcher.errors` exception to raise. Its message never holds the token.
    """
    text = redact(f"x: {type(exc).__name__}: {exc}", token).replace("\n", "; ")
    if isinstance(exc, tweepy.TooManyRequests):
        reset = exc.reset_time
        if reset is None and session is not None:
            try:
                reset = int(session.last_headers.get("x-rate-limit-reset", ""))
            except ValueError:
                reset = None
        retry_at = (datetime.fromtimestamp(reset, timezone.utc) if reset
                    else datetime.now(timezone.utc) + default_retry)
        return RateLimited(text, retry_at=retry_at)
    if isinstance(exc, tweepy.Unauthorized):
        return AuthExpired(text)
    if isinstance(exc, tweepy.Forbidden):
        # On hide, 403 means "not your conversation"; on reads, access was withdrawn.
        return HideNotSupported(text) if op == "hide" else AuthExpired(text)
    if isinstance(exc, tweepy.NotFound) and op == "fetch":
        return AuthExpired(text)  # the account is gone
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientPlatformError(text)
    if isinstance(exc, tweepy.HTTPException):
        return PlatformError(text)
    if isinstance(exc, requests.Timeout):
        return TransientPlatformError(f"x: timed out ({type(exc).__name__})")
    if isinstance(exc, requests.RequestException):
        return TransientPlatformError(text)
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, RecursionError)):
        # tweepy calls response.json(): malformed or truncated bodies (nested past the stack:
        # RecursionError), unexpected shapes.
        return TransientPlatformError(f"x: malformed response: {text}")
    return PlatformError(text)


def _slow_down(headers_seen: list[Mapping[str, str]]) -> float:
    """Given the responses' headers, return a factor >= 1 by which to stretch the poll
    interval as ``x-rate-limit-remaining`` falls under a quarter of the limit."""
    fraction = 1.0
    for headers in headers_seen:
        try:
            limit = int(headers.get("x-rate-limit-limit", "0"))
            remaining = int(headers.get("x-rate-limit-remaining", "0"))
        except ValueError:
            continue
        if limit > 0:
            fraction = min(fraction, remaining / limit)
    if fraction >= 0.25:
        return 1.0
    return min(10.0, 0.25 / max(fraction, 0.025))


# ---------------------------------------------------------------------- payloads


def _tweet_id(value: Any, what: str = "id") -> str:
    """Given a tweet id from a payload, return it as a string of decimal digits; raise
    ValueError naming ``what`` for anything else."""
    tid = payload_id(value, what)
    if not _TWEET_ID.fullmatch(tid):
        raise ValueError(f"bad {what} {value!r:.60}: not a tweet id")
    return tid


def _max_id(ids: list[Any]) -> str | None:
    """The highest of some tweet ids (anything that is not one is ignored)."""
    numeric = []
    for i in ids:
        try:
            numeric.append(_tweet_id(i))
        except ValueError:
            continue
    return max(numeric, key=int) if numeric else None


def _keyed(entries: Any, key: str, where: str) -> dict[str, dict[str, Any]]:
    """Given an ``includes`` list (users, media), return {entry[key]: entry}; entries that
    are not objects or have no readable ``key`` are logged and left out."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        log.warning("x.includes_unreadable", where=where, includes=type(entries).__name__)
        return {}
    out: dict[str, dict[str, Any]] = {}
    unreadable = 0
    for entry in entries:
        k = optional_id(entry.get(key)) if isinstance(entry, dict) else None
        if k is None:
            unreadable += 1
        else:
            out[k] = entry  # a repeated key: the last wins, as X repeats the same object
    if unreadable:
        log.warning("x.includes_unreadable", where=where, count=unreadable)
    return out


def _own_posts(page: _Page, uid: str, now: float) -> dict[str, float]:
    """The member's own conversation-starting posts in a page: {id: unix time} (``now`` for
    one without a readable time). A tweet without a readable id is left out (and skipped,
    logged, when the page becomes items)."""
    out: dict[str, float] = {}
    for tweet in page.tweets:
        try:
            tid = _tweet_id(tweet.get("id"))
        except ValueError:
            continue
        if optional_id(tweet.get("author_id")) == uid and (
                optional_id(tweet.get("conversation_id")) or tid) == tid:
            try:
                out[tid] = _parse_time(tweet.get("created_at")).timestamp()
            except ValueError:
                out[tid] = now
    return out


def _recent(own: Mapping[str, float], now: float, days: int, limit: int) -> list[str]:
    """The newest ``limit`` post ids of the last ``days`` days."""
    fresh = [i for i, t in own.items() if t >= now - days * 86400]
    return sorted(fresh, key=int)[-limit:]


def _parse_time(value: Any) -> datetime:
    """Parse X's ``2024-01-15T10:30:00.000Z``; raise ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"bad created_at {value!r:.60}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # X always writes "Z"; without it astimezone() would read the server's local time.
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. year 1 at +01:00 is before datetime.min in UTC
        raise ValueError(f"created_at out of range {value!r:.60}") from None


def _to_item(tweet: dict[str, Any], uid: str, own_ids: set[str],
             users: Mapping[str, Mapping[str, Any]],
             media: Mapping[str, Mapping[str, Any]]) -> Item:
    """Given a tweet, the member's id and recent own post ids, return the Item.

    Raises ValueError if its id or time cannot be read; other fields that cannot be read are
    left empty.
    """
    tid = _tweet_id(tweet.get("id"))
    author = optional_id(tweet.get("author_id"))
    conversation = optional_id(tweet.get("conversation_id")) or tid
    references = tweet.get("referenced_tweets")
    replied_to = next((ref for r in (references if isinstance(references, list) else [])
                       if isinstance(r, dict) and r.get("type") == "replied_to"
                       and (ref := optional_id(r.get("id")))), None)
    is_own = author == uid
    if conversation == tid and replied_to is None:
        kind = ItemKind.POST if is_own else ItemKind.MENTION
    elif conversation in own_ids:
        kind = ItemKind.REPLY
    else:
        kind = ItemKind.MENTION
    user = users.get(author or "", {})
    handle = user.get("username")
    handle = handle if isinstance(handle, str) and _USERNAME.fullmatch(handle) else None
    attachments = tweet.get("attachments")
    keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
    found = tuple(Media(url=url, kind=str(m.get("type") or "photo"))
                  for k in (keys if isinstance(keys, list) else [])
                  if isinstance(k, str | int) and (m := media.get(str(k)))
                  and isinstance(url := m.get("url") or m.get("preview_image_url"), str) and url)
    return Item(
        platform="x",
        external_id=tid,
        kind=kind,
        text=str(tweet.get("text") or ""),
        created_at=_parse_time(tweet.get("created_at")),
        author_id=author,
        author_name=payload_name(user.get("name")) or handle,
        permalink=(f"https://x.com/{handle}/status/{tid}" if handle
                   else f"https://x.com/i/web/status/{tid}"),
        parent_id=replied_to,
        is_own=is_own,
        can_hide=kind == ItemKind.REPLY and not is_own,
        media=found,
        raw=json.dumps(tweet, sort_keys=True, ensure_ascii=False),
    )


# ---------------------------------------------------------------------- cursor


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    """Return the cursor's state; a fresh state the first time or for an unreadable one."""
    fresh: dict[str, Any] = {"m": None, "s": None, "own": [], "ahead": []}
    if not cursor:
        return fresh
    try:
        state = json.loads(cursor)
        # Every id is compared with int() later: one that is not a tweet id (a cursor edited
        # or damaged in the store) would fail every poll, so it reads as "none".
        return {"m": _max_id([state.get("m")]), "s": _max_id([state.get("s")]),
                "own": [[_tweet_id(i), float(t)] for i, t in state.get("own", [])],
                "ahead": [a for a in map(optional_id, state.get("ahead", []))
                          if a and _TWEET_ID.fullmatch(a)]}
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
        log.warning("x.bad_cursor", length=len(cursor))
        return fresh


def _dump_cursor(state: Mapping[str, Any]) -> str:
    return json.dumps({"v": 1, "m": state["m"], "s": state["s"], "own": state["own"],
                       "ahead": state["ahead"]}, sort_keys=True)
