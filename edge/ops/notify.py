"""systemd's notify protocol: READY=1, WATCHDOG=1, STATUS=..., RELOADING=1, STOPPING=1.

The protocol is one datagram of newline-separated KEY=VALUE fields to the unix socket named
by $NOTIFY_SOCKET (a leading '@' means the abstract namespace). That is the whole of it, so
it is written here rather than pulling in python-systemd (needs libsystemd headers to build
on the box) or an unmaintained wrapper. Outside systemd every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send fields like "READY=1" to systemd; False when not run under a notify service."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not fields:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall("\n".join(fields).encode())
    except OSError as e:
        # Never take the box down over a lost status message; systemd's watchdog covers the rest.
        log.warning("could not notify systemd at %s: %s", address.lstrip("\0"), e)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """How often to ping: half of WatchdogSec=, as systemd advises. None: no watchdog asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
