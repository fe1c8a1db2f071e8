"""Write a batch of received messages in one transaction: valid ones as rows, the rest to quarantine.

Inserts are idempotent on msg_id (`ON CONFLICT DO NOTHING`), so a message the broker delivers
again after a crash, or that a box sent twice, is stored once. A message the database itself
refuses (it passed the schemas but breaks a constraint or a type) is quarantined with the
database's words instead of blocking the batch. Any other database error (down, locked, full)
goes up, so the caller retries the batch later and acknowledges nothing meanwhile.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from callqa_central.db import Database
from callqa_central.statuses import INSERT_BOX_STATUS, UPSERT_BOX, status_rows
from callqa_central.validate import STATUS_KIND, Accepted, Rejected, check_message, utc_text

log = logging.getLogger("callqa.store")

INSERT_CALL = (
    "INSERT INTO calls (msg_id, site, grp, box, line, call_id, call_ref, start_utc, end_utc, duration_s,"
    " end_reason, score, max_score, pass_mark, passed, fatal, alert_count, flags, created_utc, received_utc, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING"
)
INSERT_FAILED_ITEM = (
    "INSERT INTO failed_items (msg_id, item_id, name, section, deduction, points, fatal, site, grp, box, line, start_utc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id, item_id) DO NOTHING"
)
INSERT_ALERT = (
    "INSERT INTO alerts (msg_id, site, grp, box, line, call_id, alert_id, item, severity, reason, t,"
    " created_utc, received_utc, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING"
)
INSERT_SEQUENCE = (
    "INSERT INTO sequence (site, grp, box, epoch, n, msg_id, received_utc) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (site, grp, box, epoch, n) DO NOTHING"
)
INSERT_QUARANTINE = (
    "INSERT INTO quarantine (quarantine_key, msg_id, topic, payload, reason, received_utc)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (quarantine_key) DO NOTHING"
)


@dataclass(frozen=True)
class Received:
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    received_utc: str


@dataclass(frozen=True)
class Committed:
    """A message now safe in the database (stored, a duplicate of one stored, or quarantined
    with its payload): its box gets a receipt for it."""

    site: str
    group: str
    box: str
    msg_id: str


@dataclass(frozen=True)
class BatchResult:
    stored: int
    quarantined: int
    committed: tuple[Committed, ...] = ()


def payload_text(payload: bytes) -> str:
    """The payload as text for the quarantine table, byte-exact: UTF-8 text as is; anything
    else (or text with NUL, which PostgreSQL text cannot hold) as 'base64:' + base64."""
    try:
        text = payload.decode("utf-8")
        if "\x00" not in text:
            return text
    except UnicodeDecodeError:
        pass
    return "base64:" + base64.b64encode(payload).decode("ascii")


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def score_rows(msg: Accepted, received_utc: str) -> tuple[tuple, list[tuple]]:
    env, t, b = msg.envelope, msg.topic, msg.envelope.body
    start = utc_text(b["start"])
    call = (
        env.msg_id, t.site, t.group, t.box, t.line, b["call_id"], b.get("call_ref"), start,
        utc_text(b["end"]), b["duration_s"], b["end_reason"], b["score"], b["max_score"], b["pass_mark"],
        int(b["passed"]), int(b["fatal"]), len(b["alerts"]), _dump(b["flags"]), utc_text(env.created), received_utc,
        _dump(b),
    )
    failed = [
        (env.msg_id, it["id"], it["name"], it["section"], it["deduction"], it["points"], int(it["fatal"]),
         t.site, t.group, t.box, t.line, start)
        for it in b["items"] if it["status"] == "failed"
    ]
    return call, failed


def alert_row(msg: Accepted, received_utc: str) -> tuple:
    env, t, b = msg.envelope, msg.topic, msg.envelope.body
    return (
        env.msg_id, t.site, t.group, t.box, t.line, b["call_id"], b["alert_id"], b["item"],
        b["severity"], b["reason"], b["t"], utc_text(env.created), received_utc, _dump(b),
    )


def committed(result: Accepted | Rejected) -> Committed | None:
    if isinstance(result, Accepted):
        if result.topic.kind == STATUS_KIND:
            return None  # retained state, not an outbox message: nothing for the box to delete
        return Committed(result.topic.site, result.topic.group, result.topic.box, result.envelope.msg_id)
    if result.sender and result.msg_id:
        return Committed(*result.sender, result.msg_id)
    return None  # no box to tell, or no id to name


def sequence_row(result: Accepted | Rejected, received_utc: str) -> tuple | None:
    if isinstance(result, Accepted):
        t, env = result.topic, result.envelope
        seq = env.seq and (env.seq.epoch, env.seq.n)
        sender, msg_id = (t.site, t.group, t.box), env.msg_id
    else:
        seq, sender, msg_id = result.seq, result.sender, result.msg_id
    if seq is None or sender is None or msg_id is None:
        return None
    return (*sender, *seq, msg_id, received_utc)


def quarantine_row(msg: Received, reason: str, msg_id: str | None) -> tuple:
    key = hashlib.sha256(msg.topic.encode() + b"\x00" + msg.payload).hexdigest()
    return key, msg_id, msg.topic, payload_text(msg.payload), reason, msg.received_utc


class StoreWriter:
    """Checks and writes batches of `Received` messages into one `Database`."""

    def __init__(self, db: Database, prefix: str):
        self.db = db
        self.prefix = prefix

    def write(self, batch: list[Received]) -> BatchResult:
        checked = [(msg, check_message(msg.topic, msg.payload, self.prefix)) for msg in batch]
        for msg, result in checked:
            if isinstance(result, Rejected):
                log.warning("quarantined %s: %s", msg.topic, result.reason)
        try:
            with self.db.transaction():
                self._write(checked)
        except self.db.data_errors as e:  # a message the database will not take: find it one by one
            if len(checked) == 1:
                return self._quarantine_refused(checked[0], e)
            log.warning("batch of %d refused (%s); writing one by one", len(checked), e)
            results = [self.write([msg]) for msg, _ in checked]
            return BatchResult(sum(r.stored for r in results), sum(r.quarantined for r in results),
                               tuple(c for r in results for c in r.committed))
        rejected = sum(isinstance(r, Rejected) for _, r in checked)
        return BatchResult(len(checked) - rejected, rejected, _committed(checked))

    def _write(self, checked: list[tuple[Received, Accepted | Rejected]]) -> None:
        calls, failed, alerts, quarantined, history, boxes = [], [], [], [], [], []
        sequence = [row for msg, result in checked if (row := sequence_row(result, msg.received_utc))]
        for msg, result in checked:
            if isinstance(result, Rejected):
                quarantined.append(quarantine_row(msg, result.reason, result.msg_id))
            elif result.topic.kind == "score":
                call, items = score_rows(result, msg.received_utc)
                calls.append(call)
                failed.extend(items)
            elif result.topic.kind == STATUS_KIND:
                status, box = status_rows(result, msg.received_utc)
                history.append(status)
                boxes.append(box)
            else:
                alerts.append(alert_row(result, msg.received_utc))
        # Every store process writes every status: box rows in one order, so two batches never deadlock.
        boxes.sort(key=lambda row: row[:3])
        for sql, rows in ((INSERT_CALL, calls), (INSERT_FAILED_ITEM, failed), (INSERT_ALERT, alerts),
                          (INSERT_QUARANTINE, quarantined), (INSERT_SEQUENCE, sequence),
                          (INSERT_BOX_STATUS, history), (UPSERT_BOX, boxes)):
            if rows:
                self.db.executemany(sql, rows)

    def _quarantine_refused(self, checked: tuple[Received, Accepted | Rejected], error: Exception) -> BatchResult:
        msg, result = checked
        if isinstance(result, Rejected):
            raise error  # even the quarantine row was refused: nothing to do but retry and alarm
        reason = f"database refused the {result.topic.kind}: {error}".strip()
        log.warning("quarantined %s: %s", msg.topic, reason)
        with self.db.transaction():
            self.db.execute(INSERT_QUARANTINE, quarantine_row(msg, reason, result.envelope.msg_id))
            if row := sequence_row(result, msg.received_utc):
                self.db.execute(INSERT_SEQUENCE, row)
        return BatchResult(0, 1, _committed([checked]))


def _committed(checked: list[tuple[Received, Accepted | Rejected]]) -> tuple[Committed, ...]:
    return tuple(c for _, result in checked if (c := committed(result)))
