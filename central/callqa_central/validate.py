"""Check one MQTT message against the contract and accept it for the database, or say why not.

Scores and alerts are stored and receipted; statuses update the store's view of each box
(statuses.py). Every payload is the contract's envelope (callqa_contract/schemas/msg.v1.json) whose `body`
is validated by the JSON Schema of its kind. On top of the contract's validators this store
keeps its own policy: versions are checked first (a newer box's message is "unknown version",
not a list of schema errors), a reason names the first schema error and counts the rest, and
a message must agree with itself: the topic's site/group/box and kind must match the
envelope, and a CallScore's own `box` the envelope's, so that one box cannot file scores
under another's name. Anything that fails becomes a `Rejected` with a reason a person can
act on; nothing raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callqa_contract.messages import ENVELOPE_SCHEMA, Envelope
from callqa_contract.registry import envelope_validator, schema_errors
from callqa_contract.topics import TopicInfo, below_prefix, parse
from callqa_central.periods import utc_key

CALLSCORE_SCHEMA = "callqa.callscore/1"
STORED_KINDS = ("score", "alert")  # split between store processes (shared subscription) and receipted
STATUS_KIND = "status"  # retained: every store process reads every box's, not receipted


@dataclass(frozen=True)
class Accepted:
    """A message fit for the database: its envelope and what its topic says (the line)."""

    envelope: Envelope
    topic: TopicInfo


@dataclass(frozen=True)
class Rejected:
    reason: str
    msg_id: str | None = None
    sender: tuple[str, str, str] | None = None  # (site, group, box) of the topic, when it parses
    seq: tuple[str, int] | None = None  # the envelope's (epoch, n), when readable


def _seq(doc: dict[str, Any]) -> tuple[str, int] | None:
    """The envelope's seq when it is well formed (read also from messages that are refused)."""
    seq = doc.get("seq")
    if isinstance(seq, dict) and isinstance(seq.get("epoch"), str) and type(seq.get("n")) is int:
        return seq["epoch"], seq["n"]
    return None


def utc_text(value: str) -> str:
    """ISO-8601 with an offset → fixed-width UTC text, so that text order is time order in any database."""
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"'{value}' has no UTC offset")
    return utc_key(t)


def _first_error(errors: list[str], what: str) -> str | None:
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{what} invalid: {errors[0]}{more}"


def _stored_topic(topic: str, prefix: str) -> TopicInfo | str:
    """What a score, alert or status topic says, or why the store does not take messages on it."""
    if below_prefix(prefix, topic) is None:
        return f"topic '{topic}' is outside prefix '{prefix}'"
    info = parse(prefix, topic)
    if info is None or info.kind not in (*STORED_KINDS, STATUS_KIND):
        return f"topic '{topic}' is not <prefix>/<site>/<group>/<box>/score|alert/<line> or .../<box>/status"
    return info


def check_message(topic: str, payload: bytes, prefix: str) -> Accepted | Rejected:
    info = _stored_topic(topic, prefix)
    if isinstance(info, str):
        return Rejected(info)
    # A refused status is kept in quarantine like the rest but names no sender: statuses are not receipted.
    sender = (info.site, info.group, info.box) if info.kind in STORED_KINDS else None
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        return Rejected(f"payload is not JSON: {e}", sender=sender)
    if not isinstance(doc, dict):
        return Rejected(f"payload is JSON {type(doc).__name__}, not an envelope object", sender=sender)
    result = _check_envelope(doc, info)
    if isinstance(result, str):
        msg_id = doc.get("msg_id") if isinstance(doc.get("msg_id"), str) else None
        return Rejected(result, msg_id, sender, _seq(doc))
    return result


def _check_envelope(doc: dict[str, Any], info: TopicInfo) -> Accepted | str:
    """The accepted message, or the reason it is refused."""
    if doc.get("schema") != ENVELOPE_SCHEMA:
        return f"unknown envelope schema {doc.get('schema')!r} (this store reads {ENVELOPE_SCHEMA!r})"
    body = doc.get("body")
    if info.kind == "score" and isinstance(body, dict) and body.get("schema") != CALLSCORE_SCHEMA:
        return f"unknown CallScore schema {body.get('schema')!r} (this store reads {CALLSCORE_SCHEMA!r})"
    if isinstance(doc.get("kind"), str) and doc["kind"] != info.kind:
        return f"envelope kind '{doc['kind']}' on a '{info.kind}' topic"
    # One pass checks the envelope and, by its kind (the topic's, checked above), the body.
    # Times are checked below, with utc_text, so schema `format` is left out of it.
    if err := _first_error(schema_errors(envelope_validator(formats=False), doc), "envelope"):
        return err
    env = Envelope.from_dict(doc)
    if (env.box.site, env.box.group, env.box.id) != (info.site, info.group, info.box):
        return (f"envelope box {env.box.site}/{env.box.group}/{env.box.id} differs from the topic's "
                f"{info.site}/{info.group}/{info.box}")
    if reason := _consistency(info.kind, body, doc["box"], info.line):
        return reason
    try:
        utc_text(env.created)
        if info.kind == "score":
            utc_text(body["start"]), utc_text(body["end"])
        if info.kind == STATUS_KIND and "session" in body:
            utc_text(body["session"]["started"]), utc_text(body["session"]["connected"])
    except ValueError as e:
        return f"bad timestamp: {e}"
    return Accepted(env, info)


def _consistency(kind: str, body: dict[str, Any], who: dict[str, str], line: str | None) -> str | None:
    if kind == STATUS_KIND:
        return None
    if body["line"] != line:
        return f"{kind} body line '{body['line']}' differs from the topic's line '{line}'"
    if kind != "score":
        return None
    if body["box"] != who:
        return f"CallScore box {body['box']} differs from the envelope's {who}"
    ids = [item["id"] for item in body["items"]]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        return f"CallScore repeats rubric item ids {repeated}"
    return None
