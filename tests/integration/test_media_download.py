"""Downloading an item's image through a platform adapter: limits, redirects and bad answers,
against real local HTTP servers (the simulated platform and a small redirecting server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from platforms.base import PlatformSettings
from platforms.facebook import FacebookPlatform
from platforms.simulated import SimulatedPlatform
from watcher.domain import Account
from watcher.errors import ImageError

ACCOUNT = Account(member_id="jsmith", platform="facebook", external_id="1", credential="fb")


@pytest.fixture
def sim() -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform([]) as s:
        yield s


@pytest.fixture
def adapter(sim: SimulatedPlatform) -> FacebookPlatform:
    return FacebookPlatform(PlatformSettings(base_url=sim.base_url, api_version="v21.0"),
                            lambda name: "a-token")


class _Redirects(BaseHTTPRequestHandler):
    """/to?u=URL answers 302 to URL; /loop redirects to itself."""

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        split = urlsplit(self.path)
        target = parse_qs(split.query).get("u", [""])[0] if split.path == "/to" else "/loop"
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_downloads_the_bytes_and_type(sim: SimulatedPlatform, adapter: FacebookPlatform
                                      ) -> None:
    sim.add_media("a.jpg", b"\xff\xd8\xff" + b"x" * 1000, "image/jpeg")
    got = adapter.fetch_media(ACCOUNT, f"{sim.base_url}/media/a.jpg", max_bytes=10_000,
                              timeout=5)
    assert got.data.startswith(b"\xff\xd8\xff") and len(got.data) == 1003
    assert got.content_type == "image/jpeg"
    # Media are on public CDNs: the token is never sent with them.
    assert ("media", "GET", "/media/a.jpg", {}) in sim.requests_log


def test_too_large_is_refused(sim: SimulatedPlatform, adapter: FacebookPlatform) -> None:
    sim.add_media("big.jpg", b"\xff\xd8\xff" + b"x" * 50_000)
    with pytest.raises(ImageError, match="over the 10,000-byte limit"):
        adapter.fetch_media(ACCOUNT, f"{sim.base_url}/media/big.jpg", max_bytes=10_000,
                            timeout=5)


def test_html_instead_of_an_image(sim: SimulatedPlatform, adapter: FacebookPlatform) -> None:
    sim.add_media("login", b"<!DOCTYPE html><html>Log in</html>", "text/html; charset=utf-8")
    with pytest.raises(ImageError, match=r"web page \(text/html\), not an image"):
        adapter.fetch_media(ACCOUNT, f"{sim.base_url}/media/login", max_bytes=10_000,
                            timeout=5)


def test_missing_image_says_the_status(sim: SimulatedPlatform, adapter: FacebookPlatform
                                       ) -> None:
    with pytest.raises(ImageError, match="HTTP 404"):
        adapter.fetch_media(ACCOUNT, f"{sim.base_url}/media/gone.jpg", max_bytes=10_000,
                            timeout=5)


def test_slow_image_times_out(sim: SimulatedPlatform, adapter: FacebookPlatform) -> None:
    sim.add_media("slow.jpg", b"\xff\xd8\xff", delay=5.0)
    began = time.monotonic()
    with pytest.raises(ImageError, match="within 0.5 s"):
        adapter.fetch_media(ACCOUNT, f"{sim.base_url}/media/slow.jpg", max_bytes=10_000,
                            timeout=0.5)
    assert time.monotonic() - began < 3


def test_nothing_listening(adapter: FacebookPlatform) -> None:
    with pytest.raises(ImageError, match="ConnectionError"):
        adapter.fetch_media(ACCOUNT, "http://127.0.0.1:9/x.jpg", max_bytes=10, timeout=2)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.jpg",
                                 "javascript:alert(1)", "/relative.jpg"])
def test_only_http_urls(adapter: FacebookPlatform, url: str) -> None:
    with pytest.raises(ImageError, match="only http and https"):
        adapter.fetch_media(ACCOUNT, url, max_bytes=10, timeout=2)


def test_redirect_followed_to_http(sim: SimulatedPlatform, adapter: FacebookPlatform,
                                   redirector: str) -> None:
    sim.add_media("r.png", b"\x89PNG\r\n\x1a\n" + b"y" * 10, "image/png")
    got = adapter.fetch_media(ACCOUNT, f"{redirector}/to?u={sim.base_url}/media/r.png",
                              max_bytes=1000, timeout=5)
    assert got.url == f"{sim.base_url}/media/r.png" and got.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1/x"])
def test_redirect_to_other_schemes_is_refused(adapter: FacebookPlatform, redirector: str,
                                              target: str) -> None:
    with pytest.raises(ImageError, match="only http and https"):
        adapter.fetch_media(ACCOUNT, f"{redirector}/to?u={target}", max_bytes=1000, timeout=5)


def test_redirect_loop_stops(adapter: FacebookPlatform, redirector: str) -> None:
    with pytest.raises(ImageError, match="more than 5 redirects"):
        adapter.fetch_media(ACCOUNT, f"{redirector}/loop", max_bytes=1000, timeout=5)


def test_timeline_media_urls_carry_the_servers_address() -> None:
    """A timeline names an image ``sim:media/NAME``; the Graph payload carries the real URL."""
    import requests

    from platforms.simulated import SimPost

    sim = SimulatedPlatform([SimPost(0, "facebook", "1", "1_5", "Look",
                                     media=("sim:media/p.jpg",))], tokens={"1": "t"})
    with sim:
        base = sim.base_url
        body = requests.get(f"{base}/v21.0/1_5", params={
            "access_token": "t", "fields": "full_picture"}, timeout=5).json()
    assert body["full_picture"] == f"{base}/media/p.jpg"
