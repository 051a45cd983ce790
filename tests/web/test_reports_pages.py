"""The monthly summary page, its chart and CSV files, and the service status page, over a
store filled by one real poll (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from tests.web.conftest import Site
from watcher import reports
from watcher.store.models import AccountRow, ActionRow, PollStateRow

RIVERSIDE, HILLSIDE = "Riverside Independents", "Hillside Alliance"
COMMENT_TEXT = ("useless idiot", "burn your house", "I know where you live", "document.title",
                "stupid idiot")
PNG = b"\x89PNG\r\n\x1a\n"


def month_now(site: Site) -> str:
    """The local month the poll's items fall in: the store clock's."""
    return reports.month_of(site.clock.now, site.cfg.timezone)


def table(page: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}".*?</table>', page, re.S)
    assert found, f"no table {table_id!r} in the page"
    return found.group(0)


def row_list(page: str, table_id: str) -> list[tuple[str, list[str]]]:
    """(row heading, its cells' text) of each row of a table on the page, unescaped."""
    out = []
    for head, cells in re.findall(r'<tr>\s*<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>',
                                  table(page, table_id), re.S):
        out.append((html.unescape(head),
                    [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]))
    return out


def rows(page: str, table_id: str) -> dict[str, list[str]]:
    """{row heading: its cells' text} of a table whose row headings differ."""
    return dict(row_list(page, table_id))


def forbidden_rows(site: Site, actor: str) -> list[ActionRow]:
    with site.store.session() as s:
        return list(s.scalars(select(ActionRow).where(ActionRow.action == "web.forbidden",
                                                      ActionRow.actor == actor)))


def assert_numbers_match(page: str, group: reports.GroupSummary) -> None:
    """The page's group and member tables say what the report does."""
    glance = rows(page, "glance")
    assert glance["Flagged comments"] == [str(group.current.flagged_comments),
                                          str(group.previous.flagged_comments),
                                          reports.change_text(group.current.flagged_comments,
                                                              group.previous.flagged_comments)]
    assert glance["Threats"][0] == str(group.current.threats)
    assert glance["Repeat senders"][0] == str(len(group.current.repeat_senders))
    members = rows(page, "members")
    for m in group.members:
        assert members[m.name][:3] == [str(m.current.flagged_comments), str(m.current.threats),
                                       str(m.current.cases_opened)]


# ---------------------------------------------------------------------------------------------
# The summary page


def test_leader_sees_own_group_this_month_with_the_reports_numbers(site: Site) -> None:
    month = month_now(site)
    report = reports.build_monthly(site.store, site.cfg, month)
    group = report.group(RIVERSIDE)
    # The poll stored Jane's insult and threat: the month is not empty.
    assert group.current.flagged_comments >= 2 and group.current.threats >= 1

    r = site.login("leader").get("/summary")
    assert r.status_code == 200, r.text
    page = r.text
    assert "<h1>Riverside Independents</h1>" in page
    assert "figures so far" in page  # the current month, not over yet
    assert_numbers_match(page, group)
    assert "Cllr Jane Smith" in page and "Cllr Tom Okafor" not in page
    assert 'name="group"' not in page  # a leader has no group to choose
    for text in COMMENT_TEXT:
        assert text not in page
    slug = reports.slugs(report)[RIVERSIDE]
    for chart in reports.charts(report, group):
        assert (f'<img class="chart" src="/summary/{month}/{slug}/{chart.kind}.png" '
                f'alt="{html.escape(chart.alt)}">') in page
    assert f'href="/summary/{month}/{slug}.csv"' in page


def test_leader_is_refused_another_groups_summary_and_it_is_audited(site: Site) -> None:
    leader = site.login("leader")
    r = leader.get("/summary", params={"group": HILLSIDE})
    assert r.status_code == 403
    assert "Cllr Tom Okafor" not in r.text
    refused = forbidden_rows(site, "web:leader")
    assert refused and "Hillside Alliance" in refused[-1].detail_json


def test_members_are_refused_the_summary_and_the_status_page(site: Site) -> None:
    jane = site.login("jane")
    month = month_now(site)
    for path in ("/summary", f"/summary?group={RIVERSIDE}", "/status",
                 f"/summary/{month}/riverside-independents.csv",
                 f"/summary/{month}/riverside-independents/members.png"):
        r = jane.get(path)
        assert r.status_code == 403, path
        assert "Flagged comments" not in r.text
    assert len(forbidden_rows(site, "web:jane")) == 5


def test_member_services_see_every_group(site: Site) -> None:
    month = month_now(site)
    report = reports.build_monthly(site.store, site.cfg, month)
    ms = site.login("ms")

    first = ms.get("/summary")  # by default the first group with something this month
    assert first.status_code == 200
    assert "<h1>Riverside Independents</h1>" in first.text
    assert '<option value="Hillside Alliance">Hillside Alliance</option>' in first.text

    r = ms.get("/summary", params={"group": HILLSIDE, "month": month})
    assert r.status_code == 200, r.text
    assert "<h1>Hillside Alliance</h1>" in r.text
    assert "Cllr Tom Okafor" in r.text and "Cllr Jane Smith" not in r.text
    assert_numbers_match(r.text, report.group(HILLSIDE))
    assert "<script>document" not in r.text and "Mallory" not in r.text

    assert ms.get("/summary", params={"group": "No Such Group"}).status_code == 404


def test_an_earlier_month_without_data_says_so(site: Site) -> None:
    earlier = reports.shift_month(month_now(site), -3)
    r = site.login("leader").get("/summary", params={"month": earlier})
    assert r.status_code == 200
    assert reports.no_data_text(earlier) in r.text
    assert "figures so far" not in r.text
    assert '<img class="chart"' not in r.text  # nothing to draw
    assert f'<option value="{earlier}" selected>' in r.text
    # Links to the months either side; none past the current month.
    assert f"/summary?month={reports.shift_month(earlier, 1)}&amp;group=" in r.text
    now_page = site.login("leader").get("/summary").text
    assert f"month={reports.shift_month(month_now(site), 1)}" not in now_page


def test_a_bad_month_is_a_400_that_says_why(site: Site) -> None:
    leader = site.login("leader")
    for month in ("2026-13", "abc", "2026-1", "1960-01"):
        r = leader.get("/summary", params={"month": month})
        assert r.status_code == 400, month
        assert "That month cannot be shown" in r.text
        assert "e.g. 2026-03" in r.text
    future = reports.shift_month(month_now(site), 2)
    r = leader.get("/summary", params={"month": future})
    assert r.status_code == 400 and "has not begun yet" in r.text
    assert leader.get("/summary/2026-13/riverside-independents.csv").status_code == 400
    assert leader.get("/summary/abc/riverside-independents/trend.png").status_code == 400


# ---------------------------------------------------------------------------------------------
# Charts and CSV


def test_charts_are_the_reports_pngs_and_the_csv_is_the_reports(site: Site) -> None:
    month = month_now(site)
    report = reports.build_monthly(site.store, site.cfg, month)
    group = report.group(RIVERSIDE)
    slug = reports.slugs(report)[RIVERSIDE]
    drawn = {c.kind: c.png for c in reports.charts(report, group)}
    assert set(drawn) == {"members", "labels", "trend"}
    leader = site.login("leader")

    for kind, png in drawn.items():
        r = leader.get(f"/summary/{month}/{slug}/{kind}.png")
        assert r.status_code == 200, kind
        assert r.headers["content-type"] == "image/png"
        assert r.content.startswith(PNG)
        assert r.content == png  # the same numbers give the same bytes

    r = leader.get(f"/summary/{month}/{slug}.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == \
        f'attachment; filename="safety-summary-{month}-{slug}.csv"'
    assert r.content == reports.render_csv(report, group)
    for text in COMMENT_TEXT:
        assert text.encode() not in r.content


def test_a_leader_cannot_fetch_another_groups_files(site: Site) -> None:
    month = month_now(site)
    leader = site.login("leader")
    assert leader.get(f"/summary/{month}/hillside-alliance/trend.png").status_code == 403
    assert leader.get(f"/summary/{month}/hillside-alliance.csv").status_code == 403
    assert len(forbidden_rows(site, "web:leader")) == 2
    # Unknown groups and charts are simply not there.
    assert leader.get(f"/summary/{month}/no-such-group.csv").status_code == 404
    assert leader.get(f"/summary/{month}/riverside-independents/pie.png").status_code == 404

    ms = site.login("ms")
    r = ms.get(f"/summary/{month}/hillside-alliance/trend.png")
    assert r.status_code == 200 and r.content.startswith(PNG)


def test_signed_out_the_files_send_the_browser_to_sign_in(site: Site) -> None:
    r = site.client().get(f"/summary/{month_now(site)}/riverside-independents.csv")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


# ---------------------------------------------------------------------------------------------
# The status page


def test_status_page_shows_every_account_healthy(site: Site) -> None:
    r = site.login("ms").get("/status")
    assert r.status_code == 200, r.text
    page = r.text
    assert "All accounts polling normally." in page
    accounts = row_list(page, "accounts")
    with site.store.session() as s:
        stored = list(s.scalars(select(AccountRow)))
    assert len(accounts) == len(stored) == 3
    assert [head.split("<br>")[0] for head, _ in accounts] == \
        ["Cllr Jane Smith", "Cllr Tom Okafor", "Cllr Tom Okafor"]
    assert "@CllrTom" in page
    for _, cells in accounts:
        assert cells[4] == "0" and cells[5] == "none"  # no failures, no error
    findings = rows(page, "findings")
    assert findings["Threat"][0].isdigit() and int(findings["Threat"][0]) >= 1
    outbox = rows(page, "outbox")
    assert outbox["Waiting to be sent"][0].isdigit()


def test_status_page_shows_a_failing_account_escaped(site: Site) -> None:
    with site.store.session() as s:
        account = s.scalar(select(AccountRow).where(AccountRow.platform == "x"))
        assert account is not None
        state = s.get(PollStateRow, account.id)
        assert state is not None
        state.last_error = "HTTPError: 502 <script>alert('pwned')</script> from upstream"
        state.failures = 3
    r = site.login("ms").get("/status")
    assert r.status_code == 200
    page = r.text
    assert "All accounts polling normally." not in page
    assert "x:222 (tok): last poll failed (3 in a row)" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; from upstream" in page
    tom_x = next(cells for head, cells in row_list(page, "accounts")
                 if "Cllr Tom Okafor" in head and "@CllrTom" in "".join(cells))
    assert tom_x[4] == "3"


def test_leaders_are_refused_the_status_page(site: Site) -> None:
    r = site.login("leader").get("/status")
    assert r.status_code == 403
    assert "All accounts polling normally" not in r.text
