"""The desk light's real loop on a real Mosquitto: boxes' retained light states in, the
button's light_ack out, offline and back. LED ring, button and Wi-Fi are doubles."""

from __future__ import annotations

import json
import time

import pytest

from callqa_contract.messages import validation_errors
from firmware.desklight import isotime
from tests.desklight_doubles import BrokerPeer, SimulatedLight, light_envelope

GROUP = "callqa/v1/hq/g1"


@pytest.fixture
def box(broker):
    peer = BrokerPeer(broker, subscribe=(f"{GROUP}/ack",))
    yield peer
    peer.close()


def test_light_turns_red_within_a_second_of_the_box_publishing_an_insult(broker, box):
    desk = SimulatedLight(broker)
    desk.step_until(lambda: desk.kind == "clear", 5)
    t0 = time.monotonic()
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", line="line3", alert_id="r1"), retain=True)
    desk.step_until(lambda: desk.kind == "red", 1.0)
    assert time.monotonic() - t0 < 1.0
    look = desk.ring.look
    assert (look.blink, look.line_no, look.alert_id) == (True, 3, "r1")


def test_a_light_switched_on_later_shows_the_retained_alert(broker, box):
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "amber", line="line2"), retain=True)
    desk = SimulatedLight(broker)
    desk.step_until(lambda: desk.kind == "amber", 5)
    assert desk.ring.look.line_no == 2
    assert desk.ring.pixels[:2] != desk.ring.pixels[2:4]  # only the line's pixels are lit


def test_button_press_sends_light_ack_and_clears_every_light_of_the_group(broker, box):
    mine, colleague = SimulatedLight(broker, light_id="desk-1"), SimulatedLight(broker, light_id="desk-2")
    other_group = SimulatedLight(broker, light_id="desk-9", group="g2")
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1"), retain=True)
    box.publish("callqa/v1/hq/g2/box-z/light", light_envelope("box-z", "red", group="g2", alert_id="z1"), retain=True)
    for d in (mine, colleague, other_group):
        d.step_until(lambda d=d: d.kind == "red", 5)

    mine.press()
    assert mine.kind == "clear"  # at once, before any box answers
    colleague.step_until(lambda: colleague.kind == "clear", 1.0)
    other_group.run_for(0.3)
    assert other_group.kind == "red"

    acks = box.on(f"{GROUP}/ack")
    assert len(acks) == 1
    msg = json.loads(acks[0])
    assert validation_errors(msg) == []
    assert (msg["schema"], msg["kind"], msg["body"]) == ("callqa.msg/1", "light_ack", {"alert_id": "r1", "by": "desk-1"})
    assert msg["box"] == {"site": "hq", "group": "g1", "id": "desk-1"}
    assert abs(isotime.parse_ms(msg["created"]) / 1000 - time.time()) < 5


def test_press_acknowledges_the_red_first_and_a_long_hold_clears_everything(broker, box):
    desk = SimulatedLight(broker, long_press_ms=500)
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "amber", alert_id="a1"), retain=True)
    box.publish(f"{GROUP}/box-b/light", light_envelope("box-b", "red", alert_id="r1"), retain=True)
    box.publish(f"{GROUP}/box-c/light", light_envelope("box-c", "amber", alert_id="a2"), retain=True)
    desk.step_until(lambda: desk.kind == "red" and desk.light.state.pending() == 3, 5)
    desk.press()
    assert (desk.kind, desk.ring.look.alert_id) == ("amber", "a1")
    desk.press(hold_s=0.7)
    assert desk.kind == "clear"
    bodies = [json.loads(p)["body"]["alert_id"] for p in box.on(f"{GROUP}/ack")]
    assert bodies == ["r1", None]


def test_ack_from_elsewhere_clears_the_light(broker, box):
    desk = SimulatedLight(broker)
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1"), retain=True)
    desk.step_until(lambda: desk.kind == "red", 5)
    ack = {"schema": "callqa.msg/1", "kind": "light_ack", "msg_id": "0" * 32, "created": "2026-01-01T00:00:00Z",
           "box": {"site": "hq", "group": "g1", "id": "dashboard"}, "body": {"alert_id": "r1", "by": "qa-lead"}}
    box.publish(f"{GROUP}/ack", json.dumps(ack).encode())
    desk.step_until(lambda: desk.kind == "clear", 1.0)


def test_alert_clears_itself_when_it_expires(broker, box):
    desk = SimulatedLight(broker)
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", expires_in_s=1.5), retain=True)
    desk.step_until(lambda: desk.kind == "red", 5)
    took = desk.step_until(lambda: desk.kind == "clear", 3)
    assert took > 0.5


def test_garbage_on_a_light_topic_is_ignored_and_logged(broker, box):
    desk = SimulatedLight(broker)
    desk.step_until(lambda: desk.kind == "clear", 5)
    box.publish(f"{GROUP}/box-a/light", b"{broken", retain=True)
    box.publish(f"{GROUP}/box-b/light", light_envelope("box-b", "amber"), retain=True)
    desk.step_until(lambda: desk.kind == "amber", 2)
    assert any("box-a/light: payload is not JSON" in line for line in desk.logs)


def test_broker_loss_shows_offline_and_the_light_recovers_after_restart(broker, box):
    desk = SimulatedLight(broker)
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1", expires_in_s=120), retain=True)
    desk.step_until(lambda: desk.kind == "red", 5)
    box.close()

    broker.stop()
    desk.step_until(lambda: desk.kind == "offline", 3)
    blues = set()
    desk.run_for(2.5)  # several reconnect attempts while the broker is down, still breathing
    for _ in range(20):
        desk.light.step()
        blues.add(desk.ring.pixels[0])
        time.sleep(0.1)
    assert desk.kind == "offline" and all(r == g == 0 < b for r, g, b in blues) and len(blues) > 5

    broker.start()  # persistence on: the box's retained red survives the restart
    desk.step_until(lambda: desk.kind == "red", 10)
    assert desk.ring.look.alert_id == "r1"


def test_wifi_loss_shows_offline_and_rejoins(broker, box):
    desk = SimulatedLight(broker)
    desk.step_until(lambda: desk.kind == "clear", 5)
    desk.link.up = False
    desk.step_until(lambda: desk.kind == "offline", 1)
    desk.run_for(1.5)
    assert desk.link.join_requests >= 1
    desk.link.up = True
    desk.step_until(lambda: desk.kind == "clear", 5)


def test_press_while_the_broker_is_unreachable_is_delivered_after_reconnect(broker, box):
    desk = SimulatedLight(broker)
    box.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1"), retain=True)
    desk.step_until(lambda: desk.kind == "red", 5)
    broker.stop()
    desk.light.acknowledge("r1")  # pressed before the light noticed that the broker is gone
    assert desk.light.pending_acks and desk.light.state.current() is None
    broker.start()
    desk.step_until(lambda: not desk.light.pending_acks and desk.light.client is not None, 10)
    deadline = time.monotonic() + 5
    while not box.on(f"{GROUP}/ack") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [json.loads(p)["body"]["alert_id"] for p in box.on(f"{GROUP}/ack")] == ["r1"]
    assert desk.kind == "clear"  # the retained red (not yet cleared by a box) stays acknowledged
