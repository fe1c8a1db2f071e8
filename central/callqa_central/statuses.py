"""Box statuses into the store: one history row per status received, and the box's current
state, replaced only by a status that orders after it.

Ordering: a box's statuses are ordered by the key (session.started, session.connected, rank,
created) with rank online 0 < offline 1. The last will is made when the box sets it, just before
connecting, so its `created` predates the online statuses of that connection; sharing their
session and outranking them, it still wins over them. A newer connection or box process wins over
an older one, and a late, stale status (redelivered, or reaching another store process late)
never overwrites a newer one. A status without `session` (a box older than the field) keys as
("", created, rank, created): by created alone, so its clean stop and restarts order right (its
will, made at connect, loses to its own online statuses: such a box shows offline only after a
clean stop); ranking it before its created would keep it offline for good after its first
offline status. Any status with a session orders after every one without.

Every store process sees every status (a non-shared subscription), so both writes are
idempotent: history on msg_id, the box row by the key; a batch updates box rows in key order.

When a state began (`since_utc`): for online, the connection's session.connected (for an older
box, the status's created); for offline, the later of the status's created and when the box was last
heard online (a will's created is its connection's start, a clean stop's is the stop).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callqa_central.validate import Accepted, utc_text

RANK = {"online": 0, "offline": 1}
LOSING_UNRECEIPTED_S = 600.0  # a score waiting this long for its receipt is one the store may never get

_COUNTERS = ("outbox_depth", "dropped", "undurable", "refused", "unreceipted", "oldest_unreceipted_s")

INSERT_BOX_STATUS = (
    "INSERT INTO box_status (msg_id, site, grp, box, session_started, session_connected, state_rank, created_utc,"
    " received_utc, state, outbox_depth, dropped, undurable, refused, unreceipted, oldest_unreceipted_s, alerts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING"
)
# An offline status (no counters, no alerts) keeps the box's last known ones.
UPSERT_BOX = (
    "INSERT INTO boxes (site, grp, box, state, since_utc, first_seen_utc, last_seen_utc, session_started,"
    " session_connected, state_rank, created_utc, version, model, lines, outbox_depth, dropped, undurable, refused,"
    " unreceipted, oldest_unreceipted_s, alerts, losing_since_utc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (site, grp, box) DO UPDATE SET"
    " state = excluded.state,"
    " since_utc = CASE WHEN boxes.state = excluded.state THEN boxes.since_utc"
    "  WHEN excluded.state = 'offline' AND boxes.last_seen_utc > excluded.since_utc THEN boxes.last_seen_utc"
    "  ELSE excluded.since_utc END,"
    " last_seen_utc = CASE WHEN excluded.state = 'online' THEN excluded.last_seen_utc ELSE boxes.last_seen_utc END,"
    " session_started = excluded.session_started, session_connected = excluded.session_connected,"
    " state_rank = excluded.state_rank, created_utc = excluded.created_utc,"
    " version = excluded.version, model = excluded.model, lines = excluded.lines,"
    + ",".join(f" {c} = COALESCE(excluded.{c}, boxes.{c})" for c in _COUNTERS) + ","
    " alerts = CASE WHEN excluded.state = 'online' THEN excluded.alerts ELSE boxes.alerts END,"
    " losing_since_utc = CASE WHEN excluded.state = 'offline' THEN boxes.losing_since_utc"
    "  WHEN excluded.losing_since_utc IS NULL THEN NULL"
    "  ELSE COALESCE(boxes.losing_since_utc, excluded.losing_since_utc) END"
    " WHERE (boxes.session_started, boxes.session_connected, boxes.state_rank, boxes.created_utc)"
    " < (excluded.session_started, excluded.session_connected, excluded.state_rank, excluded.created_utc)"
)


@dataclass(frozen=True)
class StatusKey:
    session_started: str
    session_connected: str
    rank: int
    created: str


def status_key(body: dict[str, Any], created: str) -> StatusKey:
    session = body.get("session")
    created = utc_text(created)
    started, connected = (utc_text(session["started"]), utc_text(session["connected"])) if session else ("", created)
    return StatusKey(started, connected, RANK[body["state"]], created)


def losing(body: dict[str, Any]) -> bool:
    """The box is losing messages: dropped, sent without a disk copy, refused, or receipts long overdue."""
    return bool(body.get("dropped") or body.get("undurable") or body.get("refused")
                or (body.get("oldest_unreceipted_s") or 0) > LOSING_UNRECEIPTED_S)


def status_rows(msg: Accepted, received_utc: str) -> tuple[tuple, tuple]:
    """(box_status row, boxes row) for one accepted status."""
    env, t, b = msg.envelope, msg.topic, msg.envelope.body
    key = status_key(b, env.created)
    counters = tuple(b.get(c) for c in _COUNTERS)
    alerts = json.dumps(b.get("alerts", []), ensure_ascii=False)
    online = b["state"] == "online"
    since = key.session_connected if online else key.created
    history = (env.msg_id, t.site, t.group, t.box, key.session_started, key.session_connected, key.rank,
               key.created, received_utc, b["state"], *counters, alerts)
    box = (t.site, t.group, t.box, b["state"], since, received_utc, received_utc if online else key.created,
           key.session_started, key.session_connected, key.rank, key.created, b["version"], b["model"],
           json.dumps(b["lines"], ensure_ascii=False), *counters, alerts,
           key.created if online and losing(b) else None)
    return history, box
