"""The council's image register: images it has cleared, and images it knows are licensed to
others (``watcher images add --cleared|--third-party FILE_OR_URL``).

Only each image's perceptual hash, SHA-256, size and where it came from are stored, never the
image: the register is for matching, and the council keeps its picture library where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from detectors.images import RegisteredImage, hash_distance, inspect_image
from platforms._http import counting_session, download
from watcher import logs
from watcher.errors import ImageError
from watcher.store import Store, record_action
from watcher.store.models import ImageRegisterRow

log = logs.get(__name__)

KINDS = ("cleared", "third_party")
#: What ``images add`` reads at most from one file or URL.
MAX_BYTES = 50_000_000
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Added:
    """The outcome of one ``add``: the entry, whether it was new, and the closest entry of the
    other kind (id, distance) when one is near enough to matter."""

    entry: RegisteredImage
    new: bool
    conflict: tuple[int, int] | None = None


def read_source(source: str, *, timeout: float = 30.0) -> bytes:
    """Given a file path or an http(s) URL, return the image's bytes.

    Raises ImageError if the file cannot be read, the URL cannot be fetched, or it is larger
    than MAX_BYTES.
    """
    if source.lower().startswith(("http://", "https://")):
        with counting_session(timeout) as session:
            return download(session, source, max_bytes=MAX_BYTES, timeout=timeout).data
    if "://" in source:
        raise ImageError(f"{source[:80]}: only files and http(s) URLs can be added")
    path = Path(source)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImageError(f"{path}: larger than {MAX_BYTES:,} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def load(store: Store) -> list[RegisteredImage]:
    """Return every register entry, oldest first."""
    with store.session() as s:
        return [_entry(r) for r in s.scalars(select(ImageRegisterRow).order_by(
            ImageRegisterRow.id))]


def add(store: Store, data: bytes, *, kind: str, source: str, note: str = "",
        actor: str = "cli", max_distance: int = 8) -> Added:
    """Given an image's bytes, register it as ``kind`` ("cleared" or "third_party").

    Adding an image already registered as the same kind changes nothing (``new`` False).
    Raises ImageError if it is not a readable image, is too large to hash, or is already
    registered as the other kind (remove that entry first).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    facts = inspect_image(data, max_pixels=MAX_PIXELS)
    if facts.phash is None:
        raise ImageError(f"{source}: cannot be registered: {facts.skipped_hash}")
    with store.session() as s:
        same = s.scalar(select(ImageRegisterRow).where(ImageRegisterRow.sha256 == facts.sha256))
        if same is not None:
            if same.kind != kind:
                raise ImageError(f"{source} is already registered as {same.kind} (entry "
                                 f"#{same.id}): remove it first with 'watcher images remove "
                                 f"{same.id}'")
            return Added(entry=_entry(same), new=False)
        others = [r for r in s.scalars(select(ImageRegisterRow).where(
            ImageRegisterRow.kind != kind))]
        row = ImageRegisterRow(kind=kind, phash=facts.phash, sha256=facts.sha256,
                               source=source[:2000], note=note, width=facts.width,
                               height=facts.height, added_at=store.clock(), added_by=actor)
        s.add(row)
        s.flush()
        record_action(s, row.added_at, "image.registered", actor=actor, register_id=row.id,
                      kind=kind, sha256=facts.sha256, phash=facts.phash)
        conflict = min(((o.id, hash_distance(o.phash, facts.phash)) for o in others),
                       key=lambda t: t[1], default=None)
        entry = _entry(row)
    log.info("image.registered", register_id=entry.id, kind=kind, phash=entry.phash)
    near = conflict if conflict is not None and conflict[1] <= max_distance else None
    return Added(entry=entry, new=True, conflict=near)


def remove(store: Store, entry_id: int, actor: str = "cli") -> RegisteredImage:
    """Remove one entry by id and return it. Raises ImageError if there is none."""
    with store.session() as s:
        row = s.get(ImageRegisterRow, entry_id)
        if row is None:
            raise ImageError(f"no image register entry #{entry_id} ('watcher images list' "
                             "shows them)")
        entry = _entry(row)
        s.delete(row)
        record_action(s, store.clock(), "image.unregistered", actor=actor,
                      register_id=entry_id, kind=entry.kind, phash=entry.phash)
    return entry


def _entry(row: ImageRegisterRow) -> RegisteredImage:
    note = row.note or Path(row.source.split("?", 1)[0]).name or row.source
    return RegisteredImage(id=row.id, phash=row.phash, kind=row.kind, note=note)


def describe(entries: Sequence[RegisteredImage]) -> str:
    """A table of entries for the terminal."""
    lines = [f"{'id':>4}  {'kind':11}  {'phash':16}  note"]
    lines += [f"{e.id:>4}  {e.kind:11}  {e.phash:16}  {e.note}" for e in entries]
    return "\n".join(lines)
