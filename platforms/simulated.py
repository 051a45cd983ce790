"""A real HTTP server speaking the Facebook Graph API and X API v2 wire formats.

It plays a scripted timeline of posts, comments and mentions: each event becomes visible
``at`` seconds after the server started, with that wall-clock time as its creation time.
``watcher demo`` and the end-to-end tests point the real SDKs (facebook-sdk, tweepy) at
``base_url``; the integration tests inject faults (rate limits, 5xx, timeouts, malformed or
truncated bodies, expired tokens) to check the adapters' error handling.

Payload shapes follow recorded real responses (sns-sdks/python-facebook ``testdata/``,
tweepy's ``cassettes/``, X's documentation):

* Graph: ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}``; errors
  ``{"error": {"message", "type": "OAuthException", "code", "fbtrace_id"}}``; ``X-App-Usage``.
* X: ``{"data": [...], "includes": {"users": [...]}, "meta": {"newest_id", "oldest_id",
  "result_count", "next_token"}}``; errors are problem JSON; ``x-rate-limit-*`` headers.

``SimEdit`` changes an item's text from its ``at`` on and ``SimDelete`` removes it (on
Facebook with its comments and replies). Graph batch requests (``POST /`` with
``batch=[{"method", "relative_url"}, ...]``, at most 50) answer a JSON list of ``{"code",
"headers": [{"name", "value"}], "body": JSON text}``, ``null`` for an operation that timed
out; each operation is a request of its own for faults. Besides error faults, data faults
(``DATA_FAULTS``) serve valid but untidy pages: items twice, shuffled, overlapping pages,
empty pages with a next link; and a ``slow`` fault (``SLOW_FAULTS``) answers correctly, but
only after ``Faults.slow_delay`` seconds. ``requests_log`` has one entry per HTTP request (a batch is
one), without tokens.

On X, ids must be numeric strings (they are snowflakes there, and ``since_id`` compares them
as numbers). A ``SimPost`` on X with an author other than the account owner is a tweet
addressed to the member, served like a mention. A ``SimComment`` on X is a reply in the
conversation of ``post_id``; it appears in the member's mentions timeline too when it replies
to the member's post directly or its text holds ``@handle`` (as X auto-prefixes replies);
with ``author_id`` None it is served without an author (X's analogue of a comment with no
``from``).
"""

from __future__ import annotations

import base64
import bisect
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Union
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog

from watcher.localserver import LocalHTTPServer

log = structlog.get_logger(__name__)

PLATFORMS = ("facebook", "x")
#: faults that fail the request
ERROR_FAULTS = ("rate_limit", "server_error", "timeout", "malformed", "truncated",
                "expired_token")
#: faults that answer 200 with awkward but valid data: every item of each list twice, lists
#: in shuffled order, a next-page cursor that repeats the page's last item, an empty page
#: that still links to a next page
DATA_FAULTS = ("duplicate_items", "shuffled", "overlapping_pages", "empty_page_with_next")
#: faults that answer correctly but late: the request is held ``Faults.slow_delay`` seconds
#: (a slow platform or network), then answered as it would have been then
SLOW_FAULTS = ("slow",)
FAULT_KINDS = ERROR_FAULTS + DATA_FAULTS + SLOW_FAULTS
#: operations a Graph batch request may hold
BATCH_LIMIT = 50


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class SimPost:
    """A top-level post on a page (Facebook) or a tweet (X). ``author_id`` None = the
    account owner's own post. ``extra`` fields are merged into the item's JSON as-is."""

    at: float
    platform: str
    account: str
    id: str
    text: str
    author_id: str | None = None
    author_name: str | None = None
    media: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SimComment:
    """A comment on ``post_id`` (Facebook; a reply to comment ``parent_id`` if given) or a
    reply in the conversation of ``post_id`` (X). ``author_id`` None on Facebook = a comment
    whose author Graph does not disclose (no ``from``)."""

    at: float
    platform: str
    account: str
    id: str
    post_id: str
    text: str
    author_id: str | None
    author_name: str | None
    parent_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SimMention:
    """A tweet mentioning the member ``account`` outside their conversations (X only)."""

    at: float
    account: str
    id: str
    text: str
    author_id: str
    author_name: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SimEdit:
    """From ``at`` on, item ``id`` (a post, comment or mention) reads ``text`` instead; it
    keeps its id and creation time, as a Facebook edit does."""

    at: float
    platform: str
    account: str
    id: str
    text: str


@dataclass(frozen=True)
class SimDelete:
    """From ``at`` on, item ``id`` is gone. On Facebook its comments (or a comment's replies)
    go with it; on X, as there, replies to a deleted tweet stay."""

    at: float
    platform: str
    account: str
    id: str


SimItem = Union[SimPost, SimComment, SimMention]
Event = Union[SimPost, SimComment, SimMention, SimEdit, SimDelete]

_REQUIRED: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "post": (("at", (int, float)), ("platform", str), ("account", str), ("id", str), ("text", str)),
    "comment": (("at", (int, float)), ("platform", str), ("account", str), ("id", str),
                ("post_id", str), ("text", str)),
    "mention": (("at", (int, float)), ("account", str), ("id", str), ("text", str),
                ("author_id", str), ("author_name", str)),
    "edit": (("at", (int, float)), ("platform", str), ("account", str), ("id", str),
             ("text", str)),
    "delete": (("at", (int, float)), ("platform", str), ("account", str), ("id", str)),
}
_OPTIONAL: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "post": (("author_id", str), ("author_name", str), ("media", list), ("extra", dict)),
    "comment": (("author_id", str), ("author_name", str), ("parent_id", str), ("extra", dict)),
    "mention": (("extra", dict),),
    "edit": (),
    "delete": (),
}
_CLASSES: dict[str, type] = {"post": SimPost, "comment": SimComment, "mention": SimMention,
                             "edit": SimEdit, "delete": SimDelete}


def _event_from_json(index: int, obj: Any) -> Event:
    """Given one timeline entry and its index, return the event; raise ValueError naming both
    the index and the offending field."""
    if not isinstance(obj, dict):
        raise ValueError(f"timeline[{index}]: expected an object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in _CLASSES:
        raise ValueError(f"timeline[{index}].type: expected one of {', '.join(_CLASSES)}, "
                         f"got {kind!r}")
    kwargs: dict[str, Any] = {}
    for name, types in _REQUIRED[kind]:
        if name not in obj:
            raise ValueError(f"timeline[{index}].{name}: missing (required for a {kind})")
        value = obj[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"timeline[{index}].{name}: wrong type {type(value).__name__}")
        kwargs[name] = value
    for name, types in _OPTIONAL[kind]:
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, types):
            raise ValueError(f"timeline[{index}].{name}: wrong type {type(value).__name__}")
        kwargs[name] = tuple(value) if name == "media" else value
    if kind == "comment":
        kwargs.setdefault("author_id", None)
        kwargs.setdefault("author_name", None)
    known = {"type"} | {n for n, _ in _REQUIRED[kind]} | {n for n, _ in _OPTIONAL[kind]}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ValueError(f"timeline[{index}].{unknown[0]}: unknown field for a {kind}")
    event = _CLASSES[kind](**kwargs)
    _check_event(index, event)
    return event


def _check_event(index: int, event: Event) -> None:
    """Raise ValueError for values that are well-typed but impossible."""
    platform = "x" if isinstance(event, SimMention) else event.platform
    if platform not in PLATFORMS:
        raise ValueError(f"timeline[{index}].platform: expected one of {PLATFORMS}, "
                         f"got {platform!r}")
    if not event.id:
        raise ValueError(f"timeline[{index}].id: must not be empty")
    if platform == "x" and not event.id.isdigit():
        raise ValueError(f"timeline[{index}].id: X ids are numeric strings, got {event.id!r}")


def load_timeline(source: str | Path | list[dict[str, Any]]) -> list[SimItem]:
    """Given a JSON file path, a JSON string or a parsed list of event objects, return the
    events sorted by ``at``.

    Raises ValueError naming the entry's index and field on bad input, and for duplicate ids
    or comments on unknown posts.
    """
    if isinstance(source, list):
        data: Any = source
    else:
        text = str(source)
        if isinstance(source, Path) or not text.lstrip().startswith("["):
            text = Path(source).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"timeline: invalid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError("timeline: expected a JSON list of event objects")
    events = [_event_from_json(i, obj) for i, obj in enumerate(data)]
    _check_references(events)
    return sorted(events, key=lambda e: e.at)


def _check_references(events: list[Event]) -> None:
    """Raise ValueError for duplicate ids, comments pointing at unknown posts/comments, and
    edits or deletions of unknown items or of items not yet created."""
    seen: dict[tuple[str, str], int] = {}
    for i, event in enumerate(events):
        if isinstance(event, (SimEdit, SimDelete)):
            continue  # they name an existing item's id on purpose
        platform = "x" if isinstance(event, SimMention) else event.platform
        if (platform, event.id) in seen:
            raise ValueError(f"timeline[{i}].id: duplicate id {event.id!r} "
                             f"(first at index {seen[(platform, event.id)]})")
        seen[(platform, event.id)] = i
    for i, event in enumerate(events):
        if isinstance(event, SimComment):
            if (event.platform, event.post_id) not in seen:
                raise ValueError(f"timeline[{i}].post_id: unknown post {event.post_id!r}")
            if event.parent_id and (event.platform, event.parent_id) not in seen:
                raise ValueError(f"timeline[{i}].parent_id: unknown comment {event.parent_id!r}")
        elif isinstance(event, (SimEdit, SimDelete)):
            target = seen.get((event.platform, event.id))
            if target is None:
                raise ValueError(f"timeline[{i}].id: unknown item {event.id!r}")
            if event.at < events[target].at:
                raise ValueError(f"timeline[{i}].at: before item {event.id!r} exists")


# --------------------------------------------------------------------------- faults


@dataclass
class _Fault:
    kind: str
    times: int
    platform: str | None
    account: str | None
    where: str | None = None


class Faults:
    """Faults waiting to be served, each for ``times`` matching requests. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Fault] = []
        #: how long a "timeout" fault holds the request (seconds); keep it small in tests
        self.timeout_delay: float = 15.0
        #: seconds until a "rate_limit" fault's window resets (Graph states it in minutes:
        #: whole ones from 60 s up, as Graph does; a fraction of one below, for quick tests)
        self.rate_limit_reset: float = 60.0
        #: how long a "slow" fault holds the request before answering it (seconds)
        self.slow_delay: float = 2.0
        #: how many requests each fault kind was served to (what ``take`` handed out)
        self.served: dict[str, int] = {}

    def inject(self, kind: str, times: int = 1, platform: str | None = None,
               account: str | None = None, *, where: str | None = None) -> None:
        """Serve fault ``kind`` to the next ``times`` requests matching platform/account and,
        if ``where`` is given, whose path contains it (e.g. ``"/comments"``). Inside a Graph
        batch each operation is a request of its own; the batch request itself has no
        account, so only faults without one (and of ``ERROR_FAULTS``) can fail it whole.

        Raises ValueError for an unknown kind or platform.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if platform is not None and platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        with self._lock:
            self._pending.append(_Fault(kind, times, platform, account, where))

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()

    def take(self, platform: str, account: str | None, path: str = "", *,
             data_faults: bool = True) -> str | None:
        """Return the kind of the first pending fault matching this request, consuming one use
        (``data_faults`` False: only ``ERROR_FAULTS`` match)."""
        with self._lock:
            for fault in self._pending:
                if fault.platform not in (None, platform):
                    continue
                if fault.account is not None and fault.account != account:
                    continue
                if fault.where is not None and fault.where not in path:
                    continue
                if not data_faults and fault.kind not in ERROR_FAULTS:
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._pending.remove(fault)
                self.served[fault.kind] = self.served.get(fault.kind, 0) + 1
                return fault.kind
        return None


# --------------------------------------------------------------------------- helpers


def _graph_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _x_time(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> Any:
    padded = text + "=" * (-len(text) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


def _mangle_lists(body: Any, kind: str) -> Any:
    """Apply data fault ``duplicate_items`` or ``shuffled`` to a list body's ``data`` and to
    the ``comments`` edges nested in its items, in place; return the body."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return body
    data: list[Any] = body["data"]
    if kind == "duplicate_items":
        data[:] = [copy for item in data for copy in (item, json.loads(json.dumps(item)))]
    elif kind == "shuffled" and len(data) > 1:
        before = list(data)
        random.Random(len(data)).shuffle(data)
        if data == before:
            data.reverse()
    for item in data:
        if isinstance(item, dict):
            _mangle_lists(item.get("comments"), kind)
    return body


def _parse_fields(spec: str) -> dict[str, tuple[dict[str, str], str | None]]:
    """Parse Graph field expansion syntax, e.g. ``id,comments.limit(5).filter(stream){id}``,
    into ``{name: ({modifier: argument}, subfield spec or None)}``."""
    out: dict[str, tuple[dict[str, str], str | None]] = {}
    for part in _split_top(spec):
        sub = None
        if "{" in part and part.endswith("}"):
            head, sub = part[: part.index("{")], part[part.index("{") + 1 : -1]
        else:
            head = part
        name, *mods = head.split(".")
        modifiers: dict[str, str] = {}
        for mod in mods:
            if "(" in mod and mod.endswith(")"):
                modifiers[mod[: mod.index("(")]] = mod[mod.index("(") + 1 : -1]
        if name:
            out[name.strip()] = (modifiers, sub)
    return out


def _split_top(spec: str) -> list[str]:
    """Split on commas that are not inside braces or parentheses."""
    parts, depth, current = [], 0, []
    for ch in spec:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current).strip())
    return [p for p in parts if p]


class _Reply:
    """What to send back: status, headers and body, or a fault to act out."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


# --------------------------------------------------------------------------- server


class SimulatedPlatform(LocalHTTPServer):
    """A scripted Graph API + X API v2 server on 127.0.0.1 (see the module docstring).

    ``tokens`` maps an account id to the token it accepts (None: any non-empty token);
    ``user_tokens`` the same for X user-context tokens used to hide replies (default:
    ``tokens``); ``handles`` maps X account ids to usernames (default ``user<ID>``).
    ``clock`` gives wall time in seconds; items are visible from ``start time + at``.
    """

    def __init__(self, timeline: Iterable[Event], tokens: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, *,
                 user_tokens: Mapping[str, str] | None = None,
                 handles: Mapping[str, str] | None = None) -> None:
        self.events: list[Event] = sorted(timeline, key=lambda e: e.at)
        self.tokens = dict(tokens) if tokens is not None else None
        self.user_tokens = dict(user_tokens) if user_tokens is not None else self.tokens
        self.handles = dict(handles or {})
        self.clock = clock
        self.faults = Faults()
        self.requests_log: list[tuple[str, str, str, dict[str, str]]] = []
        self.hidden: set[str] = set()
        #: files served at /media/NAME: name -> (bytes, Content-Type, delay in seconds)
        self.media: dict[str, tuple[bytes, str, float]] = {}
        #: percentage reported in X-App-Usage call_count (tests raise it to see slow-downs)
        self.app_usage_percent: int = 1
        #: X rate limit per endpoint family per 15-minute window
        self.x_rate_limit: int = 450
        self._x_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.started_at: float = clock()
        #: each item as first created (edits and deletions are applied by ``_visible``)
        self._by_id: dict[tuple[str, str], SimItem] = {}
        for event in self.events:
            if not isinstance(event, (SimEdit, SimDelete)):
                self._by_id[(self._platform(event), event.id)] = event
        self._ats = [e.at for e in self.events]
        self._state: tuple[int, list[SimItem], dict[tuple[str, str], SimItem]] = (-1, [], {})

    # ----------------------------------------------------------------- lifecycle

    thread_name = "simulated-platform"

    def start(self) -> SimulatedPlatform:
        """Bind to 127.0.0.1 on a free port and serve in a daemon thread; return self.
        Items become visible from now + their ``at``."""
        if not self.running:
            self.started_at = self.clock()
        return super().start()

    def _on_start(self) -> None:
        log.info("simulated.start", base_url=self.base_url, events=len(self.events))

    def _on_stop(self) -> None:
        log.info("simulated.stop")

    def add_media(self, name: str, data: bytes, content_type: str = "image/jpeg",
                  delay: float = 0.0) -> str:
        """Serve ``data`` at ``/media/NAME`` (after ``delay`` seconds) and return the URL to
        write in a timeline: ``sim:media/NAME``, which every payload this server sends
        carries as its real address."""
        self.media[name] = (data, content_type, delay)
        return f"{MEDIA_PREFIX}{name}"

    # ----------------------------------------------------------------- state

    @staticmethod
    def _platform(event: Event) -> str:
        return "x" if isinstance(event, SimMention) else event.platform

    def created(self, event: SimItem) -> float:
        """Wall-clock creation time of an event."""
        return self.started_at + event.at

    def _visible(self) -> list[SimItem]:
        """The items that exist now, in creation order, with edits applied and deleted items
        (and on Facebook their comments and replies) left out."""
        return self._now_state()[1]

    def _current(self, platform: str, item_id: str) -> SimItem | None:
        """The item as it is now, or None if it does not exist (yet, or any more)."""
        return self._now_state()[2].get((platform, item_id))

    def _now_state(self) -> tuple[int, list[SimItem], dict[tuple[str, str], SimItem]]:
        # The state only changes when another event comes due, so it is rebuilt only then.
        due = bisect.bisect_right(self._ats, self.clock() - self.started_at)
        state = self._state
        if state[0] == due:
            return state
        items: dict[tuple[str, str], SimItem] = {}
        for event in self.events[:due]:
            key = (self._platform(event), event.id)
            if isinstance(event, SimEdit):
                if key in items:
                    items[key] = replace(items[key], text=event.text)
            elif isinstance(event, SimDelete):
                self._delete(items, key)
            else:
                items[key] = event
        state = (due, list(items.values()), items)
        self._state = state
        return state

    @staticmethod
    def _delete(items: dict[tuple[str, str], SimItem], key: tuple[str, str]) -> None:
        """Remove an item; on Facebook also every comment under it, at any depth."""
        gone = {key}
        if key[0] == "facebook":
            changed = True
            while changed:
                changed = False
                for other_key, other in items.items():
                    if other_key in gone or not isinstance(other, SimComment):
                        continue
                    if ("facebook", other.post_id) in gone or (
                            other.parent_id and ("facebook", other.parent_id) in gone):
                        gone.add(other_key)
                        changed = True
        for k in gone:
            items.pop(k, None)

    def _take_slow(self, fault: str | None) -> str | None:
        """Act out a "slow" fault (hold the request, cut short by ``stop()``) and return None,
        as the request is then answered normally; return any other fault as it is."""
        if fault in SLOW_FAULTS:
            self._stopping.wait(self.faults.slow_delay)
            return None
        return fault

    def _lookup(self, platform: str, item_id: str) -> SimItem | None:
        """The item as first created, whether it exists now or not (for whose it is)."""
        return self._by_id.get((platform, item_id))

    def _log(self, platform: str, method: str, path: str, params: dict[str, str]) -> None:
        clean = {k: v for k, v in params.items() if k != "access_token"}
        with self._lock:
            self.requests_log.append((platform, method, path, clean))

    def _token_ok(self, token: str | None, account: str | None, *, user: bool = False) -> bool:
        table = self.user_tokens if user else self.tokens
        if not token:
            return False
        if table is None:
            return True
        if account is not None and account in table:
            return table[account] == token
        return token in table.values()

    # ================================================================= Graph API

    def graph(self, method: str, parts: list[str], params: dict[str, str],
              token: str | None) -> _Reply:
        """Answer one Graph API HTTP request (``parts`` = path segments, version first); a
        POST with a ``batch`` parameter to the root or a version root is a batch request."""
        path = "/" + "/".join(parts)
        self._log("facebook", method, path, params)
        if method == "POST" and "batch" in params and len(parts) <= 1:
            fault = self.faults.take("facebook", None, path, data_faults=False)
            if fault:
                return self._graph_fault(fault)
            if not self._token_ok(token, None):
                return self._graph_bad_token()
            return self._graph_batch(params, token)
        return self._graph_answer(method, parts, params, token)

    def _graph_answer(self, method: str, parts: list[str], params: dict[str, str],
                      token: str | None) -> _Reply:
        """Answer one logical Graph request: a plain HTTP one or one operation of a batch."""
        version = parts[0] if parts else ""
        rest = parts[1:]
        account = self._graph_account(rest)
        fault = self._take_slow(self.faults.take("facebook", account, "/" + "/".join(parts)))
        if fault in ERROR_FAULTS:
            return self._graph_fault(fault)
        if not self._token_ok(token, account):
            return self._graph_bad_token()
        if method == "GET" and len(rest) == 2 and rest[1] == "feed":
            return self._ok_graph(self._feed(version, rest[0], params, token, fault))
        if method == "GET" and len(rest) == 2 and rest[1] == "comments":
            target = self._current("facebook", rest[0])
            if target is None:
                return self._graph_missing(rest[0])
            return self._ok_graph(self._comments_edge(version, target, params, params, token,
                                                      fault, top=True))
        if method == "GET" and len(rest) == 1:
            target = self._current("facebook", rest[0])
            if target is None:
                return self._graph_missing(rest[0])
            fields = _parse_fields(params.get("fields", "id"))
            return self._ok_graph(self._graph_object(version, target, fields, token))
        if method == "POST" and len(rest) == 1:
            return self._graph_hide(rest[0], params)
        return self._graph_error(400, 100, f"Unsupported {method} request.")

    def _graph_batch(self, params: Mapping[str, str], token: str | None) -> _Reply:
        """Answer a batch: a JSON list of ``{"code", "headers": [{"name", "value"}], "body":
        JSON text}``, one per operation in order; ``null`` for an operation that timed out."""
        try:
            ops = json.loads(params["batch"])
        except ValueError:
            ops = None
        if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
            return self._graph_error(400, 100, "(#100) The parameter batch must be a JSON "
                                     "array of objects")
        if len(ops) > BATCH_LIMIT:
            return self._graph_error(400, 100, "(#100) Too many requests in batch message. "
                                     f"Maximum batch size is {BATCH_LIMIT}")
        headers = str(params.get("include_headers", "true")).lower() != "false"
        return self._ok_graph([self._graph_operation(op, token, headers) for op in ops])

    def _graph_operation(self, op: Mapping[str, Any], token: str | None,
                         include_headers: bool) -> dict[str, Any] | None:
        """Run one batch operation through :meth:`_graph_answer`; return its answer entry."""
        method = str(op.get("method") or "GET").upper()
        split = urlsplit(str(op.get("relative_url") or ""))
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        if isinstance(op.get("body"), str):
            params.update(parse_qsl(op["body"], keep_blank_values=True))
        parts = [p for p in split.path.split("/") if p]
        if parts and not (parts[0].startswith("v") and parts[0][1:2].isdigit()):
            parts.insert(0, "")  # Graph takes unversioned relative URLs too
        reply = self._graph_answer(method, parts, params, params.pop("access_token", token))
        fault = reply.headers.pop("X-Sim-Fault", None)
        if fault == "timeout":
            return None
        body = json.dumps(reply.body)
        if fault == "malformed":
            body = '{"data": [{"id": "1", "message": <html>Bad Gateway</html>'
        elif fault == "truncated":
            body = body[: len(body) // 2]
        entry: dict[str, Any] = {"code": reply.status, "body": body}
        if include_headers:
            entry["headers"] = [{"name": "Content-Type",
                                 "value": "text/javascript; charset=UTF-8"}] + [
                {"name": k, "value": v} for k, v in reply.headers.items()]
        return entry

    def _graph_account(self, rest: list[str]) -> str | None:
        if not rest:
            return None
        event = self._lookup("facebook", rest[0])
        if event is None:
            return rest[0]  # a page id
        return event.account

    def _ok_graph(self, body: Any) -> _Reply:
        usage = {"call_count": self.app_usage_percent, "total_cputime": 1, "total_time": 1}
        return _Reply(200, body, {"X-App-Usage": json.dumps(usage)})

    def _graph_error(self, status: int, code: int, message: str, *, subcode: int | None = None,
                     headers: dict[str, str] | None = None, transient: bool = False) -> _Reply:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                                 "fbtrace_id": "AsimulatedTraceId0001"}
        if subcode is not None:
            error["error_subcode"] = subcode
        if transient:
            error["is_transient"] = True
        return _Reply(status, {"error": error}, headers)

    def _graph_bad_token(self) -> _Reply:
        return self._graph_error(400, 190, "Error validating access token: Session has "
                                 "expired or the token is invalid.", subcode=463)

    def _graph_missing(self, object_id: str) -> _Reply:
        return self._graph_error(400, 100, f"Unsupported get request. Object with ID "
                                 f"'{object_id}' does not exist, cannot be loaded due to missing "
                                 f"permissions, or does not support this operation.", subcode=33)

    def _graph_fault(self, kind: str) -> _Reply:
        if kind == "rate_limit":
            reset = self.faults.rate_limit_reset
            minutes = max(1, round(reset / 60)) if reset >= 60 else max(reset, 0.1) / 60
            usage = {"call_count": 100, "total_cputime": 40, "total_time": 60}
            buc = {"sim": [{"type": "pages", "call_count": 100, "total_cputime": 40,
                            "total_time": 60, "estimated_time_to_regain_access": minutes}]}
            return self._graph_error(400, 4, "(#4) Application request limit reached",
                                     transient=True,
                                     headers={"X-App-Usage": json.dumps(usage),
                                              "X-Business-Use-Case-Usage": json.dumps(buc)})
        if kind == "server_error":
            return self._graph_error(500, 2, "An unexpected error has occurred. Please retry "
                                     "your request later.", transient=True)
        if kind == "expired_token":
            return self._graph_error(400, 190, "Error validating access token: Session has "
                                     "expired on Tuesday, 01-Jan-30 00:00:00 PST.", subcode=463)
        return _Reply(200, None, {"X-Sim-Fault": kind})

    # -- Graph objects

    def _page_name(self, page_id: str) -> str:
        return f"Page {page_id}"

    def _graph_full(self, version: str, event: SimItem, want: Iterable[str] = ()) -> dict[str, Any]:
        """Every field Graph could return for this post or comment (no edges); costly
        counts only when named in ``want``."""
        obj: dict[str, Any] = {"id": event.id, "created_time": _graph_time(self.created(event))}
        author_id = event.author_id if event.author_id is not None else (
            event.account if isinstance(event, SimPost) else None)
        author_name = event.author_name or (self._page_name(event.account)
                                           if author_id == event.account else None)
        if author_id is not None:
            obj["from"] = {"id": author_id, "name": author_name or f"User {author_id}"}
        if isinstance(event, SimPost):
            if event.text:
                obj["message"] = event.text  # Graph omits message for posts with no text
            obj["permalink_url"] = f"https://www.facebook.com/{event.account}/posts/{event.id}"
            obj["is_hidden"] = event.id in self.hidden
            obj["status_type"] = "mobile_status_update" if not event.media else "added_photos"
            if event.media:
                obj["full_picture"] = event.media[0]
                obj["attachments"] = {"data": [
                    {"media": {"image": {"height": 720, "src": url, "width": 720}},
                     "type": "photo", "url": url} for url in event.media]}
        else:
            assert isinstance(event, SimComment)
            obj["message"] = event.text
            obj["permalink_url"] = (f"https://www.facebook.com/{event.account}/posts/"
                                    f"{event.post_id}/?comment_id={event.parent_id or event.id}"
                                    + (f"&reply_comment_id={event.id}" if event.parent_id else ""))
            obj["is_hidden"] = event.id in self.hidden
            obj["can_hide"] = author_id != event.account
            obj["like_count"] = 0
            if "comment_count" in want:
                obj["comment_count"] = sum(1 for e in self._visible() if isinstance(e, SimComment)
                                           and e.platform == "facebook"
                                           and e.parent_id == event.id)
            if event.parent_id:
                parent = self._lookup("facebook", event.parent_id)
                if parent is not None:
                    obj["parent"] = {"id": parent.id,
                                     "created_time": _graph_time(self.created(parent))}
        obj.update(event.extra)
        return obj

    def _graph_object(self, version: str, event: SimItem,
                      fields: dict[str, tuple[dict[str, str], str | None]],
                      token: str | None, fault: str | None = None) -> dict[str, Any]:
        full = self._graph_full(version, event, fields)
        out: dict[str, Any] = {}
        for name, (modifiers, sub) in fields.items():
            if name == "comments":
                edge = self._comments_edge(version, event, modifiers,
                                           {"fields": sub or "id,message,created_time"}, token,
                                           fault)
                if edge["data"]:
                    out["comments"] = edge  # Graph leaves an empty edge out entirely
            elif name in full:
                value = full[name]
                if sub and isinstance(value, dict) and "data" not in value:
                    keep = _parse_fields(sub)
                    value = {k: v for k, v in value.items() if k in keep}
                out[name] = value
        out.update(event.extra)  # ``extra`` stands for fields the platform adds unasked
        out["id"] = event.id
        return out

    def _feed(self, version: str, page_id: str, params: dict[str, str],
              token: str | None, fault: str | None = None) -> dict[str, Any]:
        posts = [e for e in self._visible() if isinstance(e, SimPost)
                 and e.platform == "facebook" and e.account == page_id]
        since, until = params.get("since"), params.get("until")
        if since:
            posts = [p for p in posts if self.created(p) >= float(since)]
        if until:
            posts = [p for p in posts if self.created(p) <= float(until)]
        posts.sort(key=lambda e: (self.created(e), e.id), reverse=True)
        fields = _parse_fields(params.get("fields", "id,message,created_time"))
        page, before, after = self._page(posts, params, default_limit=25, newest_first=True,
                                         fault=fault)
        data = [self._graph_object(version, p, fields, token, fault) for p in page]
        body = self._graph_list(version, f"{page_id}/feed", data, params, before, after, token)
        return _mangle_lists(body, fault) if fault else body

    def _comments_edge(self, version: str, target: SimItem, modifiers: Mapping[str, str],
                       params: Mapping[str, str], token: str | None, fault: str | None = None,
                       *, top: bool = False) -> dict[str, Any]:
        """The comments edge of a post or comment: ``filter`` toplevel|stream, ``order``
        chronological|reverse_chronological, ``limit``, ``after``/``before`` cursors.
        ``top``: the edge is the whole response (a data fault then applies in full; nested
        in a feed, only ``overlapping_pages`` does, the rest is applied to the feed)."""
        stream = modifiers.get("filter") == "stream"
        comments = [e for e in self._visible() if isinstance(e, SimComment)
                    and e.platform == "facebook"]
        if isinstance(target, SimPost):
            comments = [c for c in comments if c.post_id == target.id
                        and (stream or c.parent_id is None)]
        else:
            comments = [c for c in comments if c.parent_id == target.id]
        if modifiers.get("since"):
            comments = [c for c in comments if self.created(c) >= float(modifiers["since"])]
        newest_first = modifiers.get("order") == "reverse_chronological"
        comments.sort(key=lambda e: (self.created(e), e.id), reverse=newest_first)
        fields = _parse_fields(params.get("fields") or "id,message,created_time")
        page, before, after = self._page(
            comments, modifiers, default_limit=25, newest_first=newest_first,
            fault=fault if top or fault == "overlapping_pages" else None)
        data = [self._graph_object(version, c, fields, token) for c in page]
        query = {k: v for k, v in modifiers.items() if k in ("filter", "order", "limit")}
        query["fields"] = params.get("fields") or "id,message,created_time"
        body = self._graph_list(version, f"{target.id}/comments", data, query, before, after,
                                token)
        if str(modifiers.get("summary", "")).lower() in ("1", "true"):
            body["summary"] = {"order": modifiers.get("order", "chronological"),
                               "total_count": len(comments), "can_comment": True}
        return _mangle_lists(body, fault) if top and fault else body

    def _page(self, items: list[SimItem], params: Mapping[str, str], *, default_limit: int,
              newest_first: bool, fault: str | None = None
              ) -> tuple[list[SimItem], str | None, str | None]:
        """Cut one page out of ordered items; cursors name the boundary item, so items that
        arrive meanwhile do not shift pages. Returns (page, before, after), ``after`` ending
        in ``~last`` on the last page. Data faults: ``overlapping_pages`` makes ``after``
        repeat the page's last item; ``empty_page_with_next`` returns no items but an
        ``after`` that reads this page again."""
        limit = max(1, min(100, int(params.get("limit") or default_limit)))
        start = 0
        if params.get("after"):
            key = _decode_cursor(params["after"])
            if isinstance(key, list) and len(key) == 2:  # else the "start" cursor
                mark = (key[0], key[1])
                for start, item in enumerate(items):
                    here = (self.created(item), item.id)
                    if (here < mark) if newest_first else (here > mark):
                        break
                else:
                    start = len(items)
        if fault == "empty_page_with_next":
            again = params.get("after") or _encode_cursor("start")
            return [], again, again
        page = items[start : start + limit]
        if not page:
            return [], None, None
        before = _encode_cursor([self.created(page[0]), page[0].id])
        boundary = page[-2] if fault == "overlapping_pages" and len(page) > 1 else page[-1]
        after = _encode_cursor([self.created(boundary), boundary.id])
        return page, before, after if start + limit < len(items) else after + "~last"

    def _graph_list(self, version: str, path: str, data: list[dict[str, Any]],
                    params: Mapping[str, str], before: str | None, after: str | None,
                    token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"data": data}
        if before is None or after is None:
            return body
        has_next = not after.endswith("~last")
        after = after.removesuffix("~last")
        body["paging"] = {"cursors": {"before": before, "after": after}}
        if has_next:
            # Real next URLs carry the token too; adapters must never log them.
            query = {k: v for k, v in params.items() if k not in ("after", "before")}
            query = {"access_token": token or "", **query, "after": after}
            body["paging"]["next"] = f"{self.base_url}/{version}/{path}?{urlencode(query)}"
        return body

    def _graph_hide(self, object_id: str, params: dict[str, str]) -> _Reply:
        event = self._current("facebook", object_id)
        if event is None:
            return self._graph_missing(object_id)
        if "is_hidden" not in params:
            return self._graph_error(400, 100, "(#100) No parameters to update.")
        full = self._graph_full("", event)
        own = full.get("from", {}).get("id") == event.account
        if own or full.get("can_hide") is False:
            return self._graph_error(400, 100, "(#100) This object cannot be hidden.")
        with self._lock:
            if params["is_hidden"].lower() == "true":
                self.hidden.add(object_id)
            else:
                self.hidden.discard(object_id)
        return self._ok_graph({"success": True})

    # ================================================================= X API v2

    def x(self, method: str, path: str, params: dict[str, str], token: str | None,
          body: Any) -> _Reply:
        """Answer one X API v2 request."""
        parts = path.strip("/").split("/")  # ["2", ...]
        account = self._x_account(parts, params)
        family = "/".join(p if not p.isdigit() else ":id" for p in parts)
        self._log("x", method, path, params)
        with self._lock:
            self._x_counts[family] = self._x_counts.get(family, 0) + 1
            used = self._x_counts[family]
        fault = self._take_slow(self.faults.take("x", account, path))
        if fault in ERROR_FAULTS:
            return self._x_fault(fault)
        user_auth = method == "PUT"
        if not self._token_ok(token, account, user=user_auth):
            return self._x_problem(401, "Unauthorized", "Unauthorized", "about:blank")
        headers = self._x_rate_headers(max(0, self.x_rate_limit - used))
        if method == "GET" and parts[1:2] == ["users"] and len(parts) == 4:
            if parts[3] not in ("mentions", "tweets"):
                return self._x_problem(404, "Not Found Error", "Unknown endpoint",
                                       "https://api.twitter.com/2/problems/resource-not-found")
            tweets = self._x_user_timeline(parts[2], parts[3])
            return self._x_list(tweets, params, headers, min_results=5,
                                token_name="pagination_token", fault=fault)
        if method == "GET" and parts[1:] == ["tweets", "search", "recent"]:
            query = params.get("query", "")
            try:
                tweets = self._x_search(query)
            except ValueError as exc:
                return self._x_invalid("query", query, str(exc))
            return self._x_list(tweets, params, headers, min_results=10, token_name="next_token",
                                fault=fault)
        if method == "PUT" and len(parts) == 4 and parts[1] == "tweets" and parts[3] == "hidden":
            return self._x_hide(parts[2], body, headers)
        return self._x_problem(404, "Not Found Error", "Unknown endpoint",
                               "https://api.twitter.com/2/problems/resource-not-found")

    def _x_account(self, parts: list[str], params: dict[str, str]) -> str | None:
        if len(parts) >= 3 and parts[1] == "users":
            return parts[2]
        if len(parts) >= 3 and parts[1] == "tweets" and parts[2].isdigit():
            event = self._lookup("x", parts[2])
            return event.account if event else None
        for term in params.get("query", "").split():
            if term.startswith("conversation_id:"):
                event = self._lookup("x", term.split(":", 1)[1])
                if event is not None:
                    return event.account
            if term.startswith("from:"):
                return self._x_user_id(term.split(":", 1)[1])
        return None

    def _x_user_id(self, handle_or_id: str) -> str:
        for account, handle in self.handles.items():
            if handle.lower() == handle_or_id.lower():
                return account
        if handle_or_id.lower().startswith("user") and handle_or_id[4:].isdigit():
            return handle_or_id[4:]
        return handle_or_id

    def _x_handle(self, account: str) -> str:
        return self.handles.get(account, f"user{account}")

    def _x_rate_headers(self, remaining: int) -> dict[str, str]:
        reset = int(self.started_at + 900 * (1 + (self.clock() - self.started_at) // 900))
        return {"x-rate-limit-limit": str(self.x_rate_limit),
                "x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(reset)}

    def _x_problem(self, status: int, title: str, detail: str, type_: str,
                   headers: dict[str, str] | None = None) -> _Reply:
        body = {"title": title, "detail": detail, "type": type_, "status": status}
        return _Reply(status, body, headers)

    def _x_invalid(self, parameter: str, value: str, message: str) -> _Reply:
        body = {"errors": [{"parameters": {parameter: [value]}, "message": message}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request"}
        return _Reply(400, body)

    def _x_fault(self, kind: str) -> _Reply:
        if kind == "rate_limit":
            reset = int(self.clock() + self.faults.rate_limit_reset)
            return self._x_problem(429, "Too Many Requests", "Too Many Requests", "about:blank",
                                   {"x-rate-limit-limit": str(self.x_rate_limit),
                                    "x-rate-limit-remaining": "0",
                                    "x-rate-limit-reset": str(reset)})
        if kind == "server_error":
            return self._x_problem(503, "Service Unavailable", "Service Unavailable",
                                   "about:blank")
        if kind == "expired_token":
            return self._x_problem(401, "Unauthorized", "Unauthorized", "about:blank")
        return _Reply(200, None, {"X-Sim-Fault": kind})

    def _x_parent_author(self, event: SimComment) -> str:
        parent = self._lookup("x", event.parent_id or event.post_id)
        if parent is None:
            return event.account
        if isinstance(parent, SimPost):
            return parent.author_id or parent.account
        return parent.author_id or event.account

    def _x_mentions_member(self, event: SimItem, account: str) -> bool:
        if isinstance(event, SimMention):
            return event.account == account
        if isinstance(event, SimPost):
            return event.account == account and event.author_id not in (None, account)
        if isinstance(event, SimComment) and event.account == account:
            if event.author_id == account:
                return False
            direct = event.parent_id is None and self._x_parent_author(event) == account
            return direct or f"@{self._x_handle(account)}".lower() in event.text.lower()
        return False

    def _x_author(self, event: SimItem) -> str | None:
        """The tweet's author; None for a reply whose author is withheld (``author_id`` None)."""
        if isinstance(event, SimPost):
            return event.author_id or event.account
        return event.author_id

    def _x_user_timeline(self, user_id: str, which: str) -> list[SimItem]:
        events = [e for e in self._visible() if self._platform(e) == "x"]
        if which == "tweets":
            return [e for e in events if self._x_author(e) == user_id]
        return [e for e in events if self._x_mentions_member(e, user_id)]

    def _x_search(self, query: str) -> list[SimItem]:
        """Match ``term OR term ...`` with terms conversation_id:, from:, to: and @handle.
        Raises ValueError for anything else."""
        terms = [t.strip("()") for t in query.replace("(", " ").replace(")", " ").split()]
        terms = [t for t in terms if t and t != "OR"]
        if not terms:
            raise ValueError("The `query` parameter can not be empty")
        tests: list[Callable[[SimItem], bool]] = []
        for term in terms:
            op, _, value = term.partition(":")
            if term.startswith("@"):
                tests.append(lambda e, h=term.lower(): h in e.text.lower())
            elif op == "conversation_id" and value:
                tests.append(lambda e, c=value: self._x_conversation(e) == c)
            elif op == "from" and value:
                tests.append(lambda e, u=self._x_user_id(value): self._x_author(e) == u)
            elif op == "to" and value:
                tests.append(lambda e, u=self._x_user_id(value): isinstance(e, SimComment)
                             and self._x_parent_author(e) == u)
            else:
                raise ValueError(f"There were errors processing your request: "
                                 f"Unsupported operator or term '{term}'")
        return [e for e in self._visible() if self._platform(e) == "x"
                and any(test(e) for test in tests)]

    def _x_conversation(self, event: SimItem) -> str:
        return event.post_id if isinstance(event, SimComment) else event.id

    def _x_tweet(self, event: SimItem, fields: set[str]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "id": event.id, "text": event.text, "edit_history_tweet_ids": [event.id],
            "author_id": self._x_author(event), "created_at": _x_time(self.created(event)),
            "conversation_id": self._x_conversation(event),
        }
        if isinstance(event, SimComment):
            full["in_reply_to_user_id"] = self._x_parent_author(event)
            full["referenced_tweets"] = [{"type": "replied_to",
                                          "id": event.parent_id or event.post_id}]
        if isinstance(event, SimPost) and event.media:
            full["attachments"] = {"media_keys": [f"3_{event.id}_{i}"
                                                  for i in range(len(event.media))]}
        keep = {"id", "text", "edit_history_tweet_ids"} | fields
        out = {k: v for k, v in full.items() if k in keep and v is not None}
        out.update(event.extra)
        return out

    def _x_list(self, events: list[SimItem], params: dict[str, str], headers: dict[str, str],
                *, min_results: int, token_name: str, fault: str | None = None) -> _Reply:
        """One page of tweets, newest first, ``since_id``/``until_id`` and a next token
        applied; data faults act as in :meth:`_page` and :func:`_mangle_lists`."""
        max_results = int(params.get("max_results") or 10)
        if not min_results <= max_results <= 100:
            return self._x_invalid("max_results", str(max_results),
                                   f"The `max_results` query parameter value [{max_results}] "
                                   f"is not between {min_results} and 100")
        events = sorted(events, key=lambda e: int(e.id), reverse=True)
        if params.get("since_id"):
            events = [e for e in events if int(e.id) > int(params["since_id"])]
        if params.get("until_id"):
            events = [e for e in events if int(e.id) < int(params["until_id"])]
        token = params.get(token_name) or params.get("pagination_token") or params.get(
            "next_token")
        if token:
            below = int(_decode_cursor(token))
            events = [e for e in events if int(e.id) < below]
        if fault == "empty_page_with_next":
            again = token or _encode_cursor(str(10**30))  # above every id: the first page
            return _Reply(200, {"meta": {"result_count": 0, "next_token": again}}, headers)
        page = events[:max_results]
        fields = set(filter(None, params.get("tweet.fields", "").split(",")))
        expansions = set(filter(None, params.get("expansions", "").split(",")))
        body: dict[str, Any] = {}
        if page:
            body["data"] = [self._x_tweet(e, fields) for e in page]
            includes: dict[str, Any] = {}
            if "author_id" in expansions:
                users: dict[str, dict[str, str]] = {}
                for e in page:
                    uid = self._x_author(e)
                    if uid is None:
                        continue
                    name = getattr(e, "author_name", None) if getattr(e, "author_id", None) \
                        else None
                    users.setdefault(uid, {"id": uid, "name": name or f"Account {uid}",
                                           "username": self._x_handle(uid)})
                includes["users"] = list(users.values())
            if "attachments.media_keys" in expansions:
                media = [{"media_key": f"3_{e.id}_{i}", "type": "photo", "url": url}
                         for e in page if isinstance(e, SimPost) for i, url in enumerate(e.media)]
                if media:
                    includes["media"] = media
            if includes:
                body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta = {"newest_id": page[0].id, "oldest_id": page[-1].id, **meta}
        if len(events) > len(page):
            # A cursor one above the last id makes the next page start with it again.
            last = str(int(page[-1].id) + 1) if fault == "overlapping_pages" else page[-1].id
            meta["next_token"] = _encode_cursor(last)
        body["meta"] = meta
        if fault:
            _mangle_lists(body, fault)
        return _Reply(200, body, headers)

    def _x_hide(self, tweet_id: str, body: Any, headers: dict[str, str]) -> _Reply:
        event = self._current("x", tweet_id)
        if event is None:
            return self._x_problem(404, "Not Found Error",
                                   f"Could not find tweet with id: [{tweet_id}].",
                                   "https://api.twitter.com/2/problems/resource-not-found")
        if not isinstance(body, dict) or not isinstance(body.get("hidden"), bool):
            return self._x_invalid("hidden", str(body), "The `hidden` field is required")
        if not isinstance(event, SimComment) or event.author_id == event.account:
            return self._x_problem(403, "Forbidden", "You cannot hide or unhide replies to "
                                   "Tweets that are not authored by you.", "about:blank")
        with self._lock:
            if body["hidden"]:
                self.hidden.add(tweet_id)
            else:
                self.hidden.discard(tweet_id)
        return _Reply(200, {"data": {"hidden": body["hidden"]}}, headers)


#: How a timeline names a file this server serves; payloads carry its real URL instead.
MEDIA_PREFIX = "sim:media/"


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into calls on the bound ``sim`` and writes its replies."""

    sim: SimulatedPlatform
    protocol_version = "HTTP/1.1"
    server_version = "SimulatedPlatform/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The default writes request lines (with access_token queries) to stderr; stay quiet.
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        json_body: Any = None
        ctype = self.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            try:
                json_body = json.loads(raw)
            except ValueError:
                json_body = None
        elif raw and "form" in ctype:
            params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        if split.path.startswith("/media/") and method == "GET":
            self._send_media(split.path[len("/media/"):])
            return
        auth = self.headers.get("Authorization", "")
        header_token = auth.split(None, 1)[1] if " " in auth else None
        try:
            if split.path.startswith("/2/"):
                reply = self.sim.x(method, split.path, params, header_token, json_body)
                platform = "x"
            else:
                token = params.get("access_token") or header_token
                parts = [p for p in split.path.split("/") if p]
                reply = self.sim.graph(method, parts, params, token)
                platform = "facebook"
        except Exception as exc:  # a bug in the simulator must still answer, as a 500
            log.exception("simulated.error", path=split.path, error=type(exc).__name__)
            reply = _Reply(500, {"error": {"message": "simulator error", "code": 1}})
            platform = "x" if split.path.startswith("/2/") else "facebook"
        self._send(reply, platform)

    def _send_media(self, name: str) -> None:
        self.sim._log("media", "GET", f"/media/{name}", {})
        found = self.sim.media.get(name)
        if found is None:
            data, ctype, delay = b"<html><body>Not found</body></html>", "text/html", 0.0
            status = 404
        else:
            (data, ctype, delay), status = found, 200
        if delay and self.sim._stopping.wait(delay):
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True

    def _send(self, reply: _Reply, platform: str) -> None:
        fault = reply.headers.pop("X-Sim-Fault", None)
        if fault == "timeout":
            # Hold the request past the client's timeout, but bounded and cut short by stop().
            self.sim._stopping.wait(self.sim.faults.timeout_delay)
            self.close_connection = True
            return
        ctype = ("application/json; charset=UTF-8" if platform == "facebook"
                 else "application/json; charset=utf-8")
        if fault == "malformed":
            data = b'{"data": [{"id": "1", "message": <html>Bad Gateway</html>'
        elif fault == "truncated":
            whole = json.dumps({"data": [{"id": str(10**17 + i), "text": "x" * 40}
                                         for i in range(20)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            self.wfile.write(whole[: len(whole) // 2])
            self.wfile.flush()
            self.close_connection = True  # the rest never comes
            return
        else:
            data = json.dumps(reply.body).encode("utf-8")
            if b'"' + MEDIA_PREFIX.encode() in data:
                data = data.replace(b'"' + MEDIA_PREFIX.encode(),
                                    f'"{self.sim.base_url}/media/'.encode())
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if platform == "facebook":
            self.send_header("facebook-api-version", "v21.0")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


SimulatedPlatform.handler_class = _Handler
