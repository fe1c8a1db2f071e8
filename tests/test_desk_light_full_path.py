"""The desk light with the box: a generated call scored live by the box (pipeline, keyword
spotting, MqttSink), the box's retained light state and ack handling, and simulated Pico W
lights (real loop and logic, LED and button doubles), all on a real Mosquitto."""

from __future__ import annotations

import dataclasses
import json
import time

from scipy.io import wavfile

from edge.line import BLOCK_S, keyword_stage
from edge.config import LightBridgeConfig, parse_config
from edge.scoring.rubric import load_rubric
from edge.service import Service
from edge.events import Alert
from edge.light.bridge import LightBridge
from edge.mqtt.sink import MqttSink
from tests.broker import Broker, free_port
from tests.desklight_doubles import BrokerPeer, SimulatedLight, step_lights_until
from tests.mqtt_helpers import box_config
from tests.test_mqtt_security import SITE_ACL, password_file, secret
from callqa_lab.gencall import generate_call, scenario

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


def test_on_the_shipped_site_acl_the_desk_light_and_a_wled_lamp_follow_the_box(tmp_path):
    users = {"box-g1-a": "pw-a", "light-g1": "pw-light", "lamp-g1": "pw-lamp", "wled-desk-g1": "pw-wled"}
    port = free_port()
    broker = Broker(tmp_path / "broker", port=port, extra_conf=(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {password_file(tmp_path / 'passwd', users)}\nacl_file {SITE_ACL}\n")).start()
    cfg = box_config(tmp_path, broker.url, box="box-g1-a", mqtt={
        "username": "box-g1-a", "password_file": str(secret(tmp_path / "box.pw", "pw-a"))})
    cfg = cfg.model_copy(update={
        "box": cfg.box.model_copy(update={"site": "sh01"}),
        "light_bridge": LightBridgeConfig(kind="wled", topic="wled/desk-g1", username="lamp-g1",
                                          password_file=secret(tmp_path / "lamp.pw", "pw-lamp")),
    })
    lamp = BrokerPeer(broker, subscribe=("wled/desk-g1/#",), username="wled-desk-g1", password="pw-wled")
    sink = MqttSink(cfg).start()
    bridge = LightBridge.from_config(cfg).start()
    pico = SimulatedLight(broker, light_id="light-g1", site="sh01", username="light-g1", password="pw-light")
    try:
        pico.step_until(lambda: pico.kind == "clear", 5)
        sink.on_alert(Alert("alert-1", "l1", "call-7", "insult", "red", "insult 神经病", 12.5))
        pico.step_until(lambda: pico.kind == "red", 1.0)
        red_lamp = lambda: [json.loads(p)["seg"][0]["fx"] for p in lamp.on("wled/desk-g1/api")][-1:] == [1]
        pico.step_until(red_lamp, 1.0)

        pico.press()  # the light-g1 account may publish the ack; the box hears it and goes green
        green_lamp = lambda: json.loads(lamp.on("wled/desk-g1/api")[-1])["seg"][0]["col"][0] == [0, 255, 0]
        pico.step_until(lambda: sink.light.state.state == "green" and green_lamp(), 2.0)
        assert "denied" not in broker.log.read_text().lower()
    finally:
        bridge.stop()
        sink.close()
        lamp.close()
        broker.stop()


def test_insult_in_a_generated_call_turns_the_light_red_within_a_second_and_one_press_clears_the_group(
        tmp_path, broker):

    # The rude scenario's complaint and insult only (same voices and line): a 7 s call.
    rude = scenario("rude", seed=3)
    audio, truth = generate_call(dataclasses.replace(rude, turns=(rude.turns[1], rude.turns[4])), 8000, seed=3)
    insult = next(p for p in truth["phrases"] if p["phrase"] == "神经病")
    calls = tmp_path / "calls"
    calls.mkdir()
    wavfile.write(calls / "rude.wav", 8000, audio)
    cfg = parse_config({
        "box": {"site": "hq", "group": "g1", "id": "box1", "state_dir": str(tmp_path / "state")},
        "audio": {"sample_rate": 8000},
        "mqtt": {"enabled": True, "url": broker.url},
        # Replayed as if live: audio at stream time t reaches the box t seconds after the start.
        "lines": [{"name": "line4", "source": "replay", "path": str(calls), "realtime": True}],
    }, "box.toml")
    rubric = load_rubric(cfg.rubric.path)
    # A box loads its keyword code once at start-up, long before any call: do that here too,
    # so that the half second of importing it does not count as the light's delay.
    assert keyword_stage(cfg, rubric, "line4", 8000) is not None, "this box has no keyword spotting"
    sink = MqttSink(cfg).start()
    service = Service(cfg, rubric, [sink])
    mine, colleague = SimulatedLight(broker, light_id="desk-1"), SimulatedLight(broker, light_id="desk-2")
    lights = (mine, colleague)
    try:
        step_lights_until(lights, lambda: mine.kind == colleague.kind == "clear", 5)
        # Taken before the line's thread builds its pipeline and keyword model and starts the
        # replay clock, so the delay measured below can only be longer than the real one.
        started = time.time()
        service.start()
        step_lights_until(lights, lambda: mine.kind == "red", insult["end"] + 10, step_s=0.005)
        delay = time.time() - (started + insult["end"])
        step_lights_until(lights, lambda: colleague.kind == "red", 1.0)
        look = mine.ring.look
        assert (look.blink, look.line_no) == (True, 4) and "神经病" in look.reason
        # A replay hands the box each block at its start; a live line only once it is full.
        live_delay = delay + BLOCK_S
        assert live_delay < 1.0, f"the light turned red {live_delay:.2f} s after the insult ended"

        mine.press()
        step_lights_until(lights, lambda: mine.kind == colleague.kind == "clear", 1.0)
        step_lights_until(lights, lambda: sink.light.state.state == "green", 2.0)
        assert retained_light_state(broker)["state"] == "green"  # a light switched on now stays green
    finally:
        service.stop()
        service.join(10)
        sink.close()
