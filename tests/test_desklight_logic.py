"""The desk light's logic on its own (the same modules the Pico W runs): which alert shows,
when it goes away, what the pixels do, what the button means, what a bad setting says."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from paho.mqtt.client import topic_matches_sub

from callqa_contract.messages import BoxId, Envelope, validation_errors
from callqa_contract.registry import KINDS
from callqa_contract.topics import Topics as BoxTopics
from callqa_contract.topics import kind_filter, parse
from edge.mqtt.light import LightState
from firmware.desklight import isotime, messages, pattern
from firmware.desklight.button import LONG, SHORT, PressDetector
from firmware.desklight.settings import Settings, SettingsError
from firmware.desklight.state import GroupLight, line_number
from tests.desklight_doubles import ManualClock, light_envelope

TOPICS = messages.Topics("callqa/v1", "hq", "g1")
NOW = int(datetime.now(timezone.utc).timestamp() * 1000)


def light_from(box, state, **kw):
    """A box's light state published at NOW, the test clocks' wall time."""
    topic = f"callqa/v1/hq/g1/{box}/light"
    published = datetime.fromtimestamp(NOW / 1000, timezone.utc)
    return messages.parse_light(topic, box, light_envelope(box, state, now=published, **kw))


def online_group(clock, max_alert_s=900):
    g = GroupLight(clock, max_alert_s * 1000)
    g.online = True
    return g


def test_red_insult_outranks_an_earlier_amber_and_the_amber_returns_after_it_is_cleared():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "amber", line="line2", alert_id="amber-1"), clock.now_ms)
    g.on_light("box-b", light_from("box-b", "red", line="line5", alert_id="red-1"), clock.now_ms)
    look = g.look(clock.now_ms)
    assert (look.kind, look.blink, look.line_no, look.alert_id) == ("red", True, 5, "red-1")
    g.on_ack("red-1")
    look = g.look(clock.now_ms)
    assert (look.kind, look.line_no, look.alert_id) == ("amber", 2, "amber-1")


def test_alerts_of_equal_severity_show_in_the_order_they_came():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", alert_id="first"), 0)
    g.on_light("box-b", light_from("box-b", "red", alert_id="second"), 10)
    assert g.look(10).alert_id == "first"
    # The same alert republished (e.g. retained copy after a reconnect) keeps its place.
    g.on_light("box-a", light_from("box-a", "red", alert_id="first"), 20)
    assert g.look(20).alert_id == "first"


def test_a_box_going_green_clears_only_that_boxs_alert():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", alert_id="a"), 0)
    g.on_light("box-b", light_from("box-b", "amber", alert_id="b"), 0)
    g.on_light("box-a", light_from("box-a", "green"), 0)
    assert g.look(0).alert_id == "b"
    g.on_light("box-b", None, 0)  # retained message deleted
    assert g.look(0).kind == "clear"


def test_alert_expires_at_its_expires_time_on_the_lights_own_clock():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", expires_in_s=30), clock.now_ms)
    clock.advance(29_000)
    assert g.look(clock.now_ms).kind == "red"
    clock.advance(1_500)
    assert g.look(clock.now_ms).kind == "clear"


def test_without_synced_wall_clock_the_alerts_own_length_counts_from_arrival():
    clock = ManualClock(wall_start=None)  # a board whose NTP has not answered yet
    g = online_group(clock)
    clock.advance(5_000)
    g.on_light("box-a", light_from("box-a", "amber", expires_in_s=20), clock.now_ms)
    clock.advance(19_000)
    assert g.look(clock.now_ms).kind == "amber"
    clock.advance(2_000)
    assert g.look(clock.now_ms).kind == "clear"


def test_retained_alert_that_expired_while_the_light_was_away_never_shows():
    clock = ManualClock(NOW + 3_600_000)  # an hour after the box published a 60 s alert
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", expires_in_s=60), clock.now_ms)
    assert g.look(clock.now_ms).kind == "clear"


def test_no_red_forever_even_without_expires_or_with_a_far_one():
    clock = ManualClock(NOW)
    g = online_group(clock, max_alert_s=600)
    g.on_light("box-a", light_from("box-a", "red", alert_id="open-ended", expires_in_s=None), clock.now_ms)
    g.on_light("box-b", light_from("box-b", "red", alert_id="far", expires_in_s=86_400), clock.now_ms)
    clock.advance(599_000)
    assert g.look(clock.now_ms).kind == "red"
    clock.advance(2_000)
    assert g.look(clock.now_ms).kind == "clear"


def test_ack_of_all_clears_the_group_and_a_redelivered_copy_stays_cleared():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", alert_id="r1"), 0)
    g.on_light("box-b", light_from("box-b", "amber", alert_id="a1"), 0)
    g.on_ack(None)
    assert g.look(0).kind == "clear"
    g.forget_boxes()  # reconnect: the boxes' retained states come again
    g.on_light("box-a", light_from("box-a", "red", alert_id="r1"), 0)
    assert g.look(0).kind == "clear"
    g.on_light("box-a", light_from("box-a", "red", alert_id="r2"), 0)  # a new alert does show
    assert g.look(0).alert_id == "r2"


def test_offline_look_hides_alerts_until_back_online():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red"), 0)
    g.online = False
    assert g.look(0).kind == "offline"


@pytest.mark.parametrize("name, number", [("line3", 3), ("12", 12), ("desk-07", 7), ("front", None), ("", None), (None, None)])
def test_line_number_is_the_trailing_digits_of_the_line_name(name, number):
    assert line_number(name) == number


def test_red_blinks_twice_a_second_and_lights_only_the_line_number_pixels():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "red", line="line4"), 0)
    look = g.look(0)
    frames = [pattern.frame(look, t, 12, 1.0) for t in range(0, 1000, 50)]
    on = [f for f in frames if f[0] == pattern.RED]
    off = [f for f in frames if f[0] == pattern.DARK]
    assert len(on) == len(off) == 10  # half the time on, half off, over one second
    assert all(f[:4] == [pattern.RED] * 4 and f[4:] == [pattern.DARK] * 8 for f in on)


def test_amber_is_steady_and_whole_ring_when_the_line_has_no_number():
    clock = ManualClock(NOW)
    g = online_group(clock)
    g.on_light("box-a", light_from("box-a", "amber", line="front"), 0)
    look = g.look(0)
    for t in range(0, 2000, 100):
        assert pattern.frame(look, t, 12, 0.5) == [(128, 60, 0)] * 12


def test_offline_pattern_breathes_blue_slowly_and_never_goes_dark():
    g = GroupLight(ManualClock(NOW), 900_000)
    look = g.look(0)
    levels = [pattern.frame(look, t, 12, 1.0)[0] for t in range(0, 4000, 100)]
    blues = [p[2] for p in levels]
    assert all(p[0] == p[1] == 0 for p in levels)
    assert min(blues) >= 20 and max(blues) == 255
    assert blues.index(max(blues)) == 20  # peak half way through a 4 s breath


def test_clear_is_green_or_dark_as_configured():
    look = online_group(ManualClock(NOW)).look(0)
    assert pattern.frame(look, 0, 3, 1.0) == [pattern.GREEN] * 3
    assert pattern.frame(look, 0, 3, 1.0, clear_off=True) == [pattern.DARK] * 3


def press_sequence(detector, levels):
    """levels: list of (is_down, hold_ms) -> the events fired along the way."""
    t, events = 0, []
    for down, hold in levels:
        for _ in range(0, hold, 10):
            ev = detector.update(down, t)
            if ev:
                events.append(ev)
            t += 10
    return events


def test_short_press_long_hold_and_contact_bounce():
    clock = ManualClock()
    assert press_sequence(PressDetector(clock), [(False, 100), (True, 200), (False, 100)]) == [SHORT]
    assert press_sequence(PressDetector(clock), [(False, 100), (True, 2500), (False, 100)]) == [LONG]
    # 10 ms bounces on release and a 20 ms glitch do not count as presses
    bouncy = [(False, 100), (True, 200), (False, 10), (True, 10), (False, 100), (True, 20), (False, 100)]
    assert press_sequence(PressDetector(clock), bouncy) == [SHORT]


def test_ack_envelope_follows_the_contract():
    payload = messages.light_ack(TOPICS, "desk-1", "red-1", "desk-1", NOW, messages.new_msg_id())
    msg = json.loads(payload)
    assert validation_errors(msg) == []  # the box's own schema for envelopes and light_ack bodies
    assert msg["schema"] == "callqa.msg/1" and msg["kind"] == "light_ack"
    assert len(msg["msg_id"]) == 32 and msg["msg_id"][12] == "4"  # uuid4 hex
    assert abs(isotime.parse_ms(msg["created"]) - NOW) < 1000
    assert msg["box"] == {"site": "hq", "group": "g1", "id": "desk-1"}
    assert msg["body"] == {"alert_id": "red-1", "by": "desk-1"}
    assert messages.parse_ack(TOPICS.ack, payload.encode()) == "red-1"


def test_the_lights_topics_are_the_contracts():
    """MicroPython has no callqa_contract, so the firmware keeps its own topic grammar: hold it to the contract's."""
    box = BoxTopics("callqa/v1", "hq", "g1", "box-7")
    assert TOPICS.lights == kind_filter("callqa/v1", "light", "hq", "g1")
    assert TOPICS.ack == box.ack and parse("callqa/v1", TOPICS.ack).kind == "light_ack"
    assert topic_matches_sub(TOPICS.lights, box.light) and TOPICS.box_of(box.light) == parse("callqa/v1", box.light).box
    for kind in set(KINDS) - {"light", "light_ack", "fleet_alert"}:  # no other topic of the box is taken for a light
        topic = box.for_kind(kind, "l1")
        assert not topic_matches_sub(TOPICS.lights, topic) and TOPICS.box_of(topic) is None, topic
    other_group = BoxTopics("callqa/v1", "hq", "g2", "box-7")
    assert not topic_matches_sub(TOPICS.lights, other_group.light) and TOPICS.box_of(other_group.light) is None


def test_the_light_reads_the_light_message_the_box_publishes():
    since = NOW // 1000  # whole seconds: the box writes milliseconds, a float's last digit may not survive
    body = LightState("red", True, "insult", "line5", "call-9", "red-9", since, since + 600).to_dict()
    payload = Envelope.new("light", BoxId("hq", "g1", "box-7"), body).to_json()
    light = messages.parse_light(BoxTopics("callqa/v1", "hq", "g1", "box-7").light, "box-7", payload)
    assert (light.state, light.blink, light.line, light.alert_id) == ("red", True, "line5", "red-9")
    assert (light.since_ms, light.expires_ms) == (since * 1000, (since + 600) * 1000)


@pytest.mark.parametrize("payload, complaint", [
    (b"not json", "not JSON"),
    (b'{"schema": "other/1", "kind": "light", "body": {}}', "schema"),
    (b'{"schema": "callqa.msg/1", "kind": "status", "body": {}}', "kind"),
    (b'{"schema": "callqa.msg/1", "kind": "light", "body": {"state": "purple"}}', "body.state"),
    (b'{"schema": "callqa.msg/1", "kind": "light", "body": {"state": "red", "blink": true, "since": "yesterday"}}', "ISO-8601"),
])
def test_malformed_light_message_is_refused_naming_the_topic_and_field(payload, complaint):
    with pytest.raises(ValueError, match=complaint) as e:
        messages.parse_light("callqa/v1/hq/g1/box-a/light", "box-a", payload)
    assert "callqa/v1/hq/g1/box-a/light" in str(e.value)


def test_box_id_comes_from_the_light_topic():
    assert TOPICS.lights == "callqa/v1/hq/g1/+/light"
    assert TOPICS.box_of("callqa/v1/hq/g1/box-7/light") == "box-7"
    assert TOPICS.box_of("callqa/v1/hq/g1/ack") is None
    assert TOPICS.box_of("callqa/v1/hq/g2/box-7/light") is None


@pytest.mark.parametrize("text", ["2026-11-26T15:02:14Z", "2026-11-26T15:02:14.250+00:00",
                                  "2024-02-29T23:59:59+05:30", "1999-12-31T23:59:59-08:00"])
def test_iso_timestamps_read_as_python_reads_them(text):
    expected = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
    assert isotime.parse_ms(text) == round(expected) and isinstance(isotime.parse_ms(text), int)


def test_utc_formatting_round_trips():
    for t in (0, 951_868_799_000, 1_795_705_334_000, 4_102_444_800_000):
        assert isotime.parse_ms(isotime.format_ms(t)) == t


BASE = {"mqtt": {"host": "broker.local"}, "topics": {"site": "hq", "group": "g1"}, "light": {"id": "desk-1"}}


def with_value(section, key, value):
    data = json.loads(json.dumps(BASE))
    data.setdefault(section, {})[key] = value
    return data


def test_settings_defaults_suit_a_12_pixel_ring_over_tls():
    s = Settings(BASE, "config.json")
    assert (s.mqtt_port, s.mqtt_tls, s.light_led_count, s.topics_prefix, s.light_clear) == (8883, True, 12, "callqa/v1", "green")


@pytest.mark.parametrize("section, key, value, complaint", [
    ("light", "led_count", "twelve", "config.json: light.led_count: must be an integer, got 'twelve'"),
    ("light", "led_count", 0, "config.json: light.led_count: must be from 1 to 1024, got 0"),
    ("mqtt", "port", True, "config.json: mqtt.port: must be an integer, got True"),
    ("light", "brightness", 3, "config.json: light.brightness: must be above 0 and at most 1, got 3.0"),
    ("topics", "group", "g/1", "config.json: topics.group: must be non-empty and free of"),
    ("light", "colour", "red", "config.json: light: unknown key 'colour'"),
    ("light", "clear", "blue", "config.json: light.clear: must be 'green' or 'off'"),
])
def test_bad_setting_is_refused_naming_file_and_key(section, key, value, complaint):
    with pytest.raises(SettingsError) as e:
        Settings(with_value(section, key, value), "config.json")
    assert str(e.value).startswith(complaint)


def test_missing_required_setting_is_named():
    data = json.loads(json.dumps(BASE))
    del data["topics"]["site"]
    with pytest.raises(SettingsError, match=r"config.json: topics.site: is missing"):
        Settings(data, "config.json")


def test_example_config_file_is_valid():
    from firmware.desklight.settings import load
    s = load("firmware/config.example.json")
    assert s.wifi_ssid and s.light_id
