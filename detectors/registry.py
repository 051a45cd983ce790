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


def _detoxify(model_dir: str = "", prefer_onnx: bool = True) -> TextClassifier:
    """Build the "detoxify" engine from ``model_dir`` ("" = the default model directory),
    on its int8 ONNX export if there is one and ``prefer_onnx``.

    Raises ``DetectorError`` if torch/transformers are not installed (naming the extra), or
    if the model is missing or does not load (saying to run ``watcher models import``).
    """
    try:
        from detectors.detoxify_engine import DetoxifyClassifier
    except ImportError as exc:
        raise DetectorError(f"text engine 'detoxify' needs torch and transformers ({exc}): "
                            "pip install 'councillor-watcher[detoxify]'") from exc
    return DetoxifyClassifier(model_dir or None, prefer_onnx=prefer_onnx)


def _ensemble(model_dir: str = "", prefer_onnx: bool = True) -> TextClassifier:
    from detectors.ensemble import EnsembleClassifier  # loads onnxruntime only when chosen

    return EnsembleClassifier()


def _rules(model_dir: str = "", prefer_onnx: bool = True) -> TextClassifier:
    return RulesClassifier()


# The embedded engines ignore model_dir and prefer_onnx: their models ship in the package.
_ENGINES: dict[str, Callable[[str, bool], TextClassifier]] = {
    "default": _ensemble,
    "rules": _rules,
    "detoxify": _detoxify,
}


def names() -> tuple[str, ...]:
    """Return the known engine names, sorted."""
    return tuple(sorted(_ENGINES))


_loaded: dict[tuple[str, str, bool], TextClassifier] = {}
_loading = threading.Lock()


def text_classifier(engine: str, *, model_dir: str = "", prefer_onnx: bool = True
                    ) -> TextClassifier:
    """Given an engine name (and, for "detoxify", its model directory, "" for the default,
    and whether to run its ONNX export), return its classifier, loaded once per process and
    settings: the models are read-only, so every caller shares one copy (hundreds of MB,
    seconds to load).

    Raises ``ValueError`` naming the known engines if ``engine`` is not one of them, and
    ``DetectorError`` if its model files are missing or corrupt.
    """
    factory = _ENGINES.get(engine)
    if factory is None:
        known = ", ".join(names())
        raise ValueError(f"unknown text engine {engine!r}; known engines: {known}")
    key = (engine, model_dir, prefer_onnx)
    with _loading:
        if key not in _loaded:
            _loaded[key] = factory(model_dir, prefer_onnx)
        return _loaded[key]
