"""Dashboard accounts, passwords, sign-in throttling and sessions.

Passwords are hashed with Argon2id (argon2-cffi, its recommended parameters). A session is a
random token in an HttpOnly cookie; the database keeps only its SHA-256, with the session's
CSRF token, so a copy of the database signs no one in. Sign-in is throttled per user name and
per address, and every sign-in, failure and sign-out goes into the actions log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from watcher import logs
from watcher.config import Config
from watcher.errors import UserError
from watcher.store import Store, record_action
from watcher.store.models import WebLoginFailureRow, WebSessionRow, WebUserRow

log = logs.get(__name__)

MEMBER_SERVICES, MEMBER, GROUP_LEADER = "member-services", "member", "group-leader"
ROLES = (MEMBER_SERVICES, MEMBER, GROUP_LEADER)
ROLE_TITLES = {MEMBER_SERVICES: "Member services", MEMBER: "Councillor",
               GROUP_LEADER: "Group leader"}

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 256

#: Failed sign-ins counted over this window; past the limits, sign-in waits.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()
# Verified against when the user name does not exist, so a wrong name takes as long as a wrong
# password and the timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, and what they may see."""

    user_id: int
    username: str
    display_name: str
    role: str
    member_id: str | None = None
    group_name: str | None = None

    @property
    def actor(self) -> str:
        """The name the actions log records for what this user does."""
        return f"web:{self.username}"[:64]

    @property
    def sees_everything(self) -> bool:
        return self.role == MEMBER_SERVICES

    @property
    def works_items(self) -> bool:
        """Member services and members act on items and cases; group leaders read summaries."""
        return self.role in (MEMBER_SERVICES, MEMBER)

    def may_see_member(self, member_id: str) -> bool:
        """Whether this user may see the items, findings and cases of ``member_id``."""
        return self.role == MEMBER_SERVICES or (self.role == MEMBER
                                                 and self.member_id == member_id)

    def may_see_group(self, group_name: str) -> bool:
        """Whether this user may read ``group_name``'s monthly summary."""
        return self.role == MEMBER_SERVICES or (self.role == GROUP_LEADER
                                                 and self.group_name == group_name)


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    member_id: str | None
    group_name: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class SignIn:
    """A new session: the cookie token (given to the browser only) and its CSRF token."""

    token: str
    csrf_token: str
    viewer: Viewer
    expires_at: datetime


class ThrottledError(Exception):
    """Too many failed sign-ins; ``retry_after`` seconds until the next attempt counts."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


def token_hash(token: str) -> str:
    """Return the stored form of a session token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is too short: use at least {MIN_PASSWORD} characters "
                        "(a few words are easy to remember)")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password is too long: at most {MAX_PASSWORD} characters")


def _check_scope(config: Config, role: str, member_id: str | None,
                 group_name: str | None) -> tuple[str | None, str | None]:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if role == MEMBER:
        if not member_id:
            raise UserError("a member account needs --member ID (the member's id in the config)")
        known = [m.id for m in config.members]
        if member_id not in known:
            raise UserError(f"no member {member_id!r} in the config; known: "
                            f"{', '.join(known) or 'none'}")
        return member_id, None
    if role == GROUP_LEADER:
        if not group_name:
            raise UserError("a group-leader account needs --group NAME (a [[groups]] name)")
        known = [g.name for g in config.groups]
        if group_name not in known:
            raise UserError(f"no group {group_name!r} in the config; known: "
                            f"{', '.join(known) or 'none'}")
        return None, group_name
    if member_id or group_name:
        raise UserError("a member-services account sees every member: give neither --member "
                        "nor --group")
    return None, None


def add_user(store: Store, config: Config, *, username: str, password: str, role: str,
             member_id: str | None = None, group_name: str | None = None,
             display_name: str = "", actor: str = "cli") -> UserInfo:
    """Create a dashboard account.

    Given a user name (lower case letters, digits, ``._@-``), a password of at least
    ``MIN_PASSWORD`` characters, a role and, for a member, their member id or, for a group
    leader, their group. Returns the new account. Raises UserError naming what is wrong.
    """
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError(f"bad user name {username!r}: use lower-case letters, digits and "
                        "._@- (at most 64 characters)")
    _check_password(password)
    member_id, group_name = _check_scope(config, role, member_id, group_name)
    now = store.clock()
    name = (display_name or username).strip()[:200]
    with store.session() as s:
        if s.scalar(select(WebUserRow.id).where(WebUserRow.username == username)):
            raise UserError(f"user {username!r} already exists (use `watcher users passwd` "
                            "to change the password)")
        row = WebUserRow(username=username, display_name=name,
                         password_hash=_hasher.hash(password), role=role, member_id=member_id,
                         group_name=group_name, disabled=False, created_at=now,
                         password_changed_at=now)
        s.add(row)
        record_action(s, now, "user.added", actor=actor, member_id=member_id,
                      username=username, role=role, group=group_name)
    log.info("user.added", username=username, role=role)
    return UserInfo(username, name, role, member_id, group_name, False, now)


def set_password(store: Store, username: str, password: str, *, actor: str = "cli") -> None:
    """Change a user's password and sign out all their sessions. Raises UserError if the user
    does not exist or the password is too short or long."""
    _check_password(password)
    now = store.clock()
    with store.session() as s:
        row = _user(s, username)
        row.password_hash = _hasher.hash(password)
        row.password_changed_at = now
        s.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))
        record_action(s, now, "user.password_changed", actor=actor, username=row.username)


def set_disabled(store: Store, username: str, disabled: bool, *, actor: str = "cli") -> None:
    """Disable (signing out every session) or re-enable a user. Raises UserError if unknown."""
    now = store.clock()
    with store.session() as s:
        row = _user(s, username)
        row.disabled = disabled
        if disabled:
            s.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))
        record_action(s, now, "user.disabled" if disabled else "user.enabled", actor=actor,
                      username=row.username)


def list_users(store: Store) -> list[UserInfo]:
    """Return every dashboard account, by user name."""
    with store.session() as s:
        rows = s.scalars(select(WebUserRow).order_by(WebUserRow.username)).all()
        return [UserInfo(r.username, r.display_name, r.role, r.member_id, r.group_name,
                         r.disabled, r.created_at) for r in rows]


def _user(s: Session, username: str) -> WebUserRow:
    row = s.scalar(select(WebUserRow).where(WebUserRow.username == username.strip().lower()))
    if row is None:
        raise UserError(f"no user {username!r} (see `watcher users list`)")
    return row


def _viewer(row: WebUserRow) -> Viewer:
    return Viewer(row.id, row.username, row.display_name, row.role, row.member_id,
                  row.group_name)


def sign_in(store: Store, username: str, password: str, *, ip: str,
            lifetime: float) -> SignIn | None:
    """Check a user name and password and, if right, start a session.

    Returns the new session, or None for a wrong name or password or a disabled account (the
    caller says the same in every case). Raises ThrottledError, without checking the password,
    when the name or the address has failed too often in the last ``THROTTLE_WINDOW``.
    """
    username = username.strip().lower()[:64]
    ip = ip[:64]
    now = store.clock()
    since = now - THROTTLE_WINDOW
    with store.session() as s:
        s.execute(delete(WebLoginFailureRow).where(WebLoginFailureRow.at < since))
        by_user = s.execute(select(func.count(), func.min(WebLoginFailureRow.at)).where(
            WebLoginFailureRow.username == username, WebLoginFailureRow.at >= since)).one()
        by_ip = s.execute(select(func.count(), func.min(WebLoginFailureRow.at)).where(
            WebLoginFailureRow.ip == ip, WebLoginFailureRow.at >= since)).one()
    for (count, oldest), limit in ((by_user, MAX_FAILURES_PER_USER),
                                   (by_ip, MAX_FAILURES_PER_ADDRESS)):
        if count >= limit:
            wait = (oldest + THROTTLE_WINDOW - now).total_seconds()
            log.warning("web.login_throttled", username=username, ip=ip)
            raise ThrottledError(max(wait, 1.0))
    with store.session() as s:
        row = s.scalar(select(WebUserRow).where(WebUserRow.username == username))
        ok = _verify(row.password_hash if row else _DUMMY_HASH, password) and row is not None \
            and not row.disabled
        if not ok or row is None:
            s.add(WebLoginFailureRow(at=now, username=username, ip=ip))
            record_action(s, now, "web.login_failed", actor=f"web:{username}"[:64], ip=ip,
                          reason="disabled" if row is not None and row.disabled else
                          "wrong name or password")
            log.info("web.login_failed", username=username, ip=ip)
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=lifetime)
        s.add(WebSessionRow(token_hash=token_hash(token), user_id=row.id, csrf_token=csrf,
                            created_at=now, last_seen_at=now, expires_at=expires))
        s.execute(delete(WebLoginFailureRow).where(WebLoginFailureRow.username == username))
        s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        record_action(s, now, "web.login", actor=f"web:{username}"[:64],
                      member_id=row.member_id, ip=ip)
        viewer = _viewer(row)
    log.info("web.login", username=username, ip=ip)
    return SignIn(token, csrf, viewer, expires)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_for(store: Store, token: str, *, idle_timeout: float
                ) -> tuple[Viewer, str] | None:
    """Given a session cookie's token, return the signed-in user and the session's CSRF token,
    or None if the session does not exist, has expired or has been idle too long (the expired
    session is deleted). A live session's last-seen time moves on."""
    if not token or len(token) > 200:
        return None
    now = store.clock()
    key = token_hash(token)
    with store.session() as s:
        found = s.execute(select(WebSessionRow, WebUserRow).join(
            WebUserRow, WebUserRow.id == WebSessionRow.user_id).where(
            WebSessionRow.token_hash == key)).first()
        if found is None:
            return None
        sess, user = found
        if (user.disabled or sess.expires_at <= now
                or sess.last_seen_at + timedelta(seconds=idle_timeout) <= now):
            s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == key))
            return None
        # Written at most once a minute: every page view need not be a write.
        if (now - sess.last_seen_at).total_seconds() >= 60:
            s.execute(update(WebSessionRow).where(WebSessionRow.token_hash == key)
                      .values(last_seen_at=now))
        return _viewer(user), sess.csrf_token


def sign_out(store: Store, token: str, viewer: Viewer) -> None:
    """End the session ``token`` and record it."""
    now = store.clock()
    with store.session() as s:
        s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash(token)))
        record_action(s, now, "web.logout", actor=viewer.actor, member_id=viewer.member_id)
    log.info("web.logout", username=viewer.username)
