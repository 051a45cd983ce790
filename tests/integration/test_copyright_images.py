"""Copyright images end to end: the simulated platform serves posts with images over HTTP,
the real adapters and the image detector read them, and the member gets the alerts by SMTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from platforms.simulated import MEDIA_PREFIX, SimComment, SimPost, SimulatedPlatform
from tests.conftest import FB, MEMBERS, X, config_text
from tests.imagegen import jpeg, picture, resized, xmp_packet
from watcher import config, imageregister
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.errors import ImageError
from watcher.mailsink import MailSink
from watcher.store.models import ActionRow, FindingRow, ItemRow

TOKENS = {FB: "img-fb-token", X: "img-x-token"}
CREDS = Credentials({"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X]})
IMAGES = '[detectors.images]\ncouncil_names = ["Test Borough Council"]\n'

GETTY = jpeg(picture(1), copyright="© Getty Images")
REUTERS = jpeg(picture(2), xmp=xmp_packet(credit="REUTERS/Jane Doe"))
THIRD_PARTY = jpeg(picture(3))              # registered as licensed to others
OWN = jpeg(picture(4), artist="Cllr Jane Smith", copyright="© Cllr Jane Smith 2026")
COUNCIL = jpeg(picture(5), copyright="© Getty Images")   # licensed to the council: cleared
PA_COMMENT = jpeg(picture(6), copyright="PA Images / PA Wire")
COUNCIL_CREDIT = jpeg(picture(7), copyright="(c) Test Borough Council 2025")


MEDIA = {"getty.jpg": GETTY, "reuters.jpg": REUTERS, "third.jpg": resized(THIRD_PARTY),
         "own.jpg": OWN, "council.jpg": resized(COUNCIL, 0.8, 70), "pa.jpg": PA_COMMENT,
         "credit.jpg": COUNCIL_CREDIT, "broken.jpg": GETTY[:2000]}


def post(n: int, text: str, *names: str) -> SimPost:
    return SimPost(0, "facebook", FB, f"{FB}_{n}", text,
                   media=tuple(f"{MEDIA_PREFIX}{name}" for name in names))


TIMELINE = [
    post(1, "At the match today", "getty.jpg"),
    post(2, "Flooding on the high street", "reuters.jpg"),
    post(3, "Our new leaflet", "third.jpg"),
    post(4, "My walk round the ward", "own.jpg"),
    post(5, "The town hall at dusk", "council.jpg"),
    post(6, "Thanks to the council's photographers", "credit.jpg"),
    post(7, "Two pictures, one broken", "broken.jpg", "page.html"),
    post(8, "No picture at all"),
    SimComment(0, "facebook", FB, "c_1", f"{FB}_4", "Look at this", "71", "Resident",
               extra={"attachment": {
                   "media": {"image": {"src": f"{MEDIA_PREFIX}pa.jpg", "height": 360,
                                       "width": 480}},
                   "type": "photo", "url": f"{MEDIA_PREFIX}pa.jpg"}}),
]


def simulated() -> SimulatedPlatform:
    sim = SimulatedPlatform(TIMELINE, tokens=TOKENS)
    for name, data in MEDIA.items():
        sim.add_media(name, data)
    sim.add_media("page.html", b"<!DOCTYPE html><html>Sign in</html>", "text/html")
    return sim


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def make(db_url: str, sim: SimulatedPlatform, sink: MailSink, extra: str = IMAGES) -> Parts:
    cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                   members=MEMBERS, extra=extra))
    return build(cfg, credentials=CREDS)


def flagged(parts: Parts) -> dict[str, list[str]]:
    with parts.store.session() as s:
        rows = s.execute(select(ItemRow.external_id, FindingRow.reasons_json)
                         .join(FindingRow, FindingRow.item_id == ItemRow.id)
                         .where(FindingRow.label == "copyright_image"))
        return {eid: json.loads(reasons) for eid, reasons in rows}


def test_copyright_images_alert_the_member(db_url: str, sink: MailSink) -> None:
    with simulated() as sim:
        parts = make(db_url, sim, sink)
        imageregister.add(parts.store, THIRD_PARTY, kind="third_party", source="leaflet.jpg",
                          note="agency photo licensed for the 2025 leaflet only")
        imageregister.add(parts.store, COUNCIL, kind="cleared", source="townhall.jpg")
        with capture_logs() as events:
            outcomes, report = poll_once(parts)
    assert all(o.status == "ok" for o in outcomes), outcomes
    found = flagged(parts)
    assert set(found) == {f"{FB}_1", f"{FB}_2", f"{FB}_3", "c_1"}, found
    assert any("EXIF Copyright" in r and "Getty Images" in r for r in found[f"{FB}_1"])
    assert any("photoshop:Credit" in r and "REUTERS" in r for r in found[f"{FB}_2"])
    (match,) = found[f"{FB}_3"]
    assert "licensed for the 2025 leaflet only" in match and "distance" in match
    assert any("PA" in r for r in found["c_1"])
    # One alert per flagged item, to the member only, naming the reason and the post's link.
    mails = [m for m, _ in sink.messages if "copyright" in m["Subject"].lower()]
    assert len(mails) == 4 and report.failed == 0
    for m in mails:
        assert m["To"] == "jane@test-council.gov.uk" and m["Cc"] is None
    body = next(m for m in mails if "Getty" in m.get_body(("plain",)).get_content())
    text = body.get_body(("plain",)).get_content()
    assert f"https://www.facebook.com/{FB}/posts/{FB}_1" in text
    assert "EXIF Copyright" in text and "remove the image" in text
    # The broken and HTML "images" were logged and skipped; their post was still stored.
    skipped = {e["url"].rsplit("/", 1)[-1]: e["error"] for e in events
               if e["event"] == "image.skipped"}
    assert set(skipped) == {"broken.jpg", "page.html"}, skipped
    assert "truncated" in skipped["broken.jpg"] or "broken" in skipped["broken.jpg"]
    assert "web page (text/html)" in skipped["page.html"]
    with parts.store.session() as s:
        stored = set(s.scalars(select(ItemRow.external_id)))
        assert f"{FB}_7" in stored and f"{FB}_8" in stored
        # The register's additions are in the actions log.
        assert len(list(s.scalars(select(ActionRow).where(
            ActionRow.action == "image.registered")))) == 2


def test_images_can_be_switched_off(db_url: str, sink: MailSink) -> None:
    with simulated() as sim:
        parts = make(db_url, sim, sink, extra="[detectors.images]\nenabled = false\n")
        poll_once(parts)
    assert flagged(parts) == {}
    assert not [p for p in sim.requests_log if p[0] == "media"]


def test_register_refuses_one_image_as_both_kinds(db_url: str, sink: MailSink) -> None:
    with SimulatedPlatform([], tokens=TOKENS) as sim:
        parts = make(db_url, sim, sink)
    first = imageregister.add(parts.store, COUNCIL, kind="cleared", source="a.jpg")
    again = imageregister.add(parts.store, COUNCIL, kind="cleared", source="a.jpg")
    assert first.new and not again.new and again.entry.id == first.entry.id
    with pytest.raises(ImageError, match="already registered as cleared"):
        imageregister.add(parts.store, COUNCIL, kind="third_party", source="a.jpg")
    # A near copy of a cleared image, added as third-party, is accepted but reported.
    near = imageregister.add(parts.store, resized(COUNCIL), kind="third_party", source="b.jpg")
    assert near.new and near.conflict is not None and near.conflict[0] == first.entry.id
    with pytest.raises(ImageError, match="not an image"):
        imageregister.add(parts.store, b"<html>nope</html>", kind="cleared", source="c")
    removed = imageregister.remove(parts.store, first.entry.id)
    assert removed.kind == "cleared" and [e.id for e in imageregister.load(parts.store)] == [
        near.entry.id]
    with pytest.raises(ImageError, match="no image register entry #999"):
        imageregister.remove(parts.store, 999)
