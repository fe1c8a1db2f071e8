"""The contract's JSON Schemas, loaded once from this package (never the network), and the
validator for a whole message: the envelope, and its body by its kind's schema.

Schemas refer to each other by relative URI (the envelope to each kind's body, a CallScore to
the alert body); the registry resolves every one of them from the package's own files.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

ENVELOPE_SCHEMA_FILE = "msg.v1.json"
# kind -> the JSON Schema file its body must match
BODY_SCHEMA_FILES: dict[str, str] = {
    "status": "status.v1.json",
    "score": "callscore.v1.json",
    "alert": "alert.v1.json",
    "light": "light.v1.json",
    "call_event": "call_event.v1.json",
    "light_ack": "light_ack.v1.json",
    "receipt": "receipt.v1.json",
    "fleet_alert": "fleet_alert.v1.json",
}
KINDS = tuple(BODY_SCHEMA_FILES)


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((resources.files(__package__) / "schemas" / name).read_text("utf-8"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    schemas = [load_schema(name) for name in (ENVELOPE_SCHEMA_FILE, *BODY_SCHEMA_FILES.values())]
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)


@lru_cache(maxsize=2)
def envelope_validator(formats: bool = True) -> Draft202012Validator:
    """The whole message: envelope fields, and the body by its kind's schema. `formats=False`
    leaves `format` (date-time) to the caller, who then checks times its own way."""
    return Draft202012Validator(load_schema(ENVELOPE_SCHEMA_FILE), registry=_registry(),
                                format_checker=FormatChecker() if formats else None)


def check_kind(kind: str) -> str:
    if kind not in BODY_SCHEMA_FILES:
        raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(KINDS)}")
    return kind


def schema_errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    """Every way `doc` fails `validator`, in path order, one line each naming the path:
    `body.metrics.talk: 'agent_s' is a required property`."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in errors]
