"""Credentials (CONTRACT §2): secrets named in the config, never stored in it.

A credential named ``fb-jsmith`` is read from ``$CREDENTIALS_DIRECTORY/fb-jsmith`` (systemd's
``LoadCredential=``), else from ``$WATCHER_CRED_FB_JSMITH``. Files are read on every lookup so
that a replaced token takes effect at the next poll without a restart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from watcher import logs
from watcher.errors import CredentialError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def env_name(name: str) -> str:
    """Given a credential name, return its environment variable: ``fb-jsmith`` ->
    ``WATCHER_CRED_FB_JSMITH``."""
    return "WATCHER_CRED_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class Credentials:
    """Looks credentials up by name. Every value found is registered with the log redactor."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str:
        """Given a credential name, return its value with surrounding whitespace removed.

        Raises CredentialError saying where it looked if it is unnamed, missing or empty.
        """
        if not name:
            raise CredentialError("no credential is named for this account")
        if not _NAME.match(name):
            raise CredentialError(f"credential name {name!r} may hold only letters, digits, "
                                  "'.', '_' and '-'")
        places = []
        directory = self._environ.get("CREDENTIALS_DIRECTORY")
        if directory:
            path = Path(directory) / name
            places.append(str(path))
            try:
                value = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                value = None
            except (OSError, UnicodeDecodeError) as exc:
                raise CredentialError(f"credential {name!r}: cannot read {path}: "
                                      f"{type(exc).__name__}") from None
            if value:
                logs.register_secret(value)
                return value
        var = env_name(name)
        places.append("$" + var)
        value = (self._environ.get(var) or "").strip()
        if value:
            logs.register_secret(value)
            return value
        raise CredentialError(f"credential {name!r} not found (looked in {' and '.join(places)})")

    def __call__(self, name: str) -> str:
        return self.get(name)
