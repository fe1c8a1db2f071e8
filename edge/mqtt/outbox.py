"""Store-and-forward for scores and alerts: an SQLite file the box writes every message to
before it publishes, and deletes from only when it is safe: when central QA's receipt says
the message is committed to the QA database (with receipts, the default), or when the
broker has acknowledged it (PUBACK; receipts off, for a site without our store).

WAL journal with synchronous=FULL: a message `put` has returned for is on disk and survives
kill -9 and power loss. Messages come back in the order they were written (one sequence for
the whole box, so per line too). That sequence is also the box's count of what it sent: each
message carries its number `n` with the outbox's `epoch` (a random id made with the file), so
central QA can see a number that never arrived; numbers are never reused (AUTOINCREMENT). The
outbox is bounded by count and age: at the bound the oldest messages are dropped, counted (the
count persists), logged, and reported in status.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    line TEXT,
    payload BLOB NOT NULL,
    written REAL NOT NULL,
    acked REAL  -- when the broker acknowledged it, while it waits for central QA's receipt
);
CREATE INDEX IF NOT EXISTS outbox_written ON outbox (written);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('dropped', 0);
INSERT OR IGNORE INTO counters VALUES ('receipted', 0);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Outboxes written before receipts lack the acked column.
_ADD_ACKED = "ALTER TABLE outbox ADD COLUMN acked REAL"


class OutboxError(Exception):
    """The outbox file cannot be opened or written; the message says what to fix."""


@dataclass(frozen=True)
class OutboxMessage:
    seq: int
    msg_id: str
    topic: str
    line: str | None
    payload: bytes
    written: float  # unix time the box wrote it


@dataclass(frozen=True)
class Receipts:
    """Where the outbox stands with central QA's receipts."""

    receipted: int  # messages a receipt deleted, ever
    unreceipted: int  # messages in the outbox, sent or not, no receipt yet
    oldest_s: float | None  # age of the oldest of them, s; None when there are none


def _explain(path: Path, err: sqlite3.Error) -> OutboxError:
    text = str(err)
    if "readonly" in text or "read-only" in text:
        why = f"the file system or {path.parent} is read-only for the callqa user"
    elif "full" in text:
        why = f"the disk holding {path.parent} is full"
    elif "unable to open" in text:
        why = f"cannot create or open it: check that {path.parent} exists and is writable"
    else:
        why = text
    return OutboxError(f"outbox {path}: {why} (sqlite: {text})")


class Outbox:
    def __init__(self, path: Path | str, max_messages: int, max_age_s: float, clock=time.time):
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutboxError(f"outbox {self.path}: cannot create {self.path.parent}: {e.strerror}") from None
        try:
            # One connection shared by the sink and the publisher thread, serialised by _lock.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            if "acked" not in {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}:
                self._db.execute(_ADD_ACKED)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (uuid.uuid4().hex,))
            self.epoch = self._db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()[0]
        except sqlite3.Error as e:
            raise _explain(self.path, e) from None

    def _write(self, statements) -> None:
        """Run `statements(db)` in one transaction; sqlite errors become OutboxError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    statements(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise _explain(self.path, e) from None

    def put(self, msg_id: str, topic: str, line: str | None, payload: Callable[[int], bytes]) -> int:
        """Store one message durably; `payload(n)` makes its bytes for its number in the box's
        count. Returns how many old messages the bound dropped. Putting a msg_id that is already
        stored is a no-op (a retry of the same message)."""
        dropped = 0

        def insert(db: sqlite3.Connection) -> None:
            nonlocal dropped
            if db.execute("SELECT 1 FROM outbox WHERE msg_id = ?", (msg_id,)).fetchone():
                return
            # The write lock is held (BEGIN IMMEDIATE): the next number is ours.
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
            n = (last[0] if last else 0) + 1
            db.execute("INSERT INTO outbox (seq, msg_id, topic, line, payload, written) VALUES (?,?,?,?,?,?)",
                       (n, msg_id, topic, line, payload(n), self._clock()))
            dropped = self._enforce_bounds(db)

        self._write(insert)
        return dropped

    def prune(self) -> int:
        """Drop messages past the age bound; returns how many."""
        dropped = 0

        def expire(db: sqlite3.Connection) -> None:
            nonlocal dropped
            dropped = self._enforce_bounds(db)

        self._write(expire)
        return dropped

    def _enforce_bounds(self, db: sqlite3.Connection) -> int:
        aged = db.execute("DELETE FROM outbox WHERE written < ? RETURNING line",
                          (self._clock() - self.max_age_s,)).fetchall()
        over = db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq DESC LIMIT -1 OFFSET ?) "
            "RETURNING line", (self.max_messages,)).fetchall()
        if aged or over:
            db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (len(aged) + len(over),))
        for rows, why in ((aged, f"older than {self.max_age_s / 3600:g} h"),
                          (over, f"beyond the bound of {self.max_messages} messages")):
            if rows:
                lines = sorted({r[0] or "-" for r in rows})
                log.warning("outbox %s: dropped %d unsent message(s) %s (lines: %s); is the broker reachable?",
                            self.path, len(rows), why, ", ".join(lines))
        return len(aged) + len(over)

    def after(self, seq: int, limit: int) -> list[OutboxMessage]:
        """Stored messages to send with a sequence number above `seq`, oldest first (those the
        broker acknowledged and that wait for a receipt are not sent again until resent())."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, msg_id, topic, line, payload, written FROM outbox WHERE seq > ? AND acked IS NULL"
                    " ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
            except sqlite3.Error as e:
                raise _explain(self.path, e) from None
        return [OutboxMessage(*r) for r in rows]

    def remove(self, msg_ids: Iterable[str]) -> None:
        """Forget messages the broker has acknowledged (receipts off)."""
        ids = [(m,) for m in msg_ids]
        if ids:
            self._write(lambda db: db.executemany("DELETE FROM outbox WHERE msg_id = ?", ids))

    def acked(self, msg_ids: Iterable[str]) -> None:
        """The broker has these: keep them, unsent, until a receipt or resent()."""
        now, ids = self._clock(), [(m,) for m in msg_ids]
        if ids:
            self._write(lambda db: db.executemany("UPDATE outbox SET acked = ? WHERE msg_id = ?",
                                                  [(now, m) for (m,) in ids]))

    def receipted(self, msg_ids: Iterable[str]) -> int:
        """Central QA committed these: forget them. Returns how many were still here."""
        ids = [(m,) for m in msg_ids]
        removed = 0

        def delete(db: sqlite3.Connection) -> None:
            nonlocal removed
            for (m,) in ids:
                removed += db.execute("DELETE FROM outbox WHERE msg_id = ?", (m,)).rowcount
            db.execute("UPDATE counters SET value = value + ? WHERE name = 'receipted'", (removed,))

        if ids:
            self._write(delete)
        return removed

    def resent(self, older_than_s: float) -> int | None:
        """Messages the broker acknowledged more than `older_than_s` ago and no receipt has
        come for go back to be sent (same msg_id, same number); returns the lowest such seq."""
        first = None

        def reset(db: sqlite3.Connection) -> None:
            nonlocal first
            rows = db.execute("UPDATE outbox SET acked = NULL WHERE acked < ? RETURNING seq",
                              (self._clock() - older_than_s,)).fetchall()
            first = min((r[0] for r in rows), default=None)

        self._write(reset)
        return first

    def depth(self) -> int:
        """Messages the broker has not acknowledged yet."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked IS NULL").fetchone()[0]

    def receipts(self) -> Receipts:
        with self._lock:
            count, oldest = self._db.execute("SELECT COUNT(*), MIN(written) FROM outbox").fetchone()
            receipted = self._db.execute("SELECT value FROM counters WHERE name = 'receipted'").fetchone()[0]
        return Receipts(receipted, count, None if oldest is None else round(self._clock() - oldest, 1))

    def dropped(self) -> int:
        with self._lock:
            return self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
