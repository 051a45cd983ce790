"""The systemd notify protocol (sd_notify(3)): READY, WATCHDOG, STOPPING, STATUS.

A datagram to ``$NOTIFY_SOCKET``; a no-op when the variable is not set (not under systemd).
"""

from __future__ import annotations

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd. Returns False if not under systemd.

    Never raises: a notify failure must not stop the daemon (systemd will notice by itself).
    """
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Return how often to send WATCHDOG=1 (half of ``$WATCHDOG_USEC``), or None if unset."""
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
