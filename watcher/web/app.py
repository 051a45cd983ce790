"""The dashboard app: ``create_app`` puts the pages, sign-in and the middleware together.

Pages live one module per area (:mod:`pages_items`, :mod:`pages_cases`,
:mod:`pages_reports`); :mod:`core` holds what they share.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from functools import cache
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from platforms.base import Platform
from watcher import logs
from watcher.config import Config
from watcher.store import Store
from watcher.web import pages_cases, pages_items, pages_reports, users
from watcher.web.core import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    STATIC,
    BodyLimit,
    Ctx,
    FormError,
    SecurityHeaders,
    WebApp,
    client_ip,
    make_env,
    new_token,
    page,
    read_form,
    render,
)

log = logs.get(__name__)


def _safe_next(target: str) -> str:
    """Only a path on this site is followed after sign-in (no open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/"
    return target


async def login(request: Request) -> Response:
    app: WebApp = request.app.state.web
    next_url = _safe_next(request.query_params.get("next", "/"))
    if request.method == "GET":
        return _login_page(request, app, next_url,
                           notice="Your session ended. Please sign in again."
                           if request.query_params.get("expired") else "")
    try:
        form = await read_form(request)
    except FormError:
        return _login_page(request, app, next_url, error="That was too long to be a user "
                           "name and password.", status=400)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(str(form.get("csrf_token", "")), cookie):
        return _login_page(request, app, next_url, status=403,
                           error="The sign-in form had expired. Please try again.")
    try:
        signed = users.sign_in(app.store, str(form.get("username", "")),
                               str(form.get("password", "")), ip=client_ip(request),
                               lifetime=app.config.web.session_lifetime)
    except users.ThrottledError as exc:
        minutes = max(1, round(exc.retry_after / 60))
        response = _login_page(request, app, next_url, status=429,
                               error=f"Too many wrong attempts. Wait {minutes} minute"
                                     f"{'s' if minutes != 1 else ''} and try again, or ask "
                                     "member services to reset your password.")
        response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    if signed is None:
        return _login_page(request, app, next_url, status=401,
                           error="That user name and password do not match. Check them and "
                                 "try again.",
                           username=str(form.get("username", ""))[:64])
    target = next_url if next_url != "/" else home_of(signed.viewer)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, signed.token,
                        max_age=int(app.config.web.session_lifetime), path="/",
                        secure=app.config.web.cookie_secure, httponly=True, samesite="lax")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_page(request: Request, app: WebApp, next_url: str, *, error: str = "",
                notice: str = "", status: int = 200, username: str = "") -> Response:
    token = new_token()
    response = render(request, app, "login.html", status=status, error=error, notice=notice,
                      next_url=next_url, login_csrf=token, username=username,
                      insecure=app.config.web.cookie_secure and request.url.scheme != "https"
                      and request.headers.get("x-forwarded-proto") != "https")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login",
                        secure=app.config.web.cookie_secure, httponly=True, samesite="strict")
    return response


def home_of(viewer: users.Viewer) -> str:
    return "/summary" if viewer.role == users.GROUP_LEADER else "/inbox"


@page()
async def logout(request: Request, ctx: Ctx) -> Response:
    users.sign_out(ctx.app.store, ctx.token, ctx.viewer)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page()
async def home(request: Request, ctx: Ctx) -> Response:
    return RedirectResponse(home_of(ctx.viewer), status_code=303)


async def _form_error(request: Request, exc: Exception) -> Response:
    app: WebApp = request.app.state.web
    return render(request, app, "error.html", None, status=400, title="Please check the form",
                  message=str(exc))


def create_app(config: Config, store: Store, *,
               platforms: Mapping[str, Platform] | Callable[[], Mapping[str, Platform]]
               | None = None) -> Starlette:
    """Return the dashboard's ASGI app.

    Given the config, the store (already upgraded) and, optionally, the platform adapters
    (or a function that makes them) used to hide items; by default they are built from the
    config and the service's credentials on first use.
    """
    if platforms is None:
        @cache
        def made() -> Mapping[str, Platform]:
            from watcher.credentials import Credentials
            from watcher.daemon import build_platforms

            return build_platforms(config, Credentials())
        platform_source: Callable[[], Mapping[str, Platform]] = made
    elif callable(platforms):
        platform_source = platforms
    else:
        fixed = platforms
        platform_source = lambda: fixed  # noqa: E731
    web = WebApp(config=config, store=store, platforms=platform_source, env=make_env(config, store.clock))
    routes = [
        Route("/", home),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        *pages_items.ROUTES,
        *pages_cases.ROUTES,
        *pages_reports.ROUTES,
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders),
                                               Middleware(BodyLimit)],
                    exception_handlers={FormError: _form_error})
    app.state.web = web
    return app
