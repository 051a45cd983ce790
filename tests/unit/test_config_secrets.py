"""A config file every user can read must hold no password or token: real files, real modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from watcher import config
from watcher.cli import main
from watcher.credentials import Credentials
from watcher.errors import ConfigError, CredentialError
from watcher.store import Store

SECRET = "Tr0ub4dor-s3cret"
PG_WITH_PASSWORD = f'[database]\nurl = "postgresql+psycopg://watcher:{SECRET}@db.council.local/watcher"\n'


def write(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return info.value


def test_world_readable_file_with_a_database_password_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, PG_WITH_PASSWORD, 0o644)
    error = refused(path)
    ((key, line, message),) = [(p.key, p.line, p.message) for p in error.problems]
    assert (key, line) == ("database.url", 2)
    assert str(path) in str(error)  # the file, in the heading and in the fix
    assert f"chmod 640 {path}" in message and "mode 0644" in message
    assert "database.password_credential" in message
    assert SECRET not in str(error) and SECRET not in repr(error.problems)


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o400])
def test_the_same_file_private_to_owner_and_group_loads(tmp_path: Path, mode: int) -> None:
    c = config.load(write(tmp_path, PG_WITH_PASSWORD, mode))
    assert make_url(c.database.url).password == SECRET


def test_password_as_a_url_query_parameter_is_found(tmp_path: Path) -> None:
    text = f'[database]\nurl = "postgresql+psycopg://watcher@db/watcher?password={SECRET}"\n'
    error = refused(write(tmp_path, text, 0o604))
    assert [p.key for p in error.problems] == ["database.url"]
    assert SECRET not in str(error)


def test_world_readable_file_without_secrets_loads(tmp_path: Path) -> None:
    text = """\
[database]
url = "postgresql+psycopg://watcher@db.council.local/watcher"
password_credential = "db-password"

[smtp]
username = "watcher"
password_credential = "smtp-password"

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"

[[members.accounts]]
platform = "x"
id = "222"
credential = "x-jsmith"
credential_user = "x-jsmith-user"
"""
    c = config.load(write(tmp_path, text, 0o644))
    assert c.database.password_credential == "db-password"
    assert c.smtp.password_credential == "smtp-password"


def test_literal_password_and_token_keys_are_named_with_lines(tmp_path: Path) -> None:
    text = f"""\
[smtp]
host = "mail"
password = "{SECRET}"

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@test-council.gov.uk"

[[members.accounts]]
platform = "facebook"
id = "111"
access_token = "{SECRET}-fb"
"""
    error = refused(write(tmp_path, text, 0o644))
    unknown = {(p.key, p.line): p.message for p in error.problems if "unknown key" in p.message}
    leaks = {(p.key, p.line): p.message for p in error.problems
             if "readable by every user" in p.message}
    # Unknown keys anyway, with a hint where secrets go ...
    assert set(unknown) == {("smtp.password", 3), ("members[0].accounts[0].access_token", 13)}
    assert all("name a credential instead" in m for m in unknown.values())
    # ... and, the file being world-readable, each is reported as a leak with its fix.
    assert set(leaks) == set(unknown)
    assert all(f"chmod 640 {tmp_path / 'watcher.toml'}" in m for m in leaks.values())
    assert SECRET not in str(error)

    private = refused(write(tmp_path, text, 0o600))  # still unknown keys, but no leak
    assert not any("readable by every user" in p.message for p in private.problems)


def test_empty_secret_keys_and_credential_names_are_not_secrets() -> None:
    assert config._literal_secrets({"smtp": {"password": ""}}) == []
    assert config._literal_secrets({"smtp": {"password_credential": "smtp-pw"}}) == []
    assert config._literal_secrets({"a": [{"api_token": 12345}]}) == [("a", 0, "api_token")]


def test_database_password_given_twice_or_to_sqlite(tmp_path: Path) -> None:
    text = PG_WITH_PASSWORD + 'password_credential = "db-password"\n'
    error = refused(write(tmp_path, text, 0o600))
    ((key, line, message),) = [(p.key, p.line, p.message) for p in error.problems]
    assert (key, line) == ("database.password_credential", 3)
    assert "remove it from the URL" in message and SECRET not in message
    text = '[database]\nurl = "sqlite:////tmp/w.db"\npassword_credential = "db-password"\n'
    ((problem),) = refused(write(tmp_path, text, 0o600)).problems
    assert "SQLite" in problem.message


def test_a_url_without_a_scheme_is_not_echoed(tmp_path: Path) -> None:
    error = refused(write(tmp_path, f'[database]\nurl = "watcher:{SECRET}@db/watcher"\n', 0o600))
    assert [p.key for p in error.problems] == ["database.url"]
    assert SECRET not in str(error)


def test_database_password_comes_from_its_credential() -> None:
    c = config.parse('[database]\nurl = "postgresql+psycopg://watcher@db:5432/watcher"\n'
                     'password_credential = "db-password"\n')
    password = "p@ss/w:rd %20"  # characters a URL must escape
    url = config.database_url(c, Credentials({"WATCHER_CRED_DB_PASSWORD": password}))
    parsed = make_url(url)
    assert parsed.password == password
    assert (parsed.username, parsed.host, parsed.port, parsed.database) == \
        ("watcher", "db", 5432, "watcher")
    assert password not in Store(url).safe_url
    with pytest.raises(CredentialError, match="WATCHER_CRED_DB_PASSWORD"):
        config.database_url(c, Credentials({}))
    plain = config.parse('[database]\nurl = "sqlite:////tmp/w.db"\n')
    assert config.database_url(plain, Credentials({})) == "sqlite:////tmp/w.db"


def test_check_command_refuses_the_file_without_printing_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, PG_WITH_PASSWORD, 0o644)
    assert main(["check", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"invalid configuration {path}" in captured.err
    assert f"chmod 640 {path}" in captured.err
    assert SECRET not in captured.err + captured.out
