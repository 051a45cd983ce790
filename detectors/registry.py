"""Text classifier engines by name (config ``text.engine``).

"default" is the rules classifier, which needs no model and no network. A later issue adds
"detoxify"; until then any other name is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from detectors.base import TextClassifier
from detectors.rules import RulesClassifier

_ENGINES: dict[str, Callable[[], TextClassifier]] = {
    "default": RulesClassifier,
}


def names() -> tuple[str, ...]:
    """Return the known engine names, sorted."""
    return tuple(sorted(_ENGINES))


def text_classifier(engine: str) -> TextClassifier:
    """Given an engine name, return a new classifier for it.

    Raises ``ValueError`` naming the known engines if ``engine`` is not one of them.
    """
    factory = _ENGINES.get(engine)
    if factory is None:
        known = ", ".join(names())
        raise ValueError(f"unknown text engine {engine!r}; known engines: {known}")
    return factory()
