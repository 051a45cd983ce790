"""The inbox and the item page: order, filters, escaping, and the actions (hide through the
real adapters on the simulated platform, removed, not a problem, cases), each audited."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from tests.web.conftest import Site, post_form
from watcher import cases
from watcher.store.models import ActionRow, ItemReviewRow


def audit(site: Site, action: str) -> list[tuple[str, int | None, dict]]:
    with site.store.session() as s:
        return [(a.actor, a.item_id, json.loads(a.detail_json)) for a in s.scalars(
            select(ActionRow).where(ActionRow.action == action).order_by(ActionRow.id))]


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="cardlink" href="/items/(\d+)"', html)]


def test_inbox_puts_threats_first_then_newest_and_filters(site: Site) -> None:
    c = site.login("ms")
    ids = card_ids(c.get("/inbox").text)
    threats = {site.item_id("facebook", "1_c"), site.item_id("x", "9002")}
    assert set(ids[:2]) == threats
    assert site.item_id("facebook", "1_a") not in ids  # civil: never in the inbox
    assert card_ids(c.get("/inbox?label=threat").text).__len__() == 2
    only_x = card_ids(c.get("/inbox?platform=x").text)
    assert only_x == [site.item_id("x", "9002")]
    jane = card_ids(c.get("/inbox?member=jsmith").text)
    assert set(jane) == {site.item_id("facebook", "1_b"), site.item_id("facebook", "1_c")}


def test_script_in_a_comment_is_inert_everywhere(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "3_a")
    for url in ("/inbox", f"/items/{item}"):
        html = c.get(url).text
        assert "<script>document.title" not in html and "<img src=x" not in html
        assert "<b>Mallory</b>" not in html
        assert "&lt;script&gt;" in html and "&lt;b&gt;Mallory&lt;/b&gt;" in html


def test_item_page_shows_thread_reasons_and_sender(site: Site) -> None:
    c = site.login("jane")
    item = site.item_id("facebook", "1_c")
    html = c.get(f"/items/{item}").text
    assert "Bin collections change next week." in html  # the post it answers
    assert "Thanks for letting us know." in html  # the thread around it
    assert "I will burn your house down" in html
    assert "999" in html and "Operation Ford" in html  # a threat says what to do
    assert "/senders/facebook/53" in html and "has not commented" in html
    assert "/cases/" in html  # the poll opened a case for the threat


def test_hide_goes_through_the_adapter_and_is_recorded(site: Site) -> None:
    c = site.login("jane")
    item = site.item_id("facebook", "1_b")
    r = post_form(c, f"/items/{item}", f"/items/{item}/hide", {})
    assert r.status_code == 303 and r.headers["location"] == f"/items/{item}?ok=hidden"
    assert site.sim.hidden == {"1_b"}
    assert "Hidden on the platform" in c.get(r.headers["location"]).text
    assert audit(site, "item.hidden") == [("web:jane", item, {"before": "open", "note": None})]
    # Now dealt with: out of the "needs action" inbox, in "dealt with".
    assert item not in card_ids(c.get("/inbox").text)
    assert item in card_ids(c.get("/inbox?state=done").text)


def test_hide_on_x_uses_the_x_adapter(site: Site) -> None:
    c = site.login("tom")
    item = site.item_id("x", "9002")
    r = post_form(c, f"/items/{item}", f"/items/{item}/hide", {})
    assert r.status_code == 303 and site.sim.hidden == {"9002"}


def test_hide_the_platform_refuses_says_why_and_records_nothing_hidden(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    site.sim.faults.inject("server_error", times=10, platform="facebook")
    r = post_form(c, f"/items/{item}", f"/items/{item}/hide", {})
    assert r.status_code == 502
    assert "Facebook did not hide it" in r.text and "Nothing was changed" in r.text
    assert site.sim.hidden == set()
    with site.store.session() as s:
        assert s.get(ItemReviewRow, item) is None
    failed = audit(site, "item.hide_failed")
    assert len(failed) == 1 and failed[0][:2] == ("web:ms", item)
    assert "web-fb-token" not in r.text and "web-fb-token" not in json.dumps(failed)


def test_mark_removed_not_a_problem_and_back_to_the_inbox(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    r = post_form(c, f"/items/{item}", f"/items/{item}/review", {"state": "removed"})
    assert r.status_code == 303
    r = post_form(c, f"/items/{item}", f"/items/{item}/review",
                  {"state": "not_a_problem", "note": "Banter between friends"})
    assert r.status_code == 303
    with site.store.session() as s:
        review = s.get(ItemReviewRow, item)
        assert review is not None
        assert (review.state, review.actor, review.note) == \
            ("not_a_problem", "web:ms", "Banter between friends")
    r = post_form(c, f"/items/{item}", f"/items/{item}/review", {"state": "open"})
    with site.store.session() as s:
        assert s.get(ItemReviewRow, item) is None
    assert [a[2]["before"] for a in audit(site, "item.marked_removed")] == ["open"]
    assert [a[2]["before"] for a in audit(site, "item.not_a_problem")] == ["removed"]
    assert [a[2]["before"] for a in audit(site, "item.reopened")] == ["not_a_problem"]
    assert item in card_ids(c.get("/inbox").text)


def test_unknown_decision_is_refused(site: Site) -> None:
    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    r = post_form(c, f"/items/{item}", f"/items/{item}/review", {"state": "deleted"})
    assert r.status_code == 400 and "choose one of the options" in r.text


def test_open_a_case_from_an_item_then_add_another(site: Site) -> None:
    c = site.login("jane")
    insult = site.item_id("facebook", "1_b")
    r = post_form(c, f"/items/{insult}", f"/items/{insult}/case",
                  {"case_id": "new", "title": "Bob's insults"})
    assert r.status_code == 303
    case_id = int(r.headers["location"].split("/")[2].split("?")[0])
    detail = cases.show(site.store, case_id)
    assert detail.case.title == "Bob's insults" and detail.case.opened_by == "web:jane"
    assert [i.item_id for i in detail.items] == [insult]
    threat = site.item_id("facebook", "1_c")
    r = post_form(c, f"/items/{threat}", f"/items/{threat}/case", {"case_id": str(case_id)})
    assert r.status_code == 303 and r.headers["location"] == f"/items/{threat}?ok=case_added"
    assert {i.item_id for i in cases.show(site.store, case_id).items} == {insult, threat}


def test_member_cannot_add_their_item_to_another_members_case(site: Site) -> None:
    tom_case = cases.open_case(site.store, member_id="tok", title="Tom's", actor="test")
    c = site.login("jane")
    item = site.item_id("facebook", "1_b")
    r = post_form(c, f"/items/{item}", f"/items/{item}/case", {"case_id": str(tom_case)})
    assert r.status_code == 403
    assert cases.show(site.store, tom_case).items == ()


def test_unknown_item_is_404_and_odd_ids_do_not_crash(site: Site) -> None:
    c = site.login("ms")
    for url in ("/items/99999", "/items/abc", "/items/" + "9" * 40, "/items/%C2%B2"):
        assert c.get(url).status_code == 404, url


def test_alert_links_open_the_item_page_after_sign_in(site: Site) -> None:
    from watcher.store.models import AlertRow

    with site.store.session() as s:
        alerts = s.scalars(select(AlertRow).where(AlertRow.channel == "email")).all()
        bodies = [(a.body_text, a.body_html) for a in alerts if a.member_id == "jsmith"]
    link = "https://watcher.test-council.gov.uk/go/facebook/1_b"
    text, html = next(b for b in bodies if "useless idiot" in b[0])
    assert f"Link:     {link}" in text and f'href="{link}"' in html
    assert "On Facebook: " in text  # the platform's own link stays beside it
    c = site.client()
    r = c.get("/go/facebook/1_b")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    from tests.web.conftest import PASSWORD, sign_in

    r = sign_in(c, "jane", PASSWORD, next_url="/go/facebook/1_b")
    r = c.get(r.headers["location"])
    item = site.item_id("facebook", "1_b")
    assert r.status_code == 303 and r.headers["location"] == f"/items/{item}"
    assert "useless idiot" in c.get(f"/items/{item}").text
    # Another member following the same link is refused; an unknown id is not found.
    tom = site.login("tom")
    assert tom.get("/go/facebook/1_b").status_code == 403
    assert tom.get("/go/facebook/nope").status_code == 404


def test_not_a_problem_is_kept_as_feedback_for_tuning(site: Site, db_url: str, tmp_path,
                                                      capsys) -> None:
    from tests.conftest import config_text
    from tests.web.conftest import MEMBERS, WEB
    from watcher.cli import main

    c = site.login("ms")
    item = site.item_id("facebook", "1_b")
    post_form(c, f"/items/{item}", f"/items/{item}/review",
              {"state": "not_a_problem", "note": "Friendly banter"})
    path = tmp_path / "w.toml"
    path.write_text(config_text(db_url, sim_url=site.sim.base_url, members=MEMBERS, extra=WEB))
    path.chmod(0o600)
    capsys.readouterr()
    assert main(["findings", "--review", "not_a_problem", "--format", "jsonl",
                 "--config", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["label"], r["text"], r["review"], r["review_note"]) for r in rows] == [
        ("offensive", "You are a useless idiot.", "not_a_problem", "Friendly banter")]
    assert main(["findings", "--review", "open", "--format", "jsonl",
                 "--config", str(path)]) == 0
    still_open = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    texts = {r["text"] for r in still_open}
    assert "You are a useless idiot." not in texts and "I know where you live." in texts


def test_the_inbox_is_ordered_and_cut_in_the_database(site: Site) -> None:
    from watcher.web import queries
    from watcher.web.users import MEMBER_SERVICES, Viewer

    ms = Viewer(1, "ms", "ms", MEMBER_SERVICES)
    flt = queries.InboxFilter(state="all")
    with site.store.session() as s:
        every, total = queries.inbox(s, ms, flt)
        first_two, total_again = queries.inbox(s, ms, flt, limit=2)
    assert total == total_again == len(every) == 4
    assert [v.id for v in first_two] == [v.id for v in every[:2]]
    expected = sorted(every, key=lambda v: (queries.SEVERITY_RANK[v.severity],
                                            -v.created_at.timestamp(), -v.id))
    assert [v.id for v in every] == [v.id for v in expected]
    assert {v.severity for v in first_two} == {"urgent"}
