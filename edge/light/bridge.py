"""The seat group's desk light on an off-the-shelf lamp: WLED or Tasmota, over their own MQTT.

The bridge is a desk light without LEDs of its own: the same logic as the Pico W firmware
(firmware/desklight) watches the group's retained light states and acks, and each change
of look becomes the lamp's own commands on the same broker:

  WLED (device topic T)         T/api  JSON state: colour, effect Solid(0) / Blink(1) / Breathe(2)
                                T      "OFF" when the light is set to go dark when clear
                                T/status  "online" from the lamp: it (re)started, send the look again
  Tasmota (topic T)             cmnd/T/Color  #RRGGBB, cmnd/T/Dimmer 0-100, cmnd/T/Power ON/OFF,
                                cmnd/T/BlinkTime + BlinkCount + Power blink for a blinking red
                                tele/T/LWT  "Online" from the lamp: send the look again

The bridge's last will puts the lamp into the offline look (WLED: slow blue breathing;
Tasmota: slow blue blinking), so a box that dies does not leave a red lamp behind.
Off-the-shelf lamps do not show the line number.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from edge.config import Config, ConfigError, LightBridgeConfig
from edge.light.umqtt_paho import MQTTClient
from edge.mqtt.client import make_paho_client
from firmware.desklight.app import DeskLight, Output
from firmware.desklight.clock import Clock
from firmware.desklight.settings import Settings
from firmware.desklight.state import Look

log = logging.getLogger(__name__)

RGB = {"red": (255, 0, 0), "amber": (255, 120, 0), "clear": (0, 255, 0), "offline": (0, 0, 255)}
WLED_SOLID, WLED_BLINK, WLED_BREATHE = 0, 1, 2
WLED_BLINK_SPEED = 200  # effect speed 0-255: a brisk blink
WLED_BREATHE_SPEED = 60  # slow breathing
TASMOTA_BLINK_TENTHS = 5  # BlinkTime in 0.1 s: toggles every 0.5 s
TASMOTA_OFFLINE_BLINK_TENTHS = 20

Command = tuple[str, str]  # (topic, payload)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02X%02X%02X" % rgb


class _LampOutput(Output):
    """Sends the lamp's commands when the look changes, and again when the lamp comes back."""

    def __init__(self, cfg: LightBridgeConfig):
        self.cfg = cfg
        self._sent: Look | None = None

    def commands(self, look: Look) -> list[Command]:
        raise NotImplementedError

    def _lamp_online(self, payload: bytes) -> bool:
        raise NotImplementedError

    def on_message(self, topic: str, payload: bytes) -> None:
        if topic in self.topics() and self._lamp_online(payload):
            self._sent = None  # a lamp that restarted has forgotten what it showed

    def show(self, look: Look, now_ms: int, publish: Callable[[str, str], bool] | None) -> None:
        if publish is None:
            self._sent = None  # our last will may have changed the lamp meanwhile
            return
        if look == self._sent:
            return
        for topic, payload in self.commands(look):
            if not publish(topic, payload):
                return  # the light goes offline; everything is sent again after reconnecting
        log.info("light bridge: %s lamp %r now %s", self.cfg.kind, self.cfg.topic, look)
        self._sent = look


class WledOutput(_LampOutput):
    def topics(self) -> tuple[str, ...]:
        return (f"{self.cfg.topic}/status",)

    def _lamp_online(self, payload: bytes) -> bool:
        return payload == b"online"

    def _state(self, rgb, fx: int, speed: int | None = None) -> str:
        seg = {"col": [list(rgb), [0, 0, 0]], "fx": fx}
        if speed is not None:
            seg["sx"] = speed
        return json.dumps({"on": True, "bri": self.cfg.brightness, "seg": [seg]}, separators=(",", ":"))

    def commands(self, look: Look) -> list[Command]:
        if look.kind == "clear" and self.cfg.clear == "off":
            return [(self.cfg.topic, "OFF")]
        if look.kind == "offline":
            return [(f"{self.cfg.topic}/api", self._state(RGB["offline"], WLED_BREATHE, WLED_BREATHE_SPEED))]
        if look.blink:
            return [(f"{self.cfg.topic}/api", self._state(RGB[look.kind], WLED_BLINK, WLED_BLINK_SPEED))]
        return [(f"{self.cfg.topic}/api", self._state(RGB[look.kind], WLED_SOLID))]

    def will(self) -> Command:
        return self.commands(Look("offline"))[0]


class TasmotaOutput(_LampOutput):
    def topics(self) -> tuple[str, ...]:
        return (f"tele/{self.cfg.topic}/LWT",)

    def _lamp_online(self, payload: bytes) -> bool:
        return payload == b"Online"

    def _cmnd(self, name: str) -> str:
        return f"cmnd/{self.cfg.topic}/{name}"

    @property
    def _dimmer(self) -> str:
        return str(max(1, round(self.cfg.brightness * 100 / 255)))

    def commands(self, look: Look) -> list[Command]:
        # A blink left running would override the new look: stop it first, every time.
        stop_blink = (self._cmnd("Power"), "blinkoff")
        if look.kind == "clear" and self.cfg.clear == "off":
            return [stop_blink, (self._cmnd("Power"), "OFF")]
        steady = [stop_blink, (self._cmnd("Color"), _hex(RGB[look.kind])), (self._cmnd("Dimmer"), self._dimmer),
                  (self._cmnd("Power"), "ON")]
        if not look.blink:
            return steady
        return steady + [(self._cmnd("BlinkTime"), str(TASMOTA_BLINK_TENTHS)), (self._cmnd("BlinkCount"), "0"),
                         (self._cmnd("Power"), "blink")]

    def will(self) -> Command:
        # A will is one message: Backlog runs the offline look's commands in order.
        return (self._cmnd("Backlog"),
                f"Power blinkoff; Color {_hex(RGB['offline'])}; Dimmer {self._dimmer}; Power ON; "
                f"BlinkTime {TASMOTA_OFFLINE_BLINK_TENTHS}; BlinkCount 0; Power blink")


OUTPUTS: dict[str, type[_LampOutput]] = {"wled": WledOutput, "tasmota": TasmotaOutput}


class _AlwaysUp:
    """The box's own network: the MQTT connection tells whether the broker is there."""

    def is_up(self) -> bool:
        return True

    def connect(self) -> None:
        pass


def bridge_settings(cfg: Config, host: str, port: int) -> Settings:
    bridge = cfg.light_bridge
    return Settings({
        "mqtt": {"host": host, "port": port, "keepalive_s": cfg.mqtt.keepalive_s,
                 "backoff_max_s": max(1, round(cfg.mqtt.reconnect_max_s))},
        "topics": {"prefix": cfg.mqtt.prefix, "site": cfg.box.site, "group": cfg.box.group},
        "light": {"id": f"{cfg.box.id}-bridge", "max_alert_s": bridge.max_alert_s},
    }, "light_bridge")


def client_factory(cfg: Config) -> tuple[Callable[[], MQTTClient], str, int]:
    """New clients for the box's broker, set up exactly as the box's own (credentials, TLS)."""
    client_id = f"{cfg.box.id}-light-bridge"
    mqtt_cfg = cfg.mqtt
    if cfg.light_bridge is not None and cfg.light_bridge.username:
        mqtt_cfg = mqtt_cfg.model_copy(update={"username": cfg.light_bridge.username,
                                               "password_file": cfg.light_bridge.password_file})
    _, address = make_paho_client(mqtt_cfg, client_id)  # a bad URL or secret file fails here, at start

    def make() -> MQTTClient:
        paho_client, _ = make_paho_client(mqtt_cfg, client_id)
        return MQTTClient(client_id, address.host, address.port, keepalive=cfg.mqtt.keepalive_s,
                          paho_client=paho_client)

    return make, address.host, address.port


class LightBridge:
    """Runs the bridge's loop on its own thread until `stop()`."""

    STEP_S = 0.05

    def __init__(self, cfg: Config, make_client: Callable[[], object], host: str, port: int):
        if cfg.light_bridge is None:
            raise ConfigError("light_bridge: section missing (kind = \"wled\" or \"tasmota\", topic = ...)")
        self.output = OUTPUTS[cfg.light_bridge.kind](cfg.light_bridge)
        self.light = DeskLight(bridge_settings(cfg, host, port), Clock(), self.output, _AlwaysUp(), make_client,
                               log=log.info)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> "LightBridge":
        """The bridge on the box's own broker settings (`callqa light-bridge`, `callqa run`)."""
        make, host, port = client_factory(cfg)
        return cls(cfg, make, host, port)

    def start(self) -> "LightBridge":
        self._thread = threading.Thread(target=self._run, name="light-bridge", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.STEP_S):
            self.light.step()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.light.client is not None:
            # A clean goodbye sends no will: show the offline look ourselves, never a stale red.
            self.light.publish(*self.output.will())
            self.light.client.disconnect()
