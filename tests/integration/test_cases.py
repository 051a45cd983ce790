"""The harassment case log and its evidence packs, on real databases (SQLite, and PostgreSQL
when ``WATCHER_TEST_DATABASE_URL`` is set) holding what a real poll of the simulated platform
stored."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from platforms.simulated import SimComment, SimEdit, SimMention, SimPost, SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from tests.conftest import ManualClock as Clock
from watcher import cases, cases_cli, config, evidence
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.errors import CaseError
from watcher.evidence import export_pack
from watcher.mailsink import MailSink
from watcher.store import Store
from watcher.store.models import (
    AccountRow,
    ActionRow,
    AlertRow,
    CaseItemRow,
    CaseNoteRow,
    CaseRow,
    FindingRow,
    ItemRow,
    ItemVersionRow,
    MemberRow,
    PollStateRow,
)

DAY = 86400.0
FB2, FB3 = "112", "113"
TOKENS = {FB: "cases-fb-token", X: "cases-x-token", FB2: "cases-fb2-token",
          FB3: "cases-fb3-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X],
                     "WATCHER_CRED_FB_JSMITH_WARD": TOKENS[FB2],
                     "WATCHER_CRED_FB_TOK": TOKENS[FB3]})
#: The font the PDFs name: DejaVu where Debian's fonts-dejavu-core is installed, else the
#: core font.
PDF_FONT_NAME = b"DejaVu" if evidence.PDF_FONT.is_file() else b"Helvetica"
#: The pipeline may open threat cases itself; here the tests open them, so it must not.
NO_AUTO_OPEN = "[cases]\nauto_open_threats = false\n"

#: Jane Smith has two Facebook pages (her own and her ward's); Tom Okafor X and a page.
WIDE_MEMBERS = """
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"

[[members.accounts]]
platform = "facebook"
id = "111"
credential = "fb-jsmith"

[[members.accounts]]
platform = "facebook"
id = "112"
credential = "fb-jsmith-ward"

[[members]]
id = "tok"
name = "Cllr Tom Okafor"
email = "tom@test-council.gov.uk"

[[members.accounts]]
platform = "x"
id = "222"
handle = "CllrTom"
credential = "x-tok"

[[members.accounts]]
platform = "facebook"
id = "113"
credential = "fb-tok"
"""


@dataclass
class World:
    parts: Parts
    sim: SimulatedPlatform
    cfg: config.Config
    clock: Clock

    @property
    def store(self) -> Store:
        return self.parts.store


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@contextmanager
def polled(db_url: str, sink: MailSink, timeline: Sequence[Any] = SMALL_TIMELINE,
           members: str = MEMBERS, sim_clock: Any = None) -> Iterator[World]:
    """A store filled by one real poll of the simulated platform serving ``timeline``."""
    kwargs = {"clock": sim_clock} if sim_clock is not None else {}
    with SimulatedPlatform(timeline, tokens=TOKENS, handles={X: "CllrTom"}, **kwargs) as sim:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=members, extra=NO_AUTO_OPEN))
        clock = Clock()
        parts = build(cfg, credentials=CREDS, clock=clock)
        try:
            outcomes, _ = poll_once(parts)
            assert all(o.status == "ok" for o in outcomes), outcomes
            yield World(parts, sim, cfg, clock)
        finally:
            parts.store.dispose()


def item_id(store: Store, platform: str, external_id: str) -> int:
    with store.session() as s:
        found = s.scalar(select(ItemRow.id).where(ItemRow.platform == platform,
                                                  ItemRow.external_id == external_id))
    assert found is not None, (platform, external_id)
    return found


def threat_finding(store: Store) -> tuple[int, int, str]:
    """(finding id, item id, member id) of the poll's threat finding."""
    with store.session() as s:
        f = s.scalars(select(FindingRow).where(FindingRow.label == "threat")
                      .order_by(FindingRow.id)).first()
        assert f is not None and f.item_id is not None
        return f.id, f.item_id, f.member_id


def auto_open(store: Store, finding: tuple[int, int, str]) -> int | None:
    finding_id, item, member = finding
    with store.session() as s:
        return cases.open_for_threat(s, member_id=member, item_id=item, finding_id=finding_id,
                                     now=store.clock())


SNAPSHOT_TABLES = (MemberRow, AccountRow, PollStateRow, ItemRow, ItemVersionRow, FindingRow,
                   AlertRow, CaseRow, CaseItemRow, CaseNoteRow)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the actions log, in primary-key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.session() as s:
        for table in SNAPSHOT_TABLES:
            cols = list(table.__table__.columns)
            keys = list(table.__table__.primary_key.columns)
            out[table.__tablename__] = [tuple(getattr(r, c.key) for c in cols)
                                        for r in s.scalars(select(table).order_by(*keys))]
    return out


def actions(store: Store, action: str | None = None) -> list[ActionRow]:
    with store.session() as s:
        query = select(ActionRow).order_by(ActionRow.id)
        if action:
            query = query.where(ActionRow.action == action)
        return list(s.scalars(query))


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def check_sums(files: dict[str, bytes]) -> None:
    """SHA256SUMS lists every other file exactly once, each with its right hash."""
    lines = files["SHA256SUMS"].decode().splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert len(listed) == len(lines)
    assert set(listed) == set(files) - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name


# ---------------------------------------------------------------------------------------------
# The end-to-end path: a threat, its case, the pack


def test_threat_case_pack_verifies_and_is_reproducible(db_url: str, sink: MailSink,
                                                       tmp_path: Path) -> None:
    with polled(db_url, sink) as w:
        finding = threat_finding(w.store)
        case_id = auto_open(w.store, finding)
        assert case_id is not None
        w.clock.tick()
        cases.update(w.store, case_id, actor="ms-officer", status="reported_to_police",
                     police_reference="CAD 1234/25", note="Reported on 101 as Operation Ford.")
        before = snapshot(w.store)
        exported_before = len(actions(w.store, "case.exported"))

        path = export_pack(w.store, w.cfg, case_id, tmp_path / "out", actor="ms-officer")
        assert path == tmp_path / "out" / f"case-{case_id}-evidence.zip"
        first = path.read_bytes()
        files = read_zip(path)

        # Entries: README, case, timeline, then the item's folder, SHA256SUMS last.
        names = list(files)
        assert names[:3] == ["README.txt", "case.json", "timeline.csv"]
        assert names[-1] == "SHA256SUMS"
        folder = "items/01-x-9002/"
        for leaf in ("raw.json", "fetch.json", "view.html", "view.pdf", "findings.json"):
            assert folder + leaf in files
        check_sums(files)

        # raw.json is the stored payload byte for byte; fetch.json says where and when.
        with w.store.session() as s:
            row = s.get(ItemRow, finding[1])
            assert row is not None
            assert files[folder + "raw.json"] == row.raw.encode("utf-8")
            fetch = json.loads(files[folder + "fetch.json"])
            assert fetch["raw_sha256"] == row.raw_sha256 == \
                hashlib.sha256(files[folder + "raw.json"]).hexdigest()
            assert fetch["raw_sha256_matches"] is True
            assert fetch["fetched_at"] == row.fetched_at.isoformat().replace("+00:00", "Z")
            assert fetch["permalink"] == row.permalink and "9002" in row.permalink
        assert fetch["platform"] == "x" and fetch["account"] == X
        assert fetch["endpoint"].startswith(f"GET {w.sim.base_url}/2/")
        assert "/2/tweets/search/recent" in fetch["endpoint"] or "/mentions" in fetch["endpoint"]

        # The views show the item in its thread, the councillor's post first.
        html = files[folder + "view.html"].decode()
        assert html.index("At Full Council tonight.") < html.index("I know where you live.")
        assert 'class="entry flagged"' in html and "FLAGGED ITEM" in html
        assert files[folder + "view.pdf"].startswith(b"%PDF-")
        assert PDF_FONT_NAME in files[folder + "view.pdf"]
        labels = {f["label"] for f in json.loads(files[folder + "findings.json"])}
        assert "threat" in labels

        case_json = json.loads(files["case.json"])
        assert case_json["case"]["police_reference"] == "CAD 1234/25"
        assert case_json["case"]["opened_automatically"] is True
        assert case_json["member"] == {"id": "tok", "name": "Cllr Tom Okafor"}
        assert case_json["items"][0]["folder"] == folder
        timeline = list(csv.DictReader(io.StringIO(files["timeline.csv"].decode())))
        assert [r["kind"] for r in timeline] == ["opened", "status", "police_reference", "note"]
        readme = files["README.txt"].decode()
        for needed in ("sha256sum -c SHA256SUMS", "Get-FileHash -Algorithm SHA256",
                       "exactly as the platform's API returned it", "Member Services",
                       "Operation Ford", "raw.json", "view.pdf", "timeline.csv"):
            assert needed in readme, needed

        # The real sha256sum agrees, and notices a change.
        extracted = tmp_path / "extracted"
        with zipfile.ZipFile(path) as zf:
            zf.extractall(extracted)
        done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=extracted,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": OK") == len(files) - 1
        (extracted / folder / "raw.json").write_text('{"id": "9002", "text": "forged"}')
        done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=extracted,
                              capture_output=True, text=True, check=False)
        assert done.returncode != 0 and "raw.json: FAILED" in done.stdout

        # Exporting changed no stored row; it logged itself once.
        assert snapshot(w.store) == before
        exported = actions(w.store, "case.exported")
        assert len(exported) == exported_before + 1
        assert exported[-1].actor == "ms-officer" and exported[-1].member_id == "tok"
        assert json.loads(exported[-1].detail_json)["sha256"] == hashlib.sha256(first).hexdigest()

        # Again, later, elsewhere: the same bytes.
        w.clock.tick(3600)
        again = export_pack(w.store, w.cfg, case_id, tmp_path / "out")
        assert again.read_bytes() == first
        elsewhere = export_pack(w.store, w.cfg, case_id, tmp_path / "other")
        assert elsewhere.read_bytes() == first
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        assert len({i.date_time for i in infos}) == 1
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}

        # A changed case gives a different pack.
        cases.update(w.store, case_id, actor="ms-officer", note="Officer visited.")
        changed = export_pack(w.store, w.cfg, case_id, tmp_path / "out")
        assert changed.read_bytes() != first


def test_edited_item_pack_has_its_earlier_versions(db_url: str, sink: MailSink,
                                                   tmp_path: Path) -> None:
    offset = [0.0]

    def sim_clock() -> float:
        return time.time() + offset[0]

    timeline = [*SMALL_TIMELINE,
                SimEdit(60, "facebook", FB, "1_b", "You are a useless idiot. I will find you.")]
    with polled(db_url, sink, timeline, sim_clock=sim_clock) as w:
        offset[0] = 120.0
        w.clock.tick(120)
        poll_once(w.parts)
        comment = item_id(w.store, "facebook", "1_b")
        with w.store.session() as s:
            old = s.scalars(select(ItemVersionRow).where(ItemVersionRow.item_id == comment)).one()
            old_raw, new_raw = old.raw, s.get(ItemRow, comment).raw  # type: ignore[union-attr]
        assert "I will find you" in new_raw and "I will find you" not in old_raw
        case_id = cases.open_case(w.store, member_id="jsmith", title="Bob", actor="ms",
                                  item_ids=[comment])
        files = read_zip(export_pack(w.store, w.cfg, case_id, tmp_path))
        check_sums(files)
        folder = "items/01-facebook-1_b/"
        assert files[folder + "raw.json"] == new_raw.encode()
        assert files[folder + "versions/01/raw.json"] == old_raw.encode()
        version = json.loads(files[folder + "versions/01/version.json"])
        assert version["text"] == "You are a useless idiot." and version["raw_sha256_matches"]
        assert json.loads(files[folder + "fetch.json"])["endpoint"] == (
            f"GET {w.sim.base_url}/v21.0/{FB}/feed (comments expanded; later comment pages: "
            f"GET {w.sim.base_url}/v21.0/{{post-id}}/comments in a Graph batch request)")
        html = files[folder + "view.html"].decode()
        assert "edited (earlier versions in versions/)" in html
        # The thread: the post, then both comments; the civil one is shown but not flagged.
        assert html.index("Bin collections") < html.index("Thanks for letting us know.")
        assert html.count('class="entry flagged"') == 1


# ---------------------------------------------------------------------------------------------
# Opening cases


def test_open_for_threat_is_idempotent(db_url: str, sink: MailSink) -> None:
    with polled(db_url, sink) as w:
        finding = threat_finding(w.store)
        first = auto_open(w.store, finding)
        assert first is not None
        assert auto_open(w.store, finding) is None
        assert auto_open(w.store, finding) is None
        (summary,) = cases.list_cases(w.store)
        assert summary.id == first and summary.items == 1
        assert summary.title == "Threat on X by anon"
        assert summary.opened_by == "watcher" and summary.auto_key == f"threat:item:{finding[1]}"
        detail = cases.show(w.store, first)
        assert [i.item_id for i in detail.items] == [finding[1]]
        assert "threat" in {f.label for f in detail.items[0].findings}
        assert [n.kind for n in detail.timeline] == ["opened"]
        opened = actions(w.store, "case.opened")
        assert len(opened) == 1 and opened[0].finding_id == finding[0]
        assert opened[0].actor == "watcher" and opened[0].item_id == finding[1]
        # It rolls back with the poll's transaction, like everything else the poll writes.
        with pytest.raises(RuntimeError), w.store.session() as s:
            cases.open_for_threat(s, member_id="jsmith",
                                  item_id=item_id(w.store, "facebook", "1_b"), finding_id=1,
                                  now=w.clock())
            raise RuntimeError("poll failed")
        assert len(cases.list_cases(w.store)) == 1


def test_case_by_sender_gathers_across_accounts_within_dates(db_url: str,
                                                             sink: MailSink) -> None:
    timeline = [
        SimPost(-2.5 * DAY, "facebook", FB, "111_1", "Old post."),
        SimComment(-2 * DAY, "facebook", FB, "1_old", "111_1", "Old abuse.", "52", "Bob"),
        SimPost(-600, "facebook", FB, "111_2", "New post."),
        SimComment(-300, "facebook", FB, "1_new", "111_2", "New abuse.", "52", "Bob"),
        SimComment(-200, "facebook", FB, "1_ann", "111_2", "Nice.", "51", "Ann"),
        SimPost(-3600, "facebook", FB2, "112_1", "Ward news."),
        SimComment(-1800, "facebook", FB2, "2_b", "112_1", "Ward abuse.", "52", "Bob"),
        SimPost(-3600, "facebook", FB3, "113_1", "Tom's page."),
        SimComment(-1800, "facebook", FB3, "3_b", "113_1", "Other member.", "52", "Bob"),
        SimPost(0, "x", X, "9001", "At Full Council tonight."),
    ]
    with polled(db_url, sink, timeline, members=WIDE_MEMBERS) as w:
        ids = {eid: item_id(w.store, "facebook", eid) for eid in ("1_old", "1_new", "2_b", "3_b")}
        everything = cases.open_case(w.store, member_id="jsmith", title="Bob", actor="ms",
                                     sender=("facebook", "52"))
        detail = cases.show(w.store, everything)
        assert [i.item_id for i in detail.items] == [ids["1_old"], ids["2_b"], ids["1_new"]]
        assert {i.account for i in detail.items} == {FB, FB2}
        assert (detail.case.sender_platform, detail.case.sender_id) == ("facebook", "52")

        now = w.clock()
        recent = cases.open_case(w.store, member_id="jsmith", title="Bob, today", actor="ms",
                                 sender=("facebook", "52"), since=now - timedelta(days=1))
        assert {i.item_id for i in cases.show(w.store, recent).items} == {ids["1_new"],
                                                                         ids["2_b"]}
        older = cases.open_case(w.store, member_id="jsmith", title="Bob, before", actor="ms",
                                sender=("facebook", "52"), until=now - timedelta(days=1))
        assert [i.item_id for i in cases.show(w.store, older).items] == [ids["1_old"]]
        # Explicit items and a sender together; an item named twice is held once.
        mixed = cases.open_case(w.store, member_id="jsmith", title="Mixed", actor="ms",
                                item_ids=[ids["1_old"], ids["1_old"]],
                                sender=("facebook", "52"), since=now - timedelta(days=1))
        assert cases.show(w.store, mixed).case.items == 3
        # add_items counts only what is new.
        assert cases.add_items(w.store, older, actor="ms", sender=("facebook", "52")) == 2
        assert cases.add_items(w.store, older, actor="ms", sender=("facebook", "52")) == 0
        assert cases.show(w.store, older).timeline[-1].kind == "items"
        # Tom's page is his, not Jane's.
        with pytest.raises(CaseError, match="another member"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            item_ids=[ids["3_b"]])
        assert [c.id for c in cases.list_cases(w.store, member_id="jsmith")] == \
            [everything, recent, older, mixed]
        assert cases.list_cases(w.store, member_id="tok") == []


# ---------------------------------------------------------------------------------------------
# Changing cases


def test_update_records_timeline_and_actions_and_close_reopen(db_url: str,
                                                              sink: MailSink) -> None:
    with polled(db_url, sink) as w:
        comment = item_id(w.store, "facebook", "1_b")
        case_id = cases.open_case(w.store, member_id="jsmith", title="Insults from Bob",
                                  actor="alice", item_ids=[comment], assignee="alice")
        w.clock.tick()
        cases.update(w.store, case_id, actor="bob.ms", assignee="bob.ms",
                     platform_reference="FB-REPORT-77")
        w.clock.tick()
        cases.update(w.store, case_id, actor="bob.ms", status="with_platform",
                     note="Reported through Facebook's form.")
        w.clock.tick()
        cases.update(w.store, case_id, actor="bob.ms", status="with_platform")  # no change
        detail = cases.show(w.store, case_id)
        assert detail.case.status == "with_platform" and detail.case.assignee == "bob.ms"
        assert detail.case.platform_reference == "FB-REPORT-77"
        assert detail.case.updated_at == w.clock() - timedelta(seconds=60)
        assert [(n.kind, n.actor, n.text) for n in detail.timeline] == [
            ("opened", "alice", "opened by alice: Insults from Bob (1 item(s))"),
            ("assignee", "bob.ms", "alice -> bob.ms"),
            ("platform_reference", "bob.ms", "(none) -> FB-REPORT-77"),
            ("status", "bob.ms", "open -> with_platform"),
            ("note", "bob.ms", "Reported through Facebook's form."),
        ]
        updated = actions(w.store, "case.updated")
        assert [json.loads(a.detail_json)["field"] for a in updated] == [
            "assignee", "platform_reference", "status", "note"]
        assert all(a.actor == "bob.ms" and a.member_id == "jsmith" for a in updated)
        status_detail = json.loads(updated[2].detail_json)
        assert (status_detail["old"], status_detail["new"], status_detail["case_id"]) == (
            "open", "with_platform", case_id)
        # The note's text stays out of the append-only log.
        assert "Facebook's form" not in updated[3].detail_json

        w.clock.tick()
        cases.update(w.store, case_id, actor="bob.ms", status="closed")
        closed = cases.show(w.store, case_id).case
        assert closed.status == "closed" and closed.closed_at == w.clock()
        assert [c.id for c in cases.list_cases(w.store, status="closed")] == [case_id]
        with pytest.raises(CaseError, match="reopen"):
            cases.add_items(w.store, case_id, actor="bob.ms", item_ids=[comment])
        w.clock.tick()
        cases.update(w.store, case_id, actor="bob.ms", status="open")
        reopened = cases.show(w.store, case_id)
        assert reopened.case.status == "open" and reopened.case.closed_at is None
        assert [n.text for n in reopened.timeline[-2:]] == ["with_platform -> closed",
                                                            "closed -> open"]
        assert cases.list_cases(w.store, status="closed") == []


def test_bad_input_is_refused(db_url: str, sink: MailSink, tmp_path: Path) -> None:
    with polled(db_url, sink) as w:
        comment = item_id(w.store, "facebook", "1_b")
        case_id = cases.open_case(w.store, member_id="jsmith", title="Bob", actor="ms",
                                  item_ids=[comment])
        before = snapshot(w.store)
        with pytest.raises(CaseError, match="no case 999"):
            cases.show(w.store, 999)
        with pytest.raises(CaseError, match="no case 999"):
            cases.update(w.store, 999, actor="ms", note="x")
        with pytest.raises(CaseError, match="no case 999"):
            cases.add_items(w.store, 999, actor="ms", item_ids=[comment])
        with pytest.raises(CaseError, match="no case 999"):
            export_pack(w.store, w.cfg, 999, tmp_path / "out")
        with pytest.raises(CaseError) as bad_status:
            cases.update(w.store, case_id, actor="ms", status="resolved")
        for valid in cases.STATUSES:
            assert valid in str(bad_status.value)
        with pytest.raises(CaseError, match="unknown status"):
            cases.list_cases(w.store, status="resolved")
        with pytest.raises(CaseError, match="nothing to update"):
            cases.update(w.store, case_id, actor="ms")
        with pytest.raises(CaseError, match="no member"):
            cases.open_case(w.store, member_id="nobody", title="x", actor="ms")
        with pytest.raises(CaseError, match="no item 424242"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            item_ids=[424242])
        threat_item = threat_finding(w.store)[1]
        with pytest.raises(CaseError, match="another member"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            item_ids=[threat_item])
        with pytest.raises(CaseError, match="title"):
            cases.open_case(w.store, member_id="jsmith", title="  ", actor="ms")
        with pytest.raises(CaseError, match="give a sender"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            since=w.clock())
        with pytest.raises(CaseError, match="sender"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            sender=("myspace", "1"))
        with pytest.raises(CaseError, match="before it starts"):
            cases.open_case(w.store, member_id="jsmith", title="x", actor="ms",
                            sender=("facebook", "52"), since=w.clock(),
                            until=w.clock() - timedelta(days=1))
        with pytest.raises(CaseError, match="at most 200"):
            cases.update(w.store, case_id, actor="ms", police_reference="x" * 201)
        with pytest.raises(CaseError, match="nothing to add"):
            cases.add_items(w.store, case_id, actor="ms")
        with pytest.raises(CaseError):
            cases.resolve_items(w.store, "jsmith", ["x:9002"])  # Tom's, not Jane's
        with pytest.raises(CaseError, match="expected a store item id"):
            cases.resolve_items(w.store, "jsmith", ["myspace:1"])
        assert cases.resolve_items(w.store, "jsmith", ["facebook:1_b", str(comment)]) == \
            (comment, comment)

        # Export folders that cannot be written: tests run as root, so a file in the way.
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        with pytest.raises(CaseError, match=str(blocker / "sub")):
            export_pack(w.store, w.cfg, case_id, blocker / "sub")
        with pytest.raises(CaseError, match=f"{blocker}.*not a folder"):
            export_pack(w.store, w.cfg, case_id, blocker)
        assert blocker.read_text() == "not a folder"
        # Nothing was written by any of it.
        assert snapshot(w.store) == before
        assert actions(w.store, "case.exported") == []


def test_hostile_text_is_inert_in_the_views(db_url: str, sink: MailSink, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = ('</div><script>alert("pwned")</script><img src=x onerror=alert(1)> '
               'Zażółć gęślą jaźń — “quoted” 🙂 I know where you live.')
    timeline = [SimPost(0, "facebook", FB, "111_1", "Consultation opens today."),
                SimComment(0, "facebook", FB, "1_x", "111_1", hostile, "66",
                           "<b onmouseover=alert(3)>Mallory</b>")]
    with polled(db_url, sink, timeline) as w:
        comment = item_id(w.store, "facebook", "1_x")
        case_id = cases.open_case(w.store, member_id="jsmith", title="<script>t</script>",
                                  actor="ms", item_ids=[comment])
        files = read_zip(export_pack(w.store, w.cfg, case_id, tmp_path))
        html = files["items/01-facebook-1_x/view.html"].decode()
        lowered = html.lower()
        assert "<script" not in lowered and "<img" not in lowered and "<b " not in lowered
        # No tag carries an event handler: every "on...=" is inside escaped text.
        assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", lowered)
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
        assert "&lt;b onmouseover=alert(3)&gt;Mallory&lt;/b&gt;" in html
        assert "Zażółć gęślą jaźń — “quoted” 🙂" in html
        assert "Content-Security-Policy" in html
        pdf = files["items/01-facebook-1_x/view.pdf"]
        assert pdf.startswith(b"%PDF-") and PDF_FONT_NAME in pdf
        check_sums(files)

        # Without the Unicode font the PDF falls back to Helvetica (Latin-1, others as "?").
        monkeypatch.setattr(evidence, "PDF_FONT", tmp_path / "no-such-font.ttf")
        files = read_zip(export_pack(w.store, w.cfg, case_id, tmp_path / "core"))
        pdf = files["items/01-facebook-1_x/view.pdf"]
        assert pdf.startswith(b"%PDF-") and b"Helvetica" in pdf and b"DejaVu" not in pdf
        assert files["items/01-facebook-1_x/view.html"].decode() == html


# ---------------------------------------------------------------------------------------------
# The command line


def run_cli(*argv: str) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    parser = argparse.ArgumentParser(prog="watcher")
    cases_cli.add_parser(parser.add_subparsers(dest="command"), common)
    return cases_cli.run(parser.parse_args(list(argv)))


def test_cli_end_to_end(db_url: str, sink: MailSink, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("USER", "alice")
    timeline = [*SMALL_TIMELINE,
                SimMention(0, X, "9003", "@CllrTom you will regret tonight's vote", "61",
                           "anon")]
    with polled(db_url, sink, timeline) as w:
        cfg_path = tmp_path / "watcher.toml"
        cfg_path.write_text(config_text(db_url, smtp_port=sink.port, sim_url=w.sim.base_url,
                                        members=MEMBERS, extra=NO_AUTO_OPEN))
        cfg_path.chmod(0o600)
        c = ("--config", str(cfg_path))
        capsys.readouterr()

        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "Threats from anon",
                       "--item", "x:9002", "--assignee", "alice") == 0
        assert "opened case 1 for tok with 1 item(s)" in capsys.readouterr().out

        assert run_cli("cases", "add", "1", *c, "--sender", "x:61") == 0
        assert "added 1 item(s) to case 1" in capsys.readouterr().out

        today = date.today()
        assert run_cli("cases", "open", *c, "--member", "jsmith", "--title", "Bob",
                       "--sender", "facebook:52", "--since", str(today - timedelta(days=1)),
                       "--until", str(today + timedelta(days=1))) == 0
        assert "opened case 2 for jsmith with 1 item(s)" in capsys.readouterr().out
        assert run_cli("cases", "open", *c, "--member", "jsmith", "--title", "Bob before",
                       "--sender", "facebook:52",
                       "--until", str(today - timedelta(days=2))) == 0
        assert "opened case 3 for jsmith with 0 item(s)" in capsys.readouterr().out

        assert run_cli("cases", "update", "1", *c, "--status", "reported_to_police",
                       "--police-ref", "CAD 99/25", "--note", "Called 101") == 0
        assert "status reported_to_police" in capsys.readouterr().out
        assert run_cli("cases", "update", "3", *c, "--status", "closed") == 0
        capsys.readouterr()

        assert run_cli("cases", "list", *c, "--format", "jsonl") == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["id"], r["member_id"], r["items"], r["status"]) for r in listed] == [
            (1, "tok", 2, "reported_to_police"), (2, "jsmith", 1, "open"),
            (3, "jsmith", 0, "closed")]
        assert listed[0]["police_reference"] == "CAD 99/25" and listed[0]["opened_by"] == "alice"
        assert run_cli("cases", "list", *c, "--status", "closed") == 0
        table = capsys.readouterr().out
        assert "Bob before" in table and "Threats" not in table and "1 case(s)" in table

        assert run_cli("cases", "show", "1", *c) == 0
        shown = capsys.readouterr().out
        assert "x:9002" in shown and "x:9003" in shown and "CAD 99/25" in shown
        assert "alice note: Called 101" in shown
        assert run_cli("cases", "show", "1", *c, "--format", "json") == 0
        as_json = json.loads(capsys.readouterr().out)
        assert [n["kind"] for n in as_json["timeline"]] == [
            "opened", "items", "status", "police_reference", "note"]

        out_dir = tmp_path / "packs"
        assert run_cli("cases", "export", "1", *c, "--out", str(out_dir)) == 0
        printed = capsys.readouterr().out
        pack = out_dir / "case-1-evidence.zip"
        assert str(pack) in printed
        assert hashlib.sha256(pack.read_bytes()).hexdigest() in printed
        files = read_zip(pack)
        check_sums(files)
        # Another process (another hash seed) makes the same bytes.
        script = ("import sys; from tests.integration.test_cases import run_cli; "
                  "sys.exit(run_cli(*sys.argv[1:]))")
        done = subprocess.run([sys.executable, "-c", script, "cases", "export", "1", *c,
                               "--out", str(tmp_path / "again")], cwd=Path(__file__).parents[2],
                              env={**os.environ, "PYTHONHASHSEED": "12345"},
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "again" / "case-1-evidence.zip").read_bytes() == pack.read_bytes()
        capsys.readouterr()
        # Oldest first; these two share a second, so the store's order decides.
        assert {n.split("/")[1][3:] for n in files if n.startswith("items/")} == {
            "x-9002", "x-9003"}

        assert all(a.actor == "alice" for a in actions(w.store)
                   if a.action.startswith("case."))

        # Failures: exit 1 at run time, 2 for bad usage, a message on stderr.
        assert run_cli("cases", "show", "99", *c) == 1
        assert "no case 99" in capsys.readouterr().err
        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "t",
                       "--sender", "myspace:1") == 2
        assert "--sender" in capsys.readouterr().err
        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "t",
                       "--sender", "x:61", "--since", "2025-13-01") == 2
        assert "YYYY-MM-DD" in capsys.readouterr().err
        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "t",
                       "--sender", "x:61", "--since", "2025-06-02", "--until", "2025-06-01") == 2
        assert "before --since" in capsys.readouterr().err
        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "t") == 2
        capsys.readouterr()
        assert run_cli("cases", "open", *c, "--member", "tok", "--title", "t",
                       "--item", "facebook:1_b") == 1
        assert "no such item" in capsys.readouterr().err
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        assert run_cli("cases", "export", "1", *c, "--out", str(blocker / "x")) == 1
        assert str(blocker / "x") in capsys.readouterr().err
        with pytest.raises(SystemExit) as usage:
            run_cli("cases", "update", "1", *c, "--status", "resolved")
        assert usage.value.code == 2
        assert "reported_to_police" in capsys.readouterr().err
        assert run_cli("cases", "list", "--config", str(tmp_path / "missing.toml")) == 2

        with w.store.session() as s:
            assert s.scalar(select(func.count(CaseRow.id))) == 3
