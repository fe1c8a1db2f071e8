"""The light's sense of time: a wrapping millisecond tick counter, and UTC when it is known.

On MicroPython the ticks are `time.ticks_ms` (they wrap, so always compare with
`ticks_diff`); on CPython the same contract comes from the monotonic clock. Wall time is
only trusted after someone set it (NTP on the board; always on a host).
"""

import time

_EPOCH_1970 = 0
if hasattr(time, "ticks_ms"):
    # Embedded ports count from 2000 unless built for the Unix epoch: measure instead of assuming.
    if time.gmtime(0)[0] == 2000:
        _EPOCH_1970 = 946684800


class Clock:
    def __init__(self, wall_known=None):
        self._micro = hasattr(time, "ticks_ms")
        # A board's RTC starts at a fixed date after power-up: not trusted until synced.
        self.wall_known = (not self._micro) if wall_known is None else wall_known

    def ticks_ms(self):
        if self._micro:
            return time.ticks_ms()
        return int(time.monotonic() * 1000)

    def ticks_diff(self, later, earlier):
        if self._micro:
            return time.ticks_diff(later, earlier)
        return later - earlier

    def ticks_add(self, ticks, delta_ms):
        if self._micro:
            return time.ticks_add(ticks, delta_ms)
        return ticks + delta_ms

    def wall_ms(self):
        """Milliseconds since 1970 UTC (an int), or None while the wall clock is not known."""
        if not self.wall_known:
            return None
        if self._micro:
            return (time.time() + _EPOCH_1970) * 1000
        return int(time.time() * 1000)

