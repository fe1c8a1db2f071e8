"""The send window: the queued messages handed to paho and not yet answered by the broker.

At most WINDOW at a time, taken in queue order, each handed over once per connection: paho
keeps every QoS 1 message until its PUBACK and resends it after a reconnect, so after one new
messages wait (up to RESEND_WAIT_S) until those resends are answered, or they could overtake
them. A message the broker refuses (MQTT v5 PUBACK error, e.g. its ACL) is sent again, from
its place in the order, after REFUSED_RETRY_S.

Leaving the window is not leaving the queue: `settle()` says which message a PUBACK
delivered, and the caller decides when the queue may forget it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.mqtt.durable import DurableQueue, is_stored
from edge.mqtt.outbox import OutboxMessage

log = logging.getLogger(__name__)

WINDOW = 200  # outbox messages handed to paho and not yet acknowledged
REFUSED_RETRY_S = 30.0  # a message the broker refused (v5 PUBACK error) is sent again after this
RESEND_WAIT_S = 30.0  # after a reconnect, how long paho's own resends may take before we resend


@dataclass(frozen=True)
class PubAck:
    """The broker's answer to one QoS 1 publish, as paho reports it."""
    mid: int  # paho's message id
    refused: bool
    reason: str


class SendWindow:
    """Used by the publisher thread only, except `reconnected()` (paho's network thread)."""

    def __init__(self, queue: DurableQueue, publish: Callable[[OutboxMessage], int], *, size: int = WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        """`publish` hands one message to paho and returns paho's message id."""
        self._queue = queue
        self._publish = publish
        self._size = size
        self._clock = clock
        self._inflight: dict[int, OutboxMessage] = {}  # by paho message id
        self._inflight_seqs: set[int] = set()
        self._cursor = 0  # the last outbox seq handed over
        self._retry_from: int | None = None  # the first refused outbox seq, to be sent again
        self._retry_at = 0.0
        self._resend_deadline: float | None = None

    def reconnected(self) -> None:
        """paho is resending what it holds: hold new messages back for a while."""
        self._resend_deadline = self._clock() + RESEND_WAIT_S

    def fill(self) -> None:
        """Hand paho the next queued messages, up to the window's size."""
        if self._resend_deadline is not None:
            # paho resends after on_connect returns, so the window is not empty yet right after it.
            if self._inflight and self._clock() < self._resend_deadline:
                return
            if self._inflight:
                log.warning("%d messages unacknowledged %.0f s after reconnecting; sending them again",
                            len(self._inflight), RESEND_WAIT_S)
                self._send_again([m for _, m in sorted(self._inflight.items())])
                self._inflight.clear()
                self._inflight_seqs.clear()
            self._resend_deadline = None
        if self._retry_from is not None and self._clock() >= self._retry_at:
            self._cursor = min(self._cursor, self._retry_from - 1)
            self._retry_from = None
        room = self._size - len(self._inflight)
        if room <= 0:
            return
        batch = [m for m in self._queue.stored_after(self._cursor, room) if m.seq not in self._inflight_seqs]
        if batch:
            self._cursor = batch[-1].seq
        batch += self._queue.take_from_memory(room - len(batch))
        for m in batch:
            self._inflight[self._publish(m)] = m
            if is_stored(m):
                self._inflight_seqs.add(m.seq)

    def settle(self, ack: PubAck) -> OutboxMessage | None:
        """Take the broker's answer out of the window: the message it delivered, or None (a
        refusal, kept to be sent again, or a publish that was not the window's)."""
        m = self._inflight.pop(ack.mid, None)
        if m is None:  # a status or light publish
            return None
        self._inflight_seqs.discard(m.seq)
        if not ack.refused:
            return m
        log.error("broker refused %s: %s (check the broker's ACL for this box); kept, retrying in %.0f s",
                  m.topic, ack.reason, REFUSED_RETRY_S)
        self._send_again([m])
        self._retry_at = self._clock() + REFUSED_RETRY_S
        return None

    def send_again_from(self, seq: int) -> None:
        """Outbox messages from `seq` on that are queued to send go out again, in order (those
        that waited too long for central QA's receipt)."""
        self._cursor = min(self._cursor, seq - 1)

    def in_flight_from_memory(self) -> int:
        """Messages in the window that have no disk copy (called from any thread)."""
        return sum(1 for m in list(self._inflight.values()) if not is_stored(m))

    def _send_again(self, messages: list[OutboxMessage]) -> None:
        """Queue these again: outbox messages from their place in the sequence."""
        self._queue.return_to_memory([m for m in messages if not is_stored(m)])
        for m in messages:
            if is_stored(m):
                self._retry_from = m.seq if self._retry_from is None else min(self._retry_from, m.seq)
