"""Reading an HTTP response body within a size and a time limit: shared by the image
downloads (``platforms._http``) and the meeting calendars (``calendars.base``), which each
turn the two failures into their own error at their edge."""

from __future__ import annotations

import time

import requests

CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body is over the limit; ``declared`` is the Content-Length that said so, or None
    when the limit was passed while reading."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


class TooSlow(Exception):
    """The body had not all arrived by the deadline."""


def read_capped(response: requests.Response, *, max_bytes: int, deadline: float) -> bytes:
    """Given a streamed response, the byte limit and a ``time.monotonic()`` deadline, return
    the whole body.

    Raises TooLarge for a declared Content-Length over the limit (before reading) or a body
    that grows past it, TooSlow once the deadline has passed, and what ``requests`` raises
    when the connection breaks or a read times out.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(None)
        if time.monotonic() > deadline:
            raise TooSlow()
        chunks.append(chunk)
    return b"".join(chunks)
