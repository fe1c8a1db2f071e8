"""One push button: debounced, telling a short press from a long hold.

A short press (released before `long_ms`) acknowledges the alert on show; holding for
`long_ms` acknowledges every alert of the group, and fires while still held so the
supervisor sees it happen.
"""

SHORT = "short"
LONG = "long"


class PressDetector:
    def __init__(self, clock, long_ms=2000, debounce_ms=30):
        self._clock = clock
        self._long_ms = long_ms
        self._debounce_ms = debounce_ms
        self._raw = False
        self._raw_since = 0
        self._down = False
        self._down_since = 0
        self._long_fired = False

    def update(self, is_down, now_ms):
        """Feed the raw button level; returns SHORT, LONG or None."""
        diff = self._clock.ticks_diff
        if is_down != self._raw:
            self._raw = is_down
            self._raw_since = now_ms
        if self._raw != self._down and diff(now_ms, self._raw_since) >= self._debounce_ms:
            self._down = self._raw
            if self._down:
                self._down_since = now_ms
                self._long_fired = False
            elif not self._long_fired:
                return SHORT
        if self._down and not self._long_fired and diff(now_ms, self._down_since) >= self._long_ms:
            self._long_fired = True
            return LONG
        return None
