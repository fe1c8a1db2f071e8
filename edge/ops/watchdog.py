"""Pings systemd's watchdog from a thread, but only while `Health` says every line is live;
logs a line that stalls, and when it recovers (also when not run under systemd).

Pinging from a timer alone would prove only that Python's scheduler runs; tying each ping to
recent beats from every line's processing loop makes WatchdogSec= mean "audio is being scored".
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from edge.ops.health import Health
from edge.ops.notify import notify

log = logging.getLogger(__name__)


class Watchdog:
    def __init__(self, health: Health, interval_s: float, send: Callable[..., bool] = notify):
        self.health = health
        self.interval_s = interval_s
        self._send = send
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._withheld = False

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def tick(self) -> bool:
        """One check: ping if healthy. Returns whether it pinged."""
        stalled = self.health.stalled()
        if not stalled:
            if self._withheld:
                log.info("all lines are processing audio again; watchdog pings resume")
                self._send("STATUS=processing audio on every line")
                self._withheld = False
            return self._send("WATCHDOG=1")
        words = ", ".join(f"{h.line} (no audio processed for {h.last_beat_age_s:.0f} s)" for h in stalled)
        if not self._withheld:
            log.error("line stalled: %s; withholding the watchdog ping so systemd restarts the box", words)
            self._withheld = True
        self._send(f"STATUS=stalled: {words}")
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
