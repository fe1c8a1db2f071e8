"""The desk light with the box: the box's own MQTT side (MqttSink, retained light state,
ack handling) and the simulated Pico W lights (real loop and logic, LED and button doubles),
all on a real Mosquitto."""

from __future__ import annotations

import json
import time

from edge.events import Alert
from edge.mqtt.sink import MqttSink
from tests.desklight_doubles import BrokerPeer, SimulatedLight
from tests.mqtt_helpers import box_config

BOX_LIGHT = "callqa/v1/hq/g1/box1/light"


def retained_light_state(broker) -> dict:
    """What a light switched on now would be told: the box's retained light message."""
    peer = BrokerPeer(broker, subscribe=(BOX_LIGHT,))
    try:
        deadline = time.monotonic() + 5
        while not peer.on(BOX_LIGHT) and time.monotonic() < deadline:
            time.sleep(0.02)
        return json.loads(peer.on(BOX_LIGHT)[-1])["body"]
    finally:
        peer.close()


def test_box_alert_turns_the_groups_lights_red_and_one_press_clears_it_on_the_box(tmp_path, broker):
    sink = MqttSink(box_config(tmp_path, broker.url, mqtt={"light_red_s": 120})).start()
    mine, colleague = SimulatedLight(broker, light_id="desk-1"), SimulatedLight(broker, light_id="desk-2")
    elsewhere = SimulatedLight(broker, light_id="desk-9", group="g2")
    try:
        for d in (mine, colleague, elsewhere):
            d.step_until(lambda d=d: d.kind == "clear", 5)

        raised = time.monotonic()
        sink.on_alert(Alert("alert-1", "l2", "call-7", "insult", "red", "insult 神经病", 12.5))
        for d in (mine, colleague):
            d.step_until(lambda d=d: d.kind == "red", 1.0)
        assert time.monotonic() - raised < 1.0
        assert (mine.ring.look.alert_id, mine.ring.look.blink, mine.ring.look.line_no) == ("alert-1", True, 2)
        elsewhere.run_for(0.2)
        assert elsewhere.kind == "clear"  # another seat group's light stays out of it

        mine.press()
        colleague.step_until(lambda: colleague.kind == "clear", 1.0)
        deadline = time.monotonic() + 2
        while sink.light.state.state != "green" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.light.state.state == "green"  # the box dropped the alert
        body = retained_light_state(broker)
        assert (body["state"], body["alert_id"]) == ("green", None)

        # An amber after that shows again: the ack cleared one alert, not the light for good.
        sink.on_alert(Alert("alert-2", "l1", "call-8", "dead_air", "amber", "long dead air", 40.0))
        mine.step_until(lambda: mine.kind == "amber", 1.0)
    finally:
        sink.close()
