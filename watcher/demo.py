"""``watcher demo``: the real daemon against a simulated council, with no network or config.

It starts the simulated platform (a real HTTP server speaking the Graph API and X API v2, and
serving the posts' images), a simulated modern.gov web service with a committee meeting under
way, and a local SMTP server (aiosmtpd); writes a ready-made config for three members into a
folder; and runs the real daemon against them, printing every alert as the mail server receives
it. The images are drawn here with Pillow, so nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from calendars.simulated import SimAttendee, SimCommittee, SimMeeting, SimulatedModernGov
from platforms.base import Platform
from platforms.simulated import MEDIA_PREFIX, SimComment, SimMention, SimPost, SimulatedPlatform
from watcher import config as config_mod
from watcher import imageregister
from watcher.credentials import Credentials
from watcher.daemon import Daemon, build
from watcher.mailsink import MailSink
from watcher.store import Store
from watcher.store.models import AlertRow, FindingRow, ItemRow

JANE_FB = "104612345678901"
PRIYA_FB = "104698765432109"
TOM_X = "1589000000000000001"
PRIYA_X = "1589000000000000002"

# A scripted afternoon, compressed into seconds: support, blunt disagreement, abuse, threats.
TIMELINE = [
    SimPost(0, "facebook", JANE_FB, "104612345678901_9001",
            "Proud to open the new playground on Elm Road today with residents."),
    SimPost(0, "x", TOM_X, "1850000000000000001",
            "Tonight at Full Council I'll be speaking against the bus cuts."),
    SimPost(1, "facebook", PRIYA_FB, "104698765432109_7001",
            "My surgery is this Saturday at the community centre, 10am to 12."),
    SimComment(1, "facebook", JANE_FB, "9001_101", "104612345678901_9001",
               "Well done, the kids have been waiting years for this!", "5501", "Sarah Jones"),
    SimComment(2, "x", TOM_X, "1850000000000000011", "1850000000000000001",
               "Good luck tonight Tom, the 248 bus is a lifeline for my mum.", "701", "busfan"),
    SimComment(3, "facebook", JANE_FB, "9001_102", "104612345678901_9001",
               "You've wasted a fortune on this while the library closes. Shameful priorities.",
               "5502", "Mike Turner"),
    SimComment(4, "x", TOM_X, "1850000000000000012", "1850000000000000001",
               "Your party broke every promise it made on buses. Vote them all out.",
               "702", "taxpayer_romford"),
    SimComment(5, "facebook", JANE_FB, "9001_103", "104612345678901_9001",
               "You are a useless brainless cow and a total waste of space.", "5503", "Dave R"),
    SimComment(6, "facebook", PRIYA_FB, "7001_201", "104698765432109_7001",
               "Thanks Priya, I'll come along about the parking problem.", "5504", "Ann Lee"),
    SimMention(7, TOM_X, "1850000000000000013",
               "@CllrTomOkafor you stupid muppet, nobody voted for you", "703", "angryman"),
    SimComment(8, "facebook", JANE_FB, "9001_104", "104612345678901_9001",
               "I know where you live. Better watch yourself on the way home.", "5505",
               "anon 1984"),
    SimComment(9, "facebook", PRIYA_FB, "7001_202", "104698765432109_7001",
               "This council is a shambles and you know it.", "5506", "Gary Pike"),
    SimComment(10, "x", TOM_X, "1850000000000000014", "1850000000000000001",
               "@CllrTomOkafor someone should put a bullet in you", "704", "x_threat"),
    SimMention(12, PRIYA_X, "1850000000000000015",
               "@CllrPriyaShah immigrants like you should go back where you came from",
               "705", "patriot_77"),
    SimComment(14, "facebook", PRIYA_FB, "7001_203", "104698765432109_7001",
               "Her mobile is 07700 900982, ring her and tell her what you think.", "5507",
               "Lee Grant"),
    # Jane posts an agency photo (its EXIF says so); Priya the council's own, cleared one.
    SimPost(3, "facebook", JANE_FB, "104612345678901_9002",
            "What a finish at the cup final yesterday!", media=(f"{MEDIA_PREFIX}final.jpg",)),
    SimPost(4, "facebook", PRIYA_FB, "104698765432109_7002",
            "The town hall's new solar roof is finished.", media=(f"{MEDIA_PREFIX}roof.jpg",)),
    # Tom tweets through the Planning Committee he is sitting on.
    *[SimPost(2 + i, "x", TOM_X, str(1850000000000000100 + i), text) for i, text in enumerate((
        "Planning Committee under way: the Elm Road flats are first.",
        "Residents are making a strong case against the car park.",
        "Officers recommend approval; I'm not convinced.",
        "Vote coming up on Elm Road now.",
    ))],
]

DEMO_COMMITTEE_ID = "20"
TOM_MODERNGOV_ID = "301"


def picture(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A picture of coloured shapes on a gradient, the same for the same seed (the demo's and
    the tests' stand-in for a photo: perceptual hashes differ from one seed to another)."""
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
    """A picture as JPEG bytes, with EXIF Copyright / Artist and an XMP packet if given."""
    exif = Image.Exif()
    if copyright:
        exif[0x8298] = copyright.encode("utf-8")  # UTF-8 bytes: Pillow writes str as ASCII
    if artist:
        exif[0x013B] = artist.encode("utf-8")
    out = io.BytesIO()
    kwargs: dict[str, object] = {"quality": quality, "exif": exif}
    if xmp:
        kwargs["xmp"] = xmp.encode("utf-8")
    img.save(out, "JPEG", **kwargs)
    return out.getvalue()


def demo_meeting(now: datetime, timezone: str = "Europe/London") -> SimMeeting:
    """The Planning Committee meeting under way at ``now`` (started an hour ago), Tom
    attending."""
    start = (now - timedelta(hours=1)).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return SimMeeting(id="7001", committee_id=DEMO_COMMITTEE_ID, date=start,
                      planned_finish=(start + timedelta(hours=3)).time(),
                      location="Council Chamber, Town Hall",
                      attendees=(SimAttendee(TOM_MODERNGOV_ID, "Councillor Tom Okafor"),
                                 SimAttendee("302", "Councillor Ann Brown")))


def demo_config(directory: Path, sim_url: str, smtp_port: int, seconds: float,
                moderngov_url: str = "", web_listen: str | None = None) -> str:
    """Return the demo council's config (TOML) pointing at the simulators; with
    ``web_listen`` (host:port) the dashboard's too, and alerts link to it."""
    web = (f'listen = "{web_listen}"\npublic_url = "http://{web_listen}"\n'
           if web_listen else "")
    interval = "2s" if seconds <= 120 else "10s"
    return f"""\
# The demo council written by `watcher demo`. Tokens come from the demo's own environment.
timezone = "Europe/London"

[database]
url = "sqlite:///{directory / 'watcher.db'}"

[polling]
interval = "{interval}"
jitter = "1s"
timeout = "5s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "social-media-watcher@demo-council.gov.uk"

[member_services]
name = "Member Services"
emails = ["member.services@demo-council.gov.uk"]

[platforms.facebook]
base_url = "{sim_url}"
api_version = "v21.0"

[platforms.x]
base_url = "{sim_url}"

[alerts]
outbox_interval = "2s"
retry_initial = "2s"

[detectors.images]
council_names = ["Demo Borough Council"]

[meetings]
moderngov_url = "{moderngov_url}"
burst_posts = 3

# `watcher demo --web` serves the dashboard over plain HTTP on this machine only.
[web]
{web}cookie_secure = false

[[groups]]
name = "Residents Association"
leader_emails = ["ra.leader@demo-council.gov.uk"]

[[groups]]
name = "Labour"
leader_emails = ["labour.leader@demo-council.gov.uk"]

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane.smith@demo-council.gov.uk"
group = "Residents Association"

[[members.accounts]]
platform = "facebook"
id = "{JANE_FB}"
handle = "CllrJaneSmith"
credential = "fb-jsmith"

[[members]]
id = "tokafor"
name = "Cllr Tom Okafor"
email = "tom.okafor@demo-council.gov.uk"
group = "Labour"
moderngov_id = "{TOM_MODERNGOV_ID}"

[[members.accounts]]
platform = "x"
id = "{TOM_X}"
handle = "CllrTomOkafor"
credential = "x-tokafor"
credential_user = "x-tokafor-user"

[[members]]
id = "pshah"
name = "Cllr Priya Shah"
email = "priya.shah@demo-council.gov.uk"
group = "Labour"

[[members.accounts]]
platform = "facebook"
id = "{PRIYA_FB}"
handle = "CllrPriyaShah"
credential = "fb-pshah"

[[members.accounts]]
platform = "x"
id = "{PRIYA_X}"
handle = "CllrPriyaShah"
credential = "x-pshah"
"""


TOKENS = {JANE_FB: "demo-token-fb-jsmith", TOM_X: "demo-token-x-tokafor",
          PRIYA_FB: "demo-token-fb-pshah", PRIYA_X: "demo-token-x-pshah"}
HANDLES = {TOM_X: "CllrTomOkafor", PRIYA_X: "CllrPriyaShah"}
CREDENTIALS = {"WATCHER_CRED_FB_JSMITH": TOKENS[JANE_FB], "WATCHER_CRED_X_TOKAFOR": TOKENS[TOM_X],
               # Hiding a reply on X needs a user-context token; the simulator takes the same.
               "WATCHER_CRED_X_TOKAFOR_USER": TOKENS[TOM_X],
               "WATCHER_CRED_FB_PSHAH": TOKENS[PRIYA_FB], "WATCHER_CRED_X_PSHAH": TOKENS[PRIYA_X]}
#: The dashboard's demo accounts: (user name, role, member, group).
DEMO_USERS = (("ms", "member-services", None, None), ("jsmith", "member", "jsmith", None),
              ("tokafor", "member", "tokafor", None),
              ("ra-leader", "group-leader", None, "Residents Association"))


class _Printer:
    def __init__(self, started: float) -> None:
        self.started = started
        self.lock = threading.Lock()

    def alert(self, message: EmailMessage, rcpt: list[str]) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        link = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("Link:")), "")
        with self.lock:
            print(f"[{time.monotonic() - self.started:5.1f}s] ALERT  {message['Subject']}")
            print(f"         to: {message['To']}" + (f"   cc: {message['Cc']}" if message["Cc"]
                                                     else ""))
            if link:
                print(f"         link: {link}")
            sys.stdout.flush()


def run_demo(seconds: float = 30.0, directory: str | None = None, web: str | None = None
             ) -> int:
    """Run the demo for ``seconds``; print alerts and a summary. With ``web`` (host:port),
    then serve the dashboard on the demo's data until interrupted, with demo accounts whose
    password is printed. Returns the exit code."""
    folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="watcher-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    printer = _Printer(started)
    print("Councillor Watcher demo: three members, Facebook and X (simulated), a local mail "
          "server.")
    print(f"Running the real daemon for {seconds:g} s; alerts appear as the mail server "
          "receives them.\n")
    sim = SimulatedPlatform(TIMELINE, tokens=TOKENS, handles=HANDLES)
    sim.add_media("final.jpg", jpeg(picture(11), copyright="© Getty Images"))
    roof = jpeg(picture(12), copyright="© Demo Borough Council")
    sim.add_media("roof.jpg", roof)
    moderngov = SimulatedModernGov([SimCommittee(DEMO_COMMITTEE_ID, "Planning Committee")],
                                   [demo_meeting(datetime.now(UTC))])
    with sim, moderngov, MailSink(on_message=printer.alert, folder=folder / "mail") as sink:
        text = demo_config(folder, sim.base_url, sink.port, seconds, moderngov.base_url,
                           web_listen=web)
        (folder / "watcher.toml").write_text(text, encoding="utf-8")
        config = config_mod.parse(text, str(folder / "watcher.toml"))
        parts = build(config, credentials=Credentials(environ=CREDENTIALS))
        # The council's photo library: its own pictures are cleared, never flagged.
        imageregister.add(parts.store, roof, kind="cleared", source="town-hall-roof.jpg",
                          note="council photo library", actor="demo")
        daemon = Daemon(parts)
        daemon.start()
        try:
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        except KeyboardInterrupt:
            print("\ninterrupted")
        daemon.stop()
        daemon.shutdown()
        # Deliver anything queued in the last moments, so the summary is complete.
        daemon.parts.outbox.deliver_due()
        received = len(sink.messages)
        store = daemon.parts.store
        with store.session() as s:
            items = s.scalar(select(func.count(ItemRow.id))) or 0
            labels = Counter(s.scalars(select(FindingRow.label)))
            pending = s.scalar(select(func.count(AlertRow.id))
                               .where(AlertRow.status == "pending")) or 0
        if web:
            _print_summary(folder, items, labels, received, pending)
            return _serve_dashboard(config, store, daemon.parts.poller.platforms)
        store.dispose()
    _print_summary(folder, items, labels, received, pending)
    return 0


def _print_summary(folder: Path, items: int, labels: Counter[str], received: int,
                   pending: int) -> None:
    print("\nSummary")
    print(f"  items fetched and stored: {items}")
    print(f"  findings: {json.dumps(dict(sorted(labels.items())))}")
    print(f"  alerts delivered: {received}, still queued: {pending}")
    print(f"  database: {folder / 'watcher.db'}")
    print(f"  mail as received (.eml): {folder / 'mail'}")
    print("\nWhere to look next:")
    print(f"  watcher findings --config {folder / 'watcher.toml'} --since 1d")
    print(f"  watcher cases list --config {folder / 'watcher.toml'}   "
          "(threats open a case by themselves)")
    print(f"  watcher report monthly --month {datetime.now(UTC):%Y-%m} --out {folder / 'report'} "
          f"--config {folder / 'watcher.toml'}")
    print(f"  sqlite3 {folder / 'watcher.db'} 'select at, action, detail_json from actions'")
    print("  watcher demo --web   (then the dashboard, in a browser, on the demo's data)")


def _serve_dashboard(config: config_mod.Config, store: Store,
                     platforms: Mapping[str, Platform]) -> int:
    """Serve the dashboard on the demo's store (hiding goes to the still-running simulated
    platform) until Ctrl-C, with demo accounts that share one random password."""
    from watcher.web import users
    from watcher.web.app import create_app
    from watcher.web.serve import bind, run

    password = "-".join(secrets.token_hex(3) for _ in range(3))
    for name, role, member, group in DEMO_USERS:
        users.add_user(store, config, username=name, password=password, role=role,
                       member_id=member, group_name=group, actor="demo")
    try:
        sock = bind(config.web.host, config.web.port)
    except OSError as exc:
        print(f"watcher demo: {exc.strerror} (choose another with --web HOST:PORT)",
              file=sys.stderr)
        return 1
    print(f"\nDashboard: {config.web.public_url}/  (Ctrl-C to stop)")
    print(f"  sign in as ms (member services), jsmith or tokafor (members) or ra-leader "
          f"(group leader), password {password}")
    run(create_app(config, store, platforms=platforms), sock)
    store.dispose()
    return 0
