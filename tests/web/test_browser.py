"""The dashboard in a real browser: Playwright driving Debian's Chromium (headless) against
the app served by uvicorn on a real socket, over a store filled by a real poll of the
simulated platform.

Nothing is downloaded: Playwright's own browsers are never installed; the system Chromium
(``apt-get install chromium``, which ``.ci/run`` does) is used. Without it these tests skip,
unless ``WATCHER_REQUIRE_BROWSER=1`` (CI) makes that a failure.

With ``WATCHER_SCREENSHOTS=DIR`` set, each walk also saves full-page screenshots of every
page at phone and desktop widths into DIR, for a person to look at (they are not kept in the
repository).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, Site
from watcher.web.serve import bind, server

CHROMIUM = os.environ.get("WATCHER_CHROMIUM") or shutil.which("chromium") or ""
if not CHROMIUM and os.environ.get("WATCHER_REQUIRE_BROWSER") == "1":
    raise RuntimeError("WATCHER_REQUIRE_BROWSER=1 but no chromium: apt-get install chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed")

# What the machine's closed network needs: no background connections, no first-run dialogs.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SHOTS = os.environ.get("WATCHER_SCREENSHOTS", "")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def live(site: Site) -> Iterator[str]:
    """The site's app served by uvicorn on a free port, in a thread; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    srv = server(site.app)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


class Walk:
    """One person's browser tab, signed in through the real form."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = PHONE) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.shots = 0

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto(self.base + "/login")
        self.shot("login")
        self.page.get_by_label("User name").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        """Save the page at phone and desktop widths when WATCHER_SCREENSHOTS is set."""
        if not SHOTS:
            return
        out = Path(SHOTS)
        out.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        here = self.page.viewport_size
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
        self.page.set_viewport_size(here)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def walk(browser: Any, live: str) -> Iterator[Any]:
    opened: list[Walk] = []

    def make(viewport: dict[str, int] = PHONE) -> Walk:
        w = Walk(browser, live, viewport)
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()


def test_member_services_see_a_threat_open_it_and_hide_it(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("ms")
    page = w.page
    assert page.url.endswith("/inbox")
    w.shot("inbox")
    first = page.locator(".card").first
    assert "Threat" in first.inner_text() and "Urgent" in first.inner_text()
    first.locator("a").click()
    page.wait_for_load_state()
    assert "/items/" in page.url
    assert page.get_by_text("This may be a threat.").is_visible()
    w.shot("item-threat")
    threat_text = page.locator("li.this .text").inner_text()
    hidden_before = set(site.sim.hidden)
    page.get_by_role("button", name="Hide on").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("Hidden on the platform")
    newly = site.sim.hidden - hidden_before
    assert len(newly) == 1
    (external_id,) = newly
    with site.store.session() as s:
        from sqlalchemy import select

        from watcher.store.models import ItemRow

        stored = s.scalar(select(ItemRow.text).where(ItemRow.external_id == external_id))
    assert stored == threat_text
    w.shot("item-hidden")


def test_script_in_a_comment_never_runs(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("ms")
    item = site.item_id("facebook", "3_a")
    w.page.goto(f"{w.base}/items/{item}")
    w.page.wait_for_load_state()
    assert w.page.title() != "pwned" and w.dialogs == []
    assert "<script>document.title='pwned'</script>" in w.page.locator("li.this .text").inner_text()
    w.page.goto(f"{w.base}/inbox")
    assert w.page.title() != "pwned" and w.dialogs == []


def test_a_member_cannot_reach_another_members_item(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("tom")
    theirs = site.item_id("facebook", "1_b")
    response = w.page.goto(f"{w.base}/items/{theirs}")
    assert response is not None and response.status == 403
    assert w.page.get_by_role("heading", name="Not yours to see").is_visible()
    assert "useless idiot" not in w.page.content()
    w.shot("forbidden")
    # Their own inbox holds only their own members' items.
    w.page.goto(f"{w.base}/inbox")
    assert "Cllr Jane Smith" not in w.page.content()


def test_wrong_password_then_sign_in_and_out(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("jane", "not my password at all")
    assert w.page.get_by_role("alert").inner_text().startswith("That user name and password")
    w.shot("login-wrong")
    w.sign_in("jane")
    assert w.page.url.endswith("/inbox")
    w.page.get_by_role("button", name="Sign out").click()
    w.page.wait_for_load_state()
    assert "/login" in w.page.url
    w.page.goto(f"{w.base}/inbox")
    assert "/login" in w.page.url


def test_open_a_case_from_an_item_and_export_its_evidence_pack(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("jane")
    page = w.page
    insult = site.item_id("facebook", "1_b")
    page.goto(f"{w.base}/items/{insult}")
    page.get_by_label("Title for a new case (optional)").fill("Insults from Bob")
    page.get_by_role("button", name="Open or add to case").click()
    page.wait_for_load_state()
    assert "/cases/" in page.url
    assert page.get_by_role("heading", name="Insults from Bob").is_visible()
    w.shot("case")
    page.get_by_label("Police reference").fill("OP-FORD/2026/77")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert "OP-FORD/2026/77" in page.content()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download evidence pack").click()
    download = info.value
    case_id = int(page.url.split("/cases/")[1].split("?")[0])
    assert download.suggested_filename == f"case-{case_id}-evidence.zip"
    pack = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    sums = pack.read("SHA256SUMS").decode().splitlines()
    assert len(sums) > 3
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(pack.read(name)).hexdigest() == digest, name
    assert any(n.endswith("raw.json") for n in pack.namelist())
    page.goto(f"{w.base}/cases")
    assert "Insults from Bob" in page.content()
    w.shot("cases")
    page.goto(f"{w.base}/senders/facebook/52")
    assert "useless idiot" in page.content()
    w.shot("sender")


def test_group_leader_sees_the_summary_with_its_charts(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("leader")
    page = w.page
    assert "/summary" in page.url
    assert "Riverside Independents" in page.locator("h1").inner_text()
    charts = page.locator("img.chart")
    assert charts.count() == 3
    for i in range(3):
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    w.shot("summary")
    # Another group's summary is refused; so are items.
    response = page.goto(f"{w.base}/summary?group=Hillside+Alliance")
    assert response is not None and response.status == 403
    response = page.goto(f"{w.base}/inbox")
    assert response is not None and response.status == 403


def test_member_services_status_page(site: Site, walk: Any) -> None:
    w = walk(DESKTOP)
    w.sign_in("ms")
    w.page.goto(f"{w.base}/status")
    assert "@CllrTom" in w.page.content()
    w.shot("status")


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length)
                  && !el.getAttribute('aria-label'))
    .map(el => el.outerHTML)"""


def test_every_page_has_labels_alt_text_and_one_heading(site: Site, walk: Any) -> None:
    w = walk()
    w.sign_in("ms")
    item = site.item_id("facebook", "1_b")
    pages = ["/inbox", f"/items/{item}", "/cases", "/cases/1", "/senders/facebook/52",
             "/summary", "/status", "/inbox?label=nothing&state=done"]
    for url in pages:
        response = w.page.goto(w.base + url)
        assert response is not None and response.status == 200, url
        assert w.page.evaluate(UNLABELLED) == [], url
        assert w.page.evaluate("() => [...document.images].filter(i => !i.alt).length") == 0
        assert w.page.locator("h1").count() == 1, url
        assert w.page.evaluate("() => document.documentElement.lang") == "en-GB"
        # Nothing is wider than a phone's screen but a table's own scrolling box.
        wide = w.page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], (url, wide)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: these tests are about pages in a browser; every query they make is also
    run on PostgreSQL by the other dashboard tests."""
    yield f"sqlite:///{tmp_path / 'watcher.db'}"
