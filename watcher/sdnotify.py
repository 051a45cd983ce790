"""The systemd notify protocol (sd_notify(3)): READY, WATCHDOG, STOPPING, STATUS.

A datagram to ``$NOTIFY_SOCKET``; a no-op when the variable is not set (not under systemd).
systemd takes the sender's PID from the socket's credentials, so with ``NotifyAccess=main``
any thread of the main process may send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

# A datagram to a Unix socket blocks while the receiver's queue is full; a stuck systemd must
# not hang the daemon's main thread (READY, STOPPING) forever.
SEND_TIMEOUT = 5.0


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Given a state such as ``"READY=1"`` (several may be joined with newlines) and the
    environment to read ``NOTIFY_SOCKET`` from (default ``os.environ``), send it to systemd.

    Returns True if the datagram was sent, False if ``NOTIFY_SOCKET`` is unset (not under
    systemd) or the send failed. Never raises: a notify failure must not stop the daemon
    (systemd notices a missing READY or WATCHDOG by itself).
    """
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Given the environment (default ``os.environ``), return how many seconds apart to send
    WATCHDOG=1: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises.

    Returns None when there is no watchdog: ``WATCHDOG_USEC`` unset, not a positive whole
    number, or ``WATCHDOG_PID`` set to another process (the variables were inherited).
    Never raises.
    """
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "").strip()
    pid = env.get("WATCHDOG_PID", "").strip()
    if not (usec.isascii() and usec.isdigit()) or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
