"""Is the system clock synchronised? Scores carry wall-clock times and TLS needs a sane clock.

`timedatectl show -p NTPSynchronized` where systemd-timedated answers (a booted box);
otherwise the kernel's own verdict from adjtimex(2), which timedated reads too and which
chrony and systemd-timesyncd both keep current. There is no Python binding for adjtimex, so
it is called through ctypes with a read-only request (modes = 0).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex up to `status`; the kernel writes the rest into the padding.
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


def kernel_clock_synchronised() -> bool | None:
    """adjtimex's verdict; None when the call is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def timedatectl_synchronised() -> bool | None:
    binary = shutil.which("timedatectl")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value) if out.returncode == 0 else None


def clock_synchronised() -> tuple[bool | None, str]:
    """(verdict, how it was found out)."""
    verdict = timedatectl_synchronised()
    if verdict is not None:
        return verdict, "timedatectl NTPSynchronized"
    return kernel_clock_synchronised(), "kernel adjtimex"
