"""The "detoxify" text engine: Detoxify's toxic-comment model from imported files, offline.

The model directory is written by ``watcher models import`` (see :mod:`watcher.models`); this
module only reads it, once, at construction. No hub lookups: every ``from_pretrained`` gets a
local folder and ``local_files_only=True``, and the model itself is built from its config
and filled from the checkpoint with our own strict key check, because Detoxify's loader (via
``from_pretrained(None, state_dict=...)``) accepts a state_dict whose keys all miss, e.g. a
Lightning checkpoint whose keys keep a ``model.`` prefix, and quietly runs on random weights.

Labels (CONTRACT §4). Detoxify's "original" model has six sigmoid heads from the Jigsaw
Toxic Comment data: toxicity, severe_toxicity, obscene, threat, insult, identity_attack.

* ``threat`` = the threat head.
* ``offensive`` = max(insult, obscene, identity_attack, severe_toxicity,
  ``TOXICITY_WEIGHT`` x toxicity). The specific heads count in full. Plain "toxicity" is
  scaled down (0.85) because Jigsaw's "toxic" also covers rude but legitimate criticism
  ("this councillor is a liar and a disgrace"), and the contract says blunt political
  disagreement is not offensive: toxicity alone must reach ~0.94 to cross the default 0.8
  threshold, while anything insulting, obscene or hateful is caught by its own head.
* ``defamation`` and ``personal_data`` are always 0.0 here: the model was never trained on
  either (they are assertions of fact and phone numbers, not tone). The rules detector
  supplies them; this engine is meant to run alongside it, not instead of it.

``Classification.scores`` also carries every raw head as ``jigsaw.<head>``.

Speed: texts are sorted by length and run in batches (default 32) truncated to a bounded
number of tokens (default 128), so padding is small and one long comment cannot slow the
rest; torch uses every core it is allowed; inference under ``torch.inference_mode()``.
Optionally :func:`export_onnx` writes an int8 onnxruntime model next to the checkpoint, used
when present and ``prefer_onnx`` (findings then carry version ``<sha>-int8``).
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import transformers

from detectors._onnx import session_options
from detectors.semantic import cores
from watcher import logs
from watcher.domain import TEXT_LABELS, Classification
from watcher.errors import DetectorError
from watcher.models import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    IMPORT_HINT,
    MANIFEST_FILE,
    ONNX_FILE,
    default_model_dir,
    read_manifest,
    sha256_file,
    verify_files,
    write_json_atomically,
)

NAME = "detoxify"
ORIGINAL_HEADS: tuple[str, ...] = (
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
)
# Heads that count in full towards "offensive"; toxicity counts scaled (module docstring).
OFFENSIVE_HEADS: tuple[str, ...] = ("insult", "obscene", "identity_attack", "severe_toxicity")
TOXICITY_WEIGHT = 0.85
CONTRACT_LABELS_SCORED: tuple[str, ...] = ("offensive", "threat")
RAW_PREFIX = "jigsaw."
# Detoxify's own renaming of the Jigsaw class names (detoxify.load_checkpoint).
_CLASS_ALIASES = {"toxic": "toxicity", "identity_hate": "identity_attack",
                  "severe_toxic": "severe_toxicity"}
# Only these transformers classes may be named by a checkpoint: a name from a file must not
# pick an arbitrary attribute of the transformers package.
_MODEL_CLASSES = frozenset({
    "BertForSequenceClassification", "AlbertForSequenceClassification",
    "RobertaForSequenceClassification", "XLMRobertaForSequenceClassification",
    "DistilBertForSequenceClassification",
})
_TOKENIZER_CLASSES = frozenset({
    f"{base}Tokenizer{fast}" for base in ("Bert", "Albert", "Roberta", "XLMRoberta", "DistilBert")
    for fast in ("", "Fast")
})
_ARCH_KEYS = ("model_type", "model_name", "tokenizer_name", "num_classes")
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Characters kept per comment before tokenising: far more than max_length tokens ever need,
# and it bounds the tokenizer's work on a hostile megabyte-long comment.
_CHARS_PER_TOKEN_CAP = 32

_log = logs.get("detectors.detoxify")


# --------------------------------------------------------------------------------------------
# Reading and checking the checkpoint
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointSpec:
    """What a Detoxify checkpoint's ``config`` says: the architecture and its output heads."""

    arch: Mapping[str, Any]
    model_name: str
    tokenizer_name: str
    num_classes: int
    heads: tuple[str, ...]


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """Given a checkpoint file, return the dict it holds (memory-mapped where possible).

    Only tensors and plain data are unpickled (``weights_only=True``): a model file must not be
    able to run code. Raises ``DetectorError`` naming the file if it is missing, unreadable,
    holds other objects, or is not a ``{"config", "state_dict"}`` dict.
    """
    if not path.is_file():
        raise DetectorError(f"model file {path} is missing; {IMPORT_HINT}")
    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            # Checkpoints saved in torch's legacy (pre-1.6) format cannot be memory-mapped.
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DetectorError(f"{path} holds pickled objects other than tensors and plain data; "
                            f"refusing to unpickle it: {str(exc).splitlines()[0]}") from exc
    except Exception as exc:  # zip, EOF and format errors come as several types
        raise DetectorError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise DetectorError(f"{path} is not a Detoxify checkpoint: expected a dict with "
                            "'config' and 'state_dict'")
    if not isinstance(loaded["state_dict"], Mapping) or not loaded["state_dict"]:
        raise DetectorError(f"{path}: 'state_dict' is empty or not a mapping")
    return loaded


def _spec_from(config: Any, path: Path) -> CheckpointSpec:
    """Given a checkpoint's ``config`` entry, return its :class:`CheckpointSpec`.

    Raises ``DetectorError`` naming the file and the first missing or wrong key.
    """
    try:
        arch = config["arch"]["args"]
        classes = config["dataset"]["args"]["classes"]
    except (KeyError, TypeError) as exc:
        raise DetectorError(f"{path}: config lacks {exc}; a Detoxify checkpoint's config has "
                            "arch.args and dataset.args.classes") from exc
    missing = [k for k in _ARCH_KEYS if k not in arch]
    if missing:
        raise DetectorError(f"{path}: config.arch.args lacks {', '.join(missing)}")
    if arch["model_name"] not in _MODEL_CLASSES:
        raise DetectorError(f"{path}: model_name {arch['model_name']!r} is not supported "
                            f"(one of {', '.join(sorted(_MODEL_CLASSES))})")
    if arch["tokenizer_name"] not in _TOKENIZER_CLASSES:
        raise DetectorError(f"{path}: tokenizer_name {arch['tokenizer_name']!r} is not "
                            "supported")
    heads = tuple(_CLASS_ALIASES.get(str(c), str(c)) for c in classes)
    if arch["num_classes"] != len(heads):
        raise DetectorError(f"{path}: num_classes is {arch['num_classes']} but "
                            f"dataset.args.classes names {len(heads)}")
    lacking = [h for h in ORIGINAL_HEADS if h not in heads]
    if lacking:
        raise DetectorError(f"{path}: the model has no {', '.join(lacking)} head(s); the "
                            f"engine needs {', '.join(ORIGINAL_HEADS)}")
    return CheckpointSpec(arch=dict(arch), model_name=str(arch["model_name"]),
                          tokenizer_name=str(arch["tokenizer_name"]),
                          num_classes=int(arch["num_classes"]), heads=heads)


def read_checkpoint_spec(path: Path) -> CheckpointSpec:
    """Given a Detoxify checkpoint file, return its checked :class:`CheckpointSpec`.

    Raises ``DetectorError`` if the file is unreadable or its config is not Detoxify's.
    """
    return _spec_from(_load_checkpoint(Path(path))["config"], Path(path))


def _hf_config(model_dir: Path, spec: CheckpointSpec) -> transformers.PretrainedConfig:
    """Given the model directory and spec, return the Hugging Face config read from its
    ``config.json`` (a local file: no hub). Raises ``DetectorError`` if it is missing, of
    another model type, or declares a different number of labels than the checkpoint."""
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise DetectorError(f"model file {path} is missing; {IMPORT_HINT}")
    config_class = getattr(transformers, spec.model_name).config_class
    try:
        config = config_class.from_json_file(str(path))
    except Exception as exc:
        raise DetectorError(f"{path} is not a valid {config_class.__name__}: {exc}") from exc
    declared_type = config.to_dict().get("model_type")
    if declared_type and declared_type != config_class.model_type:
        raise DetectorError(f"{path} is for model type {declared_type!r} but the checkpoint "
                            f"needs {config_class.model_type!r} ({spec.model_name})")
    if config.num_labels != spec.num_classes:
        raise DetectorError(f"{path} has num_labels {config.num_labels} but the checkpoint has "
                            f"{spec.num_classes} heads; {IMPORT_HINT}")
    return config


def _tolerated(key: str, value: Any) -> bool:
    """Whether an unexpected state_dict entry is one we may drop: the ``position_ids`` buffer
    that transformers before 4.31 saved and later versions rebuild, provided it holds exactly
    what would be rebuilt (0, 1, 2, ...)."""
    if not key.endswith("embeddings.position_ids") or not isinstance(value, torch.Tensor):
        return False
    flat = value.reshape(-1)
    return bool(torch.equal(flat.to(torch.long), torch.arange(flat.numel())))


def _key_problem(missing: Sequence[str], unexpected: Sequence[str]) -> str:
    """Given the keys that failed to match, return a sentence naming them and the likely
    cause (the ``model.`` prefix of a training checkpoint)."""
    parts = []
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) ({', '.join(unexpected[:5])}"
                     f"{', ...' if len(unexpected) > 5 else ''})")
    if missing:
        parts.append(f"{len(missing)} missing key(s) ({', '.join(missing[:5])}"
                     f"{', ...' if len(missing) > 5 else ''})")
    text = "state_dict does not match the model: " + "; ".join(parts)
    if any(k.startswith("model.") for k in unexpected):
        text += ("; keys start with 'model.' (a training checkpoint): strip the prefix or "
                 "use the released checkpoint")
    return text


def _build_model(spec: CheckpointSpec, config: transformers.PretrainedConfig,
                 state_dict: Mapping[str, Any], path: Path) -> torch.nn.Module:
    """Given the spec, config and the checkpoint's state_dict, return the model in eval mode
    with every parameter and persistent buffer taken from the checkpoint.

    Raises ``DetectorError`` naming the file and the keys if ANY key is missing or unexpected,
    or a tensor has the wrong shape.
    """
    model = getattr(transformers, spec.model_name)(config)
    state = {k: v for k, v in state_dict.items() if not _tolerated(k, v)}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches are raised even when not strict
        raise DetectorError(f"{path}: {str(exc).strip()}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise DetectorError(f"{path}: {_key_problem(result.missing_keys, result.unexpected_keys)}"
                            f"; {IMPORT_HINT}")
    model.eval()
    model.requires_grad_(False)
    return model


def _build_tokenizer(model_dir: Path, spec: CheckpointSpec,
                     config: transformers.PretrainedConfig, max_length: int) -> Any:
    """Given the model directory, spec and config, return the tokenizer read from local files
    with ``model_max_length`` set (the stock files often leave it unbounded).

    Checks that the vocabulary was really read (a known transformers 5 trap builds a tokenizer
    with only the special tokens) and that every id fits the embedding table. Raises
    ``DetectorError`` naming the folder otherwise.
    """
    tokenizer_class = getattr(transformers, spec.tokenizer_name, None)
    if tokenizer_class is None:
        raise DetectorError(f"this transformers has no {spec.tokenizer_name}")
    try:
        tokenizer = tokenizer_class.from_pretrained(str(model_dir), local_files_only=True,
                                                    model_max_length=max_length)
    except Exception as exc:
        raise DetectorError(f"could not read the tokenizer in {model_dir}: {exc}; "
                            f"{IMPORT_HINT}") from exc
    vocab = tokenizer.get_vocab()
    vocab_file = model_dir / "vocab.txt"
    if vocab_file.is_file():
        lines = {ln.rstrip("\r\n") for ln in vocab_file.read_text(encoding="utf-8").splitlines()}
        lines.discard("")
        if len(vocab) < len(lines):
            raise DetectorError(f"the tokenizer read {len(vocab)} of the {len(lines)} entries "
                                f"in {vocab_file}")
    if vocab and max(vocab.values()) >= config.vocab_size:
        raise DetectorError(f"the tokenizer in {model_dir} has ids up to {max(vocab.values())} "
                            f"but the model's vocab_size is {config.vocab_size}")
    return tokenizer


# --------------------------------------------------------------------------------------------
# Back ends: torch, onnxruntime
# --------------------------------------------------------------------------------------------

class _Backend(Protocol):
    """Given tokenizer output as int64 numpy arrays, return per-head probabilities (n, H)."""

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray: ...


class _TorchBackend:
    """Runs the torch model; sigmoid in torch, as Detoxify does, so scores match it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**tensors).logits
            return torch.sigmoid(logits.float()).numpy()


class _OnnxBackend:
    """Runs an exported model on onnxruntime's CPU provider with the given number of threads."""

    def __init__(self, path: Path, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise DetectorError(f"{path} needs onnxruntime: pip install onnxruntime") from exc
        options = session_options(ort, threads)
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise DetectorError(f"onnxruntime cannot load {path}: {exc}") from exc
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        feed = {n: inputs[n].astype(np.int64, copy=False) for n in self.names}
        (logits,) = self.session.run(["logits"], feed)
        # tanh form of the sigmoid: no overflow warnings for large negative logits
        return (0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------

def to_classification(heads: Mapping[str, float]) -> Classification:
    """Given one text's head probabilities (Detoxify names), return its Classification: the
    four contract labels, every head as ``jigsaw.<head>``, and reasons for offensive/threat."""
    clamp = {h: min(1.0, max(0.0, float(s))) for h, s in heads.items()}
    candidates = [(clamp[h], h, clamp[h]) for h in OFFENSIVE_HEADS]
    candidates.append((TOXICITY_WEIGHT * clamp["toxicity"], "toxicity", clamp["toxicity"]))
    offensive, driver, raw = max(candidates)
    reason = f"detoxify {driver} {raw:.2f}"
    if driver == "toxicity":
        reason += f" (x{TOXICITY_WEIGHT} = {offensive:.2f})"
    scores: dict[str, float] = {label: 0.0 for label in TEXT_LABELS}
    scores["offensive"] = offensive
    scores["threat"] = clamp["threat"]
    scores.update({RAW_PREFIX + h: s for h, s in clamp.items()})
    reasons = {"offensive": (reason,), "threat": (f"detoxify threat {clamp['threat']:.2f}",)}
    return Classification(scores=scores, reasons=reasons)


class DetoxifyClassifier:
    """``TextClassifier`` "detoxify": Detoxify's model loaded once from an imported folder.

    Given the model directory (default ``$STATE/models/detoxify``), the batch size, the token
    limit per comment, whether to use ``model.int8.onnx`` when present, and the number of
    threads (default: every core this process may use), the constructor loads and checks
    everything; it raises ``DetectorError`` naming the file and saying to run
    ``watcher models import`` if anything is missing, changed since import, or does not match.
    ``classify`` is safe to call from several threads (calls run one at a time: each already
    uses every core).
    """

    name = NAME

    def __init__(self, model_dir: Path | str | None = None, *, batch_size: int = 32,
                 max_length: int = 128, prefer_onnx: bool = True,
                 threads: int | None = None) -> None:
        if batch_size < 1 or max_length < 8:
            raise ValueError("batch_size must be >= 1 and max_length >= 8")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.batch_size, self.max_length = batch_size, max_length
        self.threads = threads or cores()
        self._lock = threading.Lock()
        manifest = read_manifest(self.model_dir)
        sha = verify_files(self.model_dir, manifest)[CHECKPOINT_FILE]
        checkpoint_path = self.model_dir / CHECKPOINT_FILE
        checkpoint = _load_checkpoint(checkpoint_path)
        self.spec = _spec_from(checkpoint["config"], checkpoint_path)
        config = _hf_config(self.model_dir, self.spec)
        self.tokenizer = _build_tokenizer(self.model_dir, self.spec, config, max_length)
        self.checkpoint_sha256 = sha
        onnx_path = self._vouched_onnx(manifest, sha) if prefer_onnx else None
        torch.set_num_threads(self.threads)
        self.backend: _Backend
        if onnx_path is not None:
            self.backend = _OnnxBackend(onnx_path, self.threads)
            self.version = f"{sha[:12]}-int8"
            self.model: torch.nn.Module | None = None
        else:
            self.model = _build_model(self.spec, config, checkpoint["state_dict"],
                                      checkpoint_path)
            self.backend = _TorchBackend(self.model)
            self.version = sha[:12]
        del checkpoint  # the model holds its own copies; drop the mapped file
        # Run once now: a backend that loads but cannot run here (torch's JIT kernels under
        # systemd's MemoryDenyWriteExecute=yes: "could not create a primitive") must stop the
        # start with a clear message, not fail every poll later.
        try:
            self.head_scores(["warm-up"])
        except Exception as exc:
            raise DetectorError(
                f"the detoxify model in {self.model_dir} loads but cannot run here ({exc}); "
                "under systemd with the torch backend set MemoryDenyWriteExecute=no in a "
                "drop-in, or import it with --onnx") from exc
        _log.info("detoxify.loaded", model_dir=str(self.model_dir), version=self.version,
                  backend="onnx-int8" if onnx_path else "torch", threads=self.threads,
                  batch_size=batch_size, max_length=max_length, heads=list(self.spec.heads))

    def _vouched_onnx(self, manifest: Mapping[str, Any], checkpoint_sha: str) -> Path | None:
        """Return the ONNX model's path if there is one and the manifest vouches for it (same
        bytes as exported, exported from this very checkpoint); None if there is none.
        Raises ``DetectorError`` for an ONNX file the manifest does not vouch for."""
        path = self.model_dir / ONNX_FILE
        if not path.is_file():
            return None
        entry = manifest.get("onnx")
        if not isinstance(entry, dict) or entry.get("checkpoint_sha256") != checkpoint_sha \
                or entry.get("sha256") != sha256_file(path):
            raise DetectorError(f"{path} was not exported from this checkpoint (or changed "
                                "since); re-run `watcher models import ... --onnx`, or delete it")
        return path

    def head_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Given texts, return a float32 array (len(texts), heads) of head probabilities in
        ``self.spec.heads`` order, computed in length-sorted batches."""
        out = np.zeros((len(texts), len(self.spec.heads)), dtype=np.float32)
        cap = self.max_length * _CHARS_PER_TOKEN_CAP
        # Similar lengths share a batch, so padding (wasted work) stays small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                encoded = self.tokenizer([texts[i][:cap] for i in idx], padding=True,
                                         truncation=True, max_length=self.max_length,
                                         return_tensors="np")
                inputs = {k: np.asarray(encoded[k], dtype=np.int64)
                          for k in _MODEL_INPUTS if k in encoded}
                out[idx] = self.backend(inputs)
        return out

    def classify(self, texts: Sequence[str], members: Sequence[str | None] | None = None
                 ) -> list[Classification]:
        """Given texts (``members`` is accepted for the protocol and ignored: the model does
        not know whose page it is), return one Classification per text, in order."""
        if not texts:
            return []
        probs = self.head_scores(list(texts))
        heads = self.spec.heads
        return [to_classification(dict(zip(heads, row.tolist(), strict=True)))
                for row in probs]


# --------------------------------------------------------------------------------------------
# ONNX export
# --------------------------------------------------------------------------------------------

class _LogitsOnly(torch.nn.Module):
    """Wraps a sequence classifier so the exported graph takes plain tensors and returns only
    the logits (no ModelOutput in the graph)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).logits


def export_fp32_onnx(classifier: DetoxifyClassifier, dest: Path) -> Path:
    """Given a classifier on the torch back end, write its model as float32 ONNX to ``dest``
    (dynamic batch and sequence axes, one self-contained file) and return ``dest``.

    Raises ``DetectorError`` if the classifier runs on ONNX already or the exporter (which
    needs the onnx and onnxscript packages) fails.
    """
    if classifier.model is None:
        raise DetectorError("export needs the torch model: construct with prefer_onnx=False")
    probe = classifier.tokenizer(["validation probe sentence", "a longer validation probe "
                                  "sentence for export"], padding=True, return_tensors="pt")
    names = [n for n in _MODEL_INPUTS if n in probe]
    seq_max = int(getattr(classifier.model.config, "max_position_embeddings", 512))
    batch = torch.export.Dim("batch", min=1, max=65536)
    seq = torch.export.Dim("sequence", min=1, max=seq_max)
    try:
        torch.onnx.export(
            _LogitsOnly(classifier.model).eval(), tuple(probe[n] for n in names), str(dest),
            input_names=names, output_names=["logits"], dynamo=True, external_data=False,
            dynamic_shapes={n: {0: batch, 1: seq} for n in names}, verbose=False)
    except ImportError as exc:
        raise DetectorError(f"ONNX export needs onnx and onnxscript: {exc}") from exc
    except Exception as exc:
        raise DetectorError(f"ONNX export of {classifier.model_dir} failed: {exc}") from exc
    return dest


def export_onnx(model_dir: Path | str | None = None) -> Path:
    """Given an imported model directory (default ``$STATE/models/detoxify``), write
    ``model.int8.onnx`` next to its checkpoint: a float32 export (torch.onnx) quantised with
    onnxruntime's dynamic int8 quantisation, and record it in the manifest.

    Returns the new file's path. Raises ``DetectorError`` if the model does not load or
    export/quantisation fails (onnxruntime, onnx and onnxscript must be installed).
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise DetectorError("ONNX export needs onnxruntime: pip install onnxruntime onnx "
                            "onnxscript") from exc
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    classifier = DetoxifyClassifier(model_dir, prefer_onnx=False)
    dest = model_dir / ONNX_FILE
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=model_dir) as tmp:
        fp32 = export_fp32_onnx(classifier, Path(tmp) / "model.fp32.onnx")
        int8 = Path(tmp) / ONNX_FILE
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        except Exception as exc:
            raise DetectorError(f"int8 quantisation of {fp32.name} failed: {exc}") from exc
        digest = sha256_file(int8)
        os.replace(int8, dest)
    manifest = read_manifest(model_dir)
    manifest["onnx"] = {
        "file": ONNX_FILE, "sha256": digest, "checkpoint_sha256": classifier.checkpoint_sha256,
        "quantization": "onnxruntime dynamic int8 (QInt8 weights)",
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }
    write_json_atomically(model_dir / MANIFEST_FILE, manifest)
    _log.info("detoxify.onnx_exported", path=str(dest), sha256=digest[:12],
              bytes=dest.stat().st_size)
    return dest
