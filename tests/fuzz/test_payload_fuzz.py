"""Fuzzing the adapters' payload parsers with Graph API and X API v2 responses.

The parsers are the pure functions each adapter's ``fetch`` runs on the JSON the SDK hands
back, called here directly, without HTTP (:func:`parse_facebook` and :func:`parse_x` chain them
in ``fetch``'s order):

- Facebook: ``_feed_page`` (a feed response -> posts with their first comment page),
  ``_batch_body`` and ``_comment_page`` (a Graph batch answer -> a post's next comments),
  ``_wants_more``, ``_to_items`` and ``_next_cursor``;
- X: ``_Page.add`` (a list response -> tweets, users, media, next token), ``_own_posts``,
  ``_recent``, ``XPlatform._items``, and the id arithmetic ``fetch`` does on the result.

Properties:

1. Well-formed payloads, built from the real wire shapes (those of ``platforms/simulated.py``
   and the recorded fixtures), become one Item per id with the fields they carry, and log no
   warning.
2. Mutated payloads (fields missing, null, of the wrong type, huge, bad times, ids that are
   not ids, entries that are not objects, ...) either raise TransientPlatformError (the
   documented error for a malformed payload) or parse; then every Item is one the store can
   hold, every object still readable (id and time intact) is among them, and every other one
   was logged as skipped under its id. Nothing else (KeyError, TypeError, ...) may escape.
3. Stored cursors that cannot be read give a fresh state, never an exception.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone
from typing import Any

import facebook as facebook_sdk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from platforms import facebook, x
from platforms._http import CountingSession
from watcher.domain import MAX_ID_CHARS, MAX_NAME_CHARS, Item, ItemKind, Media
from watcher.errors import TransientPlatformError

FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PAGE = "1001"      # the Facebook page polled
MEMBER = "2001"    # the X account polled
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()

# ---------------------------------------------------------------------------------------------
# The parsers, chained as fetch chains them


def parse_facebook(feed: Any, answers: list[Any]) -> list[Item]:
    """Given a feed response and, for its posts in order, the Graph batch answers holding
    their next comment pages, return the Items ``FacebookPlatform.fetch`` would make. A failed
    batch operation comes out as fetch raises it (translated by ``translate_error``)."""
    session = CountingSession(1.0)
    state = facebook._Cursor()
    try:
        page_posts, _after = facebook._feed_page(feed)
        unique: dict[str, dict[str, Any]] = {}
        for post in page_posts:
            unique.setdefault(str(post.get("id")), post)  # as _read_feed does
        posts = list(unique.values())
        for post, answer in zip(posts, answers):
            facebook._wants_more(post["_comments"], state)
            comments, _ = facebook._comment_page(facebook._batch_body(session, answer),
                                                 post.get("id"))
            post["_comments"].extend(comments)
            facebook._wants_more(comments, state)
    except facebook_sdk.GraphAPIError as exc:
        raise facebook.translate_error(exc, "", session, "fetch") from exc
    items = facebook._to_items(posts, PAGE)
    again = {str(p.get("id")) for p in posts} | {i for p in posts for i in p["_first"]}
    cursor = facebook._next_cursor(items, state, again, 1000)
    if items:
        assert facebook._load_cursor(cursor).watermark > float("-inf")
    return items


def parse_x(responses: list[Any]) -> list[Item]:
    """Given the responses of one paginated X query, return the Items ``XPlatform.fetch``
    would make, doing on them the arithmetic it does (since_id, own posts, ahead ids)."""
    page = x._Page()
    for response in responses:
        page.add(response)
    own = x._own_posts(page, MEMBER, NOW)
    x._recent(own, NOW, 7, 10)
    items = x.XPlatform._items([page], MEMBER, set(own))
    sorted([i.external_id for i in items] + [page.newest_id or "0"], key=int)
    return items


# ---------------------------------------------------------------------------------------------
# Well-formed payloads

ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)
TEXT = st.one_of(st.text(max_size=80), ANY_TEXT, st.sampled_from(["", "😀 @cllr_smith"]))
UTC_TIMES = st.datetimes(min_value=datetime(2006, 3, 21), max_value=datetime(2100, 1, 1),
                         timezones=st.just(timezone.utc))
URLS = st.builds("https://example.org/{}.jpg".format, st.integers(0, 10**6))
# Small numbers come up often, so ids collide: repeated items are part of the shape.
NUMBER = st.integers(1, 10**15).map(str)


def graph_time(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S+0000")


def x_time(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


GRAPH_TIME = UTC_TIMES.map(graph_time)
SENDER = st.fixed_dictionaries({"id": st.one_of(st.just(PAGE), NUMBER)},
                               optional={"name": st.text(min_size=1, max_size=40)})
CURSOR = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789=",
                 min_size=1, max_size=24)
PAGING = st.fixed_dictionaries(
    {"cursors": st.fixed_dictionaries({"before": CURSOR, "after": CURSOR})},
    optional={"next": st.builds("https://graph.facebook.com/v21.0/{}/feed?after=x".format,
                                NUMBER)})
ATTACHMENT = st.fixed_dictionaries(
    {"media": st.fixed_dictionaries({"image": st.fixed_dictionaries(
        {"height": st.integers(1, 2048), "src": URLS, "width": st.integers(1, 2048)})}),
     "type": st.sampled_from(["photo", "video_inline", "share", "album"])},
    optional={"url": URLS})
UNKNOWN = {"brand_new_field": st.recursive(
    st.one_of(st.none(), st.integers(), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=5)}


def graph_comment() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": st.tuples(NUMBER, NUMBER).map("_".join), "created_time": GRAPH_TIME},
        optional={"message": TEXT, "from": SENDER, "is_hidden": st.booleans(),
                  "can_hide": st.booleans(), "like_count": st.integers(0, 10**6),
                  "permalink_url": st.builds("https://www.facebook.com/{}/posts/{}".format,
                                             st.just(PAGE), NUMBER),
                  "parent": st.fixed_dictionaries({"id": st.tuples(NUMBER, NUMBER).map("_".join),
                                                   "created_time": GRAPH_TIME}),
                  "attachment": ATTACHMENT, **UNKNOWN})


def comment_page() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"data": st.lists(graph_comment(), max_size=4)},
                                 optional={"paging": PAGING})


GRAPH_POST = st.fixed_dictionaries(
    {"id": NUMBER.map(f"{PAGE}_{{}}".format), "created_time": GRAPH_TIME},
    optional={"message": TEXT, "from": SENDER, "is_hidden": st.booleans(),
              "status_type": st.sampled_from(["mobile_status_update", "added_photos"]),
              "permalink_url": st.builds("https://www.facebook.com/{}/posts/{}".format,
                                         st.just(PAGE), NUMBER),
              "full_picture": URLS,
              "attachments": st.fixed_dictionaries({"data": st.lists(
                  st.one_of(ATTACHMENT, st.builds(lambda a, subs: {**a, "subattachments":
                                                                   {"data": subs}},
                                                  ATTACHMENT, st.lists(ATTACHMENT, max_size=2))),
                  max_size=2)}),
              "comments": comment_page(), **UNKNOWN})


def batch_answer(body: Any) -> dict[str, Any]:
    """A Graph batch answer as ``include_headers=true`` returns it, ``body`` not yet JSON."""
    return {"code": 200, "headers": [
        {"name": "Content-Type", "value": "text/javascript; charset=UTF-8"},
        {"name": "X-App-Usage", "value": '{"call_count":1,"total_cputime":1,"total_time":1}'}],
        "body": body}


# One tree for a whole Facebook input (so mutations can reach any part of it): the feed
# response, and the batch answers whose bodies are JSON-encoded just before parsing.
GRAPH_INPUT = st.fixed_dictionaries({
    "feed": st.fixed_dictionaries({"data": st.lists(GRAPH_POST, max_size=4)},
                                  optional={"paging": PAGING}),
    "answers": st.lists(comment_page().map(batch_answer), max_size=4),
})


def graph_wire(tree: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The feed and the batch answers of a (possibly mutated) input tree, bodies as JSON."""
    feed, answers = tree.get("feed"), tree.get("answers")
    wire = []
    for answer in answers if isinstance(answers, list) else []:
        if isinstance(answer, dict) and isinstance(answer.get("body"), dict | list):
            answer = {**answer, "body": json.dumps(answer["body"])}
        wire.append(answer)
    return feed, wire


TWEET_ID = st.one_of(st.integers(1, 2**63 - 1), st.integers(1, 1000)).map(str)
USERNAME = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
                   min_size=1, max_size=15)


@st.composite
def x_input(draw: st.DrawFn) -> dict[str, Any]:
    """The responses of one paginated query: the member's posts, replies in their
    conversations and elsewhere, and mentions, with the users and media they cite."""
    own_ids = draw(st.lists(TWEET_ID, max_size=3))
    tweets: list[dict[str, Any]] = []
    for tid in own_ids:
        tweets.append({"id": tid, "text": draw(TEXT), "edit_history_tweet_ids": [tid],
                       "author_id": MEMBER, "conversation_id": tid,
                       "created_at": x_time(draw(UTC_TIMES))})
    for _ in range(draw(st.integers(0, 6))):
        tid = draw(TWEET_ID)
        tweet = {"id": tid, "text": draw(TEXT), "edit_history_tweet_ids": [tid],
                 "created_at": x_time(draw(UTC_TIMES))}
        if draw(st.booleans()):
            tweet["author_id"] = draw(st.one_of(NUMBER, st.just(MEMBER)))
        if draw(st.booleans()):  # a reply, in one of the member's conversations or not
            conversation = draw(st.one_of(st.sampled_from(own_ids), TWEET_ID) if own_ids
                                else TWEET_ID)
            tweet["conversation_id"] = conversation
            tweet["in_reply_to_user_id"] = draw(st.one_of(st.just(MEMBER), NUMBER))
            tweet["referenced_tweets"] = [{"type": "replied_to",
                                           "id": draw(st.one_of(st.just(conversation),
                                                                TWEET_ID))}]
        else:
            tweet["conversation_id"] = tid
        if draw(st.booleans()):
            tweet["referenced_tweets"] = tweet.get("referenced_tweets", []) + [
                {"type": draw(st.sampled_from(["quoted", "retweeted"])), "id": draw(TWEET_ID)}]
        if draw(st.booleans()):
            tweet["attachments"] = {"media_keys": [f"3_{tid}_{k}" for k in
                                                   range(draw(st.integers(1, 2)))]}
        tweet.update(draw(st.fixed_dictionaries({}, optional=UNKNOWN)))
        tweets.append(tweet)
    tweets = draw(st.permutations(tweets))
    cuts = sorted(draw(st.lists(st.integers(0, len(tweets)), max_size=2)))
    pages = [tweets[a:b] for a, b in zip([0] + cuts, cuts + [len(tweets)])]
    names = {}
    responses = []
    for n, page in enumerate(pages):
        response: dict[str, Any] = {"meta": {"result_count": len(page)}}
        if page:
            response["data"] = page
            authors = sorted({t["author_id"] for t in page if "author_id" in t})
            for a in authors:
                names.setdefault(a, {"id": a, "name": draw(st.text(min_size=1, max_size=30)),
                                     "username": draw(USERNAME)})
            media = [{"media_key": k, "type": "photo", "url": draw(URLS)} for t in page
                     for k in t.get("attachments", {}).get("media_keys", [])]
            includes: dict[str, Any] = {}
            if authors:
                includes["users"] = [names[a] for a in authors]
            if media:
                includes["media"] = media
            if includes:
                response["includes"] = includes
            ids = [int(t["id"]) for t in page]
            response["meta"].update(newest_id=str(max(ids)), oldest_id=str(min(ids)))
        if n < len(pages) - 1:
            response["meta"]["next_token"] = draw(CURSOR)
        responses.append(response)
    return {"responses": responses}


# ---------------------------------------------------------------------------------------------
# Mutations

HUGE_VALUES = ["x" * 100_000, "9" * 5000, "1" * (MAX_ID_CHARS + 1), "\ud800" * 50,
               "é" * 20_000, "\x00" * 10]
# Out of range once in UTC (OverflowError), the wrong format, a number, no zone, ...
BAD_TIME_VALUES = [
    "", "yesterday", "2021-13-45T99:99:99+0000", "0001-01-01T00:00:00+0100",
    "9999-12-31T23:59:59-0100", "2021-07-04T19:50:58", "2021-07-04T19:50:58.000Z",
    "2021-07-04 19:50:58+0000", "1625428258", 1625428258, "0000-00-00T00:00:00+0000",
    "2021-07-04T19:50:58+9999", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2024-01-15", "2024-01-15T10:30:00", "2024-01-15T10:30:00.000+05:30", "Z"]
# Not ids: wrong types, digits int() refuses ("²³", 5000 of them), too long for the store,
# NUL, lone surrogates, whitespace, the string "None" that str(None) would have made.
BAD_ID_VALUES = [0, -1, 1.5, 1e300, True, False, [], {}, "", " ", "12 ", "²³", "١٢٣", "1e5",
                 "12\x00", "\ud800", "None", "null", "x" * 200, "9" * 5000, 2**64, -(2**63),
                 "9" * 20, "12\n", {"id": "1"}, ["1"]]
# A little of everything, for any field.
ANY_JUNK_VALUES = [None, True, 0, -1, 2**64, 1.5, float("inf"), float("nan"), "", "\ud800",
                   "x" * 100_000, [], {}, [None, 1], ["x"], {"id": "1"}, {"data": 5},
                   {"data": [1, "a"]}, "0001-01-01T00:00:00+0100"]


def sample(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values).map(copy.deepcopy)  # a fresh list or dict: no aliasing


HUGE = sample(HUGE_VALUES)
BAD_TIMES = sample(BAD_TIME_VALUES)
BAD_IDS = sample(BAD_ID_VALUES)
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    HUGE, BAD_TIMES, BAD_IDS, ANY_TEXT, st.builds(list), st.builds(dict),
    st.lists(st.one_of(st.none(), st.integers(), ANY_TEXT, BAD_IDS), max_size=3),
    st.dictionaries(st.sampled_from(["id", "data", "name", "src", "after", "next"]), BAD_IDS,
                    max_size=2),
)
# The keys the parsers read, and junk fit to surprise each kind.
READ_KEYS = (
    "id", "message", "created_time", "from", "permalink_url", "parent", "attachment",
    "attachments", "subattachments", "full_picture", "is_hidden", "can_hide", "comments",
    "data", "paging", "cursors", "after", "next", "media", "image", "src", "type", "code",
    "headers", "body", "name", "value", "text", "author_id", "created_at", "conversation_id",
    "referenced_tweets", "in_reply_to_user_id", "edit_history_tweet_ids", "includes", "users",
    "meta", "newest_id", "next_token", "media_keys", "media_key", "url", "username")
ID_KEYS = {"id", "author_id", "conversation_id", "newest_id", "oldest_id", "media_key",
           "in_reply_to_user_id", "after", "next_token"}
JUNK_VALUES_FOR = {
    **{k: BAD_ID_VALUES for k in ID_KEYS},
    "created_time": BAD_TIME_VALUES,
    "created_at": BAD_TIME_VALUES,
    "code": [0, 500, "200", "abc", float("inf"), float("nan"), 1e300, None, True],
    "body": ["", "{", "null", "[]", '{"data": 5}', "[" * 100_000,
             '{"error": {"message": "x", "code": 1}}'],
    "username": ["a b", "../x", "x" * 300, "é", "a/b?c", "javascript:alert(1)"],
    "permalink_url": ["javascript:alert(1)", "https://x.org/\x00", "https://é.org", "/relative"],
}
JUNK_FOR = {k: st.one_of(sample(v), sample(v), sample(v), JUNK)
            for k, v in JUNK_VALUES_FOR.items()}


def read_fields(tree: Any) -> dict[str, list[dict[str, Any]]]:
    """{key the parsers read: the objects in ``tree`` that hold it}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in paths(tree):
        node = tree
        for step in path:
            node = node[step]
        if isinstance(node, dict):
            for key in READ_KEYS:
                if key in node:
                    out.setdefault(key, []).append(node)
    return out


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree, the root's () included."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn, inputs: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A well-formed input with one to five mutations: mostly fields the parsers read set to
    junk fit for them (several at once on one object, now and then), else any part deleted,
    replaced with junk, or a list given a junk entry."""
    tree = copy.deepcopy(draw(inputs))
    for _ in range(draw(st.integers(1, 5))):
        action = draw(st.sampled_from(["field", "field", "field", "object", "delete",
                                       "replace", "insert"]))
        if action in ("field", "object"):
            # The key first, then an object holding it: rare keys ("code", "username") are
            # hit as often as "id", which every object has.
            fields = read_fields(tree)
            if not fields:
                continue
            node = draw(st.sampled_from(fields[draw(st.sampled_from(sorted(fields)))]))
            present = [k for k in READ_KEYS if k in node]
            for _ in range(1 if action == "field" else draw(st.integers(2, 4))):
                key = draw(st.one_of(st.sampled_from(present), st.sampled_from(READ_KEYS)))
                if draw(st.integers(0, 5)) == 0:
                    node.pop(key, None)
                else:
                    node[key] = draw(JUNK_FOR.get(key, JUNK))
            continue
        path = draw(st.sampled_from(paths(tree)[1:] or [()]))
        if not path:
            break
        *up, last = path
        parent: Any = tree
        for step in up:
            parent = parent[step]
        if action == "delete":
            del parent[last]
        elif action == "insert" and isinstance(parent[last], list):
            parent[last].insert(draw(st.integers(0, len(parent[last]))), draw(JUNK))
        else:
            parent[last] = draw(JUNK)
    return tree


# ---------------------------------------------------------------------------------------------
# What every Item must be: one the store can hold (watcher/store/models.py column widths;
# ids, authors and links are not cleaned on the way in, unlike text and raw).


def storable_id(value: str | None, optional: bool = True) -> bool:
    if value is None:
        return optional
    return (isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS
            and value.isprintable() and value.isascii() and " " not in value)


def assert_well_formed(item: Item, platform: str) -> None:
    assert isinstance(item, Item) and item.platform == platform
    assert isinstance(item.kind, ItemKind)
    assert storable_id(item.external_id, optional=False), item.external_id
    assert storable_id(item.parent_id) and storable_id(item.author_id)
    assert item.author_name is None or (isinstance(item.author_name, str)
                                        and 0 < len(item.author_name) <= MAX_NAME_CHARS)
    assert isinstance(item.text, str) and isinstance(item.raw, str)
    json.loads(item.raw)
    assert item.created_at.tzinfo is not None and item.created_at.utcoffset().total_seconds() == 0
    item.created_at.timestamp()
    assert item.permalink is None or re.fullmatch(r"https?://[!-~]+", item.permalink)
    assert all(isinstance(m, Media) and isinstance(m.url, str) and m.url for m in item.media)
    assert item.can_hide in (None, True, False) and isinstance(item.is_own, bool)
    if platform == "x":
        int(item.external_id)  # fetch compares tweet ids as numbers


def warnings(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("warning", "error", "critical")]


# ---------------------------------------------------------------------------------------------
# Facebook


def graph_objects(feed: Any, answers: list[Any]) -> list[tuple[Any, Any]]:
    """What the parser reads, in its order: every (object, its post or None) in a readable
    ``data`` list. Non-objects are included (to be counted), with their post."""
    def data(page: Any) -> list[Any]:
        if isinstance(page, dict) and isinstance(page.get("data"), list):
            return page["data"]
        return []

    out: list[tuple[Any, Any]] = []
    posts = data(feed)
    bodies: list[Any] = []
    for answer in answers:
        try:
            bodies.append(json.loads(answer["body"]))
        except Exception:
            bodies.append(None)
    unique: dict[str, dict[str, Any]] = {}
    for post in posts:
        if isinstance(post, dict):
            unique.setdefault(str(post.get("id")), post)  # a repeated post is read once
    extra = dict(zip(map(id, unique.values()), bodies))
    for post in posts:
        if not isinstance(post, dict):
            out.append((post, None))
        elif unique[str(post.get("id"))] is post:
            out.append((post, None))
            out += [(c, post) for c in data(post.get("comments") or {})]
            out += [(c, post) for c in data(extra.get(id(post)))]
    return out


GRAPH_ID = re.compile(r"[0-9]+(_[0-9]+)?")


def graph_readable(obj: Any, post: Any) -> bool:
    """Whether an object has what an Item needs, intact: an id, a time, and (for a comment)
    its post's id. The test's own reading of the Graph formats, independent of the parser."""
    def ok_id(v: Any) -> bool:
        return isinstance(v, str) and bool(GRAPH_ID.fullmatch(v)) and len(v) <= MAX_ID_CHARS

    if not isinstance(obj, dict) or not ok_id(obj.get("id")):
        return False
    if post is not None and not ok_id(post.get("id")):
        return False
    t = obj.get("created_time")
    if not (isinstance(t, str) and re.fullmatch(r"(\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", t)):
        return False
    try:
        return 1970 <= datetime.strptime(t, "%Y-%m-%dT%H:%M:%S%z").year <= 2100
    except ValueError:
        return False


@FUZZ
@given(GRAPH_INPUT)
def test_facebook_well_formed_payloads_parse_into_items(tree: dict[str, Any]) -> None:
    feed, answers = graph_wire(tree)
    expected = graph_objects(feed, answers)
    first: dict[str, tuple[dict[str, Any], Any]] = {}
    for obj, post in copy.deepcopy(expected):
        first.setdefault(obj["id"], (obj, post))
    with capture_logs() as logs:
        items = parse_facebook(feed, answers)
    assert warnings(logs) == []
    assert sorted(i.external_id for i in items) == sorted(first)
    for item in items:
        assert_well_formed(item, "facebook")
        obj, post = first[item.external_id]
        sender = obj.get("from", {})
        assert item.text == obj.get("message", "")
        assert graph_time(item.created_at) == obj["created_time"]
        assert item.author_id == sender.get("id") and item.author_name == sender.get("name")
        assert item.is_own == (sender.get("id") == PAGE)
        assert item.permalink == obj.get("permalink_url")
        assert item.is_hidden == obj.get("is_hidden", False)
        assert item.can_hide == obj.get("can_hide")
        if post is None:
            assert item.kind == ItemKind.POST and item.parent_id is None
        elif "parent" in obj:
            assert item.kind == ItemKind.REPLY and item.parent_id == obj["parent"]["id"]
        else:
            assert item.kind == ItemKind.COMMENT and item.parent_id == post["id"]
        attachments = obj.get("attachments", {}).get("data", []) + (
            [obj["attachment"]] if "attachment" in obj else [])
        srcs = [a["media"]["image"]["src"] for a in attachments] + [
            s["media"]["image"]["src"] for a in attachments
            for s in a.get("subattachments", {}).get("data", [])]
        assert sorted(m.url for m in item.media) == sorted(
            srcs or ([obj["full_picture"]] if "full_picture" in obj else []))
        assert json.loads(item.raw) == {k: v for k, v in obj.items() if k != "comments"}


def check_facebook(tree: dict[str, Any]) -> None:
    """Property 2 for a Facebook input tree (see the module's docstring)."""
    feed, answers = graph_wire(tree)
    read = graph_objects(copy.deepcopy(feed), answers)
    snapshot = [(copy.deepcopy(o), copy.deepcopy(p)) for o, p in read]
    with capture_logs() as logs:
        try:
            items = parse_facebook(feed, answers)
        except TransientPlatformError as exc:
            assert str(exc).startswith("facebook: ")
            return
    for item in items:
        assert_well_formed(item, "facebook")
    ids = {i.external_id for i in items}
    skipped = {e.get("item") for e in logs if e["event"] == "facebook.item_skipped"}
    not_objects = sum(e.get("count", 0) for e in logs if e.get("error") == "not an object")
    assert not_objects >= sum(1 for o, _ in snapshot if not isinstance(o, dict))
    for obj, post in snapshot:
        if not isinstance(obj, dict):
            continue
        if graph_readable(obj, post):
            assert obj["id"] in ids, obj
        else:
            assert str(obj.get("id")) in ids or str(obj.get("id"))[:60] in skipped, obj


# ---------------------------------------------------------------------------------------------
# X


def x_tweets(responses: Any) -> list[Any]:
    """Every entry of every response's ``data`` list, in the parser's order."""
    out: list[Any] = []
    for r in responses if isinstance(responses, list) else []:
        if isinstance(r, dict) and isinstance(r.get("data"), list):
            out += r["data"]
    return out


def x_readable(tweet: Any) -> bool:
    """Whether a tweet has what an Item needs, intact: a snowflake id and a time. The test's
    own reading of the X formats, independent of the parser."""
    if not isinstance(tweet, dict):
        return False
    tid, t = tweet.get("id"), tweet.get("created_at")
    if not (isinstance(tid, str) and re.fullmatch(r"[0-9]{1,19}", tid)):
        return False
    if not (isinstance(t, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t)):
        return False
    try:
        return 1970 <= datetime.fromisoformat(t.replace("Z", "+00:00")).year <= 2100
    except ValueError:
        return False


@FUZZ
@given(x_input())
def test_x_well_formed_payloads_parse_into_items(tree: dict[str, Any]) -> None:
    responses = tree["responses"]
    tweets = x_tweets(responses)
    users = {u["id"]: u for r in responses for u in r.get("includes", {}).get("users", [])}
    media = {m["media_key"]: m for r in responses for m in r.get("includes", {}).get("media", [])}
    first: dict[str, dict[str, Any]] = {}
    for t in copy.deepcopy(tweets):
        first.setdefault(t["id"], t)
    own = {t["id"] for t in tweets if t.get("author_id") == MEMBER
           and t["conversation_id"] == t["id"]}
    with capture_logs() as logs:
        items = parse_x(responses)
    assert warnings(logs) == []
    assert sorted(i.external_id for i in items) == sorted(first)
    for item in items:
        assert_well_formed(item, "x")
        t = first[item.external_id]
        author = t.get("author_id")
        replied = next((r["id"] for r in t.get("referenced_tweets", [])
                        if r["type"] == "replied_to"), None)
        if t["conversation_id"] == t["id"] and replied is None:
            kind = ItemKind.POST if author == MEMBER else ItemKind.MENTION
        else:
            kind = ItemKind.REPLY if t["conversation_id"] in own else ItemKind.MENTION
        assert (item.kind, item.parent_id, item.author_id) == (kind, replied, author)
        assert item.is_own == (author == MEMBER)
        assert item.can_hide == (kind == ItemKind.REPLY and author != MEMBER)
        assert item.text == t["text"] and x_time(item.created_at) == t["created_at"]
        user = users.get(author, {})
        assert item.author_name == user.get("name")
        assert item.permalink == (f"https://x.com/{user['username']}/status/{t['id']}" if user
                                  else f"https://x.com/i/web/status/{t['id']}")
        assert [m.url for m in item.media] == [
            media[k]["url"] for k in t.get("attachments", {}).get("media_keys", [])]
        assert json.loads(item.raw) == t


def check_x(tree: dict[str, Any]) -> None:
    """Property 2 for an X input tree (see the module's docstring)."""
    responses = tree.get("responses")
    snapshot = copy.deepcopy(x_tweets(responses))
    with capture_logs() as logs:
        try:
            items = parse_x(responses if isinstance(responses, list) else [responses])
        except TransientPlatformError as exc:
            assert str(exc).startswith("x: ")
            return
    for item in items:
        assert_well_formed(item, "x")
    ids = {i.external_id for i in items}
    skipped = {e.get("item") for e in logs if e["event"] == "x.item_skipped"}
    not_objects = sum(e.get("count", 0) for e in logs if e.get("error") == "not an object")
    assert not_objects >= sum(1 for t in snapshot if not isinstance(t, dict))
    for tweet in snapshot:
        if not isinstance(tweet, dict):
            continue
        if x_readable(tweet):
            assert tweet["id"] in ids, tweet
        else:
            assert str(tweet.get("id")) in ids or str(tweet.get("id"))[:40] in skipped, tweet


# ---------------------------------------------------------------------------------------------
# Mutated payloads: at random, and every read field of a sample with every junk value

T1, T2, T3 = "2025-05-30T10:00:00+0000", "2025-05-30T11:00:00+0000", "2025-05-30T12:00:00+0000"
GRAPH_SAMPLE: dict[str, Any] = {
    "feed": {"data": [
        {"id": "1001_1", "created_time": T1, "message": "Council meeting tonight",
         "from": {"id": PAGE, "name": "Cllr Smith"}, "is_hidden": False,
         "permalink_url": "https://www.facebook.com/1001/posts/1001_1",
         "status_type": "added_photos", "full_picture": "https://example.org/a.jpg",
         "attachments": {"data": [
             {"media": {"image": {"height": 720, "src": "https://example.org/a.jpg",
                                  "width": 720}},
              "type": "album", "url": "https://example.org/a",
              "subattachments": {"data": [{"media": {"image": {"src": "https://example.org/b.jpg"}},
                                           "type": "photo"}]}}]},
         "comments": {
             "data": [
                 {"id": "11_3", "created_time": T3, "message": "Thanks for the feedback",
                  "from": {"id": PAGE, "name": "Cllr Smith"}, "can_hide": False,
                  "parent": {"id": "11_2", "created_time": T2},
                  "attachment": {"media": {"image": {"src": "https://example.org/c.jpg"}},
                                 "type": "photo"}},
                 {"id": "11_2", "created_time": T2, "message": "You are a disgrace",
                  "from": {"id": "3002", "name": "Angry Person"}, "is_hidden": False,
                  "can_hide": True, "like_count": 0,
                  "permalink_url": "https://www.facebook.com/1001/posts/1001_1/?comment_id=11_2"}],
             "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"},
                        "next": "https://graph.facebook.com/v21.0/1001_1/comments?after=QVFJ"}}},
        {"id": "1001_2", "created_time": T2, "from": {"id": "3001", "name": "Visitor"}}],
        "paging": {"cursors": {"before": "QQ", "after": "Qg"},
                   "next": "https://graph.facebook.com/v21.0/1001/feed?after=Qg"}},
    "answers": [batch_answer({"data": [{"id": "11_1", "created_time": T1, "message": "late",
                                        "from": {"id": "3004", "name": "Late"}}],
                              "paging": {"cursors": {"before": "Qw", "after": "RA"}}})],
}
X1, X2, X3 = "1800000000000000100", "1800000000000000110", "1800000000000000130"
X_SAMPLE: dict[str, Any] = {"responses": [
    {"data": [
        {"id": X1, "text": "Budget vote today", "edit_history_tweet_ids": [X1],
         "author_id": MEMBER, "conversation_id": X1, "created_at": "2025-05-30T10:00:00.000Z",
         "attachments": {"media_keys": ["3_100_0"]}},
        {"id": X2, "text": "@cllr_smith rubbish", "edit_history_tweet_ids": [X2],
         "author_id": "3101", "conversation_id": X1, "in_reply_to_user_id": MEMBER,
         "referenced_tweets": [{"type": "replied_to", "id": X1}],
         "created_at": "2025-05-30T11:00:00.000Z"}],
     "includes": {"users": [{"id": MEMBER, "name": "Cllr Smith", "username": "cllr_smith"},
                            {"id": "3101", "name": "Critic", "username": "critic"}],
                  "media": [{"media_key": "3_100_0", "type": "photo",
                             "url": "https://example.org/b.jpg"}]},
     "meta": {"newest_id": X2, "oldest_id": X1, "result_count": 2,
              "next_token": "b26v89c19zqg8o3f"}},
    {"data": [{"id": X3, "text": "hello @cllr_smith", "edit_history_tweet_ids": [X3],
               "author_id": "3103", "conversation_id": X3,
               "created_at": "2025-05-30T12:00:00.000Z"}],
     "includes": {"users": [{"id": "3103", "name": "Greeter", "username": "greeter"}]},
     "meta": {"newest_id": X3, "oldest_id": X3, "result_count": 1}},
]}
_DELETE = object()


def single_field_variants(tree: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every copy of ``tree`` with one field the parsers read deleted or set to one junk value
    (those fit for that field, and a little of everything), each with a description."""
    out = []
    for path in paths(tree):
        node = tree
        for step in path:
            node = node[step]
        if not isinstance(node, dict):
            continue
        for key in [k for k in READ_KEYS if k in node]:
            for value in [_DELETE] + JUNK_VALUES_FOR.get(key, []) + ANY_JUNK_VALUES:
                variant = copy.deepcopy(tree)
                target = variant
                for step in path:
                    target = target[step]
                if value is _DELETE:
                    del target[key]
                else:
                    target[key] = copy.deepcopy(value)
                what = "deleted" if value is _DELETE else f"= {value!r:.50}"
                out.append((f"{'.'.join(map(str, path + (key,)))} {what}", variant))
    return out


def sweep(check: Any, tree: dict[str, Any]) -> None:
    """Run ``check`` on every single-field variant of ``tree``; report every one that fails."""
    failures = []
    for what, variant in single_field_variants(tree):
        try:
            check(variant)
        except Exception as exc:  # collected, to report all at once below
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:150]}")
    assert not failures, f"{len(failures)} variants failed:\n" + "\n".join(failures[:20])


@FUZZ
@given(mutated(GRAPH_INPUT))
@example(tree={"feed": {"data": [{"id": "1001_1", "created_time": T1, "comments": {"data": [
    {"id": "11_2", "created_time": "0001-01-01T00:00:00+0100"}]}}]}, "answers": []})
@example(tree={"feed": {"data": [{"id": "1001_1", "created_time": T1}]},
               "answers": [{"code": float("inf"), "body": {"data": []}}]})
def test_facebook_mutated_payloads_parse_or_raise_transient(tree: dict[str, Any]) -> None:
    check_facebook(tree)


def test_facebook_every_read_field_with_every_junk_value() -> None:
    with capture_logs() as logs:
        check_facebook(copy.deepcopy(GRAPH_SAMPLE))
    assert warnings(logs) == []  # the sample itself is well-formed
    sweep(check_facebook, GRAPH_SAMPLE)


@FUZZ
@given(mutated(x_input()))
# The member's own post with an id that is not one and no conversation id: it was taken for a
# conversation to search, and sorting those by int() failed every poll.
@example(tree={"responses": [{"data": [{"id": "abc", "author_id": MEMBER, "text": "",
                                        "created_at": "2025-05-30T10:00:00.000Z"}]}]})
@example(tree={"responses": [{"data": [], "meta": {"newest_id": "²"}}]})
def test_x_mutated_payloads_parse_or_raise_transient(tree: dict[str, Any]) -> None:
    check_x(tree)


def test_x_every_read_field_with_every_junk_value() -> None:
    with capture_logs() as logs:
        check_x(copy.deepcopy(X_SAMPLE))
    assert warnings(logs) == []
    sweep(check_x, X_SAMPLE)


# ---------------------------------------------------------------------------------------------
# Stored cursors

CURSOR_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), BAD_IDS, TWEET_ID,
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                        st.just(10**400), st.just(-(10**400)))
CURSOR_JSON = st.one_of(
    # The shapes the adapters write, with junk in their places.
    st.fixed_dictionaries({}, optional={
        "v": CURSOR_VALUE, "wm": CURSOR_VALUE, "edge": st.lists(CURSOR_VALUE, max_size=3),
        "seen": st.dictionaries(st.text(max_size=5), CURSOR_VALUE, max_size=3),
        "m": CURSOR_VALUE, "s": CURSOR_VALUE, "ahead": st.lists(CURSOR_VALUE, max_size=3),
        "own": st.lists(st.one_of(st.tuples(CURSOR_VALUE, CURSOR_VALUE).map(list),
                                  CURSOR_VALUE), max_size=3)}),
    st.recursive(CURSOR_VALUE, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["v", "wm", "edge", "seen", "m", "s", "own", "ahead"]),
                        inner, max_size=5)), max_leaves=12),
)


@FUZZ
@given(st.one_of(CURSOR_JSON.map(json.dumps), st.text(max_size=50)))
@example(cursor='{"own": [["1", 1' + "0" * 400 + ']]}')  # float() of it: OverflowError
@example(cursor='{"wm": NaN}')  # a NaN watermark: nothing would ever be new again
@example(cursor='{"m": "abc", "ahead": ["x"]}')  # int() of them failed every poll
def test_unreadable_cursors_read_as_fresh_state(cursor: str) -> None:
    fb_state = facebook._load_cursor(cursor)
    assert fb_state.watermark == float("-inf") or abs(fb_state.watermark) < float("inf")
    state = x._load_cursor(cursor)
    for since in (state["m"], state["s"]):
        assert since is None or int(since) >= 0
    sorted(state["ahead"], key=int)
    sorted((i for i, _ in state["own"]), key=int)
