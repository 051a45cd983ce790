"""The explicit registry of platform adapters. Unknown names are rejected."""

from __future__ import annotations

import importlib

from platforms.base import Platform, PlatformSettings, SecretLookup

# name -> "module:Class"; imported lazily so a council without X never imports tweepy.
_ADAPTERS: dict[str, str] = {
    "facebook": "platforms.facebook:FacebookPlatform",
    "x": "platforms.x:XPlatform",
}


def names() -> tuple[str, ...]:
    """Return the platform names a config may use."""
    return tuple(_ADAPTERS)


def create(name: str, settings: PlatformSettings, secrets: SecretLookup) -> Platform:
    """Given a platform name, its settings and a credential lookup, return its adapter.

    Raises KeyError naming the known platforms if ``name`` is not one of them.
    """
    try:
        target = _ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; known: {', '.join(_ADAPTERS)}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings, secrets)
