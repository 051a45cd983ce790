"""What every dashboard page shares: signing in and out of a request, CSRF, roles, forms,
templates, and the refusal of anything a user may not see.

A page is a function ``(request, ctx) -> Response`` wrapped by :func:`page`, which loads the
session (or sends the browser to sign in), checks the role, and on POST checks the form's
CSRF token before the function runs. ``ctx`` carries the signed-in user and the app's parts.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platforms.base import Platform
from watcher import logs, messages
from watcher.config import Config
from watcher.domain import platform_name
from watcher.store import Store, record_action
from watcher.web import users
from watcher.web.queries import REVIEW_STATES, inbox_counts
from watcher.web.users import ROLE_TITLES, Viewer

log = logs.get(__name__)

SESSION_COOKIE = "watcher_session"
LOGIN_CSRF_COOKIE = "watcher_login_csrf"
#: A form bigger than this is refused (413) before it is read.
MAX_BODY_BYTES = 64 * 1024
#: A single form field longer than this is refused (400) with the field's name.
MAX_FIELD_CHARS = 4000

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
#: The labels a finding can have, as the pages name them (the alerts' words).
LABEL_TITLES = {label: title for label, title in messages.LABEL_TITLES.items()
                if label != "account_problem"}
SEVERITY_TITLES = {"urgent": "Urgent", "high": "High", "normal": "Normal", "info": "Info"}


@dataclass
class WebApp:
    """The app's parts, shared by every request."""

    config: Config
    store: Store
    platforms: Callable[[], Mapping[str, Platform]]
    env: jinja2.Environment


@dataclass(frozen=True)
class Ctx:
    """One request's signed-in user, their session's CSRF token and the app."""

    viewer: Viewer
    csrf: str
    app: WebApp
    token: str


class FormError(ValueError):
    """A form field is missing, too long or not what was expected; the message names it."""


def make_env(config: Config, clock: Callable[[], datetime] | None = None
             ) -> jinja2.Environment:
    """Return the templates' environment: autoescaped HTML, strict undefined names, and the
    filters the pages use (times in the council's time zone, "today" and "yesterday" by
    ``clock``; labels in words)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    zone = ZoneInfo(config.timezone)

    def when(at: datetime | None, fmt: str = "") -> str:
        if at is None:
            return "never"
        local = at.astimezone(zone)
        if fmt:
            return local.strftime(fmt)
        if clock is not None:
            days = (clock().astimezone(zone).date() - local.date()).days
            if days == 0:
                return f"today {local:%H:%M}"
            if days == 1:
                return f"yesterday {local:%H:%M}"
        return local.strftime("%a %d %b %Y, %H:%M")

    env.filters.update(
        when=when,
        label=lambda v: LABEL_TITLES.get(v, str(v).replace("_", " ").capitalize()),
        severity=lambda v: SEVERITY_TITLES.get(v, str(v).capitalize()),
        platform=platform_name,
        role=lambda v: ROLE_TITLES.get(v, v),
        review=lambda v: REVIEW_STATES.get(v, v),
        safe_url=messages.safe_link)
    return env


def render(request: Request, app: WebApp, template: str, ctx: Ctx | None = None,
           status: int = 200, **values: Any) -> HTMLResponse:
    """Render a page with the signed-in user (if any), their CSRF token and the nav."""
    nav_count = 0
    if ctx is not None and ctx.viewer.works_items:
        with app.store.session() as s:
            nav_count = inbox_counts(s, ctx.viewer)
    html = app.env.get_template(template).render(
        request_path=request.url.path, viewer=ctx.viewer if ctx else None,
        csrf=ctx.csrf if ctx else "", nav_count=nav_count, **values)
    return HTMLResponse(html, status_code=status)


def parse_id(raw: str) -> int | None:
    """A row id from a path or a form, or None if ``raw`` is not a plain ASCII number of sane
    length (a superscript digit or a 40-digit number is no id)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None


def path_id(request: Request, name: str) -> int | None:
    """The path parameter ``name`` as a row id (see :func:`parse_id`)."""
    return parse_id(request.path_params[name])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_redirect(request: Request, expired: bool) -> Response:
    """Send the browser to sign in, and back afterwards: to this page, or, for a form posted
    after the session ended (nothing is done), to the page the form was on."""
    if request.method == "GET":
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
    else:
        referer = request.headers.get("referer", "")
        target = urlsplit(referer).path if referer else "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
    url = f"/login?next={quote(target, safe='')}"
    if expired:
        url += "&expired=1"
    response = RedirectResponse(url, status_code=303)
    if expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def forbidden(request: Request, ctx: Ctx, what: str) -> HTMLResponse:
    """Refuse a page or action the user may not have (403), and log and audit the attempt."""
    with ctx.app.store.session() as s:
        record_action(s, ctx.app.store.clock(), "web.forbidden", actor=ctx.viewer.actor,
                      member_id=ctx.viewer.member_id, path=request.url.path[:300],
                      method=request.method, what=what)
    log.warning("web.forbidden", user=ctx.viewer.username, role=ctx.viewer.role,
                path=request.url.path, what=what)
    return render(request, ctx.app, "error.html", ctx, status=403, title="Not yours to see",
                  message="This page belongs to another member or role. If you think you "
                          "should see it, ask member services.")


def not_found(request: Request, ctx: Ctx, what: str) -> HTMLResponse:
    return render(request, ctx.app, "error.html", ctx, status=404, title="Not found",
                  message=f"There is no {what} here. It may have been deleted under the "
                          "council's retention policy, or the link is wrong.")


Page = Callable[[Request, Ctx], Awaitable[Response]]


def page(*roles: str) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page: sign-in required, one of ``roles`` (any role if none given), and on POST
    a form whose ``csrf_token`` matches the session's."""

    def wrap(fn: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            app: WebApp = request.app.state.web
            token = request.cookies.get(SESSION_COOKIE, "")
            found = users.session_for(app.store, token,
                                      idle_timeout=app.config.web.idle_timeout) \
                if token else None
            if found is None:
                return _login_redirect(request, expired=bool(token))
            viewer, csrf = found
            ctx = Ctx(viewer=viewer, csrf=csrf, app=app, token=token)
            if roles and viewer.role not in roles:
                return forbidden(request, ctx, f"a {'/'.join(roles)} page")
            if request.method == "POST":
                form = await read_form(request)
                if not hmac.compare_digest(str(form.get("csrf_token", "")), csrf):
                    log.warning("web.csrf_rejected", user=viewer.username,
                                path=request.url.path)
                    return render(request, app, "error.html", ctx, status=403,
                                  title="This form has expired",
                                  message="The page was open too long or came from somewhere "
                                          "else. Go back, reload the page and try again.")
            return await fn(request, ctx)

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        return endpoint

    return wrap


async def read_form(request: Request) -> FormData:
    """Return the request's form (read once, then cached on the request). Raises FormError
    for a field over ``MAX_FIELD_CHARS`` characters or a file upload."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    form = await request.form(max_files=0, max_fields=50)
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise FormError(f"{key}: files cannot be sent here")
        if len(value) > MAX_FIELD_CHARS:
            raise FormError(f"{key}: too long ({len(value):,} characters; at most "
                            f"{MAX_FIELD_CHARS:,})")
    request.state.form = form
    return form


def field(form: FormData, name: str, *, limit: int = MAX_FIELD_CHARS, required: bool = False,
          choices: tuple[str, ...] = ()) -> str:
    """Return one form field, stripped. Raises FormError naming the field if it is required
    and empty, longer than ``limit``, or not one of ``choices``."""
    value = str(form.get(name, "")).strip()
    if required and not value:
        raise FormError(f"{name.replace('_', ' ')}: please fill this in")
    if len(value) > limit:
        raise FormError(f"{name.replace('_', ' ')}: too long (at most {limit} characters)")
    if choices and value not in choices:
        raise FormError(f"{name.replace('_', ' ')}: choose one of the options")
    return value


def back_to(path: str, **flash: str) -> RedirectResponse:
    """Redirect (303) to ``path`` after a form, with a short message key (``ok=...`` or
    ``error=...``) the page turns into words; no user text travels in the URL."""
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in flash.items())
    return RedirectResponse(path + ("?" + query if query else ""), status_code=303)


def new_token() -> str:
    return secrets.token_urlsafe(32)


class SecurityHeaders:
    """Adds headers that keep pages from being framed, sniffed, cached or scripted from
    elsewhere; the pages use no JavaScript at all."""

    HEADERS = [
        (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self' "
                                     b"data:; form-action 'self'; frame-ancestors 'none'; "
                                     b"base-uri 'none'"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    h for h in self.HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413: by its Content-Length before
    reading, or as soon as a body sent without one passes the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = (f"<!doctype html><title>Too large</title><p>What was sent is too large: at most "
            f"{limit // 1024} KB. Shorten the text and try again.</p>").encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def flash_messages(request: Request, texts: Mapping[str, str]) -> tuple[str, str]:
    """Turn a page's ``ok``/``error`` query keys into (ok text, error text) from ``texts``;
    an unknown key shows nothing, so a crafted link cannot put words on the page."""
    return (texts.get(request.query_params.get("ok", ""), ""),
            texts.get(request.query_params.get("error", ""), ""))
