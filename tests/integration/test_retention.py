"""Retention and subject-access exports on real databases, with items polled from the
simulated platforms."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from platforms.simulated import SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.errors import WatcherError
from watcher.mailsink import MailSink
from watcher.retention import REDACTED_TEXT, export_sar, purge
from watcher.store import utcnow
from watcher.store.models import ActionRow, CaseItemRow, CaseRow, FindingRow, ItemRow

TOKENS = {FB: "ret-fb-token", X: "ret-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})


def polled(db_url: str, extra: str = "") -> Parts:
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS) as sim, MailSink() as sink:
        cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                       members=MEMBERS, extra=extra))
        parts = build(cfg, credentials=CREDS)
        poll_once(parts)
    return parts


def texts(parts: Parts) -> dict[str, str]:
    with parts.store.session() as s:
        return dict(s.execute(select(ItemRow.external_id, ItemRow.text)).all())


def test_unflagged_third_party_text_goes_after_its_period(db_url: str) -> None:
    parts = polled(db_url, extra='[retention]\nunflagged = "30d"\nclosed_cases = "60d"\n'
                                 '[cases]\nauto_open_threats = false\n')
    before = texts(parts)
    assert set(before) == {"111_1", "1_a", "1_b", "9001", "9002"}
    now = utcnow()
    assert purge(parts.store, parts.config, now + timedelta(days=29)).deleted == 0
    report = purge(parts.store, parts.config, now + timedelta(days=31))
    # The civil comment goes; the member's own posts and the flagged comments stay.
    assert report.deleted == 1 and report.redacted == 0
    after = texts(parts)
    assert set(after) == {"111_1", "1_b", "9001", "9002"} and after["1_b"] == before["1_b"]
    assert purge(parts.store, parts.config, now + timedelta(days=31)).deleted == 0  # idempotent
    # Flagged items lose their text 60 days on; their findings stay, so counts do not change.
    with parts.store.session() as s:
        findings = s.scalar(select(func.count(FindingRow.id)))
    report = purge(parts.store, parts.config, now + timedelta(days=61))
    assert report.redacted == 2
    after = texts(parts)
    assert after["1_b"] == after["9002"] == REDACTED_TEXT
    assert after["111_1"] == before["111_1"]  # the member's own post is kept
    with parts.store.session() as s:
        assert s.scalar(select(func.count(FindingRow.id))) == findings
        raw = s.scalar(select(ItemRow.raw).where(ItemRow.external_id == "1_b"))
        assert "idiot" not in raw
        logged = list(s.scalars(select(ActionRow.detail_json).where(
            ActionRow.action == "retention.purged")))
    assert [json.loads(d)["deleted"] for d in logged] == [1, 0]


def test_items_in_an_open_case_are_kept(db_url: str) -> None:
    parts = polled(db_url, extra='[retention]\nunflagged = "30d"\nclosed_cases = "60d"\n')
    now = utcnow()
    with parts.store.session() as s:
        threat = s.scalar(select(ItemRow.id).where(ItemRow.external_id == "9002"))
        # The threat opened a case by itself (cases.auto_open_threats, the default).
        case = s.scalar(select(CaseItemRow.case_id).where(CaseItemRow.item_id == threat))
        assert case is not None
    purge(parts.store, parts.config, now + timedelta(days=400))
    assert texts(parts)["9002"] != REDACTED_TEXT
    with parts.store.session() as s:
        s.get(CaseRow, case).closed_at = now + timedelta(days=100)
    purge(parts.store, parts.config, now + timedelta(days=150))
    assert texts(parts)["9002"] != REDACTED_TEXT  # 50 days after closing: still kept
    purge(parts.store, parts.config, now + timedelta(days=161))
    assert texts(parts)["9002"] == REDACTED_TEXT


def test_retention_shorter_than_a_week_is_refused() -> None:
    with pytest.raises(Exception, match="retention.unflagged.*at least 7d"):
        config.parse('[retention]\nunflagged = "2d"\n')


def test_subject_access_export(db_url: str, tmp_path: Path) -> None:
    parts = polled(db_url)
    path = export_sar(parts.store, "facebook", "52", tmp_path / "sar")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["subject"] == {"platform": "facebook", "id": "52"}
    (item,) = document["items"]
    assert item["text"] == "You are a useless idiot." and item["author_name"] == "Bob"
    assert item["findings"] and item["findings"][0]["label"] == "offensive"
    assert item["raw"]["id"] == "1_b" and len(item["raw_sha256"]) == 64
    with pytest.raises(WatcherError, match="nothing is stored about facebook sender '999'"):
        export_sar(parts.store, "facebook", "999", tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WatcherError, match="cannot write the export"):
        export_sar(parts.store, "facebook", "52", blocker / "sub")
    with parts.store.session() as s:
        assert s.scalar(select(func.count(ActionRow.id)).where(
            ActionRow.action == "sar.exported")) == 1


def test_sar_and_retention_commands(db_url: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from watcher.cli import main

    parts = polled(db_url)
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, members=MEMBERS))
    assert main(["sar", "export", "--platform", "x", "--sender", "61", "--out",
                 str(tmp_path / "out"), "--config", str(path)]) == 0
    assert "sar-x-61.json" in capsys.readouterr().out
    assert main(["sar", "export", "--platform", "x", "--sender", "nobody", "--out",
                 str(tmp_path / "out"), "--config", str(path)]) == 1
    assert main(["retention", "purge", "--config", str(path)]) == 0
    assert "deleted 0 unflagged items" in capsys.readouterr().out
    assert len(texts(parts)) == 5


def test_senders_command_lists_repeat_senders(db_url: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from watcher.cli import main

    polled(db_url)
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, members=MEMBERS))
    assert main(["senders", "--config", str(path)]) == 0  # nobody has two findings
    assert "0 repeat sender(s)" in capsys.readouterr().out
    assert main(["senders", "--min", "1", "--member", "jsmith", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "facebook  52" in out and "offensive 1; jsmith" in out and "1 repeat sender(s)" in out
    assert main(["senders", "--since", "soon", "--config", str(path)]) == 2
