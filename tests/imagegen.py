"""Images the tests build themselves: structured pictures (so perceptual hashes differ from
one seed to another) with the rights metadata a test needs, in EXIF or XMP."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def picture(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A picture of coloured shapes on a gradient, the same for the same seed."""
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    w, h = size
    for y in range(h):  # a gradient, so re-compression has something to smear
        draw.line([(0, y), (w, y)], fill=(y * 255 // h, rng.randrange(60, 90), 120))
    for _ in range(14):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(30, w // 2), y0 + rng.randrange(30, h // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return img


def jpeg(img: Image.Image, *, quality: int = 90, copyright: str = "", artist: str = "",
         xmp: str = "") -> bytes:
    """The picture as JPEG bytes, with EXIF Copyright / Artist and an XMP packet if given."""
    exif = Image.Exif()
    if copyright:
        exif[0x8298] = copyright
    if artist:
        exif[0x013B] = artist
    out = io.BytesIO()
    kwargs: dict[str, object] = {"quality": quality, "exif": exif}
    if xmp:
        kwargs["xmp"] = xmp.encode("utf-8")
    img.save(out, "JPEG", **kwargs)
    return out.getvalue()


def xmp_packet(*, credit: str = "", rights: str = "", creator: str = "") -> str:
    """An XMP packet as Adobe tools write it, with photoshop:Credit, dc:rights, dc:creator."""
    fields = []
    if credit:
        fields.append(f"<photoshop:Credit>{credit}</photoshop:Credit>")
    if rights:
        fields.append(f'<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{rights}</rdf:li>'
                      "</rdf:Alt></dc:rights>")
    if creator:
        fields.append(f"<dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">'
            + "".join(fields) + "</rdf:Description></rdf:RDF></x:xmpmeta>"
            '<?xpacket end="w"?>')


def resized(data: bytes, scale: float = 0.6, quality: int = 60) -> bytes:
    """A copy of an image scaled and re-compressed, its metadata dropped (as a re-post is)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((int(img.width * scale), int(img.height * scale)), Image.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()
