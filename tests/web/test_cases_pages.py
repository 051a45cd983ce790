"""The case board, the case page with its forms and evidence pack, and the sender page,
driven through the real app over a real poll's store (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import zipfile
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from tests.web.conftest import Site, csrf_of, post_form
from watcher import cases
from watcher.store import sha256_text
from watcher.store.models import AccountRow, ActionRow, ItemRow

MALLORY = "<b>Mallory</b>"


def case_of(site: Site, member_id: str) -> int:
    """The id of the case the poll opened for the member's threat (read, not assumed)."""
    found = cases.list_cases(site.store, member_id=member_id)
    assert len(found) == 1, found
    return found[0].id


def actions(site: Site, action: str) -> list[ActionRow]:
    with site.store.session() as s:
        return list(s.scalars(select(ActionRow).where(ActionRow.action == action)
                              .order_by(ActionRow.id)))


def case_post(c: TestClient, case_id: int, what: str, data: dict[str, str]) -> Any:
    """Post one of the case page's forms, with the page's CSRF token."""
    return post_form(c, f"/cases/{case_id}", f"/cases/{case_id}/{what}", data)


# ---------------------------------------------------------------------------------------------
# Who sees what


def test_board_shows_each_role_its_cases(site: Site) -> None:
    jane_case, tom_case = case_of(site, "jsmith"), case_of(site, "tok")

    ms = site.login("ms").get("/cases")
    assert ms.status_code == 200
    for case_id in (jane_case, tom_case):
        assert f'href="/cases/{case_id}"' in ms.text
    assert "Cllr Jane Smith" in ms.text and "Cllr Tom Okafor" in ms.text
    for title in ("Open", "Reported to police", "With the platform", "Closed"):
        assert f">{title} <small>" in ms.text
    # Groups come in the order of cases.STATUSES.
    assert ms.text.index(">Open <") < ms.text.index(">Reported to police <") \
        < ms.text.index(">With the platform <") < ms.text.index(">Closed <")

    jane = site.login("jane").get("/cases")
    assert jane.status_code == 200
    assert f'href="/cases/{jane_case}"' in jane.text
    assert f'href="/cases/{tom_case}"' not in jane.text
    assert "Cllr Tom Okafor" not in jane.text
    # A member cannot widen the board with the member filter.
    assert f'href="/cases/{tom_case}"' not in site.login("jane").get(
        "/cases", params={"member": "tok"}).text


def test_member_services_filter_the_board_by_member(site: Site) -> None:
    jane_case, tom_case = case_of(site, "jsmith"), case_of(site, "tok")
    ms = site.login("ms")
    page = ms.get("/cases", params={"member": "tok"})
    assert page.status_code == 200
    assert f'href="/cases/{tom_case}"' in page.text
    assert f'href="/cases/{jane_case}"' not in page.text
    assert ms.get("/cases", params={"member": "nobody"}).status_code == 404


def test_closed_cases_collapse_to_the_newest(site: Site) -> None:
    ms = site.login("ms")
    opened = []
    for n in range(22):
        case_id = cases.open_case(site.store, member_id="jsmith", title=f"Closed case {n}",
                                  actor="test")
        site.clock.tick(1)
        cases.update(site.store, case_id, actor="test", status="closed")
        opened.append(case_id)
    page = ms.get("/cases").text
    assert "Show all 22 closed cases" in page
    assert f'href="/cases/{opened[-1]}"' in page
    assert f'href="/cases/{opened[0]}"' not in page and f'href="/cases/{opened[1]}"' not in page
    everything = ms.get("/cases", params={"closed": "all"}).text
    assert all(f'href="/cases/{i}"' in everything for i in opened)


def test_member_cannot_open_another_members_case(site: Site) -> None:
    jane_case = case_of(site, "jsmith")
    tom = site.login("tom")
    page = tom.get(f"/cases/{jane_case}")
    assert page.status_code == 403
    assert "I know where you live" not in page.text
    refused = actions(site, "web.forbidden")
    assert [(a.actor, json.loads(a.detail_json)["path"]) for a in refused] == \
        [("web:tom", f"/cases/{jane_case}")]

    # Nor change it, with a valid token of his own session.
    token = csrf_of(tom.get("/cases").text)
    for what, data in (("status", {"status": "closed"}), ("note", {"note": "mine now"}),
                       ("fields", {"assignee": "tom"}), ("export", {})):
        r = tom.post(f"/cases/{jane_case}/{what}", data={"csrf_token": token, **data})
        assert r.status_code == 403, what
    detail = cases.show(site.store, jane_case)
    assert detail.case.status == "open" and detail.case.assignee == ""
    assert [n.kind for n in detail.timeline] == ["opened"]
    assert actions(site, "case.exported") == []
    assert len(actions(site, "web.forbidden")) == 5


def test_group_leader_reaches_no_case_or_sender_page(site: Site) -> None:
    leader = site.login("leader")
    jane_case = case_of(site, "jsmith")
    for url in ("/cases", f"/cases/{jane_case}", "/senders/facebook/53"):
        assert leader.get(url).status_code == 403, url
    assert [a.actor for a in actions(site, "web.forbidden")] == ["web:leader"] * 3


def test_unknown_and_malformed_case_ids_are_not_found(site: Site) -> None:
    ms = site.login("ms")
    for url in ("/cases/9999", "/cases/abc", "/cases/1e3", "/cases/%C2%B2",
                "/cases/99999999999999999999"):
        assert ms.get(url).status_code == 404, url
    token = csrf_of(ms.get("/cases").text)
    assert ms.post("/cases/9999/note", data={"csrf_token": token, "note": "x"}
                   ).status_code == 404


# ---------------------------------------------------------------------------------------------
# Changing a case


def test_status_references_and_note_are_stored_with_the_user(site: Site) -> None:
    case_id = case_of(site, "tok")
    ms = site.login("ms")

    r = case_post(ms, case_id, "status", {"status": "reported_to_police"})
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}?ok=status"
    r = case_post(ms, case_id, "fields", {"assignee": "Priya", "police_reference": "OF-123/45",
                                          "platform_reference": ""})
    assert r.status_code == 303
    r = case_post(ms, case_id, "note", {"note": "Rang the police <today>."})
    assert r.status_code == 303

    detail = cases.show(site.store, case_id)
    assert detail.case.status == "reported_to_police"
    assert (detail.case.assignee, detail.case.police_reference,
            detail.case.platform_reference) == ("Priya", "OF-123/45", "")
    assert [(n.kind, n.actor) for n in detail.timeline] == [
        ("opened", "watcher"), ("status", "web:ms"), ("assignee", "web:ms"),
        ("police_reference", "web:ms"), ("note", "web:ms")]
    assert detail.timeline[-1].text == "Rang the police <today>."
    updated = actions(site, "case.updated")
    assert [json.loads(a.detail_json)["field"] for a in updated] == \
        ["status", "assignee", "police_reference", "note"]
    assert {a.actor for a in updated} == {"web:ms"}

    page = ms.get(f"/cases/{case_id}?ok=note")
    assert "Note added to the timeline." in page.text
    assert "OF-123/45" in page.text and "Priya" in page.text
    assert "Rang the police &lt;today&gt;." in page.text
    assert '<option value="reported_to_police" selected>' in page.text


def test_member_changes_their_own_case(site: Site) -> None:
    case_id = case_of(site, "jsmith")
    jane = site.login("jane")
    assert case_post(jane, case_id, "note", {"note": "He was outside again."}
                     ).status_code == 303
    assert cases.show(site.store, case_id).timeline[-1].actor == "web:jane"


def test_case_post_without_csrf_is_refused(site: Site) -> None:
    case_id = case_of(site, "jsmith")
    ms = site.login("ms")
    ms.get(f"/cases/{case_id}")
    for data in ({"status": "closed"}, {"status": "closed", "csrf_token": "forged"}):
        r = ms.post(f"/cases/{case_id}/status", data=data)
        assert r.status_code == 403
        assert "This form has expired" in r.text
    assert ms.post(f"/cases/{case_id}/export").status_code == 403
    detail = cases.show(site.store, case_id)
    assert detail.case.status == "open"
    assert [n.kind for n in detail.timeline] == ["opened"]
    assert actions(site, "case.updated") == [] and actions(site, "case.exported") == []


def test_bad_values_are_refused_and_nothing_is_stored(site: Site) -> None:
    case_id = case_of(site, "jsmith")
    ms = site.login("ms")

    r = case_post(ms, case_id, "note", {"note": "x" * 4001})
    assert r.status_code == 400
    assert "too long" in r.text and "4,000" in r.text

    r = case_post(ms, case_id, "fields", {"assignee": "a" * 201, "police_reference": "P1"})
    assert r.status_code == 400
    assert "assignee: too long (at most 200 characters)" in r.text
    assert 'action="/cases/' in r.text  # the case page again, with its forms

    for data, message in (({"status": "lost"}, "choose one of the options"),
                          ({"status": ""}, "please fill this in")):
        r = case_post(ms, case_id, "status", data)
        assert r.status_code == 400, data
        assert f"status: {message}" in r.text
    assert case_post(ms, case_id, "note", {"note": "   "}).status_code == 400

    detail = cases.show(site.store, case_id)
    assert detail.case.status == "open" and detail.case.police_reference == ""
    assert [n.kind for n in detail.timeline] == ["opened"]
    assert actions(site, "case.updated") == []


# ---------------------------------------------------------------------------------------------
# The evidence pack


def test_export_downloads_a_pack_that_verifies(site: Site) -> None:
    case_id = case_of(site, "jsmith")
    r = case_post(site.login("ms"), case_id, "export", {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == \
        f'attachment; filename="case-{case_id}-evidence.zip"'

    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        files = {name: z.read(name) for name in z.namelist()}
    listed = dict(reversed(line.split("  ", 1))
                  for line in files["SHA256SUMS"].decode().splitlines())
    assert set(listed) == set(files) - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert json.loads(files["case.json"])["case"]["id"] == case_id

    exported = actions(site, "case.exported")
    assert len(exported) == 1 and exported[0].actor == "web:ms"
    detail = json.loads(exported[0].detail_json)
    assert detail["case_id"] == case_id
    assert detail["sha256"] == hashlib.sha256(r.content).hexdigest()


# ---------------------------------------------------------------------------------------------
# The sender page


def store_comment(site: Site, account: str, external_id: str, author_id: str,
                  author_name: str, text: str) -> int:
    """Store a comment as a poll would have (used for a sender who wrote to two members)."""
    now = site.clock()
    with site.store.session() as s:
        account_id = s.scalar(select(AccountRow.id).where(AccountRow.external_id == account))
        raw = json.dumps({"id": external_id, "message": text})
        row = ItemRow(account_id=account_id, platform="facebook", external_id=external_id,
                      kind="comment", parent_external_id="111_1", author_id=author_id,
                      author_name=author_name, is_own=False, text=text, created_at=now,
                      permalink=None, raw=raw, raw_sha256=sha256_text(raw), fetched_at=now)
        s.add(row)
        s.flush()
        return row.id


def test_sender_page_lists_their_items_for_who_may_see_them(site: Site) -> None:
    toms = site.item_id("facebook", "3_a")
    site.clock.tick(60)
    janes = store_comment(site, "111", "1_m", "71", MALLORY, "Jane, you again.")

    ms = site.login("ms").get("/senders/facebook/71")
    assert ms.status_code == 200
    assert f'href="/items/{toms}"' in ms.text and f'href="/items/{janes}"' in ms.text
    assert ms.text.index(f'href="/items/{janes}"') < ms.text.index(f'href="/items/{toms}"')
    assert "2 comments stored" in ms.text
    assert "Offensive</span> 1" in ms.text

    tom = site.login("tom").get("/senders/facebook/71")
    assert tom.status_code == 200
    assert f'href="/items/{toms}"' in tom.text
    assert f'href="/items/{janes}"' not in tom.text and "Jane, you again." not in tom.text
    assert "Cllr Jane Smith" not in tom.text

    jane = site.login("jane")
    page = jane.get("/senders/facebook/71")
    assert page.status_code == 200
    assert f'href="/items/{janes}"' in page.text and f'href="/items/{toms}"' not in page.text
    assert "stupid idiot" not in page.text

    # A sender who wrote only to another member is not there at all: 404, not 403.
    assert jane.get("/senders/x/61").status_code == 404
    assert site.login("tom").get("/senders/facebook/53").status_code == 404
    for url in ("/senders/myspace/71", "/senders/facebook/nobody"):
        assert site.login("ms").get(url).status_code == 404, url


def test_sender_page_lists_their_cases(site: Site) -> None:
    jane_case = case_of(site, "jsmith")
    page = site.login("ms").get("/senders/facebook/53")
    assert f'href="/cases/{jane_case}"' in page.text
    assert "No case involves this sender yet." in site.login("ms").get(
        "/senders/facebook/52").text


def test_open_a_case_against_a_sender(site: Site) -> None:
    item = site.item_id("facebook", "3_a")
    ms = site.login("ms")
    r = post_form(ms, "/senders/facebook/71", "/senders/facebook/71/case",
                  {"member_id": "tok", "title": ""})
    assert r.status_code == 303
    case_id = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    detail = cases.show(site.store, case_id)
    assert detail.case.member_id == "tok"
    assert (detail.case.sender_platform, detail.case.sender_id) == ("facebook", "71")
    assert detail.case.opened_by == "web:ms"
    assert [i.item_id for i in detail.items] == [item]

    page = ms.get(r.headers["location"])
    assert "Case opened." in page.text
    assert 'href="/senders/facebook/71"' in page.text
    assert f'href="/cases/{case_id}"' in ms.get("/senders/facebook/71").text
    assert f'href="/cases/{case_id}"' in ms.get("/cases").text


def test_member_opens_a_sender_case_only_for_themselves(site: Site) -> None:
    tom = site.login("tom")
    r = post_form(tom, "/senders/facebook/71", "/senders/facebook/71/case",
                  {"member_id": "jsmith"})
    assert r.status_code == 403
    assert len(cases.list_cases(site.store)) == 2
    r = post_form(tom, "/senders/facebook/71", "/senders/facebook/71/case",
                  {"member_id": "tok", "title": "Mallory again"})
    assert r.status_code == 303
    mine = cases.list_cases(site.store, member_id="tok")[-1]
    assert (mine.title, mine.sender_id, mine.opened_by) == ("Mallory again", "71", "web:tom")
    # Jane never sees Mallory's page, so she cannot open a case against them either.
    jane = site.login("jane")
    token = csrf_of(jane.get("/cases").text)
    assert jane.post("/senders/facebook/71/case", data={"csrf_token": token,
                                                        "member_id": "jsmith"}
                     ).status_code == 404


# ---------------------------------------------------------------------------------------------
# Escaping


def test_user_written_text_is_escaped_everywhere(site: Site) -> None:
    ms = site.login("ms")
    r = post_form(ms, "/senders/facebook/71", "/senders/facebook/71/case",
                  {"member_id": "tok", "title": "From <b>Mallory</b> <script>x()</script>"})
    case_id = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    case_post(ms, case_id, "note", {"note": "<i>noted</i>"})
    case_post(ms, case_id, "fields", {"assignee": '"><b>Eve</b>', "police_reference": "",
                                      "platform_reference": ""})

    tom = site.login("tom")
    for url in ("/senders/facebook/71", f"/cases/{case_id}", "/cases"):
        page = tom.get(url).text
        for raw in (MALLORY, "<script>", "<img src=x", "<i>noted</i>", "<b>Eve</b>"):
            assert raw not in page, (url, raw)
    sender = ms.get("/senders/facebook/71").text
    assert html.escape(MALLORY, quote=False) in sender
    case = ms.get(f"/cases/{case_id}").text
    assert html.escape(MALLORY, quote=False) in case
    assert "&lt;i&gt;noted&lt;/i&gt;" in case
    assert 'value="&#34;&gt;&lt;b&gt;Eve&lt;/b&gt;"' in case
