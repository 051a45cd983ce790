"""The council comment model: all-MiniLM-L6-v2 fine-tuned on council comments, int8 ONNX.

``detectors/models/council/`` holds the model (made by ``scripts/train_council_model.py``):
one graph from token ids to a probability for each contract label (offensive, threat,
defamation, personal_data), and ``labels.json`` with the probability from which each label is
given. Hand-written patterns do not generalise (session 1: patterns for the tuning half's
missed allegations lifted its recall from 0.46 to 0.89 and left the held-out half unchanged),
and a frozen sentence embedding could not separate implicit threats from blunt politics; this
model learns both from labelled comments.

Runs on onnxruntime and ``tokenizers`` alone, loads once, scores in length-sorted batches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from detectors.semantic import bert_feeds, cores, load_session, load_tokenizer
from detectors.text import emoji_as_words
from watcher.domain import TEXT_LABELS
from watcher.errors import DetectorError

MODEL_DIR = Path(__file__).resolve().parent / "models" / "council"
LABELS_FILE = "labels.json"
#: 2: the model reads emoji as words (``text.emoji_as_words``); format 1 read each as [UNK].
FORMAT = 2
# One comment per run: the int8 model quantises activations with one scale for the whole
# batch, so in a batch a comment's probability would depend on the comments beside it (and on
# their padding). One at a time, a comment always gets the same score; at these lengths it is
# also as fast as batching (benchmarks/throughput.py) and needs far less memory.
BATCH_SIZE = 1
# A word piece is at least one character: cutting at this bound keeps tokenizing constant-time
# on hostile input without cutting inside the token limit.
_CHARS_PER_TOKEN = 24
_FIX_HINT = ("reinstall Councillor Watcher (pip install --force-reinstall councillor-watcher, "
             "or pip install -e . in a checkout), or rebuild it with "
             "scripts/train_council_model.py")


class CouncilModel:
    """Given short texts (windows of a comment), returns a probability per label."""

    def __init__(self, model_dir: Path | str = MODEL_DIR, *, threads: int | None = None) -> None:
        """Given the model folder, load ``labels.json``, the tokenizer and the ONNX model.

        Raises ``DetectorError`` naming the file, with how to fix it, if one is missing,
        unreadable, or does not match the others.
        """
        model_dir = Path(model_dir)
        self.labels, self.thresholds, self.max_tokens = _read_labels(model_dir / LABELS_FILE)
        try:
            self._tokenizer = load_tokenizer(model_dir / "tokenizer.json", self.max_tokens,
                                             "council model")
            # One thread inside each run, and as many runs at once as there are cores: at one
            # short comment per run, threads inside an op mostly wait for each other
            # (benchmarks/throughput.py: 1.37 times as many comments a second on 2 cores).
            self._session = load_session(model_dir / "model.onnx", 1, "council model")
        except DetectorError as exc:
            raise DetectorError(f"{exc}; {_FIX_HINT}") from exc
        workers = threads or cores()
        # onnxruntime releases the GIL while a graph runs, and one session may run from
        # several threads at once.
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="council") \
            if workers > 1 else None
        outputs = self._session.get_outputs()
        if len(outputs) != 1 or outputs[0].shape[-1] != len(self.labels):
            raise DetectorError(f"council model {model_dir / 'model.onnx'} does not give "
                                f"{len(self.labels)} probabilities; {_FIX_HINT}")

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Given texts, return float32 probabilities of shape (len(texts), len(labels)), in the
        order of ``labels``. Emoji are read as their names. Text beyond ``max_tokens`` word
        pieces is not read: split long texts with ``semantic.split_windows`` first. Raises
        ``DetectorError`` if onnxruntime fails."""
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        limit = self.max_tokens * _CHARS_PER_TOKEN
        encodings = self._tokenizer.encode_batch([emoji_as_words(t[:limit]) for t in texts])
        ids = [e.ids for e in encodings]
        try:
            if self._pool is None or len(ids) < 2:
                rows = [self._run_one(i) for i in ids]
            else:
                rows = list(self._pool.map(self._run_one, ids, chunksize=8))
        except Exception as exc:  # onnxruntime's exceptions are not a public hierarchy
            raise DetectorError(f"council model failed to run: {exc}") from exc
        out[:] = rows
        return out

    def _run_one(self, ids: list[int]) -> np.ndarray:
        # One comment per run (BATCH_SIZE): its score never depends on other comments.
        return self._session.run(None, bert_feeds([ids]))[0][0]


def _read_labels(path: Path) -> tuple[tuple[str, ...], Mapping[str, float], int]:
    """Given labels.json's path, return (labels in output order, {label: threshold},
    max_tokens). Raises ``DetectorError`` naming the file."""
    if not path.is_file():
        raise DetectorError(f"council model file missing: {path}; {_FIX_HINT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] != FORMAT:
            raise DetectorError(f"council model file {path} has format {data['format']!r}, "
                                f"this version reads {FORMAT}; {_FIX_HINT}")
        thresholds = {str(k): float(v["threshold"]) for k, v in data["labels"].items()}
        max_tokens = int(data["max_tokens"])
    except DetectorError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DetectorError(f"council model file unreadable: {path}: {exc!r}; {_FIX_HINT}"
                            ) from exc
    unknown = set(thresholds) - set(TEXT_LABELS)
    if not thresholds or unknown:
        raise DetectorError(f"council model file {path} has labels {sorted(thresholds)}; "
                            f"expected some of {list(TEXT_LABELS)}")
    if not all(math.isfinite(t) and 0.0 < t < 1.0 for t in thresholds.values()):
        raise DetectorError(f"council model file {path} has a threshold outside (0, 1)")
    return tuple(thresholds), thresholds, max_tokens


def to_score(probability: float, threshold: float, contract_threshold: float) -> float:
    """Given a model probability, the model's threshold for the label and the label's default
    threshold, return a score on the default scale: piecewise linear, so the model's threshold
    lands exactly on the default one, 0 stays 0 and 1 stays 1."""
    if probability <= threshold:
        return contract_threshold * probability / threshold
    return contract_threshold + (1.0 - contract_threshold) * (
        (probability - threshold) / (1.0 - threshold))
