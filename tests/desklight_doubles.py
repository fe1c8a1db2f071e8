"""Stand-ins for the desk light's hardware (LED ring, button, Wi-Fi, clock) and helpers
that build real desk lights on the real Mosquitto fixture with the paho adapter."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt

from edge.light.umqtt_paho import MQTTClient
from callqa_contract.messages import validation_errors
from firmware.desklight import pattern
from firmware.desklight.app import DeskLight, Output
from firmware.desklight.clock import Clock
from firmware.desklight.settings import Settings

LED_COUNT = 12


class ManualClock(Clock):
    """Ticks move only when the test says so; wall time (ms) starts at `wall_start` (None: unknown)."""

    def __init__(self, wall_start: int | None = None):
        super().__init__(wall_known=wall_start is not None)
        self.now_ms = 0
        self._wall_start = wall_start

    def advance(self, ms: int) -> None:
        self.now_ms += ms

    def ticks_ms(self) -> int:
        return self.now_ms

    def wall_ms(self):
        return None if self._wall_start is None else self._wall_start + self.now_ms


class RingDouble(Output):
    """A 12-pixel ring that remembers what it was last told to show."""

    def __init__(self, led_count: int = LED_COUNT, brightness: float = 1.0):
        self.led_count = led_count
        self.brightness = brightness
        self.look = None
        self.pixels = None

    def show(self, look, now_ms, publish):
        self.look = look
        self.pixels = pattern.frame(look, now_ms, self.led_count, self.brightness)


class ButtonDouble:
    def __init__(self):
        self.down = False

    def is_down(self) -> bool:
        return self.down


class LinkDouble:
    """Wi-Fi that is up until the test pulls it."""

    def __init__(self):
        self.up = True
        self.join_requests = 0

    def is_up(self) -> bool:
        return self.up

    def connect(self) -> None:
        self.join_requests += 1


def light_settings(broker, light_id="desk-1", site="hq", group="g1", username="", password="", **light):
    return Settings({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "tls": False, "keepalive_s": 5, "backoff_max_s": 1,
                 "username": username, "password": password},
        "topics": {"site": site, "group": group},
        "light": {"id": light_id, "led_count": LED_COUNT, **light},
    }, "test")


def host_client_factory(s):
    def make():
        return MQTTClient("desklight-" + s.light_id, s.mqtt_host, s.mqtt_port, s.mqtt_username or None,
                          s.mqtt_password, s.mqtt_keepalive_s)
    return make


class SimulatedLight:
    """A desk light on the host: the real loop and logic, a ring and a button double."""

    def __init__(self, broker, output: Output | None = None, **kw):
        self.ring = output or RingDouble()
        self.button = ButtonDouble()
        self.link = LinkDouble()
        self.settings = light_settings(broker, **kw)
        self.logs: list[str] = []
        self.light = DeskLight(self.settings, Clock(), self.ring, self.link,
                               host_client_factory(self.settings), self.button, self.logs.append)

    def step_until(self, cond, timeout_s: float, step_s: float = 0.01) -> float:
        """Step the light until cond(); returns the seconds it took, or fails the test."""
        return step_lights_until((self,), cond, timeout_s, step_s)

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.light.step()
            time.sleep(0.01)

    def press(self, hold_s: float = 0.1) -> None:
        self.button.down = True
        self.run_for(hold_s)
        self.button.down = False
        self.run_for(0.1)

    @property
    def kind(self):
        return self.ring.look.kind if self.ring.look else None


def step_lights_until(lights, cond, timeout_s: float, step_s: float = 0.01) -> float:
    """Step every light (as their own loops would, side by side) until cond(); returns the
    seconds it took, or fails the test saying what each light showed."""
    t0 = time.monotonic()
    while True:
        for d in lights:
            d.light.step()
        if cond():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"lights did not get there in {timeout_s} s: "
                                 + "; ".join(f"{d.settings.light_id} look={d.ring.look}, log={d.logs[-3:]}" for d in lights))
        time.sleep(step_s)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def light_envelope(box: str, state: str, *, site="hq", group="g1", blink=None, line="line3",
                   alert_id: str | None = None, reason="insult 神经病", expires_in_s: float | None = 60.0,
                   now: datetime | None = None) -> bytes:
    """A box's retained light message exactly as the MQTT contract describes it, published `now`."""
    now = now or datetime.now(timezone.utc)
    alerting = state != "green"
    body = {
        "state": state,
        "blink": state == "red" if blink is None else blink,
        "reason": reason if alerting else "",
        "line": line if alerting else None,
        "call_id": "call-1" if alerting else None,
        "alert_id": (alert_id or uuid.uuid4().hex) if alerting else None,
        "since": iso(now),
        "expires": iso(now + timedelta(seconds=expires_in_s)) if alerting and expires_in_s is not None else None,
    }
    doc = {
        "schema": "callqa.msg/1", "kind": "light", "msg_id": uuid.uuid4().hex, "created": iso(now),
        "box": {"site": site, "group": group, "id": box}, "body": body,
    }
    assert validation_errors(doc) == [], validation_errors(doc)
    return json.dumps(doc, ensure_ascii=False).encode()


class BrokerPeer:
    """A plain paho client on the fixture broker: plays a box, and records what it hears."""

    def __init__(self, broker, subscribe: tuple[str, ...] = (), username: str | None = None, password: str | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        # A persistent session: what is published while a broker restart is under way waits for it.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peer-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.reconnect_delay_set(0.1, 0.5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.connect("127.0.0.1", broker.port)
        for topic in subscribe:
            self.client.subscribe(topic, 1)
        self.client.loop_start()
        time.sleep(0.2)  # SUBACKs; the fixture broker is local

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
