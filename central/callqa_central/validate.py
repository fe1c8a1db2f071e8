"""Check one MQTT message against the contract and turn it into a typed record, or say why not.

Every payload is an envelope (callqa_contract/schemas/msg.v1.json) whose `body` is validated by the JSON
Schema of its kind. Beyond the schemas, a message must agree with itself: the topic's
site/group/box and kind must match the envelope, and a CallScore's own `box` the envelope's,
so that one box cannot file scores under another's name. Anything that fails becomes a
`Rejected` with a reason a person can act on; nothing raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ENVELOPE_SCHEMA = "callqa.msg/1"
CALLSCORE_SCHEMA = "callqa.callscore/1"
# topic kind segment -> envelope kind it must carry
TOPIC_KINDS = ("score", "alert")


@dataclass(frozen=True)
class Envelope:
    msg_id: str
    kind: str
    created: str  # normalised UTC, see utc_text
    site: str
    group: str
    box: str
    line: str  # from the topic
    body: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    reason: str
    msg_id: str | None = None


def utc_text(value: str) -> str:
    """ISO-8601 with an offset → fixed-width UTC text, so that text order is time order in any database."""
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"'{value}' has no UTC offset")
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=1)
def _validators() -> dict[str, Draft202012Validator]:
    folder = resources.files("callqa_contract") / "schemas"
    docs = {entry.name: json.loads(entry.read_text("utf-8")) for entry in folder.iterdir() if entry.name.endswith(".json")}
    # Schemas refer to each other by relative URI (callscore → alert; the envelope → each
    # kind's body): resolve every one from the package, never the network.
    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in docs.values()
    )
    return {
        "envelope": Draft202012Validator(docs["msg.v1.json"], registry=registry),
        "score": Draft202012Validator(docs["callscore.v1.json"], registry=registry),
        "alert": Draft202012Validator(docs["alert.v1.json"], registry=registry),
    }


def _first_error(validator: Draft202012Validator, doc: Any, what: str) -> str | None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{what} invalid: {where}: {e.message}{more}"


def parse_topic(topic: str, prefix: str) -> tuple[str, str, str, str, str] | str:
    """`<prefix>/<site>/<group>/<box>/<kind>/<line>` → (site, group, box, kind, line), or a reason."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return f"topic '{topic}' is outside prefix '{prefix}'"
    parts = topic[len(head):].split("/")
    if len(parts) != 5 or parts[3] not in TOPIC_KINDS:
        return f"topic '{topic}' is not <prefix>/<site>/<group>/<box>/score|alert/<line>"
    site, group, box, kind, line = parts
    return site, group, box, kind, line


def check_message(topic: str, payload: bytes, prefix: str) -> Envelope | Rejected:
    parsed = parse_topic(topic, prefix)
    if isinstance(parsed, str):
        return Rejected(parsed)
    site, group, box, topic_kind, line = parsed
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        return Rejected(f"payload is not JSON: {e}")
    if not isinstance(doc, dict):
        return Rejected(f"payload is JSON {type(doc).__name__}, not an envelope object")
    msg_id = doc.get("msg_id") if isinstance(doc.get("msg_id"), str) else None
    if doc.get("schema") != ENVELOPE_SCHEMA:
        return Rejected(f"unknown envelope schema {doc.get('schema')!r} (this store reads {ENVELOPE_SCHEMA!r})", msg_id)
    body = doc.get("body")
    # Versions first: a newer box's message is "unknown version", not a list of schema errors.
    if topic_kind == "score" and isinstance(body, dict) and body.get("schema") != CALLSCORE_SCHEMA:
        return Rejected(f"unknown CallScore schema {body.get('schema')!r} (this store reads {CALLSCORE_SCHEMA!r})", msg_id)
    if isinstance(doc.get("kind"), str) and doc["kind"] != topic_kind:
        return Rejected(f"envelope kind '{doc['kind']}' on a '{topic_kind}' topic", msg_id)
    validators = _validators()
    if err := _first_error(validators["envelope"], doc, "envelope"):
        return Rejected(err, msg_id)
    who = doc["box"]
    if (who["site"], who["group"], who["id"]) != (site, group, box):
        return Rejected(
            f"envelope box {who['site']}/{who['group']}/{who['id']} differs from the topic's {site}/{group}/{box}", msg_id
        )
    if err := _first_error(validators[topic_kind], body, f"{topic_kind} body"):
        return Rejected(err, msg_id)
    if reason := _consistency(topic_kind, body, who, line):
        return Rejected(reason, msg_id)
    try:
        created = utc_text(doc["created"])
        if topic_kind == "score":
            utc_text(body["start"]), utc_text(body["end"])
    except ValueError as e:
        return Rejected(f"bad timestamp: {e}", msg_id)
    return Envelope(doc["msg_id"], topic_kind, created, site, group, box, line, body)


def _consistency(kind: str, body: dict[str, Any], who: dict[str, str], line: str) -> str | None:
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
