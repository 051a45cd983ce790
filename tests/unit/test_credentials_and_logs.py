"""Credentials are found where CONTRACT §2 says; secrets never reach log output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from watcher import logs
from watcher.credentials import Credentials, env_name
from watcher.errors import CredentialError


def test_env_name_mapping() -> None:
    assert env_name("fb-jsmith") == "WATCHER_CRED_FB_JSMITH"
    assert env_name("x.tok-2") == "WATCHER_CRED_X_TOK_2"


def test_directory_wins_over_environment_and_is_reread(tmp_path: Path) -> None:
    (tmp_path / "fb-jsmith").write_text("from-file-token\n")
    creds = Credentials({"CREDENTIALS_DIRECTORY": str(tmp_path),
                         "WATCHER_CRED_FB_JSMITH": "from-env-token"})
    assert creds.get("fb-jsmith") == "from-file-token"
    (tmp_path / "fb-jsmith").write_text("rotated-token")
    assert creds.get("fb-jsmith") == "rotated-token"


def test_environment_is_the_fallback(tmp_path: Path) -> None:
    creds = Credentials({"CREDENTIALS_DIRECTORY": str(tmp_path),
                         "WATCHER_CRED_FB_JSMITH": "  env-token  "})
    assert creds.get("fb-jsmith") == "env-token"


def test_missing_credential_says_where_it_looked(tmp_path: Path) -> None:
    creds = Credentials({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    with pytest.raises(CredentialError) as info:
        creds.get("fb-jsmith")
    assert str(tmp_path / "fb-jsmith") in str(info.value)
    assert "$WATCHER_CRED_FB_JSMITH" in str(info.value)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b"])
def test_bad_credential_names(name: str) -> None:
    with pytest.raises(CredentialError):
        Credentials({}).get(name)


def _capture(fn) -> str:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    logs.configure(level="DEBUG", json=True, stream=stream)
    try:
        fn(structlog.get_logger("test"))
    finally:
        logs.configure(level="WARNING", json=True)
    return stream.getvalue()


def test_credential_values_are_redacted_everywhere() -> None:
    token = Credentials({"WATCHER_CRED_T": "EAAB-super-secret-page-token-123"}).get("t")
    out = _capture(lambda log: log.info(
        "poll.failed", error=f"GET https://graph.facebook.com/v21.0/1/feed?x=1 said {token}",
        nested={"detail": [token]}, access_token="anything", password="hunter2"))
    assert token not in out and "hunter2" not in out
    event = json.loads(out)
    assert event["access_token"] == logs.REDACTED and event["password"] == logs.REDACTED
    assert logs.REDACTED in event["error"] and event["nested"]["detail"] == [logs.REDACTED]


def test_token_looking_fragments_are_redacted_even_if_unknown() -> None:
    out = _capture(lambda log: log.warning(
        "http", url="https://h/v1?access_token=abc123XYZ&fields=id",
        header="Authorization: Bearer AAAAnotregistered",
        database="postgresql+psycopg://watcher:dbPassw0rd@db/watcher"))
    assert "abc123XYZ" not in out and "AAAAnotregistered" not in out
    assert "dbPassw0rd" not in out and "watcher:[REDACTED]@db" in out


def test_exceptions_in_tracebacks_are_redacted() -> None:
    secret = Credentials({"WATCHER_CRED_S": "tok-in-a-traceback-999"}).get("s")

    def boom(log):  # type: ignore[no-untyped-def]
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            log.exception("crash")

    out = _capture(boom)
    assert "RuntimeError" in out and secret not in out
