"""Imported model files: where they live, what their manifest says, and how they get there.

A model directory (default ``$STATE/models/detoxify``, STATE being ``$STATE_DIRECTORY`` under
systemd, else ``/var/lib/watcher``) holds exactly what the "detoxify" engine loads::

    detoxify.ckpt        the upstream checkpoint, byte for byte: {"config", "state_dict"}
    config.json          the Hugging Face model config (num_labels = the checkpoint's heads)
    vocab.txt ...        the tokenizer files (whichever the tokenizer class needs)
    manifest.json        sha256 of every file above, source name, import time, label set
    model.int8.onnx      optional, written by ``--onnx``: the same model for onnxruntime

Nothing here imports torch: ``watcher models list`` and the manifest helpers work on the
default install. Validation (a strict load) imports :mod:`detectors.detoxify_engine` lazily.

The ONLY code path in the product that touches the network for models is
:func:`fetch_detoxify`, run by a person (``watcher models fetch``); the engine and
:func:`import_detoxify` read local files only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher import logs
from watcher.errors import DetectorError

CHECKPOINT_FILE = "detoxify.ckpt"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
ONNX_FILE = "model.int8.onnx"
MANIFEST_FORMAT = 1
IMPORT_HINT = "run `watcher models import CHECKPOINT --config-dir DIR` (or `watcher models fetch`)"

# Tokenizer files worth copying from a Hugging Face model folder; weights (pytorch_model.bin,
# model.safetensors) are deliberately not among them: the checkpoint is the only weights file.
TOKENIZER_FILES: tuple[str, ...] = (
    "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "merges.txt",
)
# At least one of these must be present: a tokenizer cannot be built without a vocabulary.
VOCABULARY_FILES: tuple[str, ...] = (
    "vocab.txt", "tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "vocab.json",
)

# Detoxify's published checkpoints (detoxify 0.5.x ``MODEL_URLS``); used by fetch only.
_DOWNLOAD = "https://github.com/unitaryai/detoxify/releases/download/"
DETOXIFY_URLS: dict[str, str] = {
    "original": _DOWNLOAD + "v0.1-alpha/toxic_original-c1212f89.ckpt",
    "unbiased": _DOWNLOAD + "v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
    "multilingual": _DOWNLOAD + "v0.4-alpha/multilingual_debiased-0b549669.ckpt",
    "original-small": _DOWNLOAD + "v0.1.2/original-albert-0e1d6498.ckpt",
    "unbiased-small": _DOWNLOAD + "v0.1.2/unbiased-albert-c8519128.ckpt",
}

_log = logs.get("watcher.models")


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------

def state_dir() -> Path:
    """Return the service's state directory: the first entry of ``$STATE_DIRECTORY`` (systemd
    ``StateDirectory=``, which may list several, colon-separated), else ``/var/lib/watcher``."""
    env = os.environ.get("STATE_DIRECTORY", "")
    first = env.split(":")[0].strip()
    return Path(first) if first else Path("/var/lib/watcher")


def models_root() -> Path:
    """Return the folder that holds one sub-folder per imported model."""
    return state_dir() / "models"


def default_model_dir() -> Path:
    """Return where the "detoxify" engine looks for its model by default."""
    return models_root() / "detoxify"


# --------------------------------------------------------------------------------------------
# Hashes and the manifest
# --------------------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    """Given a file, return the hex SHA-256 of its bytes. Raises ``OSError`` if unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashing(source: Path, dest: Path) -> str:
    """Copy ``source`` to ``dest`` (new file, fsynced) and return the SHA-256 of the bytes
    written, so a 400 MB checkpoint is read once, not twice."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "xb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()


def write_json_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace``, so a reader
    sees either the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """Given a model directory, return its parsed ``manifest.json``.

    Raises ``DetectorError`` naming the file and saying to run ``watcher models import`` if the
    directory or manifest is missing or the manifest is not a JSON object of our format.
    """
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        raise DetectorError(f"no imported model at {model_dir}: {path} is missing; {IMPORT_HINT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DetectorError(f"{path} is unreadable ({exc}); {IMPORT_HINT}") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT \
            or not isinstance(data.get("files"), dict):
        raise DetectorError(f"{path} is not a watcher model manifest (format "
                            f"{MANIFEST_FORMAT}); {IMPORT_HINT}")
    return data


def verify_files(model_dir: Path, manifest: Mapping[str, Any],
                 names: Iterable[str] | None = None) -> dict[str, str]:
    """Check that files listed in the manifest exist and still have their recorded SHA-256.

    Given the directory, its manifest and optionally which of its files to check (default all),
    return ``{name: sha256}`` for them. Raises ``DetectorError`` naming the first file that is
    missing or changed, and saying to re-import.
    """
    files: Mapping[str, str] = manifest["files"]
    checked: dict[str, str] = {}
    for name in names if names is not None else files:
        path = model_dir / name
        if name not in files:
            raise DetectorError(f"{model_dir / MANIFEST_FILE} does not list {name}; {IMPORT_HINT}")
        if not path.is_file():
            raise DetectorError(f"model file {path} is missing; {IMPORT_HINT}")
        actual = sha256_file(path)
        if actual != files[name]:
            raise DetectorError(f"model file {path} has changed since it was imported (sha256 "
                                f"{actual[:12]}, manifest says {files[name][:12]}); "
                                f"{IMPORT_HINT}")
        checked[name] = actual
    return checked


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportReport:
    """What an import did: where the model now is, what it holds, what it replaced."""

    dest_dir: Path
    source: str
    checkpoint_sha256: str
    heads: tuple[str, ...]
    files: tuple[str, ...]
    replaced: bool
    config_patched: bool
    onnx: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def version(self) -> str:
        """The detector version findings will carry: the checkpoint's sha256 prefix."""
        return self.checkpoint_sha256[:12]


def _check_inputs(source: Path, config_dir: Path) -> list[str]:
    """Given the checkpoint and config folder, return which tokenizer files to copy.

    Raises ``DetectorError`` naming what is missing.
    """
    if not source.is_file():
        raise DetectorError(f"checkpoint {source} does not exist or is not a file")
    if not config_dir.is_dir():
        raise DetectorError(f"config directory {config_dir} does not exist")
    if not (config_dir / CONFIG_FILE).is_file():
        raise DetectorError(f"{config_dir / CONFIG_FILE} is missing: the config directory must "
                            "hold the Hugging Face config.json of the checkpoint's model type")
    present = [name for name in TOKENIZER_FILES if (config_dir / name).is_file()]
    if not any(name in present for name in VOCABULARY_FILES):
        raise DetectorError(f"{config_dir} holds no tokenizer vocabulary (one of "
                            f"{', '.join(VOCABULARY_FILES)})")
    return present


def _patched_config(config_dir: Path, num_classes: int, heads: tuple[str, ...]
                    ) -> tuple[dict[str, Any], bool]:
    """Given the source config folder and the checkpoint's heads, return the config.json to
    store and whether it had to be completed.

    A model type's stock config.json (e.g. bert-base-uncased's) says nothing about labels and
    would build a 2-label head; Detoxify needs one output per head. A config that names its
    labels must name the right number. Raises ``DetectorError`` otherwise.
    """
    path = config_dir / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DetectorError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DetectorError(f"{path} is not a JSON object")
    declared = len(raw["id2label"]) if isinstance(raw.get("id2label"), dict) \
        else raw.get("num_labels")
    if declared is None:
        raw["id2label"] = {str(i): head for i, head in enumerate(heads)}
        raw["label2id"] = {head: i for i, head in enumerate(heads)}
        return raw, True
    if declared != num_classes:
        raise DetectorError(f"{path} declares {declared} labels but the checkpoint has "
                            f"{num_classes} heads ({', '.join(heads)}); set num_labels to "
                            f"{num_classes} or remove it")
    return raw, False


def _install(staging: Path, dest_dir: Path) -> bool:
    """Move the finished ``staging`` folder to ``dest_dir`` (same filesystem, so a rename).

    An existing model is moved aside first and removed only once the new one is in place; if
    the second rename fails the old one is put back. Returns whether a model was replaced.
    """
    backup: Path | None = None
    if dest_dir.exists():
        backup = dest_dir.with_name(f".{dest_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(dest_dir, backup)
    try:
        os.rename(staging, dest_dir)
    except OSError:
        if backup is not None:
            os.rename(backup, dest_dir)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    _fsync_dir(dest_dir.parent)
    return backup is not None


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def import_detoxify(source: Path, dest_dir: Path | None = None, *, config_dir: Path,
                    onnx: bool = False, now: datetime | None = None) -> ImportReport:
    """Validate an upstream Detoxify checkpoint and install it as the engine's model.

    Given the checkpoint file (``{"config", "state_dict"}`` as Detoxify publishes it), the
    destination (default :func:`default_model_dir`) and the folder holding the Hugging Face
    ``config.json`` and tokenizer files of its model type, this copies them into a temporary
    folder beside ``dest_dir``, writes ``manifest.json``, loads the result once exactly as the
    engine will (every state_dict key must match), optionally exports ``model.int8.onnx``, and
    only then renames it into place. A failed import leaves the old model untouched.

    Returns an :class:`ImportReport`. Raises ``DetectorError`` saying what is wrong with the
    input (missing files, wrong config, unmatched keys), ``OSError`` if the destination cannot
    be written.
    """
    from detectors import detoxify_engine  # torch lives there; import it only when needed

    source, config_dir = Path(source), Path(config_dir)
    dest_dir = Path(dest_dir) if dest_dir is not None else default_model_dir()
    tokenizer_files = _check_inputs(source, config_dir)
    spec = detoxify_engine.read_checkpoint_spec(source)
    config, patched = _patched_config(config_dir, spec.num_classes, spec.heads)

    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.tmp-", dir=dest_dir.parent))
    try:
        hashes = {CHECKPOINT_FILE: _copy_hashing(source, staging / CHECKPOINT_FILE)}
        write_json_atomically(staging / CONFIG_FILE, config)
        hashes[CONFIG_FILE] = sha256_file(staging / CONFIG_FILE)
        for name in tokenizer_files:
            hashes[name] = _copy_hashing(config_dir / name, staging / name)
        manifest = {
            "format": MANIFEST_FORMAT,
            "engine": "detoxify",
            "source": source.name,
            "source_sha256": hashes[CHECKPOINT_FILE],
            "imported_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "heads": list(spec.heads),
            "labels": list(detoxify_engine.CONTRACT_LABELS_SCORED),
            "arch": dict(spec.arch),
            "config_patched": patched,
            "files": hashes,
        }
        write_json_atomically(staging / MANIFEST_FILE, manifest)
        # The validation IS the engine's own load: what passes here loads at run time.
        classifier = detoxify_engine.DetoxifyClassifier(staging, prefer_onnx=False)
        classifier.classify(["validation probe: thank you for fixing the streetlight"])
        notes: list[str] = []
        onnx_path: Path | None = None
        if onnx:
            detoxify_engine.export_onnx(staging)
            onnx_path = dest_dir / ONNX_FILE
        replaced = _install(staging, dest_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if patched:
        notes.append(f"{CONFIG_FILE} named no labels; completed with the checkpoint's "
                     f"{spec.num_classes} heads")
    report = ImportReport(dest_dir=dest_dir, source=source.name,
                          checkpoint_sha256=hashes[CHECKPOINT_FILE], heads=spec.heads,
                          files=tuple(sorted(hashes)), replaced=replaced, config_patched=patched,
                          onnx=onnx_path, notes=tuple(notes))
    _log.info("models.imported", dest=str(dest_dir), source=source.name,
              version=report.version, heads=list(spec.heads), replaced=replaced,
              onnx=onnx_path is not None)
    return report


# --------------------------------------------------------------------------------------------
# Fetch (network, explicit, never from tests or the daemon)
# --------------------------------------------------------------------------------------------

def fetch_detoxify(dest_dir: Path | None = None, variant: str = "original", *,
                   onnx: bool = False) -> ImportReport:
    """Download Detoxify's published checkpoint and its model type's config and tokenizer,
    then import them with :func:`import_detoxify`.

    Given the destination (default :func:`default_model_dir`) and the Detoxify variant
    ("original", "unbiased", ...), returns the import's report. The checkpoint's SHA-256 is
    checked against the prefix in its published file name. This is the only function in the
    product that downloads a model; it runs when a person asks for it.

    Raises ``DetectorError`` for an unknown variant or a failed download or import.
    """
    if variant not in DETOXIFY_URLS:
        raise DetectorError(f"unknown Detoxify variant {variant!r}; known: "
                            f"{', '.join(sorted(DETOXIFY_URLS))}")
    try:
        import torch.hub
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError as exc:
        raise DetectorError("fetching needs the detoxify extra: "
                            "pip install 'councillor-watcher[detoxify]'") from exc
    from detectors import detoxify_engine

    url = DETOXIFY_URLS[variant]
    with tempfile.TemporaryDirectory(prefix="watcher-fetch-") as tmp:
        work = Path(tmp)
        checkpoint = work / url.rsplit("/", 1)[1]
        match = torch.hub.HASH_REGEX.search(checkpoint.name)
        _log.info("models.fetch.checkpoint", url=url)
        try:
            torch.hub.download_url_to_file(url, str(checkpoint),
                                           hash_prefix=match.group(1) if match else None)
        except Exception as exc:  # urllib/HTTP errors and torch's hash mismatch (RuntimeError)
            raise DetectorError(f"could not download {url}: {exc}") from exc
        spec = detoxify_engine.read_checkpoint_spec(checkpoint)
        repo = str(spec.arch.get("model_type", ""))
        config_dir = work / "config"
        config_dir.mkdir()
        for name in (CONFIG_FILE, *TOKENIZER_FILES):
            try:
                got = hf_hub_download(repo_id=repo, filename=name)
            except EntryNotFoundError:
                continue  # each model type ships a different subset of tokenizer files
            except Exception as exc:
                raise DetectorError(f"could not download {name} of {repo}: {exc}") from exc
            shutil.copyfile(got, config_dir / name)
        return import_detoxify(checkpoint, dest_dir, config_dir=config_dir, onnx=onnx)


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstalledModel:
    """One model directory found under the models root, as its manifest describes it."""

    path: Path
    engine: str
    source: str
    version: str
    imported_at: str
    heads: tuple[str, ...]
    onnx: bool
    problem: str | None = None


def list_models(root: Path | None = None) -> list[InstalledModel]:
    """Given the models root (default :func:`models_root`), return every model folder in it
    that has a manifest (and any that has a broken one, with ``problem`` set), sorted by path.
    Reads manifests only; hashes are checked when the engine loads."""
    root = Path(root) if root is not None else models_root()
    if not root.is_dir():
        return []
    found: list[InstalledModel] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (path / MANIFEST_FILE).exists():
            continue
        try:
            m = read_manifest(path)
        except DetectorError as exc:
            found.append(InstalledModel(path, "?", "?", "?", "?", (), False, str(exc)))
            continue
        found.append(InstalledModel(
            path=path, engine=str(m.get("engine", "?")), source=str(m.get("source", "?")),
            version=str(m["files"].get(CHECKPOINT_FILE, "?"))[:12],
            imported_at=str(m.get("imported_at", "?")), heads=tuple(m.get("heads", ())),
            onnx=isinstance(m.get("onnx"), dict) and (path / ONNX_FILE).is_file()))
    return found
