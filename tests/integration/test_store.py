"""The store on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import MEMBERS, config_text
from watcher import config
from watcher.store import Store, clean_text, record_action, sha256_text, sync_config
from watcher.store.models import AccountRow, ActionRow, ItemRow, MemberRow, PollStateRow

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def store_for(db_url: str) -> Store:
    store = Store(db_url, clock=lambda: NOW)
    store.upgrade()
    return store


def test_upgrade_creates_every_table_and_is_idempotent(db_url: str) -> None:
    store = store_for(db_url)
    store.upgrade()  # a second run changes nothing and does not fail
    tables = set(inspect(store.engine).get_table_names())
    assert {"members", "accounts", "poll_state", "items", "findings", "alerts",
            "alert_findings", "actions", "alembic_version"} <= tables
    store.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = store_for(f"sqlite:///{tmp_path / 'w.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_actions_log_is_append_only(db_url: str) -> None:
    store = store_for(db_url)
    with store.session() as s:
        record_action(s, NOW, "test.action", detail="x")
    for statement in ("UPDATE actions SET action = 'tampered'", "DELETE FROM actions"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    with store.session() as s:
        assert [a.action for a in s.scalars(select(ActionRow))] == ["test.action"]
    store.dispose()


def test_sync_adds_updates_and_disables_never_deletes(db_url: str) -> None:
    store = store_for(db_url)
    first = config.parse(config_text(db_url, members=MEMBERS))
    result = sync_config(store, first.members)
    assert (result.members_added, result.accounts_added) == (2, 2)
    # Tom leaves; Jane changes her email.
    second = config.parse(config_text(db_url, members=MEMBERS.split("[[members]]\nid = \"tok\"")[0]
                                      .replace("jane@test", "jane.smith@test")))
    result = sync_config(store, second.members)
    assert (result.members_disabled, result.accounts_disabled) == (1, 1)
    with store.session() as s:
        members = {m.id: m for m in s.scalars(select(MemberRow))}
        assert members["tok"].enabled is False and members["jsmith"].enabled is True
        assert members["jsmith"].email == "jane.smith@test-council.gov.uk"
        accounts = list(s.scalars(select(AccountRow)))
        assert len(accounts) == 2 and sum(a.enabled for a in accounts) == 1
        assert len(list(s.scalars(select(PollStateRow)))) == 2
        actions = [a.action for a in s.scalars(select(ActionRow).order_by(ActionRow.id))]
    assert actions.count("member.disabled") == 1 and actions.count("account.disabled") == 1
    # Tom comes back: re-enabled with his history, not duplicated.
    result = sync_config(store, first.members)
    assert result.accounts_added == 0
    with store.session() as s:
        assert all(a.enabled for a in s.scalars(select(AccountRow)))
    store.dispose()


def test_huge_and_invalid_unicode_text_is_stored(db_url: str) -> None:
    store = store_for(db_url)
    sync_config(store, config.parse(config_text(db_url, members=MEMBERS)).members)
    huge = "abuse " * 180_000  # ~1 MB
    broken = "bad \ud800 surrogate and NUL \x00 here"
    with store.session() as s:
        account = s.scalars(select(AccountRow)).first()
        assert account is not None
        for n, body in enumerate((huge, broken)):
            cleaned = clean_text(body)
            raw = json.dumps({"message": cleaned}, ensure_ascii=False)
            s.add(ItemRow(account_id=account.id, platform="facebook", external_id=f"e{n}",
                          kind="comment", text=cleaned, created_at=NOW, raw=raw,
                          raw_sha256=sha256_text(raw), fetched_at=NOW))
    with store.session() as s:
        rows = {r.external_id: r for r in s.scalars(select(ItemRow))}
        assert len(rows["e0"].text) == len(huge)
        assert rows["e1"].text == "bad \ufffd surrogate and NUL \ufffd here"
        assert rows["e1"].created_at == NOW  # aware UTC back on every backend
        assert rows["e1"].raw_sha256 == sha256_text(rows["e1"].raw)
    store.dispose()


def test_bad_database_url_is_a_clear_error() -> None:
    from watcher.errors import StoreError

    with pytest.raises(StoreError, match="invalid database URL"):
        Store("not a url")
    store = Store("postgresql+psycopg://nobody:secretpw@127.0.0.1:1/none")
    with pytest.raises(StoreError) as info:
        store.ping()
    assert "secretpw" not in str(info.value)
