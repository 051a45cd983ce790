"""Whatever a browser or an attacker sends, the dashboard answers with a page, never a crash
(no 500): fuzzed paths, query strings and form fields, signed in as each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import Site, csrf_of

# Control characters cannot be in a URL at all (the HTTP client refuses them).
ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=300)
POSTS = ["/items/{item}/review", "/items/{item}/case", "/items/{item}/hide",
         "/cases/1/status", "/cases/1/fields", "/cases/1/note",
         "/senders/facebook/52/case"]
GETS = ["/inbox", "/items/{x}", "/cases/{x}", "/senders/{x}/{x}", "/summary", "/go/{x}/{x}",
        "/summary/{x}/{x}.csv", "/status"]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: the answers do not depend on the database."""
    yield f"sqlite:///{tmp_path / 'watcher.db'}"


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(who=st.sampled_from(["ms", "jane", "leader"]), path=st.sampled_from(GETS), x=ANY_TEXT,
       query=st.dictionaries(st.sampled_from(["member", "label", "platform", "state", "month",
                                              "group", "closed", "ok", "error", "next"]),
                             ANY_TEXT, max_size=4))
def test_fuzzed_pages_never_crash(site: Site, who: str, path: str, x: str,
                                  query: dict[str, str]) -> None:
    client = site.login(who)
    url = path.format(x=x.replace("/", "_").replace("?", "_").replace("#", "_") or "0")
    r = client.get(url, params=query)
    assert r.status_code < 500, (url, query, r.text[:500])


@FUZZ
@given(who=st.sampled_from(["ms", "jane"]), action=st.sampled_from(POSTS),
       form=st.dictionaries(st.sampled_from(["state", "note", "case_id", "title", "status",
                                             "assignee", "police_reference",
                                             "platform_reference", "member_id"]),
                            ANY_TEXT, max_size=5))
def test_fuzzed_forms_never_crash(site: Site, who: str, action: str,
                                  form: dict[str, str]) -> None:
    client = site.login(who)
    item = site.item_id("facebook", "1_b")
    token = csrf_of(client.get("/inbox").text)
    r = client.post(action.format(item=item), data={"csrf_token": token, **form})
    assert r.status_code < 500, (action, form, r.text[:500])
