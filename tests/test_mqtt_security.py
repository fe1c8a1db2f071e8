"""Passwords, TLS and the shipped site ACL, against a real Mosquitto."""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import ConfigError
from edge.mqtt.client import read_secret
from callqa_contract.messages import BoxId, Envelope
from edge.mqtt.sink import MqttSink
from callqa_lab.synthetic import synthetic_score
from tests.broker import Broker, free_port
from tests.mqtt_helpers import Collector, box_config
from tests.tls import make_pki

REPO = Path(__file__).resolve().parent.parent
SITE_ACL = REPO / "scripts" / "mosquitto" / "callqa.acl"
USERS = {"box-g1-a": "pw-a", "box-g1-b": "pw-b", "central": "pw-central", "light-g1": "pw-light", "cti": "pw-cti"}


def password_file(path: Path, users: dict[str, str]) -> Path:
    for i, (user, pw) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(path), user, pw], check=True)
    return path


def secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def site_broker(tmp_path: Path) -> Broker:
    port = free_port()
    pw = password_file(tmp_path / "passwd", USERS)
    return Broker(tmp_path / "broker", port=port, extra_conf=(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\nacl_file {SITE_ACL}\n"))


def site_box_config(tmp_path: Path, broker: Broker, user: str, password: str, box: str = "box-g1-a"):
    pw = secret(tmp_path / f"{user}.pw", password)
    cfg = box_config(tmp_path, broker.url, box=box, mqtt={"username": user, "password_file": str(pw)})
    return cfg.model_copy(update={"box": cfg.box.model_copy(update={"site": "sh01"})})


def test_wrong_password_logs_a_clear_error_and_retries_with_backoff(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    with site_broker(tmp_path) as broker:
        cfg = site_box_config(tmp_path, broker, "box-g1-a", "not-the-password")
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"reconnect_min_s": 1, "reconnect_max_s": 4})})
        sink = MqttSink(cfg).start()
        sink.on_score(synthetic_score(BoxId("sh01", "g1", "box-g1-a"), "l1", 0))
        time.sleep(6)
        attempts = sink.client.connect_attempts
        assert "refused the connection" in caplog.text and "password_file" in caplog.text
        assert 2 <= attempts <= 5, f"{attempts} attempts in 6 s: expected a backoff of 1, 2, 4 s"
        assert not sink.client.connected
        assert sink.client.pending() == 1  # the score waits in the outbox, not lost
        sink.close(drain_s=0)


def test_password_file_readable_by_others_is_refused_with_the_fix(tmp_path):
    loose = secret(tmp_path / "pw", "secret", mode=0o644)
    with pytest.raises(ConfigError, match=r"readable by group or others .*chmod 600"):
        read_secret(loose, "mqtt.password_file")
    assert read_secret(secret(tmp_path / "pw2", "secret"), "mqtt.password_file") == "secret"


def _publish_as(broker: Broker, user: str, topic: str) -> int:
    """Publish one QoS 1 message with MQTT v5; returns the PUBACK reason code value."""
    acked: list[int] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}", protocol=MQTTProtocolVersion.MQTTv5)
    c.username_pw_set(user, USERS[user])
    c.on_publish = lambda cl, u, mid, rc, p: acked.append(rc.value)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    env = Envelope.new("score", BoxId("sh01", "g1", "box-g1-b"), synthetic_score(BoxId("sh01", "g1", "box-g1-b"), "l1", 7).to_dict())
    c.publish(topic, env.to_json(), qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    return acked[0]


def test_shipped_site_acl_keeps_a_box_inside_its_own_prefix(tmp_path):
    with site_broker(tmp_path) as broker:
        central = Collector(broker.port, "callqa/v1/sh01/#", username="central", password=USERS["central"])
        sink = MqttSink(site_box_config(tmp_path, broker, "box-g1-a", USERS["box-g1-a"])).start()
        sink.on_score(synthetic_score(BoxId("sh01", "g1", "box-g1-a"), "l1", 1))
        central.wait_for(lambda: central.of_kind("score"), 10, "the box's own score")
        assert sink.client.connected

        not_authorized = 0x87
        for topic in ("callqa/v1/sh01/g1/box-g1-b/score/l1",  # another box of the group
                      "callqa/v1/sh01/g2/box-g1-a/score/l1",  # another group
                      "callqa/v1/sh01/g1/ack",  # acknowledging lights is the desk light's job
                      "callqa/v1/sh01/g1/box-g1-a/cmd/call/l1"):  # commands come from CTI only
            assert _publish_as(broker, "box-g1-a", topic) == not_authorized, topic
        assert _publish_as(broker, "box-g1-a", "callqa/v1/sh01/g1/box-g1-a/score/l2") == 0
        central.wait_for(lambda: len(central.of_kind("score")) >= 2, 5, "the allowed publish")
        time.sleep(0.5)
        topics = {t for t, d, _ in central.messages if d["kind"] == "score"}
        assert topics == {"callqa/v1/sh01/g1/box-g1-a/score/l1", "callqa/v1/sh01/g1/box-g1-a/score/l2"}
        sink.close()
        central.close()


def test_box_configured_with_another_box_id_is_refused_and_keeps_its_scores(tmp_path, caplog):
    with site_broker(tmp_path) as broker:
        cfg = site_box_config(tmp_path, broker, "box-g1-a", USERS["box-g1-a"], box="box-g1-b")
        sink = MqttSink(cfg).start()
        sink.on_score(synthetic_score(BoxId("sh01", "g1", "box-g1-b"), "l1", 1))
        deadline = time.monotonic() + 10
        while "broker refused" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "broker refused callqa/v1/sh01/g1/box-g1-b/score/l1" in caplog.text and "ACL" in caplog.text
        assert sink.client.pending() == 1
        sink.close(drain_s=0)


def test_box_publishes_over_tls_with_a_client_certificate(tmp_path):
    files = make_pki(tmp_path)
    tls_port, plain_port = free_port(), free_port()
    conf = (f"per_listener_settings true\n"
            f"listener {tls_port} 127.0.0.1\nallow_anonymous true\ncafile {files['ca']}\n"
            f"certfile {files['broker.crt']}\nkeyfile {files['broker.key']}\nrequire_certificate true\n"
            f"listener {plain_port} 127.0.0.1\nallow_anonymous true\n")
    with Broker(tmp_path / "broker", extra_conf=conf, port=tls_port) as broker:
        central = Collector(plain_port, "callqa/v1/#")
        cfg = box_config(tmp_path, f"mqtts://localhost:{broker.port}", mqtt={
            "ca_file": str(files["ca"]), "cert_file": str(files["box.crt"]), "key_file": str(files["box.key"])})
        sink = MqttSink(cfg).start()
        sink.on_score(synthetic_score(BoxId("hq", "g1", "box1"), "l1", 3))
        central.wait_for(lambda: central.of_kind("score"), 10, "a score over TLS")
        sink.close()
        central.close()


def test_config_refuses_a_password_file_without_a_username_and_a_bad_broker_url(tmp_path):
    from callqa_contract.broker import parse_broker_url
    from edge.config import MqttConfig, parse_config
    from edge.mqtt.client import make_paho_client

    with pytest.raises(ConfigError, match=r"box.toml: mqtt: .*password_file is set but username is not"):
        parse_config({"mqtt": {"password_file": str(tmp_path / "pw")}}, "box.toml")
    # A bad broker URL is refused by `config check` and at start, naming the key.
    with pytest.raises(ConfigError, match=r"box.toml: mqtt.url: .*'http://broker:1883': expected mqtt://HOST\[:PORT\]"):
        parse_config({"mqtt": {"url": "http://broker:1883"}}, "box.toml")
    with pytest.raises(ConfigError, match=r"box.toml: mqtt.url: .*'mqtt://broker:x': the port is not a number"):
        parse_config({"mqtt": {"url": "mqtt://broker:x"}}, "box.toml")
    # `callqa watch --broker URL` overrides the config's URL and is checked the same way.
    with pytest.raises(ConfigError, match=r"mqtt.url 'http://broker:1883': expected mqtt://HOST\[:PORT\]"):
        make_paho_client(MqttConfig(), "box1", url="http://broker:1883")
    assert parse_broker_url("mqtts://broker").port == 8883
