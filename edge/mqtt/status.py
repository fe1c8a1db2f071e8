"""The box's retained status (status.v1.json): its body, online or offline (the last will),
and when it is due: on connect, every mqtt.status_interval_s, and whenever `dropped` or
`alerts` change. Pure state, no I/O: the client publishes it.

Every body carries the box's `session`: when this process started and when it set the last
will for its current connection (`connect()`, just before each connect). Central QA orders a
box's statuses by that session first, so the will, although created before the online statuses
of its connection, still wins over them, and a newer connection wins over an older one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from edge import __version__
from callqa_contract.messages import utc_now_iso
from edge.config import OutboxConfig
from edge.mqtt.outbox import Receipts


@dataclass(frozen=True)
class DeliveryHealth:
    dropped: int  # lost at the outbox bound, ever
    undurable: int  # queued without a disk copy, since start
    refused: int  # stopped by the privacy check, since start
    outbox_error: str | None  # why the outbox cannot be written, while it cannot
    receipts: Receipts | None = None  # None: receipts off (mqtt.receipts = false)
    receipt_timeout_s: float = 0.0


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
        self._session = {"started": utc_now_iso(), "connected": utc_now_iso()}

    def connect(self) -> dict[str, Any]:
        """A new connection is about to be made: its session, and the offline body to set as its last will."""
        self._session = {**self._session, "connected": utc_now_iso()}
        return self.offline()

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
        r = health.receipts
        if r and r.oldest_s is not None and r.oldest_s > 2 * health.receipt_timeout_s:
            alerts.append(f"{r.unreceipted} scores/alerts wait for central QA's receipt, the oldest for "
                          f"{r.oldest_s / 60:.0f} min: is the central store running and subscribed? "
                          "(a site without it sets mqtt.receipts = false)")
        return alerts

    def offline(self) -> dict[str, Any]:
        return {"state": "offline", "version": __version__, "lines": self.lines, "model": self.model,
                "session": self._session}

    def online(self, health: DeliveryHealth, outbox_depth: int) -> dict[str, Any]:
        """`outbox_depth`: scores and alerts not yet acknowledged."""
        return {"state": "online", "version": __version__, "lines": self.lines, "model": self.model,
                "session": self._session, "uptime_s": round(time.monotonic() - self._started, 1),
                "outbox_depth": outbox_depth,
                "dropped": health.dropped, "undurable": health.undurable, "refused": health.refused,
                **self._receipts(health.receipts), "alerts": self.alerts(health)}

    @staticmethod
    def _receipts(r: Receipts | None) -> dict[str, Any]:
        if r is None:
            return {}
        return {"receipted": r.receipted, "unreceipted": r.unreceipted, "oldest_unreceipted_s": r.oldest_s}

    def due(self, health: DeliveryHealth) -> bool:
        """Whether to publish now: `dropped` or `alerts` changed since last asked, or the interval is up."""
        key = (health.dropped, tuple(self.alerts(health)))
        if key != self._last_key or time.monotonic() >= self._next_at:
            self._last_key = key
            return True
        return False

    def published(self) -> None:
        self._next_at = time.monotonic() + self._interval_s
