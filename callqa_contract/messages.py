"""The JSON envelope every payload travels in (checked by registry.py's schemas), and the
privacy check.

    {"schema": "callqa.msg/1", "kind": ..., "msg_id": <uuid4 hex>, "created": <UTC ISO>,
     "box": {"site", "group", "id"}, "body": {...}}

`msg_id` is fixed when a message is first made and stored with it in the outbox, so every
retry (reconnect, box restart) carries the same id and consumers can drop duplicates.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from callqa_contract.registry import check_kind, envelope_validator, schema_errors

ENVELOPE_SCHEMA = "callqa.msg/1"

# Key names that would mean audio, features or words left the box. The rubric phrase that
# matched travels as `phrase`, which is allowed; free text has no business in a payload.
FORBIDDEN_KEYS = frozenset({
    "audio", "samples", "pcm", "wav", "waveform", "signal", "recording",
    "features", "feature", "mfcc", "fbank", "mel", "spectrogram", "embedding", "embeddings",
    "posteriors", "logits", "transcript", "transcription", "text", "utterance", "asr",
})
MAX_NUMBER_LIST = 64  # a longer flat list of numbers looks like a signal or a feature vector
MAX_STRING = 200  # longer strings look like free text


class MessageError(ValueError):
    """A payload that is not a callqa envelope; the message says what is wrong."""


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class BoxId:
    site: str
    group: str
    id: str


@dataclass(frozen=True)
class Seq:
    """A score's or alert's place in its box's count: `n` of the outbox named `epoch`."""

    epoch: str
    n: int


@dataclass(frozen=True)
class Envelope:
    kind: str
    msg_id: str
    created: str
    box: BoxId
    body: dict[str, Any]
    seq: Seq | None = None

    @classmethod
    def new(cls, kind: str, box: BoxId, body: dict[str, Any], seq: Seq | None = None) -> "Envelope":
        return cls(check_kind(kind), uuid.uuid4().hex, utc_now_iso(), box, body, seq)

    def to_dict(self) -> dict[str, Any]:
        doc = {"schema": ENVELOPE_SCHEMA, "kind": self.kind, "msg_id": self.msg_id,
               "created": self.created, "box": asdict(self.box)}
        if self.seq is not None:
            doc["seq"] = asdict(self.seq)
        return doc | {"body": self.body}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> "Envelope":
        """Parse and validate; MessageError names every problem."""
        try:
            doc = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MessageError(f"not JSON: {e}") from None
        problems = validation_errors(doc)
        if problems:
            raise MessageError("; ".join(problems))
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Envelope":
        """An envelope from a document that already passed the envelope schema."""
        seq = Seq(**doc["seq"]) if "seq" in doc else None
        return cls(doc["kind"], doc["msg_id"], doc["created"], BoxId(**doc["box"]), doc["body"], seq)


def validation_errors(doc: Any) -> list[str]:
    """Every way `doc` fails the envelope schema (and its kind's body schema), one line each,
    naming the path: `body.metrics.talk: 'agent_s' is a required property`."""
    return schema_errors(envelope_validator(), doc)


def privacy_problems(body: Any, path: str = "body") -> list[str]:
    """Reasons `body` might carry audio, features or transcript; empty when it is clean."""
    problems: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            where = f"{path}.{key}"
            if str(key).lower() in FORBIDDEN_KEYS:
                problems.append(f"{where}: field name suggests audio, features or transcript")
            problems.extend(privacy_problems(value, where))
    elif isinstance(body, list):
        if len(body) > MAX_NUMBER_LIST and all(isinstance(v, (int, float)) for v in body):
            problems.append(f"{path}: a list of {len(body)} numbers looks like samples or features")
        for i, value in enumerate(body):
            problems.extend(privacy_problems(value, f"{path}.{i}"))
    elif isinstance(body, str) and len(body) > MAX_STRING:
        problems.append(f"{path}: {len(body)} characters of text")
    return problems
