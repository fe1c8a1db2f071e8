"""The MQTT contract as consumers see it: topics, schemas, privacy, desk light, CTI commands."""

from __future__ import annotations

import json
import logging
import time

import pytest

from edge.events import Alert, CallBoundary
from callqa_contract.messages import (FORBIDDEN_KEYS, BoxId, Envelope, MessageError,
                                privacy_problems, validation_errors)
from edge.mqtt.sink import MqttSink
from callqa_lab.synthetic import synthetic_alert, synthetic_score
from callqa_contract.registry import BODY_SCHEMA_FILES
from callqa_contract.topics import TopicInfo, Topics, parse, watch_filter
from tests.mqtt_helpers import Collector, box_config

BOX = BoxId("hq", "g1", "box1")
TOPICS = Topics("callqa/v1", "hq", "g1", "box1")


def test_every_topic_of_a_box_parses_back_to_its_kind_and_line():
    for kind in set(BODY_SCHEMA_FILES) - {"fleet_alert"}:  # the site's, not a box's (below)
        line = "l3" if kind in ("score", "alert", "call_event") else None
        info = parse("callqa/v1", TOPICS.for_kind(kind, line))
        assert (info.kind, info.site, info.group, info.line) == (kind, "hq", "g1", line)
    assert parse("callqa/v1", TOPICS.for_kind("fleet_alert")) == TopicInfo("fleet_alert", "hq", "fleet", None, None)
    assert parse("callqa/v1", "callqa/v1/hq/g1/box1/score") is None  # no line
    assert parse("callqa/v1", "other/hq/g1/box1/status") is None
    assert watch_filter("callqa/v1", site="hq") == "callqa/v1/hq/+/#"
    with pytest.raises(ValueError, match="line"):
        TOPICS.score("a/b")


def test_a_score_with_a_wrong_field_is_flagged_naming_the_field():
    score = synthetic_score(BOX, "l1", 1).to_dict()
    score["metrics"]["talk"]["agent_s"] = "eighty"
    problems = validation_errors(Envelope.new("score", BOX, score).to_dict())
    assert problems == ["body.metrics.talk.agent_s: 'eighty' is not of type 'number'"]
    with pytest.raises(MessageError, match="not JSON"):
        Envelope.from_json(b"{nope")


def test_privacy_check_catches_audio_features_and_transcripts():
    clean = synthetic_score(BOX, "l1", 1).to_dict()
    assert privacy_problems(clean) == []
    assert privacy_problems({**clean, "transcript": "您好"})
    assert privacy_problems({"evidence": {"x": list(range(400))}})  # a signal by any other name
    assert privacy_problems({"reason": "字" * 1000})


def _box_cfg(tmp, broker, **mqtt):
    return box_config(tmp, broker.url, mqtt=mqtt)


def test_every_published_payload_kind_carries_no_audio_features_or_transcript(tmp_path, broker):
    everything = Collector(broker.port, "callqa/v1/#")
    boundaries: list[CallBoundary] = []
    sink = MqttSink(_box_cfg(tmp_path, broker), model="kws-int8.onnx", on_call_boundary=boundaries.append).start()
    assert sink.client.wait_connected(10)
    cti = Collector(broker.port, "unused/#")
    cti.client.publish(TOPICS.call_event("l1"), Envelope.new("call_event", BoxId("hq", "g1", "cti"),
                                                             {"event": "start", "call_ref": "C-1"}).to_json(), qos=1)
    sink.on_alert(synthetic_alert(BOX, "l1", 1))
    sink.on_score(synthetic_score(BOX, "l1", 1))
    cti.client.publish(TOPICS.ack, Envelope.new("light_ack", BoxId("hq", "g1", "light"),
                                                {"alert_id": None, "by": "light-g1"}).to_json(), qos=1)
    cti.client.publish(TOPICS.receipt, Envelope.new("receipt", BoxId("hq", "g1", "store-1"),
                                                    {"msg_ids": ["0" * 32]}).to_json(), qos=1)
    # A score that smuggles words out must not leave the box.
    sink.client.send("score", "l2", {**synthetic_score(BOX, "l2", 2).to_dict(), "transcript": "你好我想问一下"})
    box_kinds = set(BODY_SCHEMA_FILES) - {"fleet_alert"}  # central QA's, not the box's
    everything.wait_for(lambda: {d["kind"] for _, d, _ in everything.messages} >= box_kinds, 10,
                        "every kind of payload")
    everything.wait_for(lambda: any(d["body"].get("refused") == 1 for d in everything.of_kind("status")), 5,
                        "status counting the refused score")
    for topic, env, _ in everything.messages:
        assert privacy_problems(env) == [], topic
        raw = json.dumps(env, ensure_ascii=False)
        assert not any(f'"{k}"' in raw for k in FORBIDDEN_KEYS), topic
    assert not everything.invalid
    assert all(d["body"]["line"] == "l1" for d in everything.of_kind("score"))
    assert boundaries and boundaries[0].line == "l1" and boundaries[0].kind == "start" and boundaries[0].call_ref == "C-1"
    sink.close()
    everything.close()
    cti.close()


def _light(c: Collector) -> dict:
    return c.of_kind("light")[-1]["body"]


def _alert(alert_id: str, severity: str, reason: str) -> Alert:
    return Alert(alert_id=alert_id, line="l2", call_id="box1-l2-000009", item="x", severity=severity,
                 reason=reason, t=3.0)


def test_desk_light_shows_the_worst_alert_until_acknowledged_or_expired(tmp_path, broker):
    lights = Collector(broker.port, TOPICS.light)
    sink = MqttSink(_box_cfg(tmp_path, broker, light_red_s=60, light_amber_s=1.5)).start()
    lights.wait_for(lambda: lights.of_kind("light") and _light(lights)["state"] == "green", 5, "green at start")

    sink.on_alert(_alert("a-red", "red", "insult 神经病"))
    sink.on_alert(_alert("a-amber", "amber", "raised voice"))  # less severe: the light stays red
    lights.wait_for(lambda: _light(lights)["alert_id"] == "a-red", 5, "red light")
    red = _light(lights)
    assert (red["state"], red["blink"], red["reason"], red["line"]) == ("red", True, "insult 神经病", "l2")

    ack = Envelope.new("light_ack", BoxId("hq", "g1", "light-g1"), {"alert_id": "a-red", "by": "supervisor Wang"})
    lights.client.publish(TOPICS.ack, ack.to_json(), qos=1)
    lights.wait_for(lambda: _light(lights)["state"] == "amber", 5, "amber after acknowledging red")
    assert _light(lights)["blink"] is False and _light(lights)["expires"] is not None

    lights.wait_for(lambda: _light(lights)["state"] == "green", 5, "green when the amber alert expires")
    assert not lights.invalid
    sink.close()
    lights.close()

    late = Collector(broker.port, TOPICS.light)  # a desk light that powers up later gets the state
    late.wait_for(lambda: late.messages, 5, "the retained light state")
    assert late.messages[-1][2] is True and _light(late)["state"] == "green"
    late.close()


def test_invalid_or_unknown_line_cti_commands_are_ignored_with_a_warning(tmp_path, broker, caplog):
    caplog.set_level(logging.WARNING, logger="edge.mqtt")
    boundaries: list[CallBoundary] = []
    sink = MqttSink(_box_cfg(tmp_path, broker), on_call_boundary=boundaries.append).start()
    assert sink.client.wait_connected(10)
    cti = Collector(broker.port, "unused/#")
    cti.client.publish(TOPICS.call_event("l1"), b'{"event": "start"}', qos=1)
    cti.client.publish(TOPICS.call_event("l9"), Envelope.new("call_event", BoxId("hq", "g1", "cti"),
                                                             {"event": "end", "call_ref": None}).to_json(), qos=1)
    deadline = time.monotonic() + 5
    while caplog.text.count("WARNING") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ignoring an invalid call_event on callqa/v1/hq/g1/box1/cmd/call/l1" in caplog.text
    assert "CTI end for line 'l9', which this box does not have" in caplog.text
    assert boundaries == []
    sink.close()
    cti.close()


def test_box_falls_back_to_mqtt_3_1_1_when_configured(tmp_path, broker):
    central = Collector(broker.port, "callqa/v1/#")
    sink = MqttSink(_box_cfg(tmp_path, broker, protocol=311)).start()
    sink.on_alert(synthetic_alert(BOX, "l1", 4))
    sink.on_score(synthetic_score(BOX, "l1", 4))
    central.wait_for(lambda: central.of_kind("score") and central.of_kind("alert") and central.of_kind("status"),
                     10, "score, alert and status over MQTT 3.1.1")
    assert sink.client.client.protocol == 4  # paho's number for 3.1.1
    assert not central.invalid
    sink.close()
    central.close()
