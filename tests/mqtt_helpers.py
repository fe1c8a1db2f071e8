"""Helpers for the MQTT tests: a box config pointed at the test broker, and a subscriber
that records every message it receives (persistent session, QoS 1)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import parse_config
from callqa_contract.messages import validation_errors

LINES = tuple(f"l{i}" for i in range(1, 9))


def box_config(tmp: Path, url: str, lines=LINES[:2], box="box1", mqtt: dict | None = None, outbox: dict | None = None):
    return parse_config({
        "box": {"site": "hq", "group": "g1", "id": box, "state_dir": str(tmp / f"state-{box}")},
        "lines": [{"name": n, "source": "replay", "path": str(tmp)} for n in lines],
        "mqtt": {"enabled": True, "url": url, "reconnect_min_s": 1, "reconnect_max_s": 2,
                 "status_interval_s": 1, **(mqtt or {})},
        "outbox": outbox or {},
    })


def config_toml(cfg_dict: dict) -> str:
    """Enough TOML for the box driver's config (flat tables of scalars and a list of lines)."""
    out = []
    for section, values in cfg_dict.items():
        if section == "lines":
            for line in values:
                out.append("[[lines]]")
                out += [f"{k} = {json.dumps(v)}" for k, v in line.items()]
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(out) + "\n"


class Collector:
    """Subscribes to a filter and keeps every message: (topic, envelope dict, retained)."""

    def __init__(self, url_port: int, topic: str, username: str | None = None, password: str | None = None,
                 client_id: str | None = None):
        self.messages: list[tuple[str, dict, bool]] = []
        self.received_at: list[float] = []
        self.invalid: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.topic = topic
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", url_port, 10, clean_start=False, properties=props)
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.loop_start()
        assert self._subscribed.wait(10), "test subscriber could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        doc = json.loads(msg.payload)
        errors = validation_errors(doc)
        with self._lock:
            self.messages.append((msg.topic, doc, msg.retain))
            self.received_at.append(time.time())
            if errors:
                self.invalid.append((msg.topic, errors))

    def of_kind(self, kind: str) -> list[dict]:
        with self._lock:
            return [d for _, d, _ in self.messages if d.get("kind") == kind]

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def scores_by_line(envelopes: list[dict]) -> dict[str, list[str]]:
    """call_ids per line in order of first arrival (duplicates dropped by msg_id)."""
    seen: set[str] = set()
    out: dict[str, list[str]] = defaultdict(list)
    for env in envelopes:
        if env["msg_id"] in seen:
            continue
        seen.add(env["msg_id"])
        out[env["body"]["line"]].append(env["body"]["call_id"])
    return out
