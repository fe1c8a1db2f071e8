"""Commands to the box, read from their topics: CTI call events become a CallBoundary for the
line's segmenter, desk-light acknowledges a LightAck, central QA's receipts a Receipt. Invalid
ones and ones for a line the box does not have are logged and dropped; QoS 1 redeliveries are
dropped silently."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from callqa_contract.messages import Envelope, MessageError
from callqa_contract.topics import parse
from edge.events import CallBoundary

log = logging.getLogger(__name__)

SEEN_IDS = 1024  # inbound msg_ids remembered, to drop QoS 1 redeliveries


@dataclass(frozen=True)
class LightAck:
    alert_id: str | None  # None: acknowledge every alert
    by: str


@dataclass(frozen=True)
class Receipt:
    """Central QA committed these scores and alerts of this box."""

    msg_ids: tuple[str, ...]
    store: str  # the store process that says so


class InboundCommands:
    """Used on paho's network thread only."""

    def __init__(self, prefix: str, lines: list[str], stream_clock: Callable[[str], float]):
        """`stream_clock(line)` gives the line's stream time, for CallBoundary.t."""
        self._prefix = prefix
        self._lines = lines
        self._stream_clock = stream_clock
        self._seen: OrderedDict[str, None] = OrderedDict()

    def read(self, topic: str, payload: bytes) -> CallBoundary | LightAck | Receipt | None:
        """The command in one inbound message, or None when there is none to act on."""
        info = parse(self._prefix, topic)
        if info is None or info.kind not in ("call_event", "light_ack", "receipt"):
            log.warning("ignoring a message on unexpected topic %s", topic)
            return None
        try:
            env = Envelope.from_json(payload)
        except MessageError as e:
            log.warning("ignoring an invalid %s on %s: %s", info.kind, topic, e)
            return None
        if env.kind != info.kind:
            log.warning("ignoring a %s sent on the %s topic %s", env.kind, info.kind, topic)
            return None
        if env.msg_id in self._seen:  # QoS 1 redelivery of a command already acted on
            return None
        self._seen[env.msg_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        if info.kind == "light_ack":
            return LightAck(env.body["alert_id"], env.body["by"])
        if info.kind == "receipt":
            return Receipt(tuple(env.body["msg_ids"]), env.box.id)
        if info.line not in self._lines:
            log.warning("CTI %s for line %r, which this box does not have (lines: %s)",
                        env.body["event"], info.line, ", ".join(self._lines) or "none")
            return None
        return CallBoundary(info.line, env.body["event"], self._stream_clock(info.line), env.body["call_ref"])
