"""The box's retained status (status.v1.json): its body, online or offline (the last will),
and when it is due: on connect, every mqtt.status_interval_s, and whenever `dropped` or
`alerts` change. Pure state, no I/O: the client publishes it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.config import OutboxConfig


@dataclass(frozen=True)
class DeliveryHealth:
    dropped: int  # lost at the outbox bound, ever
    undurable: int  # queued without a disk copy, since start
    refused: int  # stopped by the privacy check, since start
    outbox_error: str | None  # why the outbox cannot be written, while it cannot


class StatusReport:
    def __init__(self, lines: list[str], model: str | None, bounds: OutboxConfig, interval_s: float,
                 started: float):
        """`started`: time.monotonic() when the box started, for `uptime_s`."""
        self.lines = lines
        self.model = model
        self._bounds = bounds
        self._interval_s = interval_s
        self._started = started
        self._last_key: tuple | None = None
        self._next_at = 0.0

    def alerts(self, health: DeliveryHealth) -> list[str]:
        """Problems in plain words, for site IT."""
        alerts = []
        if health.outbox_error:
            alerts.append(health.outbox_error)
        if health.dropped:
            alerts.append(f"{health.dropped} unsent scores/alerts dropped at the outbox bound "
                          f"({self._bounds.max_messages} messages, {self._bounds.max_age_h:g} h)")
        if health.refused:
            alerts.append(f"{health.refused} messages refused by the privacy check")
        return alerts

    def offline(self) -> dict[str, Any]:
        return {"state": "offline", "version": __version__, "lines": self.lines, "model": self.model}

    def online(self, health: DeliveryHealth, outbox_depth: int) -> dict[str, Any]:
        """`outbox_depth`: scores and alerts not yet acknowledged."""
        return {"state": "online", "version": __version__, "lines": self.lines, "model": self.model,
                "uptime_s": round(time.monotonic() - self._started, 1), "outbox_depth": outbox_depth,
                "dropped": health.dropped, "undurable": health.undurable, "refused": health.refused,
                "alerts": self.alerts(health)}

    def due(self, health: DeliveryHealth) -> bool:
        """Whether to publish now: `dropped` or `alerts` changed since last asked, or the interval is up."""
        key = (health.dropped, tuple(self.alerts(health)))
        if key != self._last_key or time.monotonic() >= self._next_at:
            self._last_key = key
            return True
        return False

    def published(self) -> None:
        self._next_at = time.monotonic() + self._interval_s
