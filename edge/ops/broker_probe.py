"""Can this box reach its broker, log in, and use its own topics? A short-lived test client.

It connects with the box's own settings (URL, TLS files, credentials), subscribes to what the
box subscribes to (its CTI call events, the group's light acknowledgements) plus a doctor
topic under its prefix, publishes one small non-retained message there and waits for it to
come back. Nothing about calls is sent.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from dataclasses import dataclass

from edge.config import Config
from edge.mqtt.client import make_paho_client
from callqa_contract.topics import Topics


@dataclass(frozen=True)
class ProbeResult:
    connected: bool
    connect_detail: str
    topics_ok: bool | None  # None: not tried (no connection)
    topics_detail: str


def box_topics(cfg: Config) -> Topics:
    return Topics(cfg.mqtt.prefix, cfg.box.site, cfg.box.group, cfg.box.id)


def doctor_topic(cfg: Config) -> str:
    """Where the doctor's test message goes: the site's ACL gives each box readwrite on it."""
    return f"{box_topics(cfg).box_root}/doctor"


def probe(cfg: Config, timeout_s: float = 5.0) -> ProbeResult:
    # One stable client id: with MQTT 3.1.1 the shared client builder asks for a persistent
    # session, and a fresh id per run would leave one behind on the broker each time.
    client, address = make_paho_client(cfg.mqtt, f"{cfg.box.id}-doctor")
    host, port, tls = address.host, address.port, address.tls or cfg.mqtt.ca_file is not None
    connected = threading.Event()
    subscribed = threading.Event()
    published = threading.Event()
    came_back = threading.Event()
    seen: dict = {}
    nonce = uuid.uuid4().hex
    topic = doctor_topic(cfg)
    topics = box_topics(cfg)
    wanted = [topic, topics.call_events, topics.ack]  # what the box itself subscribes to, and the test topic

    def on_connect(c, userdata, flags, reason_code, properties):
        seen["connect"] = reason_code
        connected.set()

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        seen["subscribe"] = reason_codes
        subscribed.set()

    def on_publish(c, userdata, mid, reason_code, properties):
        seen["publish"] = reason_code
        published.set()

    def on_message(c, userdata, message):
        if message.topic == topic and nonce.encode() in message.payload:
            came_back.set()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_publish, client.on_message = on_publish, on_message
    where = f"{host}:{port}"
    try:
        client.connect(host, port, keepalive=max(cfg.mqtt.keepalive_s, 5))
    except ssl.SSLCertVerificationError as e:
        return ProbeResult(False, f"{where}: TLS certificate not trusted ({e.verify_message})", None, "")
    except (ssl.SSLError, OSError) as e:
        return ProbeResult(False, f"{where}: {e}", None, "")
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            return ProbeResult(False, f"{where}: no answer to CONNECT within {timeout_s:.0f} s", None, "")
        if seen["connect"].is_failure:
            return ProbeResult(False, f"{where}: broker refused the connection: {seen['connect']}", None, "")
        connect_detail = f"{where} as {cfg.mqtt.username or 'anonymous'}" + (" over TLS" if tls else "")
        client.subscribe([(t, 1) for t in wanted])
        if not subscribed.wait(timeout_s):
            return ProbeResult(True, connect_detail, False, "no SUBACK from the broker")
        refused = [t for t, rc in zip(wanted, seen["subscribe"]) if rc.is_failure]
        if refused:
            return ProbeResult(True, connect_detail, False, f"subscription refused for {', '.join(refused)}")
        client.publish(topic, json.dumps({"schema": "callqa.doctor/1", "nonce": nonce}), qos=1)
        if not published.wait(timeout_s):
            return ProbeResult(True, connect_detail, False, f"no PUBACK for {topic}")
        if seen["publish"].is_failure:
            return ProbeResult(True, connect_detail, False, f"publish to {topic} refused: {seen['publish']}")
        if not came_back.wait(timeout_s):
            return ProbeResult(True, connect_detail, False,
                               f"published to {topic} but it never came back (the broker's ACL drops it)")
        return ProbeResult(True, connect_detail, True, f"published and received on {topic}")
    finally:
        client.disconnect()
        client.loop_stop()
