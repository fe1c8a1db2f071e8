"""`MqttSink`: the pipeline's ScoreSink that publishes over MQTT.

Scores and alerts go to the outbox (durable, non-blocking for the audio path); alerts also
drive the desk light, which is published retained and cleared on acknowledge or expiry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.config import Config
from edge.events import Alert, CallBoundary, ScoreSink
from edge.mqtt.client import BoxClient
from edge.mqtt.inbound import LightAck
from edge.mqtt.light import DeskLight, LightState
from edge.scoring.callscore import CallScore

log = logging.getLogger(__name__)


class MqttSink(ScoreSink):
    def __init__(
        self,
        cfg: Config,
        *,
        model: str | None = None,
        on_call_boundary: Callable[[CallBoundary], None] | None = None,
        stream_clock: Callable[[str], float] | None = None,
    ):
        """`on_call_boundary` receives CTI call start/end (on the MQTT thread; keep it quick).
        `stream_clock(line)` gives the line's stream time for CallBoundary.t."""
        self.light = DeskLight(cfg.mqtt.light_red_s, cfg.mqtt.light_amber_s)
        self.client = BoxClient(cfg, model=model, on_call_boundary=on_call_boundary,
                                on_light_ack=self._on_ack, stream_clock=stream_clock)
        self._expiry_wake = threading.Event()
        self._closing = threading.Event()
        self._expiry_thread = threading.Thread(target=self._expire_loop, name="desk-light-expiry", daemon=True)

    def start(self) -> "MqttSink":
        self.client.start()
        self.client.set_retained("light", self.light.state.to_dict())
        self._expiry_thread.start()
        return self

    def close(self, drain_s: float = 5.0) -> int:
        """Stop (BoxClient.stop); returns how many scores and alerts stay in the outbox."""
        self._closing.set()
        self._expiry_wake.set()
        return self.client.stop(drain_s)

    def __enter__(self) -> "MqttSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def on_score(self, score: CallScore) -> None:
        self.client.send("score", score.line, score.to_dict())

    def on_alert(self, alert: Alert) -> None:
        self.client.send("alert", alert.line, alert.to_dict())
        self._show(self.light.raise_alert(alert))

    def _on_ack(self, ack: LightAck) -> None:
        log.info("desk light acknowledged by %s (%s)", ack.by, ack.alert_id or "all alerts")
        self._show(self.light.acknowledge(ack.alert_id))

    def _show(self, state: LightState | None) -> None:
        if state is not None:
            self.client.set_retained("light", state.to_dict())
            self._expiry_wake.set()

    def _expire_loop(self) -> None:
        while not self._closing.is_set():
            nxt = self.light.next_expiry()
            self._expiry_wake.wait(None if nxt is None else max(0.0, nxt - time.time()) + 0.01)
            self._expiry_wake.clear()
            self._show(self.light.expire())
