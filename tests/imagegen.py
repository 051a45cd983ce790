"""Images the tests build themselves: the demo's structured pictures (so perceptual hashes
differ from one seed to another) with the rights metadata a test needs, in EXIF or XMP."""

from __future__ import annotations

import io

from PIL import Image

from watcher.demo import jpeg, picture

__all__ = ["jpeg", "picture", "xmp_packet", "resized"]


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
