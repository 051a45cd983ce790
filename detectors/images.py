"""The pure core of the copyright-image detector: read an image's rights metadata and perceptual
hash, and judge whether a councillor may be publishing someone else's copyright image.

Council protocol says members must not publish others' copyright images. An image (in the
member's own posts or in comments on their page) is flagged when

* its embedded rights metadata (EXIF, IPTC, XMP, PNG text) names a rights holder or creator who
  is not the member or the council,
* any of those fields, or its credit/source line, names a stock or news agency, or
* its perceptual hash matches an image in the council's register of images known to be
  licensed to others.

An image that matches the council's register of *cleared* images is never flagged.

Nothing here touches the network or the database: ``inspect_image`` takes bytes, ``judge`` takes
what ``inspect_image`` returned, the member's and council's names and the register.

Design notes:

* Only web image formats are opened (``_FORMATS``): Pillow would otherwise try two dozen
  exotic decoders on whatever a URL returned, and some (TGA) accept almost any bytes.
* The size check uses the header and our own ``max_pixels``, not the process-wide
  ``Image.MAX_IMAGE_PIXELS``, which another part of the process may have changed. Pillow still
  refuses outright anything over twice its own limit at open time; that is reported as a
  possible decompression bomb.
* Metadata is read from the header before any pixel is decoded, so an image too big to hash
  still has its rights fields. For PNG, text chunks after the pixel data only appear once the
  pixels are decoded, so they are read again afterwards.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import imagehash
from defusedxml import ElementTree as SafeET
from PIL import Image, ImageOps, IptcImagePlugin, UnidentifiedImageError

from detectors.base import Context
from platforms.base import Platform
from watcher import logs
from watcher.config import ImageDetectorConfig
from watcher.domain import Finding, Item, Severity
from watcher.errors import ImageError

log = logs.get(__name__)

# --------------------------------------------------------------------------------------------
# Agencies
# --------------------------------------------------------------------------------------------

# Names are matched as whole words on letters and digits only, case-insensitively, with an
# optional space between words ("GettyImages", "Getty Images"). Names of one or two letters
# written in capitals ("PA", "AP") are matched case-sensitively: "pa" is also "dad", and a
# lower-case "ap" is rarely a credit line.
NEWS_AGENCIES: tuple[str, ...] = (
    "PA",
    "PA Images",
    "PA Media",
    "PA Wire",
    "PA Archive",
    "PA Photos",
    "Press Association",
    "Reuters",
    "Thomson Reuters",
    "AP",
    "AP Photo",
    "AP Images",
    "Associated Press",
    "AFP",
    "Agence France-Presse",
    "EPA",
    "EPA-EFE",
    "European Pressphoto Agency",
    "Bloomberg",
    "dpa",
    "Xinhua",
    "Anadolu",
    "SWNS",
    "Cavendish Press",
    "Ross Parry",
    "Kennedy News",
    "Jam Press",
    "Mercury Press",
)

PICTURE_AGENCIES: tuple[str, ...] = (
    "Getty Images",
    "Getty",
    "WireImage",
    "FilmMagic",
    "iStock",
    "iStockphoto",
    "Shutterstock",
    "Shutterstock Editorial",
    "Rex Features",
    "Alamy",
    "Alamy Stock Photo",
    "Alamy Live News",
    "Adobe Stock",
    "Fotolia",
    "Dreamstime",
    "123RF",
    "Depositphotos",
    "Bigstock",
    "Stocksy",
    "Pond5",
    "Corbis",
    "Bettmann",
    "Bridgeman Images",
    "Science Photo Library",
    "Mary Evans Picture Library",
    "TopFoto",
    "Camera Press",
    "Mirrorpix",
    "eyevine",
    "Solo Syndication",
    "News Licensing",
    "picture alliance",
    "NurPhoto",
    "ZUMA Press",
    "ZUMA Wire",
    "SOPA Images",
    "Sipa",
    "Sipa USA",
    "Universal Images Group",
)

DEFAULT_AGENCIES: tuple[str, ...] = PICTURE_AGENCIES + NEWS_AGENCIES

_NEWS_KEYS = frozenset(name.casefold() for name in NEWS_AGENCIES)
_PICTURE_KEYS = frozenset(name.casefold() for name in PICTURE_AGENCIES)

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

REGISTER_KINDS = ("cleared", "third_party")
MAX_VALUE_CHARS = 300
HASH_BITS = 64

_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


@dataclass(frozen=True)
class RightsField:
    """One rights-bearing metadata field.

    ``source`` says where it was read ("EXIF Copyright", "IPTC Credit", "XMP dc:rights", ...),
    ``value`` is the cleaned text (whitespace collapsed, NULs stripped, at most 300 chars) and
    ``role`` is "holder" (copyright notice, rights, owner, licensor), "creator" (artist,
    by-line, dc:creator) or "credit" (credit line, source, supplier).
    """

    source: str
    value: str
    role: str


@dataclass(frozen=True)
class ImageFacts:
    """What ``inspect_image`` learnt about one image."""

    format: str
    width: int
    height: int
    sha256: str
    rights: tuple[RightsField, ...]
    phash: str | None
    skipped_hash: str | None = None


@dataclass(frozen=True)
class RegisteredImage:
    """An image in the council's register: ``cleared`` for use, or licensed to a ``third_party``.

    Raises ValueError for a ``phash`` that is not 16 hex digits or an unknown ``kind``.
    """

    id: int
    phash: str
    kind: str
    note: str = ""

    def __post_init__(self) -> None:
        if not _HEX16.fullmatch(self.phash or ""):
            raise ValueError(
                f"register image #{self.id}: phash {self.phash!r} is not 16 hex digits"
            )
        if self.kind not in REGISTER_KINDS:
            raise ValueError(
                f"register image #{self.id}: kind {self.kind!r} is not one of {REGISTER_KINDS}"
            )


@dataclass(frozen=True)
class RightsPolicy:
    """Whose names are the member's and council's own, which agencies to flag, how close two
    hashes must be to be the same image (Hamming distance of 64 bits, at or below)."""

    own_names: tuple[str, ...]
    agencies: tuple[str, ...] = DEFAULT_AGENCIES
    max_distance: int = 8


@dataclass(frozen=True)
class Verdict:
    """The judgement on one image: flagged or not, how sure (0..1), and why."""

    flagged: bool
    score: float
    reasons: tuple[str, ...]
    cleared_by: RegisteredImage | None = None


# --------------------------------------------------------------------------------------------
# Reading images
# --------------------------------------------------------------------------------------------

# Web image formats only. A JPEG carrying a multi-picture index opens through the JPEG plugin
# as format "MPO".
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
_FORMAT_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF"

# What Pillow raises on malformed input, besides its own subclasses of these. Plugins raise
# most of them on fuzzed input, and the AVIF decoder raises RuntimeError ("Failed to decode
# image"); none of them means a bug in this module.
_PILLOW_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    RuntimeError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    ZeroDivisionError,
    OverflowError,
    NotImplementedError,
    Image.DecompressionBombError,
)

# A JPEG is decoded at a reduced scale (libjpeg's 1/2, 1/4 or 1/8 IDCT) down to no less than
# this: phash works on 32x32 pixels, and a 40-megapixel photo would otherwise need 120 MB.
_DRAFT_SIZE = (512, 512)

_EXIF_COPYRIGHT = 0x8298
_EXIF_ORIENTATION = 0x0112
_EXIF_ARTIST = 0x013B
_EXIF_XP_AUTHOR = 0x9C9D
_TIFF_XMP = 0x02BC

# IPTC IIM record 2 datasets: number -> (source, role).
_IPTC_FIELDS = {
    116: ("IPTC Copyright Notice", "holder"),
    80: ("IPTC By-line", "creator"),
    110: ("IPTC Credit", "credit"),
    115: ("IPTC Source", "credit"),
}

# PNG's registered text keywords that name people ("Source" there is the camera, not a credit).
_PNG_TEXT_FIELDS = {
    "Copyright": ("PNG Copyright", "holder"),
    "Author": ("PNG Author", "creator"),
}


def inspect_image(
    data: bytes, *, max_pixels: int = 40_000_000, declared_type: str | None = None
) -> ImageFacts:
    """Given an image's bytes, return its format, size, SHA-256, rights metadata and
    perceptual hash.

    ``declared_type`` (the HTTP Content-Type or the URL's extension) is only used in error
    messages: the format detected from the bytes wins, so a PNG served as ``image/jpeg`` is
    read as a PNG. An image of more than ``max_pixels`` (by its header) keeps its rights
    fields but is not decoded: ``phash`` is None and ``skipped_hash`` says why.

    Raises ImageError (chaining the cause) for empty data, data that is not an image in a
    format we read (saying what it looks like), a possible decompression bomb, and a truncated
    or corrupt file.
    """
    data = bytes(data)
    said = f" (declared as {declared_type})" if declared_type else ""
    if not data:
        raise ImageError(f"image is empty: 0 bytes{said}")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        img = Image.open(io.BytesIO(data), formats=_open_formats())
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image refused as a possible decompression bomb{said}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(_not_an_image(data, said)) from exc
    except _PILLOW_ERRORS as exc:
        raise ImageError(f"image is corrupt{said}: cannot read its header: {exc}") from exc

    with img:
        fmt = img.format or "unknown"
        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageError(f"{fmt} image is corrupt{said}: its header says {width}x{height}")
        rights = _read_rights(img)
        pixels = width * height
        if pixels > max_pixels:
            return ImageFacts(
                format=fmt,
                width=width,
                height=height,
                sha256=sha256,
                rights=rights,
                phash=None,
                skipped_hash=f"{pixels:,} pixels is over the {max_pixels:,} limit",
            )
        try:
            phash = _phash(img)
        except Image.DecompressionBombError as exc:
            raise ImageError(
                f"{fmt} image refused as a possible decompression bomb{said}: {exc}"
            ) from exc
        except _PILLOW_ERRORS as exc:
            raise ImageError(f"{fmt} image is truncated or corrupt{said}: {exc}") from exc
        if fmt == "PNG":
            rights = _unique(rights + _read_rights(img))
    return ImageFacts(
        format=fmt,
        width=width,
        height=height,
        sha256=sha256,
        rights=rights,
        phash=phash,
    )


@lru_cache(maxsize=1)
def _open_formats() -> tuple[str, ...]:
    """The formats of ``_FORMATS`` this Pillow can open: Image.open raises KeyError for a
    format it has no plugin for (AVIF needs libavif)."""
    Image.init()
    return tuple(name for name in _FORMATS if name in Image.OPEN)


def _not_an_image(data: bytes, said: str) -> str:
    """Given bytes Pillow could not identify, return a message saying what they look like."""
    head = data[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = head[:64].lower()
    looks = ""
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        looks = "it looks like an HTML page, "
    elif lowered.startswith((b"<?xml", b"<svg")):
        looks = "it looks like XML or SVG, "
    elif lowered.startswith((b"{", b"[")):
        looks = "it looks like JSON, "
    elif head.startswith(b"%PDF"):
        looks = "it looks like a PDF, "
    text = head[:40].decode("utf-8", errors="replace")
    printable = sum(ch != "\ufffd" and (ch.isprintable() or ch in "\r\n\t") for ch in text)
    if text and printable >= 0.9 * len(text):
        start = f"starting {text!r}"
    else:
        start = f"starting with bytes {data[:16].hex(' ')}"
    return (
        f"not an image in a format we read ({_FORMAT_NAMES}){said}: {looks}{start}, "
        f"{len(data):,} bytes"
    )


def _phash(img: Image.Image) -> str:
    """Given an open image within the size limit, decode its first frame and return its
    perceptual hash as 16 hex digits. Raises what Pillow raises on corrupt data."""
    if img.format in ("JPEG", "MPO"):
        img.draft("RGB", _DRAFT_SIZE)
    img.load()
    frame: Image.Image = img
    try:
        # Hash what people see: a phone photo rotated by its EXIF tag and a copy with the
        # rotation baked in (as social networks serve it) must hash alike. Checked first
        # because exif_transpose copies the image even when there is nothing to do.
        if img.getexif().get(_EXIF_ORIENTATION, 1) in range(2, 9):
            frame = ImageOps.exif_transpose(img)
    except _PILLOW_ERRORS:
        frame = img
    if frame.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in frame.info:
        # Transparent areas read as white, as they show on a page; a bare convert("L") would
        # expose whatever colour happens to sit under alpha 0.
        rgba = frame.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        frame = flat.convert("RGB")
    elif frame.mode.startswith("I;16") or frame.mode in ("I", "F"):
        frame = _to_8_bit(frame)
    elif frame.mode not in ("RGB", "L"):
        frame = frame.convert("RGB")
    return str(imagehash.phash(frame))


def _to_8_bit(frame: Image.Image) -> Image.Image:
    """Given a 16-bit, 32-bit or float grey image, return it as 8-bit grey. A plain
    convert("L") clips at 255, so a 16-bit photo would hash as a white square."""
    if frame.mode.startswith("I;16"):
        return frame.convert("I").point(lambda v: v / 257).convert("L")
    low, high = frame.getextrema()
    if high <= low:
        return Image.new("L", frame.size)
    return frame.point(lambda v: (v - low) * 255 / (high - low)).convert("L")


def _read_rights(img: Image.Image) -> tuple[RightsField, ...]:
    """Given an open image, return the rights fields in its EXIF, IPTC, XMP and PNG text,
    without decoding pixels. A malformed block is skipped, never raised."""
    fields: list[RightsField] = []
    for reader in (_exif_rights, _iptc_rights, _xmp_rights, _png_text_rights):
        try:
            fields.extend(reader(img))
        except _PILLOW_ERRORS:
            continue
    return _unique(fields)


def _exif_mapping(img: Image.Image) -> Image.Exif | None:
    """Given an open image, return its EXIF without decoding pixels (Pillow's PNG getexif()
    decodes the whole image to look for a trailing eXIf chunk), or None."""
    if img.format == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return None
        exif = Image.Exif()
        exif.load(raw)
        return exif
    return img.getexif()


def _exif_rights(img: Image.Image) -> Iterator[RightsField]:
    exif = _exif_mapping(img)
    if not exif:
        return
    copyright_ = _exif_text(exif.get(_EXIF_COPYRIGHT))
    # EXIF: "photographer copyright NUL editor copyright" in one tag.
    for part in copyright_.split("\x00"):
        yield from _field("EXIF Copyright", part, "holder")
    yield from _field("EXIF Artist", _exif_text(exif.get(_EXIF_ARTIST)), "creator")
    yield from _field("EXIF XPAuthor", _xp_text(exif.get(_EXIF_XP_AUTHOR)), "creator")


def _exif_text(value: Any) -> str:
    """Given an EXIF ASCII value as Pillow returns it, return text. Pillow decodes ASCII tags
    as Latin-1, but most software (ExifTool among them) writes UTF-8 there: "Â©" is "©"."""
    if isinstance(value, bytes):
        return _decode(value)
    if not isinstance(value, str):
        return ""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _xp_text(value: Any) -> str:
    """Given a Windows XP* EXIF tag (UTF-16LE bytes, sometimes a tuple of ints), return text."""
    if isinstance(value, tuple) and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        value = bytes(value)
    if not isinstance(value, bytes):
        return ""
    return value.decode("utf-16-le", errors="replace")


def _iptc_rights(img: Image.Image) -> Iterator[RightsField]:
    if img.format not in ("JPEG", "MPO", "TIFF"):
        return
    iptc = IptcImagePlugin.getiptcinfo(img)  # type: ignore[arg-type]
    if not iptc:
        return
    for dataset, (source, role) in _IPTC_FIELDS.items():
        values = iptc.get((2, dataset))
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, bytes):
                yield from _field(source, _decode(value), role)


def _xmp_rights(img: Image.Image) -> Iterator[RightsField]:
    seen: set[bytes | str] = set()
    candidates: list[Any] = [img.info.get("xmp"), img.info.get("XML:com.adobe.xmp")]
    if img.format == "TIFF":
        candidates.append(getattr(img, "tag_v2", {}).get(_TIFF_XMP))
    for packet in candidates:
        if isinstance(packet, tuple):  # some TIFF writers store XMP as BYTE values
            packet = bytes(packet)
        if not isinstance(packet, (bytes, str)) or not packet or packet in seen:
            continue
        seen.add(packet)
        yield from read_xmp(packet)


def _png_text_rights(img: Image.Image) -> Iterator[RightsField]:
    if img.format != "PNG":
        return
    for keyword, (source, role) in _PNG_TEXT_FIELDS.items():
        value = img.info.get(keyword)
        if isinstance(value, bytes):
            value = _decode(value)
        if isinstance(value, str):
            yield from _field(source, value, role)


def _decode(raw: bytes) -> str:
    """Bytes from a metadata block, as UTF-8, or Latin-1 when they are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    """Given metadata text, return it with NULs and control characters removed, whitespace
    collapsed, at most ``MAX_VALUE_CHARS`` characters."""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1].rstrip() + "…"
    return text


def _field(source: str, text: str, role: str) -> Iterator[RightsField]:
    """Zero or one RightsField: none when the cleaned text is empty."""
    value = _clean(text)
    if value:
        yield RightsField(source=source, value=value, role=role)


def _unique(fields: Iterable[RightsField]) -> tuple[RightsField, ...]:
    """Fields in their first order, each once."""
    return tuple(dict.fromkeys(fields))


# --------------------------------------------------------------------------------------------
# XMP
# --------------------------------------------------------------------------------------------

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DC = "http://purl.org/dc/elements/1.1/"
_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"  # "xapRights" in older packets
_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"

# Simple, Alt or Seq/Bag properties: tag -> (source, role).
_XMP_SIMPLE = {
    f"{{{_DC}}}rights": ("XMP dc:rights", "holder"),
    f"{{{_DC}}}creator": ("XMP dc:creator", "creator"),
    f"{{{_PHOTOSHOP}}}Credit": ("XMP photoshop:Credit", "credit"),
    f"{{{_PHOTOSHOP}}}Source": ("XMP photoshop:Source", "credit"),
    f"{{{_XMP_RIGHTS}}}Owner": ("XMP xmpRights:Owner", "holder"),
}

# PLUS structures (a Seq of structs): tag -> (name field tag, source, role).
_XMP_STRUCTS = {
    f"{{{_PLUS}}}Licensor": (f"{{{_PLUS}}}LicensorName", "XMP plus:Licensor", "holder"),
    f"{{{_PLUS}}}CopyrightOwner": (
        f"{{{_PLUS}}}CopyrightOwnerName",
        "XMP plus:CopyrightOwner",
        "holder",
    ),
    f"{{{_PLUS}}}ImageCreator": (
        f"{{{_PLUS}}}ImageCreatorName",
        "XMP plus:ImageCreator",
        "creator",
    ),
    f"{{{_PLUS}}}ImageSupplier": (
        f"{{{_PLUS}}}ImageSupplierName",
        "XMP plus:ImageSupplier",
        "credit",
    ),
}

# JPEG APP1 holds at most 64 KB of XMP and Pillow caps PNG text at 1 MB: more is not XMP.
_MAX_XMP_BYTES = 4_000_000


def read_xmp(packet: bytes | str) -> tuple[RightsField, ...]:
    """Given an XMP packet (from an image, or a sidecar ``.xmp`` file), return its rights
    fields: dc:rights, dc:creator, photoshop:Credit and :Source, xmpRights:Owner, and the PLUS
    Licensor, CopyrightOwner, ImageCreator and ImageSupplier names.

    Parsed with defusedxml: a DTD, entity or external reference makes the packet unreadable.
    A malformed or hostile packet gives () and never raises. UTF-8, UTF-16 (with or without a
    byte-order mark) and Latin-1 are read.
    """
    try:
        text = _xmp_text(packet)
        if not text:
            return ()
        root = SafeET.fromstring(text, forbid_dtd=True)
        return _unique(_walk_xmp(root))
    except Exception:  # hostile input: expat, defusedxml and decoding errors alike
        return ()


def _xmp_text(packet: bytes | str) -> str:
    """Given an XMP packet, return it as text without padding, or "" when it is not XML."""
    if isinstance(packet, (bytes, bytearray, memoryview)):
        raw = bytes(packet)
        if len(raw) > _MAX_XMP_BYTES:
            return ""
        if raw.startswith((b"\xfe\xff", b"\xff\xfe")):
            text = raw.decode("utf-16")
        elif raw[:1] == b"\x00":
            text = raw.decode("utf-16-be", errors="replace")
        elif raw[1:2] == b"\x00":
            text = raw.decode("utf-16-le", errors="replace")
        else:
            text = _decode(raw)
    elif isinstance(packet, str):
        if len(packet) > _MAX_XMP_BYTES:
            return ""
        text = packet
    else:
        return ""
    # Packets are padded with whitespace (and sometimes NULs) so they can be edited in place.
    text = text.replace("\x00", "").strip().lstrip("\ufeff")
    start = text.find("<")
    if start < 0:
        return ""
    text = text[start:]
    # The text is already decoded: an encoding declaration would make expat decode it again.
    return re.sub(r"^<\?xml[^>]*\?>", "", text)


def _walk_xmp(root: Any) -> Iterator[RightsField]:
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if tag == f"{{{_RDF}}}Description":
            # Simple properties written as attributes: <rdf:Description photoshop:Credit="...">
            for name, value in element.attrib.items():
                if name in _XMP_SIMPLE:
                    source, role = _XMP_SIMPLE[name]
                    yield from _field(source, value, role)
        elif tag in _XMP_SIMPLE:
            source, role = _XMP_SIMPLE[tag]
            for value in _xmp_values(element):
                yield from _field(source, value, role)
        elif tag in _XMP_STRUCTS:
            name_tag, source, role = _XMP_STRUCTS[tag]
            for value in _struct_names(element, name_tag):
                yield from _field(source, value, role)


def _xmp_values(prop: Any) -> list[str]:
    """Given a property element, return its values: the x-default (else first) item of an
    rdf:Alt, every item of an rdf:Seq or rdf:Bag, or its own text."""
    if f"{{{_RDF}}}resource" in prop.attrib:  # a URI, not a name
        return []
    for container in prop:
        kind = container.tag
        if kind == f"{{{_RDF}}}Alt":
            items = [li for li in container if li.tag == f"{{{_RDF}}}li"]
            default = [li for li in items if li.get(_XML_LANG, "").lower() == "x-default"]
            chosen = (default or items)[:1]
            return [_li_text(li) for li in chosen]
        if kind in (f"{{{_RDF}}}Seq", f"{{{_RDF}}}Bag"):
            return [_li_text(li) for li in container if li.tag == f"{{{_RDF}}}li"]
    return [_li_text(prop)]


def _li_text(element: Any) -> str:
    """Given an rdf:li or a simple property, return its text, or its rdf:value when it carries
    qualifiers (rdf:parseType="Resource" with an rdf:value child, or an rdf:value attribute)."""
    text = (element.text or "").strip()
    if text:
        return text
    value = element.get(f"{{{_RDF}}}value")
    if value:
        return value
    for child in element:
        if child.tag == f"{{{_RDF}}}value":
            return child.text or ""
    return ""


def _struct_names(prop: Any, name_tag: str) -> list[str]:
    """Given a PLUS structure property, return the name field of each of its structs, whether
    written as elements (rdf:parseType="Resource", nested rdf:Description) or attributes."""
    names: list[str] = []
    for element in prop.iter():
        if element.tag == name_tag:
            names.extend(_xmp_values(element))
        value = element.attrib.get(name_tag)
        if value:
            names.append(value)
    return names


# --------------------------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------------------------


def hash_distance(a: str, b: str) -> int:
    """Given two perceptual hashes of 16 hex digits, return their Hamming distance (0..64).
    Raises ValueError when either is not 16 hex digits."""
    for value in (a, b):
        if not isinstance(value, str) or not _HEX16.fullmatch(value):
            raise ValueError(f"not a 64-bit hash of 16 hex digits: {value!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --------------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------------

AGENCY_SCORE = 0.95
CLOSE_MATCH_SCORE = 0.95
LOOSE_MATCH_SCORE = 0.75
HOLDER_SCORE = 0.7
# A match at or below this distance is as good as identical (re-compression, resizing).
_CLOSE_DISTANCE = 2
MAX_REASONS = 8


def judge(facts: ImageFacts, policy: RightsPolicy, register: Sequence[RegisteredImage]) -> Verdict:
    """Given what ``inspect_image`` found, the member's policy and the council's register,
    return whether the image looks like someone else's copyright image, and why.

    In order: a cleared register entry within ``max_distance`` clears the image whatever its
    metadata says; otherwise the closest third-party register match, any field naming an
    agency, and any holder or creator field naming someone other than the member or the
    council each flag it (credit and source lines flag only when they name an agency). Fields
    that say nothing about who owns the image ("All rights reserved", "Public domain",
    "Creative Commons ...", placeholders like "Photographer") do not flag.
    """
    matches = _register_matches(facts, policy, register)
    cleared = [(d, r) for d, r in matches if r.kind == "cleared"]
    if cleared:
        distance, entry = cleared[0]
        reason = (
            f"matches cleared image #{entry.id} in the register{_note(entry)}, "
            f"hash distance {distance} of {HASH_BITS}, so it is not flagged"
        )
        return Verdict(flagged=False, score=0.0, reasons=(reason,), cleared_by=entry)

    reasons: list[str] = []
    score = 0.0
    third = [(d, r) for d, r in matches if r.kind == "third_party"]
    if third:
        distance, entry = third[0]
        reasons.append(
            f"matches third-party image #{entry.id} in the register{_note(entry)}, "
            f"hash distance {distance} of {HASH_BITS}"
        )
        score = max(score, _match_score(distance, policy.max_distance))

    agency_hits: dict[tuple[str, str], list[RightsField]] = {}
    named_agency: set[RightsField] = set()
    for field in facts.rights:
        agency = find_agency(field.value, policy.agencies)
        if agency:
            agency_hits.setdefault((field.value, agency), []).append(field)
            named_agency.add(field)
    for (value, agency), fields in agency_hits.items():
        reasons.append(f'{_sources(fields)} "{value}": {agency} is {_agency_kind(agency)}')
        score = max(score, AGENCY_SCORE)

    holder_hits: dict[str, list[RightsField]] = {}
    for field in facts.rights:
        if field in named_agency or field.role not in ("holder", "creator"):
            continue
        if not is_third_party(field.value, policy.own_names):
            continue
        holder_hits.setdefault(field.value, []).append(field)
    for value, fields in holder_hits.items():
        reasons.append(f'{_sources(fields)} "{value}", who is not the member or the council')
        score = max(score, HOLDER_SCORE)

    if len(reasons) > MAX_REASONS:
        more = len(reasons) - (MAX_REASONS - 1)
        reasons = reasons[: MAX_REASONS - 1] + [f"and {more} more reasons"]
    return Verdict(flagged=bool(reasons), score=score, reasons=tuple(reasons))


def _register_matches(
    facts: ImageFacts, policy: RightsPolicy, register: Sequence[RegisteredImage]
) -> list[tuple[int, RegisteredImage]]:
    """Register entries within ``max_distance`` of the image's hash, closest first."""
    if facts.phash is None:
        return []
    found = [(hash_distance(facts.phash, entry.phash), entry) for entry in register]
    close = [(d, entry) for d, entry in found if d <= policy.max_distance]
    return sorted(close, key=lambda pair: (pair[0], pair[1].id))


def _match_score(distance: int, max_distance: int) -> float:
    """0.95 up to distance 2, falling linearly to 0.75 at ``max_distance``."""
    if distance <= _CLOSE_DISTANCE or max_distance <= _CLOSE_DISTANCE:
        return CLOSE_MATCH_SCORE
    share = (distance - _CLOSE_DISTANCE) / (max_distance - _CLOSE_DISTANCE)
    return round(CLOSE_MATCH_SCORE - share * (CLOSE_MATCH_SCORE - LOOSE_MATCH_SCORE), 3)


def _note(entry: RegisteredImage) -> str:
    note = _clean(entry.note)
    return f' ("{note}")' if note else ""


def _sources(fields: Sequence[RightsField]) -> str:
    """'EXIF Copyright says', or 'EXIF Copyright and XMP dc:rights say'."""
    names = list(dict.fromkeys(field.source for field in fields))
    if len(names) == 1:
        return f"{names[0]} says"
    return f"{', '.join(names[:-1])} and {names[-1]} say"


def _agency_kind(agency: str) -> str:
    key = agency.casefold()
    if key in _NEWS_KEYS:
        return "a news agency"
    if key in _PICTURE_KEYS:
        return "a picture agency"
    return "on the list of picture and news agencies"


# --- agency names ---------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")


def _tokens(text: str) -> list[str]:
    """Letters-and-digits runs of the text, NFKC-normalised ("Getty-Images" -> Getty, Images)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text))


@lru_cache(maxsize=32)
def _agency_patterns(agencies: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str], bool], ...]:
    """Given agency names, return (name, pattern, case_sensitive) for each."""
    patterns = []
    for name in agencies:
        words = _tokens(name)
        if not words:
            continue
        case_sensitive = len(name.strip()) <= 2 and name.strip().isupper()
        if not case_sensitive:
            words = [w.casefold() for w in words]
        body = " ?".join(re.escape(w) for w in words)
        patterns.append((name, re.compile(rf"(?:^| ){body}(?= |$)"), case_sensitive))
    return tuple(patterns)


def find_agency(text: str, agencies: Sequence[str] = DEFAULT_AGENCIES) -> str | None:
    """Given a metadata value, return the agency name it contains as whole words, or None.
    The first one in the text wins, and the longest at that place ("PA Wire" rather than
    "PA"). One- and two-letter capitalised names ("PA", "AP") match only in capitals:
    "PA Wire" and "AP Photo/Jane Doe" name agencies, "Paul", "Apple" and "pa" do not."""
    tokens = _tokens(text)
    if not tokens:
        return None
    exact = " ".join(tokens)
    folded = exact.casefold()
    best: tuple[int, int, str] | None = None
    for name, pattern, case_sensitive in _agency_patterns(tuple(agencies)):
        found = pattern.search(exact if case_sensitive else folded)
        if found:
            rank = (found.start(), -len(name), name)
            best = rank if best is None or rank < best else best
    return best[2] if best else None


# --- own and generic names ------------------------------------------------------------------

# Words that decorate a name without changing whose it is. Stripped from both sides before
# comparing, so "© 2024 Cllr Jane Smith. All rights reserved." is "jane smith".
_DECORATION = frozenset(
    "c copyright copyrighted copr cllr councillor councilor cr mr mrs ms miss dr photo photos "
    "photograph photography photographer image images picture pic credit courtesy of by the "
    "owner".split()
)
_RESERVED = re.compile(r"\b(?:all|some) rights reserved\b")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")
# A holder value with one of these names nobody: licences, dedications and placeholders.
_GENERIC = re.compile(
    r"\b(?:public domain|cc0|cc by|creative commons|copy freely|"
    r"no rights reserved|free to use|royalty free|copyright free|no copyright|"
    r"no known copyright)\b"
)
_PLACEHOLDERS = frozenset(
    {
        "",
        "unknown",
        "none",
        "n a",
        "na",
        "nil",
        "anonymous",
        "author",
        "artist",
        "creator",
        "name",
        "your name",
        "user",
        "admin",
        "administrator",
        "default",
        "camera owner",
        "notice",
        "holder",
        "rights",
        "source",
        "test",
    }
)
# Separators between several names in one field: "Jane Smith; John Doe", "A / B", "A & B".
_NAME_SPLIT = re.compile(r"[;|/&+]|\band\b", re.IGNORECASE)


def _core(text: str) -> str:
    """Given a name or notice, return its identifying words: lower case, without ©, (c),
    "Copyright", years, "All rights reserved", titles like "Cllr", or punctuation."""
    folded = " ".join(_tokens(text)).casefold()
    folded = _RESERVED.sub(" ", folded)
    words = [w for w in folded.split() if w not in _DECORATION and not _YEAR.match(w)]
    return " ".join(words)


def is_generic(text: str) -> bool:
    """Given a holder or creator value, return whether it names nobody: "All rights reserved",
    "Copyright", "Public domain", "CC0", "Creative Commons ...", "Unknown", "Photographer"."""
    folded = " ".join(_tokens(text)).casefold()
    if _GENERIC.search(folded):
        return True
    return _core(text) in _PLACEHOLDERS or folded in _PLACEHOLDERS


def _is_own(part: str, own_cores: Sequence[str]) -> bool:
    """Whether one name (of a field that may hold several) contains an own name as whole words,
    also read as "Surname, Forename"."""
    readings = [part]
    if part.count(",") == 1:
        surname, forename = part.split(",")
        readings.append(f"{forename} {surname}")
    for reading in readings:
        core = f" {_core(reading)} "
        if any(f" {own} " in core for own in own_cores):
            return True
    return False


def _only_own_names(text: str, own_cores: Sequence[str]) -> bool:
    """Whether the value is nothing but own names (and "and"s): "Smith and Jones Ltd" when
    that is the council's contractor name, "Jane Smith and Havering Council"."""
    core = f" {_core(text)} "
    found = False
    for own in sorted(own_cores, key=len, reverse=True):
        while f" {own} " in core:
            core = core.replace(f" {own} ", " ")
            found = True
    return found and not [word for word in core.split() if word != "and"]


def is_third_party(text: str, own_names: Sequence[str]) -> bool:
    """Given a holder or creator value and the member's and council's names, return whether it
    names someone else. A value may hold several names ("A; B", "A / B", "A and B"): it is
    the member's own only if each of them is an own name or says nothing (``is_generic``)."""
    if is_generic(text):
        return False
    own_cores = [core for core in (_core(name) for name in own_names) if core]
    if _only_own_names(text, own_cores):
        return False
    parts = [part for part in _NAME_SPLIT.split(text) if part.strip()]
    return any(not is_generic(part) and not _is_own(part, own_cores) for part in parts)


# ---------------------------------------------------------------------------------------------
# The detector: images in a batch's items, fetched through their platform's adapter.

#: At most this many images of one item are checked (a post may carry an album).
MAX_IMAGES_PER_ITEM = 10
#: Readings of recently seen image URLs kept, so that a repeated image is fetched once.
CACHE_SIZE = 256


class ImageDetector:
    """Flags ``copyright_image`` on items whose images are probably others' copyright work.

    Given the ``[detectors.images]`` settings, the platform adapters (to download through) and
    a function returning the council's image register, ``detect`` checks the images of the
    member's own posts first, then (if ``settings.comments``) of third parties' comments. An
    image that cannot be fetched or read is logged (``image.skipped``) and left out: the
    item's text is still checked by the text detector, and the poll goes on.
    """

    name = "images"
    version = "1"

    def __init__(self, settings: ImageDetectorConfig, platforms: Mapping[str, Platform],
                 register: Callable[[], Sequence[RegisteredImage]]) -> None:
        self.settings = settings
        self.platforms = platforms
        self.register = register
        self._cache: OrderedDict[str, ImageFacts] = OrderedDict()
        self._lock = threading.Lock()

    def detect(self, items: Sequence[Item], context: Context) -> list[Finding]:
        """Given a batch of one account's items, return a finding per item with a flagged
        image. Raises only if the register cannot be read (the store failed)."""
        with_images = [i for i in items if i.media and (i.is_own or self.settings.comments)]
        if not with_images:
            return []
        register = list(self.register())
        policy = RightsPolicy(own_names=(context.member_name, *self.settings.council_names),
                              agencies=self.settings.agencies or DEFAULT_AGENCIES,
                              max_distance=self.settings.max_distance)
        platform = self.platforms.get(context.account.platform)
        findings: list[Finding] = []
        # The member's own posts first: those are what the protocol is about.
        for item in sorted(with_images, key=lambda i: not i.is_own):
            photos = [m for m in item.media if m.kind == "photo"][:MAX_IMAGES_PER_ITEM]
            reasons: list[str] = []
            score = 0.0
            for n, media in enumerate(photos, 1):
                facts = self._facts(platform, context, item, media.url)
                if facts is None:
                    continue
                verdict = judge(facts, policy, register)
                if verdict.cleared_by is not None:
                    log.info("image.cleared", item=item.external_id,
                             register_id=verdict.cleared_by.id)
                if not verdict.flagged:
                    continue
                prefix = f"image {n} of {len(photos)}: " if len(photos) > 1 else ""
                reasons += [prefix + r for r in verdict.reasons]
                score = max(score, verdict.score)
            if reasons:
                findings.append(Finding(
                    item_id=item.external_id, label="copyright_image", score=score,
                    severity=Severity.NORMAL, reasons=tuple(reasons), detector=self.name,
                    detector_version=self.version))
        return findings

    def _facts(self, platform: Platform | None, context: Context, item: Item, url: str
               ) -> ImageFacts | None:
        """The reading of one image (from the cache if seen lately); None, logged, if it
        cannot be fetched or read."""
        with self._lock:
            if url in self._cache:
                self._cache.move_to_end(url)
                return self._cache[url]
        try:
            if platform is None:
                raise ImageError(f"no adapter for platform {context.account.platform!r}")
            got = platform.fetch_media(context.account, url, max_bytes=self.settings.max_bytes,
                                       timeout=self.settings.timeout)
            facts = inspect_image(got.data, max_pixels=self.settings.max_pixels,
                                  declared_type=got.content_type or None)
        except ImageError as exc:
            log.warning("image.skipped", account=context.account.key, item=item.external_id,
                        url=_short_url(url), error=logs.redact_text(str(exc))[:300])
            return None
        if facts.phash is None:
            log.info("image.hash_skipped", item=item.external_id, url=_short_url(url),
                     reason=facts.skipped_hash)
        with self._lock:
            self._cache[url] = facts
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return facts


def _short_url(url: str) -> str:
    # CDN URLs carry signatures in their query: keep logs short and free of them.
    return url.split("?", 1)[0][:160]
