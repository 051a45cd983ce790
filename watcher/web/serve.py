"""Serving the dashboard: a listening socket we bind ourselves (so a port in use is a clear
error at start) and a uvicorn server for it."""

from __future__ import annotations

import signal
import socket

import uvicorn
from starlette.applications import Starlette

from watcher.config import format_address


def bind(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port (port 0: any free port).

    Raises OSError with the address and the system's reason (in use, not permitted, no such
    address) if it cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {format_address(host, port)}: "
                                 f"{exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def server(app: Starlette) -> uvicorn.Server:
    """Return a uvicorn server for the app, to run on a socket from :func:`bind`.

    The proxy in front sets X-Forwarded-For and -Proto; only a proxy on this host is believed.
    uvicorn's own access log is off (our events log what matters) and it sends no Server
    header.
    """
    return uvicorn.Server(uvicorn.Config(
        app, proxy_headers=True, forwarded_allow_ips="127.0.0.1,::1", access_log=False,
        log_level="warning", server_header=False, lifespan="off"))


def run(app: Starlette, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT, then return.

    uvicorn handles both signals itself (open requests finish) and afterwards re-raises the
    signal into the handler it found; finding this no-op one, the process carries on and
    exits 0 after a clean stop instead of dying by the signal or a KeyboardInterrupt.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    server(app).run(sockets=[sock])
