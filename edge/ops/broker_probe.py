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
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import Config, ConfigError


@dataclass(frozen=True)
class ProbeResult:
    connected: bool
    connect_detail: str
    topics_ok: bool | None  # None: not tried (no connection)
    topics_detail: str


def _box_root(cfg: Config) -> str:
    return f"{cfg.mqtt.prefix}/{cfg.box.site}/{cfg.box.group}/{cfg.box.id}"


def doctor_topic(cfg: Config) -> str:
    return f"{_box_root(cfg)}/doctor"


def _client(cfg: Config) -> tuple[paho.Client, str, int, bool]:
    m = cfg.mqtt
    u = urlparse(m.url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        raise ConfigError(f"mqtt.url {m.url!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = u.scheme in ("mqtts", "ssl")
    protocol = MQTTProtocolVersion.MQTTv5 if m.protocol == 5 else MQTTProtocolVersion.MQTTv311
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{cfg.box.id}-doctor-{uuid.uuid4().hex[:8]}",
                         protocol=protocol)
    if m.username:
        password = None
        if m.password_file is not None:
            try:
                password = m.password_file.read_text().strip()
            except OSError as e:
                raise ConfigError(f"mqtt.password_file {m.password_file}: {e.strerror}") from None
        client.username_pw_set(m.username, password)
    if tls or m.ca_file:
        try:
            client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None,
                           certfile=str(m.cert_file) if m.cert_file else None,
                           keyfile=str(m.key_file) if m.key_file else None)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"mqtt TLS files (ca_file / cert_file / key_file): {e}") from None
    return client, u.hostname, u.port or (8883 if tls else 1883), tls or m.ca_file is not None


def probe(cfg: Config, timeout_s: float = 5.0) -> ProbeResult:
    client, host, port, tls = _client(cfg)
    connected = threading.Event()
    subscribed = threading.Event()
    published = threading.Event()
    came_back = threading.Event()
    seen: dict = {}
    nonce = uuid.uuid4().hex
    topic = doctor_topic(cfg)
    wanted = [topic, f"{_box_root(cfg)}/cmd/call/+", f"{cfg.mqtt.prefix}/{cfg.box.site}/{cfg.box.group}/ack"]

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
