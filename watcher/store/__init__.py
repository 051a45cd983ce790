"""The store: an SQLAlchemy engine, schema migrations, and config sync.

SQLite by default (WAL journal, foreign keys on, a busy timeout so the scheduler's threads
wait for each other rather than fail); any SQLAlchemy URL works, PostgreSQL is tested.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watcher import logs
from watcher.errors import StoreError
from watcher.store.models import AccountRow, ActionRow, MemberRow, PollStateRow

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = logs.get(__name__)

Clock = Callable[[], datetime]
_SURROGATE = re.compile("[\ud800-\udfff]")


def utcnow() -> datetime:
    """The default clock: now, aware, in UTC."""
    return datetime.now(UTC)


def clean_text(text: str) -> str:
    """Given any str, return one every database can store: lone surrogates (invalid Unicode)
    and NUL characters become U+FFFD. Everything else is kept as it was."""
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text.replace("\x00", "\ufffd")


def sha256_text(text: str) -> str:
    """Return the hex SHA-256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SyncResult:
    members_added: int
    members_disabled: int
    accounts_added: int
    accounts_disabled: int


class Store:
    """Given an SQLAlchemy URL, the database behind it.

    Raises StoreError (with the URL's password hidden) if the URL is invalid.
    """

    def __init__(self, url: str, clock: Clock = utcnow) -> None:
        self.clock = clock
        try:
            parsed = make_url(url)
        except Exception as exc:  # sqlalchemy raises ArgumentError and ValueError alike
            # SQLAlchemy's message may quote the URL: never let its password through.
            raise StoreError(f"invalid database URL: {logs.redact_text(str(exc))}") from None
        self.safe_url = parsed.render_as_string(hide_password=True)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot use database {self.safe_url}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session inside one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision.

        Raises StoreError if the database cannot be reached or migrated.
        """
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "sqlite":
                    # pysqlite runs DDL outside any transaction: without this, a kill in the
                    # middle of a migration leaves half the tables, and no start ever succeeds.
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate {self.safe_url}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        log.info("store.upgraded", database=self.safe_url)

    def ping(self) -> None:
        """Check that the database answers. Raises StoreError if not."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot reach {self.safe_url}: "
                             f"{str(exc).splitlines()[0]}") from None

    def dispose(self) -> None:
        self.engine.dispose()


def for_config(config: Any, *, upgrade: bool = True) -> Store:
    """Given the loaded config, return its Store (the database password, if any, read from
    its credential), migrated to the current schema unless ``upgrade`` is False.

    Raises StoreError for a bad URL or a database that cannot be migrated, CredentialError
    for a missing password credential.
    """
    from watcher.config import database_url
    from watcher.credentials import Credentials

    store = Store(database_url(config, Credentials()))
    if upgrade:
        store.upgrade()
    return store


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def record_action(session: Session, at: datetime, action: str, actor: str = "watcher",
                  **fields: Any) -> None:
    """Append one entry to the actions log. ``fields`` may name member_id, account_id,
    item_id, finding_id, alert_id; anything else goes into the JSON detail."""
    ids = {k: fields.pop(k) for k in ("member_id", "account_id", "item_id", "finding_id",
                                      "alert_id") if k in fields}
    session.add(ActionRow(at=at, actor=actor, action=action,
                          detail_json=json.dumps(fields, sort_keys=True, default=str), **ids))


def sync_config(store: Store, members: Any) -> SyncResult:
    """Given the config's members (with their accounts), make the store match.

    New members and accounts are added, changed ones updated, and those no longer in the
    config disabled: never deleted, so their history stays. Returns what changed.
    """
    now = store.clock()
    added_m = disabled_m = added_a = disabled_a = 0
    with store.session() as s:
        existing_members = {m.id: m for m in s.scalars(select(MemberRow))}
        existing_accounts = {(a.platform, a.external_id): a for a in s.scalars(select(AccountRow))}
        wanted_members = set()
        wanted_accounts = set()
        for m in members:
            wanted_members.add(m.id)
            row = existing_members.get(m.id)
            if row is None:
                row = MemberRow(id=m.id)
                s.add(row)
                added_m += 1
                record_action(s, now, "member.added", member_id=m.id)
            row.name, row.email, row.mobile, row.group_name = m.name, m.email, m.mobile, m.group
            row.enabled, row.updated_at = True, now
            s.flush()
            for acct in m.accounts:
                key = (acct.platform, acct.external_id)
                wanted_accounts.add(key)
                arow = existing_accounts.get(key)
                if arow is None:
                    arow = AccountRow(platform=acct.platform, external_id=acct.external_id)
                    s.add(arow)
                    added_a += 1
                arow.member_id = m.id
                arow.handle = acct.handle or ""
                arow.credential, arow.credential_user = acct.credential, acct.credential_user
                arow.auto_hide = acct.auto_hide
                arow.interval_seconds = acct.interval_seconds or 300.0
                arow.enabled, arow.updated_at = True, now
                s.flush()
                if s.get(PollStateRow, arow.id) is None:
                    s.add(PollStateRow(account_id=arow.id))
                    record_action(s, now, "account.added", member_id=m.id, account_id=arow.id,
                                  platform=acct.platform, external_id=acct.external_id)
        for mid, row in existing_members.items():
            if mid not in wanted_members and row.enabled:
                row.enabled, row.updated_at = False, now
                disabled_m += 1
                record_action(s, now, "member.disabled", member_id=mid)
        for key, arow in existing_accounts.items():
            if key not in wanted_accounts and arow.enabled:
                arow.enabled, arow.updated_at = False, now
                disabled_a += 1
                record_action(s, now, "account.disabled", account_id=arow.id,
                              member_id=arow.member_id)
    result = SyncResult(added_m, disabled_m, added_a, disabled_a)
    log.info("store.synced", **result.__dict__)
    return result
