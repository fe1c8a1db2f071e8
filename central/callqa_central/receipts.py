"""Receipts: the store tells each box which of its scores and alerts are committed to the QA
database, so that the box may delete them from its outbox. The broker's PUBACK only says the
broker has a message; a broker that restarts, or has no subscriber at that moment (Mosquitto 2.0
does not restore a `$share` subscription from its persistence), may still lose it.

Receipts are batched per box: one names up to `max_ids` msg_ids and goes out at most `wait_s`
after the first of them was committed. They are sent QoS 1 on the box's `receipt` topic; any
store process may receipt any message, and a receipt for a message already deleted is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from callqa_central.writer import Committed
from callqa_contract.messages import BoxId, Envelope
from callqa_contract.topics import Topics

MAX_IDS = 100  # msg_ids in one receipt (the schema allows 1000)
WAIT_S = 1.0  # the longest a committed message waits for its receipt to be sent


@dataclass
class ReceiptBatcher:
    prefix: str
    sender: str  # the store process (its client id), named as the envelope's box id
    max_ids: int = MAX_IDS
    wait_s: float = WAIT_S
    _pending: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    _first_at: float | None = None  # monotonic time the oldest pending msg_id was added

    def add(self, committed: Iterable[Committed], now: float) -> None:
        for c in committed:
            self._pending.setdefault((c.site, c.group, c.box), []).append(c.msg_id)
            if self._first_at is None:
                self._first_at = now

    def due(self, now: float) -> bool:
        if self._first_at is None:
            return False
        return now - self._first_at >= self.wait_s or any(len(ids) >= self.max_ids for ids in self._pending.values())

    def take(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of every receipt pending, and forget them."""
        out = []
        for (site, group, box), ids in self._pending.items():
            topic = Topics(self.prefix, site, group, box).receipt
            for at in range(0, len(ids), self.max_ids):
                env = Envelope.new("receipt", BoxId(site, group, self.sender), {"msg_ids": ids[at : at + self.max_ids]})
                out.append((topic, env.to_json()))
        self._pending.clear()
        self._first_at = None
        return out
