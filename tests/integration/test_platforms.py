"""Contract tests of the platform adapters, through the real SDKs over HTTP to the simulator.

Every check runs against both adapters (facebook-sdk's GraphAPI and tweepy's Client), each
pointed at a :class:`platforms.simulated.SimulatedPlatform` on 127.0.0.1; X runs twice, once
per routing (the rebasing session, and the ``BaseUrlClient`` subclass). Time is a settable
clock shared by the simulator and the adapters, never patched. Every poll's
``Batch.requests`` is checked against the simulator's request log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from platforms.base import Platform, PlatformSettings
from platforms.facebook import FacebookPlatform
from platforms.simulated import (
    DATA_FAULTS,
    SimComment,
    SimDelete,
    SimEdit,
    SimMention,
    SimPost,
    SimulatedPlatform,
    load_timeline,
)
from platforms.x import BaseUrlClient, XPlatform
from watcher.domain import Account, Batch, Item, ItemKind
from watcher.errors import (
    AuthExpired,
    CredentialError,
    HideNotSupported,
    RateLimited,
    TransientPlatformError,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PAGE, MEMBER, HANDLE = "1001", "2001", "cllr_smith"
SECRETS = {
    "fb-page": "fbSECRETtoken1001xyz",
    "x-bearer": "xSECRETbearer2001xyz",
    "x-user": "xSECRETuser2001xyz",
}
ALL_TOKENS = tuple(SECRETS.values())


class Clock:
    """A settable wall clock for the simulator."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def lookup(name: str) -> str:
    try:
        return SECRETS[name]
    except KeyError:
        raise CredentialError(f"no credential {name!r}") from None


def timeline() -> list:
    """Items visible at start (at <= 0) and items arriving at 100..130 s."""
    return [
        # Facebook page 1001
        SimPost(-3600, "facebook", PAGE, f"{PAGE}_1", "Council meeting tonight",
                media=("https://example.org/a.jpg",)),
        SimPost(-1800, "facebook", PAGE, f"{PAGE}_2", "", author_id="3001",
                author_name="Visitor"),  # a visitor post with no text
        SimComment(-1700, "facebook", PAGE, "c1", f"{PAGE}_1", "You are a disgrace", "3002",
                   "Angry Person"),
        SimComment(-1600, "facebook", PAGE, "c2", f"{PAGE}_1", "anonymous view", None, None),
        SimComment(-1500, "facebook", PAGE, "c3", f"{PAGE}_1", "Thanks for the feedback",
                   PAGE, "Cllr Smith", parent_id="c1"),
        SimComment(-1400, "facebook", PAGE, "c4", f"{PAGE}_1", "me too", "3003", "Other",
                   parent_id="c1", extra={"brand_new_field": {"nested": [1, 2]}}),
        SimPost(100, "facebook", PAGE, f"{PAGE}_3", "Surgery on Friday"),
        SimComment(110, "facebook", PAGE, "c5", f"{PAGE}_1", "late comment on an old post",
                   "3004", "Late"),
        # X member 2001
        SimPost(-3600, "x", MEMBER, "100", "Budget vote today"),
        SimComment(-3000, "x", MEMBER, "110", "100", "@cllr_smith rubbish", "3101", "Critic"),
        SimComment(-2900, "x", MEMBER, "120", "100", "agreed", "3102", "Fan", parent_id="110"),
        SimComment(-2800, "x", MEMBER, "125", "100", "withheld author", None, None),  # no author
        SimMention(-2000, MEMBER, "130", "hello @cllr_smith", "3103", "Greeter"),
        SimPost(-1000, "x", MEMBER, "140", "", media=("https://example.org/b.jpg",),
                extra={"unknown_future_field": True}),
        SimComment(100, "x", MEMBER, "150", "140", "@cllr_smith nice photo", "3104", "Fan2"),
        SimMention(110, MEMBER, "160", "@cllr_smith see this", "3105", "Pointer"),
        SimPost(120, "x", MEMBER, "170", "New post"),
        SimComment(130, "x", MEMBER, "180", "170", "quiet reply", "3106", "Quiet",
                   parent_id=None),
        # a deeper reply without @member: only the conversation search can find it
        SimComment(135, "x", MEMBER, "190", "170", "deeper", "3107", "Deep", parent_id="180"),
    ]


FIRST = {
    "facebook": {f"{PAGE}_1", f"{PAGE}_2", "c1", "c2", "c3", "c4"},
    "x": {"100", "110", "120", "125", "130", "140"},
}
LATER = {"facebook": {f"{PAGE}_3", "c5"}, "x": {"150", "160", "170", "180", "190"}}


@dataclass
class Env:
    """One platform under test: the simulator, the adapter, the account and the clock.
    ``routing`` is XPlatform's routing ("session" or "client"; "" for Facebook)."""

    name: str
    sim: SimulatedPlatform
    clock: Clock
    adapter: Platform
    account: Account
    routing: str = ""
    extra_accounts: dict[str, Account] = field(default_factory=dict)

    def fetch(self, cursor: str | None = None, adapter: Platform | None = None) -> Batch:
        return counted_fetch(self.sim, adapter or self.adapter, self.account, cursor)

    def make_adapter(self, **kwargs: object) -> Platform:
        return make_adapter(self.name, self.sim, routing=self.routing or None, **kwargs)


def counted_fetch(sim: SimulatedPlatform, adapter: Platform, account: Account,
                  cursor: str | None) -> Batch:
    """Fetch, checking that ``Batch.requests`` is what the server saw (or, on failure, the
    error's ``requests``)."""
    before = len(sim.requests_log)
    try:
        batch = adapter.fetch(account, cursor)
    except Exception as exc:
        if hasattr(exc, "requests"):
            assert exc.requests == len(sim.requests_log) - before
        raise
    assert batch.requests == len(sim.requests_log) - before
    return batch


def make_adapter(name: str, sim: SimulatedPlatform, timeout: float = 5.0,
                 routing: str | None = None) -> Platform:
    """An adapter pointed at ``sim``, on the simulator's clock."""
    settings = PlatformSettings(base_url=sim.base_url,
                                api_version="v21.0" if name == "facebook" else "",
                                timeout_seconds=timeout)
    if name == "facebook":
        return FacebookPlatform(settings, lookup, clock=sim.clock)
    return XPlatform(settings, lookup, routing=routing, clock=sim.clock)


def make_account(name: str) -> Account:
    if name == "facebook":
        return Account(member_id="m1", platform="facebook", external_id=PAGE,
                       credential="fb-page")
    return Account(member_id="m1", platform="x", external_id=MEMBER, handle=HANDLE,
                   credential="x-bearer", credential_user="x-user")


def start_env(variant: str, events: list) -> Env:
    """A started simulator with ``events`` and an adapter for ``variant`` ("facebook",
    "x-session" or "x-client"); stop ``env.sim`` when done."""
    clock = Clock()
    sim = SimulatedPlatform(events, tokens={PAGE: SECRETS["fb-page"],
                                            MEMBER: SECRETS["x-bearer"]},
                            clock=clock, user_tokens={MEMBER: SECRETS["x-user"]},
                            handles={MEMBER: HANDLE})
    sim.faults.timeout_delay = 1.0
    sim.start()
    name, _, routing = variant.partition("-")
    return Env(name, sim, clock, make_adapter(name, sim, routing=routing or None),
               make_account(name), routing=routing)


VARIANTS = ["facebook", "x-session", "x-client"]


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(variant: str) -> Iterator[Env]:
    env = start_env(variant, timeline())
    try:
        yield env
    finally:
        env.sim.stop()


def ids(batch: Batch) -> list[str]:
    return [i.external_id for i in batch.items]


def by_id(batch: Batch) -> dict[str, Item]:
    return {i.external_id: i for i in batch.items}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in ALL_TOKENS:
            assert secret not in text, f"token leaked in: {text[:200]}"


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and every exception a traceback would show with it."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    return out


# --------------------------------------------------------------------------- contract


def test_first_poll_sees_every_visible_item_once(env: Env) -> None:
    batch = env.fetch()
    assert sorted(ids(batch)) == sorted(FIRST[env.name])  # each exactly once
    assert batch.cursor
    assert batch.requests >= 1
    for item in batch.items:
        assert item.created_at.tzinfo is not None
        assert json.loads(item.raw)["id"] == item.external_id
        assert item.raw == json.dumps(json.loads(item.raw), sort_keys=True, ensure_ascii=False)


def test_second_poll_sees_only_new_items(env: Env) -> None:
    first = env.fetch()
    idle = env.fetch(first.cursor)
    assert ids(idle) == []
    env.clock.advance(200)
    second = env.fetch(idle.cursor)
    assert sorted(ids(second)) == sorted(LATER[env.name])
    third = env.fetch(second.cursor)
    assert ids(third) == []


def test_idle_poll_request_count(env: Env) -> None:
    first = env.fetch()
    idle = env.fetch(first.cursor)
    # facebook: one feed request with comments expanded; x: mentions + one combined search
    assert idle.requests == (1 if env.name == "facebook" else 2)
    assert idle.slow_down == 1.0


def test_restart_from_stored_cursor(env: Env) -> None:
    stored = env.fetch().cursor
    env.clock.advance(200)
    fresh_adapter = env.make_adapter()  # a restarted daemon
    batch = env.fetch(stored, adapter=fresh_adapter)
    assert sorted(ids(batch)) == sorted(LATER[env.name])


def test_items_are_mapped(env: Env) -> None:
    items = by_id(env.fetch())
    if env.name == "facebook":
        post, visitor = items[f"{PAGE}_1"], items[f"{PAGE}_2"]
        assert post.kind == ItemKind.POST and post.is_own and post.media
        assert "comments" not in json.loads(post.raw)
        assert visitor.text == "" and not visitor.is_own and visitor.author_id == "3001"
        assert items["c1"].kind == ItemKind.COMMENT and items["c1"].parent_id == f"{PAGE}_1"
        assert items["c1"].author_name == "Angry Person" and items["c1"].can_hide is True
        assert items["c2"].author_id is None and items["c2"].author_name is None  # no `from`
        assert items["c3"].kind == ItemKind.REPLY and items["c3"].parent_id == "c1"
        assert items["c3"].is_own and items["c3"].can_hide is False
        assert json.loads(items["c4"].raw)["brand_new_field"] == {"nested": [1, 2]}
    else:
        assert items["100"].kind == ItemKind.POST and items["100"].is_own
        assert items["110"].kind == ItemKind.REPLY and items["110"].author_name == "Critic"
        assert items["120"].kind == ItemKind.REPLY and items["120"].parent_id == "110"
        assert items["130"].kind == ItemKind.MENTION
        assert items["140"].text == "" and items["140"].media
        assert json.loads(items["140"].raw)["unknown_future_field"] is True
        assert items["110"].permalink == "https://x.com/user3101/status/110"
        no_author = items["125"]  # X's analogue of a comment with no `from`
        assert no_author.kind == ItemKind.REPLY and no_author.author_id is None
        assert no_author.author_name is None and no_author.text == "withheld author"


def test_paging_across_several_pages(env: Env) -> None:
    clock = Clock()
    events: list = []
    if env.name == "facebook":
        for n in range(23):
            events.append(SimPost(-5000 + n, "facebook", PAGE, f"{PAGE}_{n}", f"post {n}"))
            for k in range(4):
                events.append(SimComment(-4000 + n * 10 + k, "facebook", PAGE, f"c{n}_{k}",
                                         f"{PAGE}_{n}", f"comment {k}", f"9{k}", "Someone"))
    else:
        for n in range(23):
            events.append(SimMention(-5000 + n, MEMBER, str(1000 + n), f"@{HANDLE} {n}",
                                     "3100", "Mentioner"))
            events.append(SimPost(-4000 + n, "x", MEMBER, str(5000 + n), f"own {n}"))
    with SimulatedPlatform(events, clock=clock, handles={MEMBER: HANDLE}) as sim:
        adapter = make_adapter(env.name, sim, routing=env.routing or None)
        adapter.page_size = 10  # type: ignore[attr-defined]
        if env.name == "facebook":
            adapter.comment_page_size = 3  # type: ignore[attr-defined]
        batch = counted_fetch(sim, adapter, env.account, None)
        assert len(ids(batch)) == len(set(ids(batch))) == len(events)
        assert batch.requests >= 3
        clock.advance(10)
        assert ids(counted_fetch(sim, adapter, env.account, batch.cursor)) == []


FAULTS = {
    "rate_limit": RateLimited,
    "server_error": TransientPlatformError,
    "timeout": TransientPlatformError,
    "malformed": TransientPlatformError,
    "truncated": TransientPlatformError,
    "expired_token": AuthExpired,
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_then_recovery_loses_nothing(env: Env, kind: str, caplog: pytest.LogCaptureFixture,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 and tweepy write URLs and headers at DEBUG
    adapter = env.make_adapter(timeout=0.3)
    first = env.fetch(adapter=adapter)
    env.clock.advance(200)
    env.sim.faults.inject(kind, platform=env.name, account=env.account.external_id)
    with pytest.raises(FAULTS[kind]) as info:
        env.fetch(first.cursor, adapter=adapter)
    assert info.value.requests >= 1  # type: ignore[attr-defined]
    if kind == "rate_limit":
        retry_at = info.value.retry_at  # type: ignore[attr-defined]
        assert retry_at is not None and retry_at > datetime.now(timezone.utc)
    for exc in chain(info.value):
        assert_no_secret(str(exc), repr(exc))
    recovered = env.fetch(first.cursor, adapter=adapter)
    assert sorted(ids(recovered)) == sorted(LATER[env.name])
    captured = capsys.readouterr()
    assert_no_secret(caplog.text, captured.out, captured.err,
                     *(str(r.msg) + repr(r.args) for r in caplog.records))


def test_wrong_token_is_auth_expired(env: Env) -> None:
    SECRETS["wrong"] = "wrongSECRETtoken"
    try:
        account = Account(member_id="m1", platform=env.name, external_id=env.account.external_id,
                          handle=env.account.handle, credential="wrong")
        with pytest.raises(AuthExpired) as info:
            env.adapter.fetch(account, None)
        for exc in chain(info.value):
            assert "wrongSECRETtoken" not in str(exc) + repr(exc)
    finally:
        del SECRETS["wrong"]


def test_missing_credential_is_credential_error(env: Env) -> None:
    account = Account(member_id="m1", platform=env.name, external_id=env.account.external_id,
                      credential="nope")
    with pytest.raises(CredentialError):
        env.adapter.fetch(account, None)


def test_connection_refused_is_transient() -> None:
    with SimulatedPlatform([]) as sim:
        dead = sim.base_url
    for name in ("facebook", "x"):
        settings = PlatformSettings(base_url=dead, api_version="v21.0", timeout_seconds=1)
        adapter = (FacebookPlatform if name == "facebook" else XPlatform)(settings, lookup)
        with pytest.raises(TransientPlatformError) as info:
            adapter.fetch(make_account(name), None)
        for exc in chain(info.value):
            assert_no_secret(str(exc), repr(exc))


def test_hide(env: Env) -> None:
    items = by_id(env.fetch())
    target = items["c1" if env.name == "facebook" else "110"]
    env.adapter.hide(env.account, target)
    assert target.external_id in env.sim.hidden
    if env.name == "facebook":
        assert by_id(env.fetch())["c1"].is_hidden  # a first poll again sees it hidden
        with pytest.raises(HideNotSupported):
            env.adapter.hide(env.account, items["c3"])  # the page's own reply
        with pytest.raises(HideNotSupported):
            env.adapter.hide(env.account, items[f"{PAGE}_1"])  # the page's own post
    else:
        with pytest.raises(HideNotSupported):
            env.adapter.hide(env.account, items["130"])  # a mention outside the conversation
        with pytest.raises(HideNotSupported):
            env.adapter.hide(env.account, items["100"])  # own post
        no_user = Account(member_id="m1", platform="x", external_id=MEMBER,
                          credential="x-bearer")
        with pytest.raises(HideNotSupported):
            env.adapter.hide(no_user, items["120"])
    assert len(env.sim.hidden) == 1


def test_requests_log_has_no_token(env: Env) -> None:
    env.fetch()
    assert env.sim.requests_log
    assert all(platform == env.name for platform, *_ in env.sim.requests_log)
    assert_no_secret(repr(env.sim.requests_log))


def test_usage_headers_slow_down(env: Env) -> None:
    if env.name == "facebook":
        env.sim.app_usage_percent = 90
    else:
        env.sim.x_rate_limit = 1  # remaining falls to zero at once
    assert env.fetch().slow_down > 1.0


# --------------------------------------------------------------------------- bad input


def paged_timeline(name: str) -> tuple[list, set[str], set[str]]:
    """Events filling several pages (feed and X pages of 10, comment pages of 3), and the
    ids visible at the start and arriving at 100..200 s."""
    events: list = []
    if name == "facebook":
        for n in range(12):
            events.append(SimPost(-5000 + n, "facebook", PAGE, f"{PAGE}_{n}", f"post {n}"))
            events += [SimComment(-4000 + n * 10 + k, "facebook", PAGE, f"c{n}_{k}",
                                  f"{PAGE}_{n}", f"comment {k}", f"9{k}", "Someone")
                       for k in range(4)]
        later = [SimPost(100 + n, "facebook", PAGE, f"{PAGE}_new{n}", "new") for n in range(2)]
        later += [SimComment(110 + k, "facebook", PAGE, f"n0_{k}", f"{PAGE}_0", "late", "8",
                             "L") for k in range(7)]
        later += [SimComment(150 + k, "facebook", PAGE, f"n1_{k}", f"{PAGE}_1", "late", "8",
                             "L") for k in range(5)]
    else:
        events += [SimMention(-5000 + n, MEMBER, str(1000 + n), f"@{HANDLE} {n}", "3100",
                              "Mentioner") for n in range(23)]
        events += [SimPost(-4000 + n, "x", MEMBER, str(1100 + n), f"own {n}") for n in range(12)]
        later = [SimMention(100 + n, MEMBER, str(2000 + n), f"@{HANDLE} late {n}", "3100",
                            "Mentioner") for n in range(12)]
        later += [SimComment(130 + k, "x", MEMBER, str(2100 + k), "1111", "no at-mention",
                             str(3200 + k), "Replier", parent_id="1111") for k in range(12)]
        later.append(SimPost(190, "x", MEMBER, "2200", "own later"))
    return events + later, {e.id for e in events}, {e.id for e in later}


def small_pages(adapter: Platform) -> None:
    adapter.page_size = 10  # type: ignore[attr-defined]
    if isinstance(adapter, FacebookPlatform):
        adapter.comment_page_size = 3


def assert_once(batch: Batch, expected: set[str]) -> None:
    assert sorted(ids(batch)) == sorted(expected)  # every one, none twice


@pytest.mark.parametrize("kind", DATA_FAULTS)
def test_untidy_pages_lose_and_repeat_nothing(variant: str, kind: str) -> None:
    """Items twice in a response, pages repeating the last item, shuffled pages and empty
    pages that link onwards: across three polls every item comes exactly once."""
    name = variant.partition("-")[0]
    events, first_ids, later_ids = paged_timeline(name)
    env = start_env(variant, events)
    try:
        small_pages(env.adapter)
        # Empty pages with a next link forever would stall any client: serve a few.
        times = 2 if kind == "empty_page_with_next" else 10**6
        deeper = "/comments" if name == "facebook" else "/search/recent"
        env.sim.faults.inject(kind, times=times, platform=name)
        env.sim.faults.inject(kind, times=times, platform=name, where=deeper)
        first = env.fetch()
        assert_once(first, first_ids)
        env.clock.advance(200)
        env.sim.faults.inject(kind, times=times, platform=name)
        env.sim.faults.inject(kind, times=times, platform=name, where=deeper)
        second = env.fetch(first.cursor)
        assert_once(second, later_ids)
        assert ids(env.fetch(second.cursor)) == []
    finally:
        env.sim.stop()


def test_edit_between_polls(variant: str) -> None:
    """Facebook returns an edited item again (same id, new text) when it re-reads it; X does
    not see in-place edits. Neither repeats an unedited item; an item edited before it was
    first returned comes once, with its latest text."""
    name = variant.partition("-")[0]
    if name == "facebook":
        edits = [SimEdit(150, "facebook", PAGE, "c1", "EDITED into abuse"),
                 SimEdit(150, "facebook", PAGE, f"{PAGE}_1", "EDITED post"),
                 SimEdit(120, "facebook", PAGE, "c5", "EDITED before first seen")]
        reread, fresh_edit = {"c1", f"{PAGE}_1"}, "c5"
    else:
        edits = [SimEdit(150, "x", MEMBER, "110", "EDITED into abuse"),
                 SimEdit(140, "x", MEMBER, "150", "EDITED before first seen")]
        reread, fresh_edit = set(), "150"
    env = start_env(variant, timeline() + edits)
    try:
        first = env.fetch()
        env.clock.advance(200)
        second = env.fetch(first.cursor)
        assert_once(second, LATER[name] | reread)
        items = by_id(second)
        for item_id in reread | {fresh_edit}:
            assert items[item_id].text.startswith("EDITED")
            assert json.loads(items[item_id].raw)[
                "message" if name == "facebook" else "text"] == items[item_id].text
        assert ids(env.fetch(second.cursor)) == []
    finally:
        env.sim.stop()


def test_delete_between_polls(variant: str) -> None:
    """Deleted items vanish without harm, also when the newest item (the watermark) goes;
    on Facebook a deleted post's comments vanish with it."""
    name = variant.partition("-")[0]
    if name == "facebook":
        deletes = [SimDelete(150, "facebook", PAGE, f"{PAGE}_1"),  # with c1..c5
                   SimDelete(250, "facebook", PAGE, f"{PAGE}_3"),  # the newest post
                   SimPost(300, "facebook", PAGE, f"{PAGE}_4", "after the deletions")]
        second_ids, last_id = {f"{PAGE}_3"}, f"{PAGE}_4"
    else:
        deletes = [SimDelete(150, "x", MEMBER, "100"), SimDelete(150, "x", MEMBER, "130"),
                   SimDelete(250, "x", MEMBER, "190"),  # the newest tweet
                   SimMention(300, MEMBER, "200", f"@{HANDLE} after", "3199", "After")]
        second_ids, last_id = LATER["x"], "200"
    env = start_env(variant, timeline() + deletes)
    try:
        first = env.fetch()
        env.clock.advance(200)
        second = env.fetch(first.cursor)
        assert_once(second, second_ids)
        env.clock.advance(60)  # t = 260: the newest item is gone
        third = env.fetch(second.cursor)
        assert ids(third) == []
        env.clock.advance(140)
        assert_once(env.fetch(third.cursor), {last_id})
        if name == "facebook":
            gone = requests.get(f"{env.sim.base_url}/v21.0/c1", timeout=5,
                                params={"access_token": SECRETS["fb-page"]})
            assert gone.json()["error"]["code"] == 100  # the comment went with its post
    finally:
        env.sim.stop()


# --------------------------------------------------------------------------- Facebook batch


def busy_page(busy_posts: int, new_comments: int) -> tuple[list, set[str]]:
    """A page whose ``busy_posts`` posts get ``new_comments`` comments each at 100 s (one
    more post gets a few), and the ids of those new comments."""
    events: list = []
    for n in range(busy_posts + 1):
        events.append(SimPost(-5000 + n, "facebook", PAGE, f"{PAGE}_{n}", f"post {n}"))
        events += [SimComment(-4000 + k, "facebook", PAGE, f"old{n}_{k}", f"{PAGE}_{n}", "old",
                              "7", "Old") for k in range(5)]
    new = [SimComment(100 + k, "facebook", PAGE, f"new{n}_{k}", f"{PAGE}_{n}", "new", "8",
                      "New") for n in range(busy_posts + 1)
           for k in range(new_comments if n < busy_posts else 4)]
    return events + new, {c.id for c in new}


def batch_ops(entry: tuple) -> list[dict]:
    return json.loads(entry[3]["batch"])


def test_facebook_fetches_busy_posts_comment_pages_in_one_batch_per_round() -> None:
    events, new_ids = busy_page(busy_posts=3, new_comments=250)
    env = start_env("facebook", events)
    try:
        first = env.fetch()
        assert first.requests == 1  # five comments a post fit in the feed's expansion
        env.clock.advance(400)  # all new comments are out
        mark = len(env.sim.requests_log)
        second = env.fetch(first.cursor)
        sent = env.sim.requests_log[mark:]
        # 100 comments a post come with the feed; 100 more, then 50, in two batch rounds.
        assert [(method, path) for _, method, path, _ in sent] == [
            ("GET", f"/v21.0/{PAGE}/feed"), ("POST", "/"), ("POST", "/")]
        assert [len(batch_ops(entry)) for entry in sent[1:]] == [3, 3]
        assert all(op["relative_url"].startswith("v21.0/") for op in batch_ops(sent[1]))
        assert second.requests == 3
        assert_once(second, new_ids)
        idle = env.fetch(second.cursor)
        assert ids(idle) == [] and idle.requests == 1
        assert_no_secret(repr(sent))
    finally:
        env.sim.stop()


def test_facebook_batch_holds_at_most_50_operations() -> None:
    events, new_ids = busy_page(busy_posts=51, new_comments=2)
    env = start_env("facebook", events)
    try:
        first = env.fetch()
        env.clock.advance(400)  # all new comments are out
        env.adapter.comment_page_size = 1  # type: ignore[attr-defined]
        mark = len(env.sim.requests_log)
        second = env.fetch(first.cursor)
        batches = [batch_ops(e) for e in env.sim.requests_log[mark:] if e[1] == "POST"]
        # Each round asks for the next page of the 52 posts with news: 50, then 2.
        assert [len(ops) for ops in batches[:4]] == [50, 2, 50, 2]
        assert max(len(ops) for ops in batches) <= 50
        assert second.requests == 3 + len(batches)  # three feed pages of 25, then batches
        assert_once(second, new_ids)
    finally:
        env.sim.stop()


@pytest.mark.parametrize("kind, error", [
    ("server_error", TransientPlatformError), ("rate_limit", RateLimited),
    ("timeout", TransientPlatformError), ("malformed", TransientPlatformError),
    ("truncated", TransientPlatformError), ("expired_token", AuthExpired)])
def test_facebook_batch_operation_errors(kind: str, error: type[Exception]) -> None:
    """A failed operation inside a batch fails the poll like a failed request (the cursor
    does not move, so nothing is lost), translated in the same one place."""
    events, new_ids = busy_page(busy_posts=3, new_comments=150)
    env = start_env("facebook", events)
    try:
        first = env.fetch()
        env.clock.advance(400)  # all new comments are out
        env.sim.faults.inject(kind, platform="facebook", account=PAGE, where="/comments")
        with pytest.raises(error) as info:
            env.fetch(first.cursor)
        assert info.value.requests == 2  # type: ignore[attr-defined]  # feed + batch
        for exc in chain(info.value):
            assert_no_secret(str(exc), repr(exc))
        if kind == "rate_limit":
            # The operation's own usage header (one minute to regain access) was read.
            retry_at = info.value.retry_at  # type: ignore[attr-defined]
            assert retry_at < datetime.now(timezone.utc) + timedelta(minutes=5)
        assert_once(env.fetch(first.cursor), new_ids)
    finally:
        env.sim.stop()


def test_facebook_batch_usage_headers_slow_down() -> None:
    events, _ = busy_page(busy_posts=2, new_comments=150)
    env = start_env("facebook", events)
    try:
        first = env.fetch()
        env.clock.advance(400)  # all new comments are out
        env.sim.app_usage_percent = 90
        assert env.fetch(first.cursor).slow_down > 1.0
    finally:
        env.sim.stop()


# --------------------------------------------------------------------------- routing, clock


@pytest.mark.parametrize("variant", ["x-session", "x-client"])
def test_x_routings(variant: str) -> None:
    env = start_env(variant, timeline())
    try:
        client, session = env.adapter._client("token")  # type: ignore[attr-defined]
        assert isinstance(client, BaseUrlClient) == (env.routing == "client")
        assert client.session is session
        assert_once(env.fetch(), FIRST["x"])
        assert {platform for platform, *_ in env.sim.requests_log} == {"x"}
    finally:
        env.sim.stop()
    with pytest.raises(ValueError, match="routing"):
        XPlatform(PlatformSettings(base_url="http://127.0.0.1:9"), lookup, routing="proxy")


def test_windows_follow_the_adapter_clock(env: Env) -> None:
    first = env.fetch()
    env.clock.advance(8 * 86400)  # past both the look-back and the conversation window
    later = env.fetch(first.cursor)
    last = env.sim.requests_log[-1]
    if env.name == "facebook":
        assert int(last[3]["since"]) == int(env.clock.now - 3 * 86400)
        assert ids(later) == []  # the new post is older than the look-back now
    else:
        assert last[3]["query"] == f"from:{HANDLE}"  # no conversation older than 7 days


# --------------------------------------------------------------------------- wire shapes


def _get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_graph_wire_shape_matches_real_payloads() -> None:
    real = json.loads((FIXTURES / "graph-api" / "facebook_apidata_comments_comments_p1.json")
                      .read_text())
    real_error = json.loads((FIXTURES / "graph-api" / "error.json").read_text())
    events = [SimPost(-10, "facebook", PAGE, f"{PAGE}_1", "hi")] + [
        SimComment(-9 + k, "facebook", PAGE, f"c{k}", f"{PAGE}_1", "x", "7", "A")
        for k in range(5)]
    with SimulatedPlatform(events, tokens={PAGE: "t"}) as sim:
        ok = _get(f"{sim.base_url}/v21.0/{PAGE}_1/comments",
                  params={"access_token": "t", "limit": 2, "summary": 1,
                          "fields": "comment_count,created_time,like_count,message,"
                                    "permalink_url"}).json()
        bad = _get(f"{sim.base_url}/v21.0/{PAGE}/feed", params={"access_token": "nope"})
        usage = _get(f"{sim.base_url}/v21.0/{PAGE}/feed", params={"access_token": "t"})
    assert set(ok) == set(real) == {"data", "paging", "summary"}
    assert set(ok["summary"]) == set(real["summary"])
    assert set(ok["paging"]) == set(real["paging"])
    assert set(ok["paging"]["cursors"]) == set(real["paging"]["cursors"])
    assert set(real["data"][0]) <= set(ok["data"][0]) | {"id"}
    assert set(real_error["error"]) <= set(bad.json()["error"])
    assert bad.json()["error"]["code"] == 190 and bad.json()["error"]["type"] == "OAuthException"
    assert json.loads(usage.headers["X-App-Usage"])["call_count"] >= 0


def test_x_wire_shape_matches_real_payloads() -> None:
    recorded = json.loads((FIXTURES / "x-api" / "test_client_get_users_mentions.json")
                          .read_text())[0]
    events = [SimMention(-10 + k, MEMBER, str(200 + k), "@u hi", "9", "A") for k in range(12)]
    with SimulatedPlatform(events, tokens={MEMBER: "t"}) as sim:
        response = _get(f"{sim.base_url}/2/users/{MEMBER}/mentions",
                        headers={"Authorization": "Bearer t"})
        denied = _get(f"{sim.base_url}/2/users/{MEMBER}/mentions",
                      headers={"Authorization": "Bearer nope"})
    body = response.json()
    real = recorded["response_body"]
    assert set(body) == set(real)
    assert set(body["meta"]) == set(real["meta"])
    assert set(body["data"][0]) == set(real["data"][0])
    for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert header in recorded["response_headers"] and header in response.headers
    assert denied.status_code == 401 and {"title", "detail", "type"} <= set(denied.json())


# --------------------------------------------------------------------------- load_timeline


def test_load_timeline_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([
        {"type": "comment", "at": 5, "platform": "facebook", "account": "1", "id": "c",
         "post_id": "p", "text": "hi", "author_id": "2", "author_name": "B"},
        {"type": "post", "at": 1, "platform": "facebook", "account": "1", "id": "p",
         "text": "hello", "media": ["https://example.org/x.jpg"]},
        {"type": "mention", "at": 2, "account": "5", "id": "9", "text": "@m",
         "author_id": "3", "author_name": "C"},
        {"type": "edit", "at": 6, "platform": "facebook", "account": "1", "id": "c",
         "text": "edited"},
        {"type": "delete", "at": 7, "platform": "x", "account": "5", "id": "9"},
    ]))
    events = load_timeline(path)
    assert [type(e) for e in events] == [SimPost, SimMention, SimComment, SimEdit, SimDelete]
    assert events[3] == SimEdit(6, "facebook", "1", "c", "edited")
    assert events[0].media == ("https://example.org/x.jpg",)
    assert load_timeline(str(path)) == events
    assert load_timeline(path.read_text()) == events


@pytest.mark.parametrize("entries, expected", [
    ([{"type": "tweet"}], r"timeline\[0\]\.type"),
    (["nope"], r"timeline\[0\]: expected an object"),
    ([{"type": "post", "platform": "facebook", "account": "1", "id": "p", "text": "x"}],
     r"timeline\[0\]\.at: missing"),
    ([{"type": "post", "at": "soon", "platform": "facebook", "account": "1", "id": "p",
       "text": "x"}], r"timeline\[0\]\.at: wrong type"),
    ([{"type": "post", "at": 1, "platform": "myspace", "account": "1", "id": "p",
       "text": "x"}], r"timeline\[0\]\.platform"),
    ([{"type": "post", "at": 1, "platform": "x", "account": "1", "id": "abc", "text": "x"}],
     r"timeline\[0\]\.id: X ids are numeric"),
    ([{"type": "post", "at": 1, "platform": "facebook", "account": "1", "id": "p",
       "text": "x", "colour": "red"}], r"timeline\[0\]\.colour: unknown field"),
    ([{"type": "post", "at": 1, "platform": "facebook", "account": "1", "id": "p", "text": "x"},
      {"type": "comment", "at": 2, "platform": "facebook", "account": "1", "id": "c",
       "post_id": "zzz", "text": "y"}], r"timeline\[1\]\.post_id: unknown post"),
    ([{"type": "post", "at": 1, "platform": "facebook", "account": "1", "id": "p", "text": "x"},
      {"type": "post", "at": 2, "platform": "facebook", "account": "1", "id": "p", "text": "y"}],
     r"timeline\[1\]\.id: duplicate"),
    ([{"type": "edit", "at": 1, "platform": "facebook", "account": "1", "id": "nope",
       "text": "x"}], r"timeline\[0\]\.id: unknown item"),
    ([{"type": "post", "at": 5, "platform": "facebook", "account": "1", "id": "p", "text": "x"},
      {"type": "delete", "at": 2, "platform": "facebook", "account": "1", "id": "p"}],
     r"timeline\[1\]\.at: before item"),
    ([{"type": "delete", "at": 2, "platform": "facebook", "account": "1"}],
     r"timeline\[0\]\.id: missing"),
    ([{"type": "edit", "at": 2, "platform": "x", "account": "1", "id": "p", "text": "t",
       "media": []}], r"timeline\[0\]\.media: unknown field"),
])
def test_load_timeline_errors_name_index_and_field(entries: list, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        load_timeline(entries)


def test_load_timeline_rejects_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[{")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_timeline(path)
