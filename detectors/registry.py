"""Text classifier engines by name (config ``text.engine``).

"default" is the ensemble of rules, the embedded tox-block model and the council model
(``detectors/ensemble.py``), which needs no download and no network; "rules" is the rules
classifier alone (no model files at all). "detoxify" is
Detoxify's model from files imported by ``watcher models import`` (no network either); it needs
the ``detoxify`` extra (torch, transformers), imported only when that engine is chosen, since
the default install has no torch. Any other name is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from detectors.base import TextClassifier
from detectors.rules import RulesClassifier
from watcher.errors import DetectorError


def _detoxify() -> TextClassifier:
    """Build the "detoxify" engine from the default model directory.

    Raises ``DetectorError`` if torch/transformers are not installed (naming the extra), or
    if the model is missing or does not load (saying to run ``watcher models import``).
    """
    try:
        from detectors.detoxify_engine import DetoxifyClassifier
    except ImportError as exc:
        raise DetectorError(f"text engine 'detoxify' needs torch and transformers ({exc}): "
                            "pip install 'councillor-watcher[detoxify]'") from exc
    return DetoxifyClassifier()


def _ensemble() -> TextClassifier:
    from detectors.ensemble import EnsembleClassifier  # loads onnxruntime only when chosen

    return EnsembleClassifier()


_ENGINES: dict[str, Callable[[], TextClassifier]] = {
    "default": _ensemble,
    "rules": RulesClassifier,
    "detoxify": _detoxify,
}


def names() -> tuple[str, ...]:
    """Return the known engine names, sorted."""
    return tuple(sorted(_ENGINES))


_loaded: dict[str, TextClassifier] = {}
_loading = threading.Lock()


def text_classifier(engine: str) -> TextClassifier:
    """Given an engine name, return its classifier, loaded once per process: the models are
    read-only, so every caller shares one copy (hundreds of MB, seconds to load).

    Raises ``ValueError`` naming the known engines if ``engine`` is not one of them, and
    ``DetectorError`` if its model files are missing or corrupt.
    """
    factory = _ENGINES.get(engine)
    if factory is None:
        known = ", ".join(names())
        raise ValueError(f"unknown text engine {engine!r}; known engines: {known}")
    with _loading:
        if engine not in _loaded:
            _loaded[engine] = factory()
        return _loaded[engine]
