"""Signing in and out of the dashboard, sessions, CSRF, throttling and what each role may see,
on a real store (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.web.conftest import PASSWORD, Site, csrf_of, post_form, sign_in
from watcher import config
from watcher.errors import UserError
from watcher.store.models import ActionRow, WebLoginFailureRow, WebSessionRow, WebUserRow
from watcher.web import users
from watcher.web.core import MAX_BODY_BYTES, SESSION_COOKIE


def actions(site: Site, action: str) -> list[ActionRow]:
    with site.store.session() as s:
        rows = s.scalars(select(ActionRow).where(ActionRow.action == action)
                         .order_by(ActionRow.id)).all()
        s.expunge_all()
        return list(rows)


def test_pages_need_sign_in_and_come_back_after_it(site: Site) -> None:
    c = site.client()
    r = c.get("/inbox?label=threat")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = sign_in(c, "ms", PASSWORD, next_url="/inbox?label=threat")
    assert r.status_code == 303 and r.headers["location"] == "/inbox?label=threat"
    assert c.get("/inbox?label=threat").status_code == 200


def test_sign_in_lands_each_role_on_its_home(site: Site) -> None:
    for name, home in (("ms", "/inbox"), ("jane", "/inbox"), ("leader", "/summary")):
        r = sign_in(site.client(), name, PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == home, name


def test_wrong_password_says_so_and_is_recorded_without_the_password(site: Site) -> None:
    c = site.client()
    r = sign_in(c, "jane", "not the password at all")
    assert r.status_code == 401
    assert "do not match" in r.text and SESSION_COOKIE not in r.cookies
    # The same answer for a user who does not exist: names cannot be probed.
    r2 = sign_in(c, "nobody", "not the password at all")
    assert r2.status_code == 401 and "do not match" in r2.text
    failed = actions(site, "web.login_failed")
    assert [a.actor for a in failed] == ["web:jane", "web:nobody"]
    assert all("not the password" not in a.detail_json for a in failed)


def test_password_is_stored_as_argon2id_hash_only(site: Site) -> None:
    with site.store.session() as s:
        stored = s.scalar(select(WebUserRow.password_hash).where(WebUserRow.username == "ms"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_session_cookie_is_httponly_samesite_and_secure_when_configured(site: Site) -> None:
    c = site.client()
    r = sign_in(c, "ms", PASSWORD)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    # The token in the cookie is not what the database keeps.
    token = r.cookies[SESSION_COOKIE]
    with site.store.session() as s:
        hashes = list(s.scalars(select(WebSessionRow.token_hash)))
    assert token not in hashes and users.token_hash(token) in hashes

    from watcher.web.app import create_app

    secure_cfg = config.WebConfig(cookie_secure=True)
    app = create_app(_with_web(site.cfg, secure_cfg), site.store, platforms={})
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://testserver", follow_redirects=False) as sc:
        r = sign_in(sc, "ms", PASSWORD)
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def _with_web(cfg: config.Config, web: config.WebConfig) -> config.Config:
    from dataclasses import replace

    return replace(cfg, web=web)


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    c = site.login("jane")
    token = c.cookies[SESSION_COOKIE]
    r = post_form(c, "/inbox", "/logout", {})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # Even a copy of the old cookie no longer works.
    c2 = site.client()
    c2.cookies.set(SESSION_COOKIE, token)
    assert c2.get("/inbox").status_code == 303
    assert [a.actor for a in actions(site, "web.logout")] == ["web:jane"]


def test_expired_and_idle_sessions_send_the_user_to_sign_in_with_a_notice(site: Site) -> None:
    c = site.login("jane")
    site.clock.tick(site.cfg.web.idle_timeout + 1)
    r = c.get("/inbox")
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "session ended" in c.get(r.headers["location"]).text
    # A busy user is still signed out at session_lifetime.
    c = site.login("jane")
    for _ in range(int(site.cfg.web.session_lifetime // 3600)):
        site.clock.tick(3600)
        if c.get("/inbox").status_code != 200:
            break
    assert c.get("/inbox").status_code == 303


def test_a_form_posted_after_the_session_ended_does_nothing(site: Site) -> None:
    c = site.login("jane")
    item = site.item_id("facebook", "1_b")
    page = c.get(f"/items/{item}")
    site.clock.tick(site.cfg.web.idle_timeout + 1)
    r = c.post(f"/items/{item}/review", data={"csrf_token": csrf_of(page.text),
                                               "state": "removed"},
               headers={"referer": f"http://testserver/items/{item}"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=%2Fitems%2F{item}&expired=1"
    assert actions(site, "item.marked_removed") == []


def test_login_throttles_after_repeated_failures_even_with_the_right_password(
        site: Site) -> None:
    c = site.client()
    for _ in range(users.MAX_FAILURES_PER_USER):
        assert sign_in(c, "tom", "wrong wrong wrong").status_code == 401
    r = sign_in(c, "tom", PASSWORD)
    assert r.status_code == 429 and "Too many wrong attempts" in r.text
    assert int(r.headers["retry-after"]) > 0
    # Other users are not locked out by tom's failures.
    assert sign_in(site.client(), "jane", PASSWORD).status_code == 303
    site.clock.tick(users.THROTTLE_WINDOW.total_seconds() + 1)
    assert sign_in(c, "tom", PASSWORD).status_code == 303
    with site.store.session() as s:
        assert s.scalar(select(WebLoginFailureRow.id).where(
            WebLoginFailureRow.username == "tom")) is None


def test_login_form_needs_its_csrf_token(site: Site) -> None:
    c = site.client()
    c.get("/login")
    r = c.post("/login", data={"username": "ms", "password": PASSWORD})
    assert r.status_code == 403 and "expired" in r.text
    assert SESSION_COOKIE not in c.cookies


def test_no_open_redirect_after_sign_in(site: Site) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = sign_in(site.client(), "ms", PASSWORD, next_url=target)
        assert r.status_code == 303 and r.headers["location"] == "/inbox", target


def test_every_form_needs_the_session_csrf_token(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    for data in ({}, {"csrf_token": "forged"}):
        r = c.post(f"/items/{item}/review", data={"state": "removed", **data})
        assert r.status_code == 403 and "form has expired" in r.text
    # A token from another user's session is refused too.
    other = site.login("jane")
    r = c.post(f"/items/{item}/review", data={"state": "removed",
                                               "csrf_token": csrf_of(other.get("/inbox").text)})
    assert r.status_code == 403
    assert actions(site, "item.marked_removed") == []


def test_member_cannot_reach_another_members_item_and_it_is_logged(site: Site) -> None:
    jane_item = site.item_id("facebook", "1_b")
    tom = site.login("tom")
    r = tom.get(f"/items/{jane_item}")
    assert r.status_code == 403 and "Cllr Jane Smith" not in r.text
    assert "useless idiot" not in r.text
    r = post_form(tom, "/inbox", f"/items/{jane_item}/review", {"state": "removed"})
    assert r.status_code == 403
    r = post_form(tom, "/inbox", f"/items/{jane_item}/hide", {})
    assert r.status_code == 403 and site.sim.hidden == set()
    r = tom.get("/inbox?member=jsmith")
    assert r.status_code == 403
    refused = actions(site, "web.forbidden")
    assert len(refused) == 4 and {a.actor for a in refused} == {"web:tom"}
    assert json.loads(refused[0].detail_json)["path"] == f"/items/{jane_item}"
    assert actions(site, "item.marked_removed") == []


def test_member_inbox_holds_only_their_own_items(site: Site) -> None:
    jane = site.login("jane").get("/inbox?state=all").text
    assert "useless idiot" in jane and "Cllr Tom Okafor" not in jane
    ms = site.login("ms").get("/inbox?state=all").text
    assert "useless idiot" in ms and "Cllr Tom Okafor" in ms


def test_group_leader_sees_no_items_or_cases(site: Site) -> None:
    leader = site.login("leader")
    item = site.item_id("facebook", "1_b")
    for url in ("/inbox", f"/items/{item}", "/cases"):
        assert leader.get(url).status_code == 403, url


def test_oversized_form_is_refused_before_it_is_read(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    token = csrf_of(c.get(f"/items/{item}").text)
    r = c.post(f"/items/{item}/review", data={"csrf_token": token, "state": "not_a_problem",
                                               "note": "x" * (MAX_BODY_BYTES + 10)})
    assert r.status_code == 413 and "too large" in r.text
    # Under the body limit but over a field's: 400 naming the field.
    r = c.post(f"/items/{item}/review", data={"csrf_token": token, "state": "not_a_problem",
                                               "note": "y" * 5000})
    assert r.status_code == 400 and "note" in r.text and "too long" in r.text
    assert actions(site, "item.not_a_problem") == []


def test_security_headers_on_every_page(site: Site) -> None:
    for r in (site.client().get("/login"), site.login("ms").get("/inbox")):
        assert "script-src" not in r.headers["content-security-policy"]
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"


def test_users_add_checks_role_scope_and_password(site: Site) -> None:
    add = lambda **kw: users.add_user(site.store, site.cfg, **kw)  # noqa: E731
    with pytest.raises(UserError, match="at least 12"):
        add(username="new", password="short", role=users.MEMBER_SERVICES)
    with pytest.raises(UserError, match="needs --member"):
        add(username="new", password=PASSWORD, role=users.MEMBER)
    with pytest.raises(UserError, match="no member 'ghost'.*jsmith"):
        add(username="new", password=PASSWORD, role=users.MEMBER, member_id="ghost")
    with pytest.raises(UserError, match="no group 'Nope'"):
        add(username="new", password=PASSWORD, role=users.GROUP_LEADER, group_name="Nope")
    with pytest.raises(UserError, match="unknown role"):
        add(username="new", password=PASSWORD, role="admin")
    with pytest.raises(UserError, match="already exists"):
        add(username="MS", password=PASSWORD, role=users.MEMBER_SERVICES)
    with pytest.raises(UserError, match="bad user name"):
        add(username="<b>x</b>", password=PASSWORD, role=users.MEMBER_SERVICES)


def test_disabling_or_new_password_signs_the_user_out(site: Site) -> None:
    c = site.login("jane")
    users.set_password(site.store, "jane", "a brand new passphrase here")
    assert c.get("/inbox").status_code == 303
    assert sign_in(site.client(), "jane", PASSWORD).status_code == 401
    c = site.login("jane", "a brand new passphrase here")
    users.set_disabled(site.store, "jane", True)
    assert c.get("/inbox").status_code == 303
    assert sign_in(site.client(), "jane", "a brand new passphrase here").status_code == 401
    users.set_disabled(site.store, "jane", False)
    site.login("jane", "a brand new passphrase here")
