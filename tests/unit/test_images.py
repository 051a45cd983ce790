"""The copyright-image detector's pure core: reading rights metadata and hashes from real image
bytes (made with Pillow here, or ExifTool's own sample files), and judging them.

No mocks: every image is real bytes, every XMP packet is parsed by defusedxml.
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, PngImagePlugin

from detectors.images import (
    DEFAULT_AGENCIES,
    ImageFacts,
    RegisteredImage,
    RightsField,
    RightsPolicy,
    Verdict,
    find_agency,
    hash_distance,
    inspect_image,
    judge,
    read_xmp,
)
from watcher.errors import ImageError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"

POLICY = RightsPolicy(
    own_names=(
        "Cllr Jane Smith",
        "Havering Council",
        "London Borough of Havering",
        "Smith and Jones Ltd",  # the council's photographers, say
    )
)

# --------------------------------------------------------------------------------------------
# Building images
# --------------------------------------------------------------------------------------------


def picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A structured test picture: a gradient and random shapes from a seeded generator. Flat
    colours will not do: every flat image has the same perceptual hash."""
    rng = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    a = [rng.randrange(256) for _ in range(3)]
    b = [rng.randrange(256) for _ in range(3)]
    for x in range(width):
        t = x / (width - 1)
        draw.line(
            [(x, 0), (x, height)], fill=tuple(int(a[i] + (b[i] - a[i]) * t) for i in range(3))
        )
    for _ in range(14):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = x0 + rng.randrange(width // 16 + 1, width // 2 + 2)
        y1 = y0 + rng.randrange(height // 16 + 1, height // 2 + 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=fill)
    return img


def jpeg(img: Image.Image, quality: int = 90, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **params)
    return buf.getvalue()


def png(img: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **params)
    return buf.getvalue()


def exif(**tags: str | bytes) -> Image.Exif:
    """EXIF with Copyright, Artist given by name. Non-ASCII text is passed as UTF-8 bytes, as
    ExifTool writes it (Pillow would write a str with "?" for each non-ASCII character)."""
    numbers = {"Copyright": 0x8298, "Artist": 0x013B}
    out = Image.Exif()
    for name, value in tags.items():
        out[numbers[name]] = value.encode("utf-8") if isinstance(value, str) else value
    return out


def xmp_packet(body: str, *, namespaces: str = "") -> bytes:
    """An XMP packet with one rdf:Description holding ``body``."""
    return f"""<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/'>
 <rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
  <rdf:Description rdf:about=''
    xmlns:dc='http://purl.org/dc/elements/1.1/'
    xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'
    xmlns:xmpRights='http://ns.adobe.com/xap/1.0/rights/'
    xmlns:plus='http://ns.useplus.org/ldf/xmp/1.0/' {namespaces}>
{body}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>""".encode()


def with_iptc(jpeg_bytes: bytes, datasets: list[tuple[int, bytes]]) -> bytes:
    """Insert an APP13 "Photoshop 3.0" segment holding an IPTC-IIM block (8BIM resource
    0x0404) with the given record-2 datasets, right after the JPEG's SOI marker."""
    iptc = b"\x1c\x02\x00\x00\x02\x00\x04"  # 2:00 record version 4
    for number, value in datasets:
        iptc += b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) % 2:
        resource += b"\x00"
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg_bytes[:2] == b"\xff\xd8"
    return jpeg_bytes[:2] + segment + jpeg_bytes[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int, chunks: Sequence[bytes] = ()) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 1-bit grey pixels but whose pixel data
    is a few bytes: it can be read, but decoding it fails. So reading it without an error
    proves the pixels were never decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + b"".join(chunks)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def rights(facts: ImageFacts) -> set[tuple[str, str, str]]:
    return {(f.source, f.value, f.role) for f in facts.rights}


# --------------------------------------------------------------------------------------------
# Reading rights metadata from images
# --------------------------------------------------------------------------------------------


def test_exif_copyright_naming_getty_is_flagged_as_agency() -> None:
    data = jpeg(picture(1), exif=exif(Copyright="© Getty Images"))

    facts = inspect_image(data, declared_type="image/jpeg")

    assert facts.format == "JPEG"
    assert (facts.width, facts.height) == (320, 240)
    assert facts.rights == (RightsField("EXIF Copyright", "© Getty Images", "holder"),)
    assert facts.phash is not None and len(facts.phash) == 16
    verdict = judge(facts, POLICY, [])
    assert verdict.flagged
    assert verdict.score == pytest.approx(0.95)
    assert verdict.reasons == (
        'EXIF Copyright says "© Getty Images": Getty Images is a picture agency',
    )


def test_exif_artist_and_xp_author_are_creators() -> None:
    tags = exif(Artist="Ansel Adams")
    tags[0x9C9D] = "Zoë Doe".encode("utf-16-le") + b"\x00\x00"

    facts = inspect_image(jpeg(picture(2), exif=tags))

    assert rights(facts) == {
        ("EXIF Artist", "Ansel Adams", "creator"),
        ("EXIF XPAuthor", "Zoë Doe", "creator"),
    }


def test_values_are_cleaned_nuls_stripped_whitespace_collapsed_and_capped() -> None:
    tags = exif(Artist="  Jane\x00 \n\t Smith \x00\x00", Copyright="© " + "Doe " * 400)

    facts = inspect_image(jpeg(picture(3), exif=tags))

    values = {f.source: f.value for f in facts.rights}
    assert values["EXIF Artist"] == "Jane Smith"
    assert len(values["EXIF Copyright"]) <= 300
    assert values["EXIF Copyright"].startswith("© Doe Doe")


def test_exif_copyright_photographer_and_editor_parts_are_separate() -> None:
    # EXIF 2.3: "photographer copyright NUL editor copyright" in the one tag.
    facts = inspect_image(jpeg(picture(4), exif=exif(Copyright=b"Jane Smith\x00Reuters\x00")))

    assert rights(facts) == {
        ("EXIF Copyright", "Jane Smith", "holder"),
        ("EXIF Copyright", "Reuters", "holder"),
    }


def test_xmp_credit_in_jpeg_names_news_agency() -> None:
    packet = xmp_packet("<photoshop:Credit>Reuters/John Smith</photoshop:Credit>")

    facts = inspect_image(jpeg(picture(5), xmp=packet))

    assert facts.rights == (RightsField("XMP photoshop:Credit", "Reuters/John Smith", "credit"),)
    verdict = judge(facts, POLICY, [])
    assert verdict.flagged
    assert verdict.score == pytest.approx(0.95)
    assert verdict.reasons == (
        'XMP photoshop:Credit says "Reuters/John Smith": Reuters is a news agency',
    )


def test_xmp_in_png_itxt_chunk_and_png_text_keywords() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt(
        "XML:com.adobe.xmp",
        xmp_packet("<photoshop:Credit>AP Photo/Jane Doe</photoshop:Credit>").decode(),
    )
    info.add_text("Copyright", "(c) 2023 Alamy Ltd")
    info.add_text("Author", "John Doe")

    facts = inspect_image(png(picture(6), pnginfo=info))

    assert facts.format == "PNG"
    assert rights(facts) == {
        ("XMP photoshop:Credit", "AP Photo/Jane Doe", "credit"),
        ("PNG Copyright", "(c) 2023 Alamy Ltd", "holder"),
        ("PNG Author", "John Doe", "creator"),
    }
    verdict = judge(facts, POLICY, [])
    assert verdict.flagged
    assert 'XMP photoshop:Credit says "AP Photo/Jane Doe": AP Photo is a news agency' in (
        verdict.reasons
    )
    assert 'PNG Copyright says "(c) 2023 Alamy Ltd": Alamy is a picture agency' in verdict.reasons
    assert 'PNG Author says "John Doe", who is not the member or the council' in verdict.reasons


def test_png_text_after_the_pixel_data_is_read_too() -> None:
    # Pillow writes text chunks before IDAT; other tools may put them after it, where Pillow
    # only finds them once the pixels are decoded.
    data = png(picture(7))
    end = data.rindex(b"IEND") - 4
    trailing = png_chunk(b"tEXt", b"Copyright\x00Shutterstock")
    data = data[:end] + trailing + data[end:]

    facts = inspect_image(data)

    assert ("PNG Copyright", "Shutterstock", "holder") in rights(facts)


def test_xmp_in_webp() -> None:
    buf = io.BytesIO()
    packet = xmp_packet(
        "<dc:rights><rdf:Alt><rdf:li xml:lang='x-default'>© Dreamstime.com"
        "</rdf:li></rdf:Alt></dc:rights>"
    )
    picture(8).save(buf, "WEBP", xmp=packet)

    facts = inspect_image(buf.getvalue())

    assert facts.format == "WEBP"
    assert rights(facts) == {("XMP dc:rights", "© Dreamstime.com", "holder")}
    assert judge(facts, POLICY, []).reasons == (
        'XMP dc:rights says "© Dreamstime.com": Dreamstime is a picture agency',
    )


def test_iptc_credit_written_by_hand_names_pa_wire() -> None:
    data = with_iptc(
        jpeg(picture(9)),
        [(110, b"PA Wire"), (115, b"PA Media"), (80, "Zoë Doe".encode()), (116, b"\xa9 Z Doe")],
    )

    facts = inspect_image(data)

    assert rights(facts) == {
        ("IPTC Credit", "PA Wire", "credit"),
        ("IPTC Source", "PA Media", "credit"),
        ("IPTC By-line", "Zoë Doe", "creator"),
        ("IPTC Copyright Notice", "© Z Doe", "holder"),  # Latin-1 fallback
    }
    verdict = judge(facts, POLICY, [])
    assert verdict.flagged and verdict.score == pytest.approx(0.95)
    assert 'IPTC Credit says "PA Wire": PA Wire is a news agency' in verdict.reasons


def test_members_own_photo_is_not_flagged() -> None:
    tags = exif(Artist="Cllr Jane Smith", Copyright="© 2024 Jane Smith. All rights reserved.")
    data = with_iptc(jpeg(picture(10), exif=tags), [(116, b"Copyright London Borough of Havering")])

    facts = inspect_image(data)

    assert len(facts.rights) == 3
    assert judge(facts, POLICY, []) == Verdict(flagged=False, score=0.0, reasons=())


@pytest.mark.parametrize(
    "holder",
    [
        "Jane Smith",
        "JANE SMITH",
        "Councillor Jane Smith",
        "(c) Cllr. Jane Smith 2019-2024",
        "Copyright 2023 Havering Council",
        "© The London Borough of Havering. All Rights Reserved.",
        "Smith, Jane",
        "Jane Smith / Havering Council",
        "Havering Council; All rights reserved",
        "Jane Smith and Havering Council",
        "Smith and Jones Ltd",
    ],
)
def test_own_names_tolerate_titles_symbols_years_case_and_punctuation(holder: str) -> None:
    facts = _facts(RightsField("EXIF Copyright", holder, "holder"))
    assert not judge(facts, POLICY, []).flagged


@pytest.mark.parametrize(
    "holder",
    [
        "All rights reserved",
        "copy freely",
        "",
        "Copyright",
        "©",
        "Public domain",
        "CC0",
        "Creative Commons Attribution 4.0",
        "CC BY-SA 4.0",
        "Photographer",
        "Unknown",
    ],
)
def test_generic_holders_name_nobody(holder: str) -> None:
    facts = _facts(RightsField("XMP dc:rights", holder, "holder"))
    assert not judge(facts, RightsPolicy(own_names=()), []).flagged


@pytest.mark.parametrize(
    "holder",
    ["© 2024 John Doe Photography", "Jane Smithson", "Jane Smith and John Doe", "Doe, John"],
)
def test_someone_else_as_holder_is_flagged(holder: str) -> None:
    facts = _facts(RightsField("XMP dc:rights", holder, "holder"))

    verdict = judge(facts, POLICY, [])

    assert verdict.flagged
    assert verdict.score == pytest.approx(0.7)
    assert verdict.reasons == (
        f'XMP dc:rights says "{holder}", who is not the member or the council',
    )


def test_credit_and_source_that_name_no_agency_do_not_flag() -> None:
    facts = _facts(
        RightsField("IPTC Credit", "My Credit", "credit"),
        RightsField("IPTC Source", "I'm the source", "credit"),
        RightsField("IPTC By-line", "Jane Smith", "creator"),
    )
    assert judge(facts, POLICY, []) == Verdict(flagged=False, score=0.0, reasons=())


def test_same_value_in_several_fields_gives_one_reason_naming_them_all() -> None:
    facts = _facts(
        RightsField("EXIF Copyright", "© John Doe", "holder"),
        RightsField("IPTC Copyright Notice", "© John Doe", "holder"),
        RightsField("XMP dc:rights", "© John Doe", "holder"),
    )
    assert judge(facts, POLICY, []).reasons == (
        'EXIF Copyright, IPTC Copyright Notice and XMP dc:rights say "© John Doe", '
        "who is not the member or the council",
    )


# --------------------------------------------------------------------------------------------
# Agencies
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "agency"),
    [
        ("PA", "PA"),
        ("Photo: PA", "PA"),
        ("PA Wire", "PA Wire"),
        ("PA Wire/PA Images", "PA Wire"),
        ("Jane Doe/PA", "PA"),
        ("AP Photo/Jane Doe", "AP Photo"),
        ("(AP)", "AP"),
        ("Associated Press", "Associated Press"),
        ("Reuters/John Smith", "Reuters"),
        ("REUTERS", "Reuters"),
        ("© Getty Images", "Getty Images"),
        ("GettyImages", "Getty Images"),
        ("getty-images", "Getty Images"),
        ("iStock / Getty Images Plus", "iStock"),
        ("Photo: Getty Images/iStockphoto", "Getty Images"),
        ("Alamy Live News", "Alamy Live News"),
        ("Alamy Stock Photo", "Alamy Stock Photo"),
        ("AFP via Getty Images", "AFP"),
        ("EPA-EFE/Andy Rain", "EPA-EFE"),
        ("123RF.com", "123RF"),
        ("Paul Smith", None),
        ("PAul", None),
        ("Pathway Trust", None),
        ("APple", None),
        ("Apple", None),
        ("Map of PAth", None),
        ("pa", None),
        ("Papa", None),
        ("Happy", None),
        ("Gettysburg", None),
        ("My Credit", None),
        ("", None),
    ],
)
def test_agency_names_match_only_as_whole_words(text: str, agency: str | None) -> None:
    assert find_agency(text) == agency


def test_agency_named_by_any_role_flags_and_paul_is_not_pa() -> None:
    facts = _facts(
        RightsField("EXIF Artist", "Paul Smith", "creator"),
        RightsField("XMP photoshop:Source", "PA Wire", "credit"),
    )
    own = RightsPolicy(own_names=("Paul Smith",))

    verdict = judge(facts, own, [])

    assert verdict.flagged
    assert verdict.reasons == ('XMP photoshop:Source says "PA Wire": PA Wire is a news agency',)


def test_default_agencies_hold_the_big_names() -> None:
    for name in (
        "Getty Images",
        "Shutterstock",
        "Alamy",
        "PA",
        "Press Association",
        "Reuters",
        "AP",
        "Associated Press",
        "iStock",
        "Adobe Stock",
        "AFP",
        "Dreamstime",
        "123RF",
        "Depositphotos",
        "EPA",
        "Bloomberg",
        "SWNS",
        "Rex Features",
        "Camera Press",
        "Mirrorpix",
        "Alamy Live News",
        "Shutterstock Editorial",
        "PA Media",
        "PA Images",
        "PA Wire",
    ):
        assert name in DEFAULT_AGENCIES


def test_policy_can_name_its_own_agencies() -> None:
    facts = _facts(RightsField("IPTC Credit", "Havering Camera Club", "credit"))
    policy = RightsPolicy(own_names=(), agencies=("Havering Camera Club",))

    verdict = judge(facts, policy, [])

    assert verdict.reasons == (
        'IPTC Credit says "Havering Camera Club": Havering Camera Club is on the list of '
        "picture and news agencies",
    )


# --------------------------------------------------------------------------------------------
# The register
# --------------------------------------------------------------------------------------------


def test_resized_recompressed_copy_matches_register_and_unrelated_image_does_not() -> None:
    original = picture(11, size=(640, 480))
    licensed = inspect_image(jpeg(original, quality=92))
    copy = original.resize((384, 288), Image.Resampling.BILINEAR)  # 60%
    posted = inspect_image(jpeg(copy, quality=60))
    unrelated = inspect_image(jpeg(picture(12, size=(640, 480))))
    assert licensed.phash and posted.phash and unrelated.phash

    assert hash_distance(licensed.phash, posted.phash) <= 4
    assert hash_distance(licensed.phash, unrelated.phash) > 16

    register = [RegisteredImage(3, licensed.phash, "third_party", "Getty leaflet photo")]
    verdict = judge(posted, POLICY, register)
    distance = hash_distance(licensed.phash, posted.phash)
    assert verdict.flagged
    assert verdict.score == pytest.approx(0.95)
    assert verdict.reasons == (
        f'matches third-party image #3 in the register ("Getty leaflet photo"), '
        f"hash distance {distance} of 64",
    )
    assert not judge(unrelated, POLICY, register).flagged


def test_large_jpeg_decoded_at_reduced_scale_still_matches_its_small_copies() -> None:
    # JPEGs are decoded with libjpeg's reduced-size IDCT (draft): the hash must not depend on
    # whether that happened.
    original = picture(31, size=(2400, 1800))
    licensed = inspect_image(jpeg(original, quality=92))
    thumbnail = inspect_image(jpeg(original.resize((320, 240), Image.Resampling.LANCZOS), 60))
    assert licensed.phash and thumbnail.phash
    assert (licensed.width, licensed.height) == (2400, 1800)  # the real size, not the draft's
    assert hash_distance(licensed.phash, thumbnail.phash) <= 4


def test_closest_third_party_entry_is_named_and_looser_matches_score_lower() -> None:
    facts = _facts(phash="0000000000000000")
    register = [
        RegisteredImage(1, "000000000000003f", "third_party", "far"),  # distance 6
        RegisteredImage(2, "0000000000000007", "third_party", "near"),  # distance 3
        RegisteredImage(3, "ffffffffffffffff", "third_party", "unrelated"),
    ]

    verdict = judge(facts, POLICY, register)

    assert verdict.flagged
    assert verdict.reasons == (
        'matches third-party image #2 in the register ("near"), hash distance 3 of 64',
    )
    assert 0.75 <= verdict.score < 0.95
    loose = judge(facts, POLICY, register[:1])
    assert 0.75 <= loose.score < verdict.score
    assert not judge(facts, RightsPolicy(own_names=(), max_distance=2), register).flagged


def test_cleared_register_image_is_never_flagged_even_with_agency_credit() -> None:
    img = picture(13)
    data = jpeg(
        img,
        exif=exif(Copyright="© Getty Images", Artist="John Doe"),
        xmp=xmp_packet("<photoshop:Credit>Reuters</photoshop:Credit>"),
    )
    facts = inspect_image(data)
    assert facts.phash
    cleared = RegisteredImage(5, facts.phash, "cleared", "Getty image licensed for the leaflet")
    third = RegisteredImage(6, facts.phash, "third_party", "same picture, other licence")

    verdict = judge(facts, POLICY, [third, cleared])

    assert not verdict.flagged
    assert verdict.score == 0.0
    assert verdict.cleared_by == cleared
    assert verdict.reasons == (
        'matches cleared image #5 in the register ("Getty image licensed for the leaflet"), '
        "hash distance 0 of 64, so it is not flagged",
    )
    assert judge(facts, POLICY, [third]).flagged


def test_no_fields_and_no_match_is_not_flagged() -> None:
    facts = inspect_image(png(picture(14)))
    register = [
        RegisteredImage(1, "0" * 16, "third_party"),
        RegisteredImage(2, "f" * 16, "cleared"),
    ]
    assert facts.rights == ()
    assert judge(facts, POLICY, register) == Verdict(flagged=False, score=0.0, reasons=())


def test_register_entries_are_validated() -> None:
    with pytest.raises(ValueError, match="16 hex"):
        RegisteredImage(1, "xyz", "cleared")
    with pytest.raises(ValueError, match="kind"):
        RegisteredImage(1, "0" * 16, "licensed")


def test_hash_distance() -> None:
    assert hash_distance("0000000000000000", "0000000000000000") == 0
    assert hash_distance("0000000000000000", "ffffffffffffffff") == 64
    assert hash_distance("FFFF000000000000", "ffff000000000001") == 1
    with pytest.raises(ValueError):
        hash_distance("0000", "0000000000000000")
    with pytest.raises(ValueError):
        hash_distance("000000000000000g", "0000000000000000")


def test_exif_rotated_photo_hashes_like_its_baked_copy() -> None:
    img = picture(15)
    tags = Image.Exif()
    tags[0x0112] = 6  # rotate 90 degrees clockwise to display
    tagged = inspect_image(jpeg(img, exif=tags))
    baked = inspect_image(jpeg(img.transpose(Image.Transpose.ROTATE_270)))

    assert (tagged.width, tagged.height) == (320, 240)  # the stored size
    assert tagged.phash and baked.phash
    assert hash_distance(tagged.phash, baked.phash) <= 4


def test_animated_gif_hashes_its_first_frame() -> None:
    frames = [picture(16).convert("P"), picture(17).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    first = io.BytesIO()
    frames[0].save(first, "GIF")

    animated = inspect_image(buf.getvalue())
    still = inspect_image(first.getvalue())

    assert animated.format == "GIF"
    assert animated.phash and still.phash
    assert hash_distance(animated.phash, still.phash) <= 2


def test_sixteen_bit_png_hashes_like_its_eight_bit_version() -> None:
    grey = picture(26).convert("L")
    wide = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    assert wide.mode == "I;16"
    eight, sixteen = inspect_image(png(grey)), inspect_image(png(wide))
    assert eight.phash and sixteen.phash
    assert hash_distance(eight.phash, sixteen.phash) <= 2


def test_transparent_png_is_hashed() -> None:
    img = picture(18).convert("RGBA")
    img.putalpha(200)
    facts = inspect_image(png(img))
    assert facts.phash is not None and len(facts.phash) == 16


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_empty_data_is_an_error() -> None:
    with pytest.raises(ImageError, match="empty"):
        inspect_image(b"")


@pytest.mark.parametrize("size", [(320, 240), (2400, 1800)])  # the second decoded in draft
def test_truncated_jpeg_is_an_error(size: tuple[int, int]) -> None:
    data = jpeg(picture(19, size=size))
    with pytest.raises(ImageError, match="truncated or corrupt") as caught:
        inspect_image(data[: len(data) // 2], declared_type="image/jpeg")
    assert isinstance(caught.value.__cause__, OSError)


def test_html_is_not_an_image() -> None:
    page = b"<!DOCTYPE html>\n<html lang='en'><head><title>Log in</title></head></html>"
    with pytest.raises(ImageError, match="not an image") as caught:
        inspect_image(page, declared_type="text/html")
    message = str(caught.value)
    assert "<!DOCTYPE html" in message
    assert "HTML" in message
    assert "text/html" in message


def test_binary_junk_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image"):
        inspect_image(bytes(range(256)) * 4)


def test_png_declared_as_jpeg_is_read_as_png() -> None:
    facts = inspect_image(png(picture(20)), declared_type="image/jpeg")
    assert facts.format == "PNG"
    assert facts.phash is not None


def test_sha256_is_of_the_bytes() -> None:
    import hashlib

    data = png(picture(21))
    assert inspect_image(data).sha256 == hashlib.sha256(data).hexdigest()


def test_fifty_megapixels_keeps_rights_but_skips_the_hash() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Copyright", "© Getty Images")
    info.add_itxt(
        "XML:com.adobe.xmp", xmp_packet("<photoshop:Credit>Alamy</photoshop:Credit>").decode()
    )
    data = png(Image.new("1", (10_000, 5_000)), pnginfo=info, optimize=False)

    started = time.monotonic()
    facts = inspect_image(data)
    elapsed = time.monotonic() - started

    assert (facts.width, facts.height) == (10_000, 5_000)
    assert facts.phash is None
    assert facts.skipped_hash == "50,000,000 pixels is over the 40,000,000 limit"
    assert rights(facts) == {
        ("PNG Copyright", "© Getty Images", "holder"),
        ("XMP photoshop:Credit", "Alamy", "credit"),
    }
    assert elapsed < 2.0  # sanity only: decoding was not attempted
    assert judge(facts, POLICY, []).flagged


def test_over_the_limit_image_is_never_decoded() -> None:
    # The pixel data is garbage: decoding would raise. Reading it fine proves it was not.
    text = png_chunk(b"tEXt", b"Author\x00John Doe")
    data = png_header_only(10_000, 5_000, [text])

    facts = inspect_image(data)

    assert facts.phash is None and facts.skipped_hash
    assert rights(facts) == {("PNG Author", "John Doe", "creator")}
    with pytest.raises(ImageError, match="truncated or corrupt"):
        inspect_image(data, max_pixels=60_000_000)


def test_max_pixels_is_ours_not_pillows() -> None:
    facts = inspect_image(jpeg(picture(22)), max_pixels=1_000)
    assert facts.phash is None
    assert facts.skipped_hash == "76,800 pixels is over the 1,000 limit"


def test_decompression_bomb_is_refused() -> None:
    bomb = png_header_only(100_000, 100_000)
    with pytest.raises(ImageError, match="decompression bomb"):
        inspect_image(bomb)


def test_decompression_bomb_is_not_decoded_when_pillows_limit_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another part of the process may switch Pillow's own guard off; ours still holds.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    facts = inspect_image(png_header_only(100_000, 100_000))
    assert facts.phash is None
    assert facts.skipped_hash == "10,000,000,000 pixels is over the 40,000,000 limit"


def test_unreadable_metadata_block_does_not_lose_the_image() -> None:
    # An IPTC block that is not IPTC: Pillow raises on it; the image is still read.
    data = with_iptc(jpeg(picture(23), exif=exif(Artist="John Doe")), [])
    data = data.replace(b"\x1c\x02\x00\x00\x02\x00\x04", b"\x1d\x09\x00\x00\x02\x00\x04", 1)
    facts = inspect_image(data)
    assert rights(facts) == {("EXIF Artist", "John Doe", "creator")}
    assert facts.phash


# --------------------------------------------------------------------------------------------
# XMP
# --------------------------------------------------------------------------------------------


def test_xmp_lists_structs_and_attributes() -> None:
    packet = xmp_packet(
        """
   <dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li><rdf:li>John Roe</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt>
     <rdf:li xml:lang='fr'>© Droit d'auteur Jane Doe</rdf:li>
     <rdf:li xml:lang='x-default'>© Jane Doe</rdf:li>
   </rdf:Alt></dc:rights>
   <xmpRights:Owner><rdf:Bag><rdf:li>Doe Media Ltd</rdf:li></rdf:Bag></xmpRights:Owner>
   <plus:Licensor><rdf:Seq>
     <rdf:li rdf:parseType='Resource'><plus:LicensorName>Getty Images</plus:LicensorName></rdf:li>
     <rdf:li plus:LicensorName='Alamy'/>
     <rdf:li><rdf:Description plus:LicensorName='Shutterstock'/></rdf:li>
   </rdf:Seq></plus:Licensor>
   <photoshop:Source><rdf:Description><rdf:value>Camera Press</rdf:value></rdf:Description>
   </photoshop:Source>
   <dc:subject><rdf:Bag><rdf:li>Getty</rdf:li></rdf:Bag></dc:subject>
"""
    )
    fields = {(f.source, f.value, f.role) for f in read_xmp(packet)}
    assert ("XMP dc:creator", "Jane Doe", "creator") in fields
    assert ("XMP dc:creator", "John Roe", "creator") in fields
    assert ("XMP dc:rights", "© Jane Doe", "holder") in fields
    assert ("XMP xmpRights:Owner", "Doe Media Ltd", "holder") in fields
    assert ("XMP plus:Licensor", "Getty Images", "holder") in fields
    assert ("XMP plus:Licensor", "Alamy", "holder") in fields
    assert ("XMP plus:Licensor", "Shutterstock", "holder") in fields
    assert not any("Droit" in value for _, value, _ in fields)  # x-default wins in an Alt
    assert not any(source.startswith("XMP dc:subject") for source, _, _ in fields)


def test_xmp_attributes_as_properties_and_old_prefixes() -> None:
    packet = b"""<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF
      xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
      <rdf:Description rdf:about='' xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'
        xmlns:xapRights='http://ns.adobe.com/xap/1.0/rights/'
        photoshop:Credit='SWNS' photoshop:Source='Mirrorpix'>
        <xapRights:Owner><rdf:Bag><rdf:li>John Doe</rdf:li></rdf:Bag></xapRights:Owner>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    assert set(read_xmp(packet)) == {
        RightsField("XMP photoshop:Credit", "SWNS", "credit"),
        RightsField("XMP photoshop:Source", "Mirrorpix", "credit"),
        RightsField("XMP xmpRights:Owner", "John Doe", "holder"),
    }


def test_xmp_text_and_utf16_packets() -> None:
    packet = xmp_packet("<photoshop:Credit>Reuters</photoshop:Credit>").decode()
    expected = (RightsField("XMP photoshop:Credit", "Reuters", "credit"),)
    assert read_xmp(packet) == expected
    assert read_xmp(packet.encode("utf-16-be")) == expected
    assert read_xmp(packet.encode("utf-16")) == expected  # with a byte-order mark
    assert read_xmp(packet.encode("utf-16-le")) == expected
    assert read_xmp(packet.encode() + b"\x00" * 50 + b" " * 2000) == expected  # padding
    declared = '<?xml version="1.0" encoding="UTF-16"?>' + packet
    assert read_xmp(declared) == expected


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        "",
        b"not xml at all",
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",
        b"<a><b></a>",
        b"\xff\xfe\x00",
        b"<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>",
        b"<undeclared:prefix>x</undeclared:prefix>",
    ],
)
def test_malformed_xmp_gives_nothing(packet: bytes | str) -> None:
    assert read_xmp(packet) == ()


def test_billion_laughs_is_not_expanded() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    lol = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"
        " xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description"
        " xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'>"
        "<photoshop:Credit>&lol9;</photoshop:Credit></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    started = time.monotonic()
    assert read_xmp(lol) == ()
    assert time.monotonic() - started < 1.0


def test_external_entity_is_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Getty Images")
    packet = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"
        " xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description"
        " xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'>"
        "<photoshop:Credit>&xxe;</photoshop:Credit></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert read_xmp(packet) == ()


def test_hostile_xmp_inside_an_image_does_not_lose_the_image() -> None:
    packet = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    facts = inspect_image(jpeg(picture(24), xmp=packet, exif=exif(Artist="John Doe")))
    assert rights(facts) == {("EXIF Artist", "John Doe", "creator")}


# --------------------------------------------------------------------------------------------
# ExifTool's sample files, checked against ExifTool's own reading of them
# --------------------------------------------------------------------------------------------

# ExifTool tag (Group:Tag) -> our source name. "IPTC2:"/"IPTC3:" are further IPTC blocks in
# trailers after the image (AFCP, FotoStation) which Pillow does not read, so they are left out.
EXIFTOOL_TAGS = {
    "IFD0:Copyright": "EXIF Copyright",
    "IFD0:Artist": "EXIF Artist",
    "IPTC:CopyrightNotice": "IPTC Copyright Notice",
    "IPTC:By-line": "IPTC By-line",
    "IPTC:Credit": "IPTC Credit",
    "IPTC:Source": "IPTC Source",
    "XMP-dc:Rights": "XMP dc:rights",
    "XMP-dc:Creator": "XMP dc:creator",
    "XMP-photoshop:Credit": "XMP photoshop:Credit",
    "XMP-photoshop:Source": "XMP photoshop:Source",
    "XMP-plus:LicensorName": "XMP plus:Licensor",
    "XMP-plus:CopyrightOwnerName": "XMP plus:CopyrightOwner",
    "XMP-plus:ImageCreatorName": "XMP plus:ImageCreator",
    "XMP-plus:ImageSupplierName": "XMP plus:ImageSupplier",
}


def exiftool_reading() -> dict[str, set[tuple[str, str]]]:
    records = json.loads((FIXTURES / "metadata_copyright_fields.json").read_text("utf-8"))
    out: dict[str, set[tuple[str, str]]] = {}
    for record in records:
        fields: set[tuple[str, str]] = set()
        for tag, source in EXIFTOOL_TAGS.items():
            values = record.get(tag)
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                fields.add((source, str(value)))
        out[record["SourceFile"]] = fields
    return out


SAMPLE_FILES = [
    "ExifTool.jpg",
    "IPTC.jpg",
    "XMP.jpg",
    "MWG.jpg",
    "PhotoMechanic.jpg",
    "FotoStation.jpg",
    "PLUS.xmp",
    "XMP.xmp",
]


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_files_read_as_exiftool_reads_them(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".xmp"):
        fields = read_xmp(data)
    else:
        facts = inspect_image(data)
        assert facts.phash is not None
        fields = facts.rights
    assert {(f.source, f.value) for f in fields} == exiftool_reading()[name]


def test_sample_files_cover_what_we_claim() -> None:
    # Guard against a silently shrinking comparison: these are the fields that matter most.
    expected = exiftool_reading()
    assert ("IPTC Credit", "My Credit") in expected["IPTC.jpg"]
    assert ("XMP plus:Licensor", "Phil Harvey") in expected["PLUS.xmp"]
    assert ("XMP plus:CopyrightOwner", "Phil Harvey") in expected["PLUS.xmp"]
    assert ("EXIF Copyright", "Copyright 2004 Phil Harvey") in expected["XMP.jpg"]
    assert ("XMP dc:rights", "Copyright 2004 Phil Harvey") in expected["XMP.jpg"]  # UTF-16
    assert ("XMP dc:rights", "© Copyright Phil Harvey") in expected["XMP.xmp"]


def test_sample_files_judged() -> None:
    exiftool = inspect_image((FIXTURES / "ExifTool.jpg").read_bytes())
    assert exiftool.format == "MPO"  # a JPEG with a multi-picture index
    verdict = judge(exiftool, POLICY, [])
    assert verdict.flagged and verdict.score == pytest.approx(0.7)
    assert (
        'EXIF Copyright, IPTC Copyright Notice and XMP dc:rights say "Copyright 2004 Phil Harvey"'
        ", who is not the member or the council" in verdict.reasons
    )
    # Phil Harvey's own page: "My Credit" and "I'm the source" do not flag by themselves.
    assert not judge(exiftool, RightsPolicy(own_names=("Phil Harvey",)), []).flagged
    # Placeholders only ("Copyright", "Photographer", "Credit", "Source").
    photomechanic = inspect_image((FIXTURES / "PhotoMechanic.jpg").read_bytes())
    assert not judge(photomechanic, RightsPolicy(own_names=()), []).flagged
    plus = _facts(*read_xmp((FIXTURES / "PLUS.xmp").read_bytes()))
    assert not judge(plus, RightsPolicy(own_names=("Phil Harvey",)), []).flagged


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_VALID_JPEG = with_iptc(
    jpeg(
        picture(25, size=(64, 48)),
        exif=exif(Copyright="© Getty Images"),
        xmp=xmp_packet("<photoshop:Credit>Reuters</photoshop:Credit>"),
    ),
    [(110, b"PA Wire")],
)


def _either_facts_or_image_error(data: bytes) -> None:
    try:
        facts = inspect_image(data)
    except ImageError:
        return
    assert isinstance(facts, ImageFacts)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow: "Corrupt EXIF data"
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_give_facts_or_image_error(data: bytes) -> None:
    _either_facts_or_image_error(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow: "Corrupt EXIF data"
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_VALID_JPEG)),
    flips=st.lists(
        st.tuples(st.integers(0, len(_VALID_JPEG) - 1), st.integers(0, 255)), max_size=8
    ),
)
def test_mutated_or_truncated_jpeg_gives_facts_or_image_error(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(_VALID_JPEG)
    for position, value in flips:
        data[position] = value
    _either_facts_or_image_error(bytes(data[:cut]) if cut else bytes(data))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=500) | st.text(max_size=500))
def test_read_xmp_never_raises(packet: bytes | str) -> None:
    assert isinstance(read_xmp(packet), tuple)


# --------------------------------------------------------------------------------------------


def _facts(*fields: RightsField, phash: str | None = None) -> ImageFacts:
    return ImageFacts(
        format="JPEG", width=1, height=1, sha256="0" * 64, rights=tuple(fields), phash=phash
    )
