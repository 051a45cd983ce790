"""A dashboard over a real store: one real poll of the simulated platform (the real
facebook-sdk and tweepy adapters over HTTP), real accounts with Argon2 hashes, and the app
driven through Starlette's TestClient (httpx), on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from starlette.testclient import TestClient

from platforms.simulated import SimComment, SimPost, SimulatedPlatform
from tests.conftest import FB, X, config_text
from tests.conftest import ManualClock as Clock
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import build, poll_once
from watcher.store import Store
from watcher.store.models import ItemRow, WebUserRow
from watcher.web import users
from watcher.web.app import create_app

FB2 = "113"
TOKENS = {FB: "web-fb-token", X: "web-x-token", FB2: "web-fb2-token"}
#: Tom's X user-context token, which hiding a reply needs (the bearer token cannot).
X_USER_TOKEN = "web-x-user-token"
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X],
                     "WATCHER_CRED_X_TOK_USER": X_USER_TOKEN,
                     "WATCHER_CRED_FB_TOK": TOKENS[FB2]})
PASSWORD = "correct horse battery staple"

MEMBERS = """
[[groups]]
name = "Riverside Independents"
leader_emails = ["leader@test-council.gov.uk"]

[[groups]]
name = "Hillside Alliance"
leader_emails = ["hl@test-council.gov.uk"]

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"
group = "Riverside Independents"

[[members.accounts]]
platform = "facebook"
id = "111"
credential = "fb-jsmith"

[[members]]
id = "tok"
name = "Cllr Tom Okafor"
email = "tom@test-council.gov.uk"
group = "Hillside Alliance"

[[members.accounts]]
platform = "x"
id = "222"
handle = "CllrTom"
credential = "x-tok"
credential_user = "x-tok-user"

[[members.accounts]]
platform = "facebook"
id = "113"
credential = "fb-tok"
"""

#: Jane's page: a post, a civil comment, an insult and a threat; Tom's X: a threat; Tom's
#: Facebook page: a comment carrying HTML and script.
TIMELINE = [
    SimPost(0, "facebook", FB, "111_1", "Bin collections change next week."),
    SimComment(0, "facebook", FB, "1_a", "111_1", "Thanks for letting us know.", "51", "Ann"),
    SimComment(0, "facebook", FB, "1_b", "111_1", "You are a useless idiot.", "52", "Bob"),
    SimComment(0, "facebook", FB, "1_c", "111_1", "I know where you live and I will burn "
               "your house down.", "53", "Carl"),
    SimPost(0, "x", X, "9001", "At Full Council tonight."),
    SimComment(0, "x", X, "9002", "9001", "I know where you live.", "61", "anon"),
    SimPost(0, "facebook", FB2, "113_1", "Surgery on Saturday."),
    SimComment(0, "facebook", FB2, "3_a", "113_1",
               "<script>document.title='pwned'</script><img src=x onerror=alert(1)> you "
               "stupid idiot", "71", "<b>Mallory</b>"),
]

WEB = """
[detectors.text]
engine = "rules"

[web]
cookie_secure = false
public_url = "https://watcher.test-council.gov.uk"
"""


@dataclass
class Site:
    store: Store
    cfg: config.Config
    sim: SimulatedPlatform
    clock: Clock
    app: Any
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        """A new browser: no cookies. Redirects are not followed, so tests see them."""
        c = TestClient(self.app, follow_redirects=False)
        self.clients.append(c)
        return c

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A browser signed in as ``username``; asserts the sign-in worked."""
        c = self.client()
        r = sign_in(c, username, password)
        assert r.status_code == 303, r.text
        return c

    def item_id(self, platform: str, external_id: str) -> int:
        with self.store.session() as s:
            found = s.scalar(select(ItemRow.id).where(ItemRow.platform == platform,
                                                      ItemRow.external_id == external_id))
        assert found is not None, (platform, external_id)
        return found


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def sign_in(c: TestClient, username: str, password: str, next_url: str = "/") -> Any:
    page = c.get("/login", params={"next": next_url})
    assert page.status_code == 200
    return c.post(f"/login?next={next_url}", data={"csrf_token": csrf_of(page.text),
                                                   "username": username,
                                                   "password": password})


def post_form(c: TestClient, page_url: str, action: str, data: dict[str, str]) -> Any:
    """Load ``page_url``, take its CSRF token, and post ``data`` to ``action``."""
    page = c.get(page_url)
    assert page.status_code == 200, page.text
    return c.post(action, data={"csrf_token": csrf_of(page.text), **data})


#: The accounts every site has: (user name, role, member, group).
USERS = (("ms", users.MEMBER_SERVICES, None, None), ("jane", users.MEMBER, "jsmith", None),
         ("tom", users.MEMBER, "tok", None),
         ("leader", users.GROUP_LEADER, None, "Riverside Independents"))


@cache
def password_hash() -> str:
    """A real Argon2id hash of PASSWORD, made once per test run: hashing costs about 0.1 s
    by design, and every site has four accounts. ``users.add_user`` itself is tested in
    test_auth and test_web_cli."""
    return PasswordHasher().hash(PASSWORD)


def seed_users(store: Store) -> None:
    """Add USERS to the store, each with PASSWORD."""
    now = store.clock()
    with store.session() as s:
        for name, role, member, group in USERS:
            s.add(WebUserRow(username=name, display_name=name, password_hash=password_hash(),
                             role=role, member_id=member, group_name=group, disabled=False,
                             created_at=now, password_changed_at=now))


@pytest.fixture
def site(db_url: str) -> Iterator[Site]:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"},
                           user_tokens={X: X_USER_TOKEN}) as sim:
        cfg = config.parse(config_text(db_url, sim_url=sim.base_url, members=MEMBERS,
                                       extra=WEB))
        clock = Clock()
        parts = build(cfg, credentials=CREDS, clock=clock)
        try:
            outcomes, _ = poll_once(parts)
            assert all(o.status == "ok" for o in outcomes), outcomes
            store = parts.store
            seed_users(store)
            app = create_app(cfg, store, platforms=parts.poller.platforms)
            site = Site(store, cfg, sim, clock, app)
            yield site
            for c in site.clients:
                c.close()
        finally:
            parts.store.dispose()
