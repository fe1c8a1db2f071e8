"""The box's queue of scores and alerts to send: the SQLite outbox, and a bounded queue in
memory for while the outbox cannot be written (read-only or full disk), which is tried again
every OUTBOX_RETRY_S.

A message stays in the outbox until `receipted()` (or `remove()`, receipts off); one kept in
memory leaves the queue when the send window takes it and comes back with `return_to_memory()`
if it must be sent again. A message kept in memory has no number in the box's count (no seq):
central QA cannot tell that one is missing, which is why status counts them as `undurable`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from callqa_contract.messages import Seq
from edge.config import OutboxConfig
from edge.mqtt.outbox import Outbox, OutboxError, OutboxMessage, Receipts

log = logging.getLogger(__name__)

OUTBOX_RETRY_S = 30.0  # how often to try reopening an outbox that could not be opened
PRUNE_EVERY_S = 10.0  # age-bound check of the outbox
IN_MEMORY_SEQ = -1  # the seq of a message without a disk copy


def is_stored(message: OutboxMessage) -> bool:
    """Whether the message has a disk copy (else it lives in memory only)."""
    return message.seq >= 0


class DurableQueue:
    """Used by the sink's thread (`put`) and the publisher thread (the rest)."""

    def __init__(
        self,
        path: Path,
        bounds: OutboxConfig,
        *,
        on_failure: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ):
        """`on_failure` is called whenever the outbox stops working, so that the publisher
        sends what is now in memory at once."""
        self.path = path
        self._bounds = bounds
        self._on_failure = on_failure
        self._clock = clock
        self._outbox: Outbox | None = None
        self._error: str | None = None
        self._retry_at = 0.0
        self._next_prune = 0.0
        self._memory: deque[OutboxMessage] = deque()
        self._dropped_in_memory = 0
        self.undurable = 0  # messages queued without a disk copy, since start

    @property
    def error(self) -> str | None:
        """Why the outbox cannot be written, while it cannot."""
        return self._error

    def open(self) -> None:
        try:
            self._outbox = Outbox(self.path, self._bounds.max_messages, self._bounds.max_age_h * 3600,
                                  clock=self._clock)
            if self._error:
                log.info("outbox %s is writable again", self.path)
            self._error = None
        except OutboxError as e:
            self._outbox = None
            self.failed(e)

    def failed(self, err: OutboxError) -> None:
        """The outbox failed: close it, queue in memory, try it again in OUTBOX_RETRY_S."""
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        self._retry_at = time.monotonic() + OUTBOX_RETRY_S
        if str(err) != self._error:
            log.error("%s. Scores keep being scored and sent, but without a disk copy they are lost if the "
                      "box restarts before the broker has them.", err)
        self._error = str(err)
        self._on_failure()

    def put(self, msg_id: str, topic: str, line: str | None, payload: Callable[[Seq | None], bytes]) -> None:
        """Queue a message: on disk (fsynced) when the outbox works, else in memory. `payload`
        makes its bytes for its place in the box's count (None in memory)."""
        if self._outbox is None and time.monotonic() >= self._retry_at:
            self.open()
        if self._outbox is not None:
            outbox = self._outbox
            try:
                outbox.put(msg_id, topic, line, lambda n: payload(Seq(outbox.epoch, n)))
                return
            except OutboxError as e:
                self.failed(e)
        # No disk copy: keep it in memory (bounded) and send it while this process lives.
        self.undurable += 1
        if len(self._memory) >= self._bounds.max_messages:
            self._memory.popleft()
            self._dropped_in_memory += 1
            log.warning("in-memory queue full (%d messages, outbox unusable): dropped the oldest",
                        self._bounds.max_messages)
        self._memory.append(OutboxMessage(IN_MEMORY_SEQ, msg_id, topic, line, payload(None), self._clock()))

    def prune_if_due(self) -> None:
        """Apply the outbox's age bound, at most every PRUNE_EVERY_S."""
        if self._outbox is not None and time.monotonic() >= self._next_prune:
            self._outbox.prune()
            self._next_prune = time.monotonic() + PRUNE_EVERY_S

    def stored_after(self, seq: int, limit: int) -> list[OutboxMessage]:
        """Outbox messages after `seq`, oldest first."""
        return self._outbox.after(seq, limit) if self._outbox is not None else []

    def take_from_memory(self, limit: int) -> list[OutboxMessage]:
        """Up to `limit` of the messages without a disk copy, oldest first; they leave the queue."""
        taken: list[OutboxMessage] = []
        while len(taken) < limit and self._memory:
            taken.append(self._memory.popleft())
        return taken

    def return_to_memory(self, messages: list[OutboxMessage]) -> None:
        """Put messages taken from memory back in front, in their order, to be sent again."""
        self._memory.extendleft(reversed(messages))

    def remove(self, msg_ids: Iterable[str]) -> None:
        """Forget delivered messages (a no-op for those kept in memory: they are gone already)."""
        if self._outbox is not None:
            self._outbox.remove(msg_ids)

    def acked(self, msg_ids: Iterable[str]) -> None:
        """The broker has these; they wait in the outbox for central QA's receipt."""
        if self._outbox is not None:
            self._outbox.acked(msg_ids)

    def receipted(self, msg_ids: Iterable[str]) -> int:
        return self._outbox.receipted(msg_ids) if self._outbox is not None else 0

    def resent(self, older_than_s: float) -> int | None:
        """Unreceipted messages older than `older_than_s` are to be sent again: the lowest seq."""
        return self._outbox.resent(older_than_s) if self._outbox is not None else None

    def receipts(self) -> Receipts:
        return self._outbox.receipts() if self._outbox is not None else Receipts(0, 0, None)

    def depth(self) -> int:
        """Messages in the queue: every one in the outbox, and those in memory not in the send window."""
        return (self._outbox.depth() if self._outbox else 0) + len(self._memory)

    def in_memory(self) -> int:
        """Messages without a disk copy waiting to be sent (not those in the send window)."""
        return len(self._memory)

    def dropped(self) -> int:
        """Messages lost at the bound: ever for the outbox, since start for memory."""
        return (self._outbox.dropped() if self._outbox else 0) + self._dropped_in_memory

    def close(self) -> None:
        if self._outbox:
            self._outbox.close()
