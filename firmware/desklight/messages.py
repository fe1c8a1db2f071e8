"""The two MQTT messages a desk light deals with, per the box's MQTT contract.

In: each box's retained `<prefix>/<site>/<group>/<box>/light` (kind "light").
Out (and in, from other lights of the group): `<prefix>/<site>/<group>/ack` (kind "light_ack").
Every payload is the contract's JSON envelope; anything else is refused with a ValueError
that names the topic and the field, and the light carries on.
"""

import json
import os

from . import isotime

SCHEMA = "callqa.msg/1"
STATES = ("red", "amber", "green")


class Topics:
    def __init__(self, prefix, site, group):
        base = "%s/%s/%s/" % (prefix, site, group)
        self.lights = base + "+/light"  # subscription: every box of the seat group
        self.ack = base + "ack"
        self._light_head = base
        self.site = site
        self.group = group

    def box_of(self, topic):
        """The box id in `<base><box>/light`, or None when the topic is not a light topic."""
        if not topic.startswith(self._light_head) or not topic.endswith("/light"):
            return None
        box = topic[len(self._light_head):-len("/light")]
        return box if box and "/" not in box else None


def _envelope(topic, payload, kind):
    try:
        msg = json.loads(payload.decode() if isinstance(payload, bytes) else payload)
    except (ValueError, UnicodeError):
        raise ValueError("%s: payload is not JSON" % topic)
    if not isinstance(msg, dict):
        raise ValueError("%s: payload is not a JSON object" % topic)
    if msg.get("schema") != SCHEMA:
        raise ValueError("%s: schema must be %r, got %r" % (topic, SCHEMA, msg.get("schema")))
    if msg.get("kind") != kind:
        raise ValueError("%s: kind must be %r, got %r" % (topic, kind, msg.get("kind")))
    body = msg.get("body")
    if not isinstance(body, dict):
        raise ValueError("%s: body must be an object" % topic)
    return body


def _field(topic, body, name, types, nullable):
    value = body.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, types):
        raise ValueError("%s: body.%s has the wrong type (%r)" % (topic, name, value))
    return value


class LightState:
    """One box's light state, as published (times parsed to ms since 1970)."""

    def __init__(self, box, state, blink, reason, line, call_id, alert_id, since_ms, expires_ms):
        self.box = box
        self.state = state
        self.blink = blink
        self.reason = reason
        self.line = line
        self.call_id = call_id
        self.alert_id = alert_id
        self.since_ms = since_ms
        self.expires_ms = expires_ms


def parse_light(topic, box, payload):
    """A box's light message -> LightState; an empty (cleared retained) payload -> None."""
    if not payload:
        return None
    body = _envelope(topic, payload, "light")
    state = body.get("state")
    if state not in STATES:
        raise ValueError("%s: body.state must be red, amber or green, got %r" % (topic, state))
    try:
        since_ms = isotime.parse_ms(_field(topic, body, "since", str, False))
        expires = _field(topic, body, "expires", str, True)
        expires_ms = None if expires is None else isotime.parse_ms(expires)
    except ValueError as e:
        raise ValueError("%s: %s" % (topic, e))
    return LightState(
        box,
        state,
        bool(_field(topic, body, "blink", bool, False)),
        _field(topic, body, "reason", str, True) or "",
        _field(topic, body, "line", str, True),
        _field(topic, body, "call_id", str, True),
        _field(topic, body, "alert_id", str, True),
        since_ms,
        expires_ms,
    )


def parse_ack(topic, payload):
    """A light_ack message -> the acknowledged alert_id, or None for 'all of the group's alerts'."""
    body = _envelope(topic, payload, "light_ack")
    if "alert_id" not in body:
        raise ValueError("%s: body.alert_id is missing" % topic)
    return _field(topic, body, "alert_id", str, True)


def random_bytes(n):
    try:
        return bytearray(os.urandom(n))
    except AttributeError:  # a port without os.urandom: its PRNG is seeded at start-up
        import random

        return bytearray(random.getrandbits(8) for _ in range(n))


def new_msg_id():
    """A random (version 4) UUID as 32 hex digits, as the contract's msg_id."""
    b = random_bytes(16)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return "".join("%02x" % x for x in b)


def light_ack(topics, light_id, alert_id, by, wall_ms, msg_id):
    """The envelope a button press publishes. `wall_ms` None (clock not synced yet) is written
    as the epoch, which the receiver can tell apart from a real time."""
    return json.dumps({
        "schema": SCHEMA,
        "kind": "light_ack",
        "msg_id": msg_id,
        "created": isotime.format_ms(wall_ms or 0),
        "box": {"site": topics.site, "group": topics.group, "id": light_id},
        "body": {"alert_id": alert_id, "by": by},
    })
