"""The desk-light state of a box's seat group: the most severe alert that has neither
expired nor been acknowledged. Red (blinking) for insults and forbidden phrases, amber for
raised voice, long dead air, an agitated customer without apology; green when clear.

Pure state, no I/O: the sink publishes `LightState.to_dict()` (light.v1.json) on change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge.events import Alert

SEVERITY_RANK = {"red": 2, "amber": 1}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _Active:
    alert: Alert
    raised: float  # unix time
    expires: float


@dataclass(frozen=True)
class LightState:
    state: str  # red | amber | green
    blink: bool
    reason: str
    line: str | None
    call_id: str | None
    alert_id: str | None
    since: float
    expires: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "blink": self.blink, "reason": self.reason, "line": self.line,
                "call_id": self.call_id, "alert_id": self.alert_id, "since": _iso(self.since),
                "expires": _iso(self.expires) if self.expires is not None else None}


class DeskLight:
    """Thread-safe: alerts arrive from the pipeline, acks from the MQTT thread, expiry from a timer."""

    def __init__(self, red_s: float, amber_s: float, clock: Callable[[], float] = time.time):
        self._hold = {"red": red_s, "amber": amber_s}
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._state = LightState("green", False, "", None, None, None, clock(), None)

    @property
    def state(self) -> LightState:
        return self._state

    def raise_alert(self, alert: Alert) -> LightState | None:
        """Take a new alert into account; the new state if the light changed, else None."""
        if alert.severity not in SEVERITY_RANK:
            raise ValueError(f"alert {alert.alert_id}: unknown severity {alert.severity!r}")
        now = self._clock()
        with self._lock:
            self._active[alert.alert_id] = _Active(alert, now, now + self._hold[alert.severity])
            return self._update(now)

    def acknowledge(self, alert_id: str | None) -> LightState | None:
        """Clear one alert (or all, for None); the new state if the light changed."""
        with self._lock:
            if alert_id is None:
                self._active.clear()
            else:
                self._active.pop(alert_id, None)
            return self._update(self._clock())

    def expire(self) -> LightState | None:
        with self._lock:
            return self._update(self._clock())

    def next_expiry(self) -> float | None:
        with self._lock:
            return min((a.expires for a in self._active.values()), default=None)

    def _update(self, now: float) -> LightState | None:
        self._active = {k: a for k, a in self._active.items() if a.expires > now}
        top = max(self._active.values(), key=lambda a: (SEVERITY_RANK[a.alert.severity], a.raised), default=None)
        if top is None:
            new = self._state if self._state.state == "green" else LightState("green", False, "", None, None, None, now, None)
        else:
            a = top.alert
            new = LightState(a.severity, a.severity == "red", a.reason, a.line, a.call_id, a.alert_id,
                             top.raised, top.expires)
        if new == self._state:
            return None
        self._state = new
        return new
