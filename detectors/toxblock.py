"""The embedded default text model: tox-block 0.1.2's Jigsaw BiLSTM, run with onnxruntime.

``detectors/models/toxblock/`` ships ``model.onnx`` (converted once from tox-block's Keras
``lstm_model_0.1.2.h5`` by ``scripts/convert_toxblock.py``) and ``tokenizer.json`` (tox-block's
Keras tokenizer, pruned to the 19,999 words the model can use, with its settings). Nothing is
downloaded at run time and neither TensorFlow nor torch is needed: this module reproduces
Keras ``Tokenizer.texts_to_sequences`` and ``pad_sequences`` in plain Python and numpy.

``ToxBlockModel.predict`` returns tox-block's raw sigmoid outputs, one column per label of
``JIGSAW_LABELS``. tox-block's optional min-max "rescaling" is not applied (its constants are
kept in ``tokenizer.json`` under ``tox_block_rescale`` for reference).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors._onnx import session_options
from detectors.semantic import cores
from watcher.errors import DetectorError
from watcher.models import sha256_file

JIGSAW_LABELS: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "toxblock"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_FORMAT = 1
DEFAULT_BATCH_SIZE = 256

_FIX_HINT = (
    "reinstall Councillor Watcher (pip install --force-reinstall councillor-watcher, or "
    "pip install -e . in a checkout), or regenerate the files with scripts/convert_toxblock.py"
)


@dataclass(frozen=True)
class KerasTokenizer:
    """Keras ``Tokenizer.texts_to_sequences`` followed by ``pad_sequences``, without Keras.

    ``word_index`` maps a word to its index (1 = most frequent). Only indices below
    ``num_words`` are ever emitted, as in Keras. Unknown words are dropped, or become the
    index of ``oov_token`` if the tokenizer had one.
    """

    word_index: Mapping[str, int]
    num_words: int
    filters: str
    lower: bool
    split: str
    oov_token: str | None
    maxlen: int
    padding: str
    truncating: str
    pad_value: int = 0

    def words(self, text: str) -> list[str]:
        """Given a text, return its tokens exactly as Keras ``text_to_word_sequence`` does.

        Lower-cased with ``str.lower`` (if ``lower``), every filter character replaced by
        ``split``, split on ``split`` only (so tabs are filtered but a no-break space or
        ``\\r`` stays inside a word), empty tokens dropped.
        """
        if self.lower:
            text = text.lower()
        text = text.translate(self._table)
        return [w for w in text.split(self.split) if w]

    def sequence(self, text: str) -> list[int]:
        """Given a text, return the token indices the model sees, already truncated to
        ``maxlen`` on the ``truncating`` side (so a 1 MB text costs one split, no more)."""
        tokens = self.words(text)
        # Truncating "pre" keeps the LAST maxlen indices, so walk from the end and stop early;
        # unknown words contribute nothing, so this equals Keras's truncate-after-lookup.
        ordered = reversed(tokens) if self.truncating == "pre" else iter(tokens)
        out: list[int] = []
        for word in ordered:
            index = self._lookup(word)
            if index is not None:
                out.append(index)
                if len(out) == self.maxlen:
                    break
        if self.truncating == "pre":
            out.reverse()
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Given texts, return a ``(len(texts), maxlen)`` int32 array padded like Keras
        ``pad_sequences`` (``padding`` side filled with ``pad_value``)."""
        out = np.full((len(texts), self.maxlen), self.pad_value, dtype=np.int32)
        for row, text in enumerate(texts):
            seq = self.sequence(text)
            if not seq:
                continue
            if self.padding == "pre":
                out[row, self.maxlen - len(seq) :] = seq
            else:
                out[row, : len(seq)] = seq
        return out

    def _lookup(self, word: str) -> int | None:
        """Return the index Keras would emit for ``word``, or None if it emits nothing."""
        index = self.word_index.get(word)
        if index is not None and index < self.num_words:
            return index
        # Keras maps both unknown words and words past num_words to the OOV index, if any.
        return self._oov_index

    @property
    def _table(self) -> dict[int, str]:
        return _translate_table(self.filters, self.split)

    @property
    def _oov_index(self) -> int | None:
        if self.oov_token is None:
            return None
        index = self.word_index.get(self.oov_token)
        return index if index is not None and index < self.num_words else None


_TABLES: dict[tuple[str, str], dict[int, str]] = {}


def _translate_table(filters: str, split: str) -> dict[int, str]:
    """Return (and cache) the ``str.translate`` table mapping each filter character to
    ``split``, as Keras builds it."""
    key = (filters, split)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = str.maketrans({c: split for c in filters})
    return table


def _problem(path: Path, what: str) -> DetectorError:
    """Return the DetectorError for a missing or unusable model file."""
    return DetectorError(f"tox-block model file {path} {what}; {_FIX_HINT}")


def _read_tokenizer(path: Path) -> tuple[KerasTokenizer, dict[str, Any]]:
    """Given the path of ``tokenizer.json``, return the tokenizer and the whole document.

    Raises ``DetectorError`` naming the file if it is missing, unreadable, not JSON, or lacks a
    setting or has one of the wrong type.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _problem(path, "is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _problem(path, f"is unreadable or not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != TOKENIZER_FORMAT:
        raise _problem(path, f"is not a format-{TOKENIZER_FORMAT} tox-block tokenizer")
    try:
        words = doc["words"]
        settings = {
            "num_words": int(doc["num_words"]),
            "filters": str(doc["filters"]),
            "lower": bool(doc["lower"]),
            "split": str(doc["split"]),
            "oov_token": None if doc["oov_token"] is None else str(doc["oov_token"]),
            "maxlen": int(doc["maxlen"]),
            "padding": str(doc["padding"]),
            "truncating": str(doc["truncating"]),
            "pad_value": int(doc["value"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise _problem(path, f"lacks a valid setting ({exc!r})") from exc
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise _problem(path, "has no list of words")
    if settings["padding"] not in ("pre", "post") or settings["truncating"] not in (
        "pre",
        "post",
    ):
        raise _problem(path, "has an unknown padding or truncating side")
    if settings["maxlen"] < 1 or not settings["split"]:
        raise _problem(path, "has an empty maxlen or split")
    # words[i] is the word with Keras index i + 1 (index 0 is padding).
    word_index = {word: i + 1 for i, word in enumerate(words)}
    if len(word_index) != len(words):
        raise _problem(path, "repeats a word")
    return KerasTokenizer(word_index=word_index, **settings), doc


def _open_session(path: Path, expected_sha256: str | None, threads: int) -> Any:
    """Given the path of ``model.onnx``, return an onnxruntime session for it.

    Checks the file's SHA-256 against ``expected_sha256`` first, because a model whose weights
    were damaged can still load and would then score silently wrong. Raises ``DetectorError``
    naming the file if it is missing, damaged or not loadable.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DetectorError(f"onnxruntime is not installed ({exc}); {_FIX_HINT}") from exc
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise _problem(path, "is missing") from None
    except OSError as exc:
        raise _problem(path, f"is unreadable ({exc})") from exc
    if expected_sha256 is not None and actual != expected_sha256:
        raise _problem(path, f"is damaged (sha256 {actual}, expected {expected_sha256})")
    options = session_options(ort, threads)
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        raise _problem(path, f"cannot be loaded by onnxruntime ({exc})") from exc


class ToxBlockModel:
    """tox-block's six-label Jigsaw toxicity model, loaded once, scoring texts in batches.

    Thread-safe: onnxruntime sessions may be run from several threads at once.
    """

    name = "toxblock"
    version = "tox-block-0.1.2"

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
    ) -> None:
        """Given the folder holding ``model.onnx`` and ``tokenizer.json`` (default: the one
        shipped in this package), load both.

        ``threads`` is onnxruntime's intra-op thread count (default: the number of cores).
        Raises ``DetectorError`` naming the file, and how to fix it, if either is missing,
        damaged or does not fit the other.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.batch_size = batch_size
        tokenizer_path = self.model_dir / TOKENIZER_FILE
        model_path = self.model_dir / MODEL_FILE
        self.tokenizer, doc = _read_tokenizer(tokenizer_path)
        labels = tuple(doc.get("labels", ()))
        if labels != JIGSAW_LABELS:
            raise _problem(tokenizer_path, f"names labels {labels}, expected {JIGSAW_LABELS}")
        expected = doc.get("model_sha256")
        self._session = _open_session(
            model_path, expected if isinstance(expected, str) else None, threads or cores()
        )
        self._check_signature(model_path)

    def _check_signature(self, model_path: Path) -> None:
        """Raise ``DetectorError`` unless the model takes ``[batch, maxlen]`` and returns
        ``[batch, 6]``: a model that does not fit the tokenizer must fail at load, not later."""
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise _problem(model_path, "does not have exactly one input and one output")
        in_shape, out_shape = inputs[0].shape, outputs[0].shape
        if len(in_shape) != 2 or in_shape[1] != self.tokenizer.maxlen:
            raise _problem(model_path, f"takes {in_shape}, not [batch, {self.tokenizer.maxlen}]")
        if len(out_shape) != 2 or out_shape[1] != len(JIGSAW_LABELS):
            raise _problem(model_path, f"returns {out_shape}, not [batch, {len(JIGSAW_LABELS)}]")
        self._input_name = inputs[0].name
        # The Keras model was saved with a float32 input; feed whichever type it declares.
        self._input_dtype = np.float32 if inputs[0].type == "tensor(float)" else np.int64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Given texts, return the padded int32 index matrix the model is fed
        (``(len(texts), maxlen)``). Raises ``DetectorError`` if a text is not a ``str``."""
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise DetectorError(
                    f"tox-block can only score text; item {position} is {type(text).__name__}"
                )
        return self.tokenizer.encode(texts)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Given texts (any length, empty allowed), return a float32 array of shape
        ``(len(texts), 6)``: one probability per label of ``JIGSAW_LABELS``, in that order.

        Raises ``DetectorError`` if a text is not a ``str`` or onnxruntime fails.
        """
        texts = list(texts)
        result = np.empty((len(texts), len(JIGSAW_LABELS)), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            feed = {self._input_name: self.encode(chunk).astype(self._input_dtype)}
            try:
                (scores,) = self._session.run(None, feed)
            except Exception as exc:  # onnxruntime's own exception types are not exported
                raise DetectorError(f"tox-block model failed to run: {exc}") from exc
            result[start : start + len(chunk)] = scores
        return result
