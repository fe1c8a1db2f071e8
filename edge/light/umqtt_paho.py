"""paho-mqtt behind the part of umqtt.simple's interface that the desk light uses.

The desk light's loop (firmware/desklight/app.py) is written against MicroPython's
`umqtt.simple.MQTTClient`; this class gives a host the same methods with the same
single-threaded behaviour: nothing happens between calls, `check_msg()` handles what has
arrived and calls the callback with bytes, QoS 1 `publish`/`subscribe` wait for the broker's
answer, and every failure is an OSError (the caller then drops the client and makes a new one).
"""

from __future__ import annotations

import ssl as _ssl
import time
from typing import Callable

import paho.mqtt.client as mqtt

_ANSWER_TIMEOUT_S = 5.0


class MQTTClient:
    def __init__(self, client_id: str, server: str, port: int = 0, user: str | None = None,
                 password: str | None = None, keepalive: int = 0, ssl: _ssl.SSLContext | None = None,
                 paho_client: mqtt.Client | None = None):
        """umqtt.simple's arguments; or `paho_client`, one already set up with credentials and
        TLS by the box's own MQTT settings (edge.mqtt.client.make_paho_client). A session the
        broker kept from before is harmless: the light starts from nothing on every connect
        and the retained states arrive again with its subscriptions."""
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.keepalive = keepalive
        self._cb: Callable[[bytes, bytes], None] | None = None
        self._client = paho_client or mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                                  protocol=mqtt.MQTTv311, clean_session=True)
        if user:
            self._client.username_pw_set(user, password)
        if ssl is not None:
            self._client.tls_set_context(ssl)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._connack = None
        self._subacks: dict[int, list] = {}
        self._delivered = 0

    # paho callbacks: they run inside our own loop() calls, never on another thread.
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._connack = reason_code

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._subacks[mid] = reason_codes

    def _on_message(self, client, userdata, msg):
        self._delivered += 1
        if self._cb is not None:
            self._cb(msg.topic.encode(), msg.payload)

    def _loop(self, timeout: float = 0.0) -> None:
        rc = self._client.loop(timeout=timeout)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError("MQTT connection to %s:%d lost (%s)" % (self.server, self.port, mqtt.error_string(rc)))

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + _ANSWER_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise OSError("no %s from %s:%d within %.0f s" % (what, self.server, self.port, _ANSWER_TIMEOUT_S))
            self._loop(0.05)

    # --- umqtt.simple's methods -------------------------------------------------------------

    def set_callback(self, f: Callable[[bytes, bytes], None]) -> None:
        self._cb = f

    def set_last_will(self, topic, msg, retain: bool = False, qos: int = 0) -> None:
        self._client.will_set(_text(topic), msg, qos, retain)

    def connect(self, clean_session: bool = True) -> bool:
        if not clean_session:
            raise ValueError("the desk light always starts clean: its state comes back in retained messages")
        try:
            self._client.connect(self.server, self.port, self.keepalive or 60)
        except (OSError, _ssl.SSLError) as e:
            raise OSError("cannot reach MQTT broker %s:%d: %s" % (self.server, self.port, e)) from None
        self._wait(lambda: self._connack is not None, "CONNACK")
        if self._connack.is_failure:
            raise OSError("MQTT broker %s:%d refused the connection: %s" % (self.server, self.port, self._connack))
        return False

    def subscribe(self, topic, qos: int = 0) -> None:
        rc, mid = self._client.subscribe(_text(topic), qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError("subscribe to %s failed: %s" % (_text(topic), mqtt.error_string(rc)))
        self._wait(lambda: mid in self._subacks, "SUBACK")
        if any(code.is_failure for code in self._subacks.pop(mid)):
            raise OSError("broker refused the subscription to %s" % _text(topic))

    def publish(self, topic, msg, retain: bool = False, qos: int = 0) -> None:
        info = self._client.publish(_text(topic), msg, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError("publish to %s failed: %s" % (_text(topic), mqtt.error_string(info.rc)))
        if qos:
            self._wait(info.is_published, "PUBACK")
        else:
            self._loop()

    def check_msg(self):
        """Handle what has arrived; like umqtt, None when there was nothing."""
        before = self._delivered
        self._loop()
        return 0x30 if self._delivered != before else None

    def ping(self) -> None:
        self._loop()  # paho sends PINGREQ from its loop when the keepalive is due

    def disconnect(self) -> None:
        self._client.disconnect()
        self._client.loop(timeout=0)


def _text(topic) -> str:
    return topic.decode() if isinstance(topic, (bytes, bytearray)) else topic
