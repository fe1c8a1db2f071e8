"""The light bridge on a real Mosquitto: a seat group's light states in, the exact WLED and
Tasmota command topics and payloads out, as the lamps would receive them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edge.config import ConfigError, parse_config
from edge.light.bridge import LightBridge
from tests.desklight_doubles import BrokerPeer, light_envelope
from tests.mqtt_helpers import config_toml

GROUP = "callqa/v1/hq/g1"


def bridge_config(broker, kind, topic, **extra):
    return parse_config({
        "box": {"site": "hq", "group": "g1", "id": "box-a"},
        "mqtt": {"enabled": True, "url": broker.url, "keepalive_s": 5},
        "light_bridge": {"kind": kind, "topic": topic, **extra},
    }, "test.toml")


def wait_for(peer, topic_prefix, count, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [(t, p.decode()) for t, p, _ in peer.messages if t.startswith(topic_prefix)]
        if len(got) >= count:
            return got
        time.sleep(0.02)
    raise AssertionError(f"expected {count} messages under {topic_prefix}, got {got}")


@pytest.fixture
def lamp_and_box(broker, request):
    peer = BrokerPeer(broker, subscribe=request.param)
    yield peer
    peer.close()


def start_bridge(broker, kind, topic, **extra):
    return LightBridge.from_config(bridge_config(broker, kind, topic, **extra)).start()


def wled_state(rgb, fx, sx=None, bri=128):
    seg = {"col": [list(rgb), [0, 0, 0]], "fx": fx}
    if sx is not None:
        seg["sx"] = sx
    return {"on": True, "bri": bri, "seg": [seg]}


@pytest.mark.parametrize("lamp_and_box", [("wled/desk-g1/#",)], indirect=True)
def test_wled_lamp_goes_green_then_blinks_red_for_an_insult_then_green_after_the_ack(broker, lamp_and_box):
    peer = lamp_and_box
    bridge = start_bridge(broker, "wled", "wled/desk-g1")
    try:
        got = wait_for(peer, "wled/desk-g1/api", 1)
        assert got[0][0] == "wled/desk-g1/api"
        assert json.loads(got[0][1]) == wled_state((0, 255, 0), 0)

        peer.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1"), retain=True)
        got = wait_for(peer, "wled/desk-g1/api", 2, timeout=1.0)
        assert json.loads(got[1][1]) == wled_state((255, 0, 0), 1, 200)  # Blink effect

        ack = {"schema": "callqa.msg/1", "kind": "light_ack", "msg_id": "a" * 32, "created": "2026-11-26T15:00:00Z",
               "box": {"site": "hq", "group": "g1", "id": "desk-1"}, "body": {"alert_id": "r1", "by": "desk-1"}}
        peer.publish(f"{GROUP}/ack", json.dumps(ack).encode())
        got = wait_for(peer, "wled/desk-g1/api", 3)
        assert json.loads(got[2][1]) == wled_state((0, 255, 0), 0)
    finally:
        bridge.stop()
    # Stopping cleanly leaves the lamp breathing blue, not showing a state nobody updates.
    got = wait_for(peer, "wled/desk-g1/api", 4)
    assert json.loads(got[3][1]) == wled_state((0, 0, 255), 2, 60)


@pytest.mark.parametrize("lamp_and_box", [("wled/desk-g1/#",)], indirect=True)
def test_wled_lamp_set_to_dark_when_clear_is_switched_off_and_amber_is_steady(broker, lamp_and_box):
    peer = lamp_and_box
    bridge = start_bridge(broker, "wled", "wled/desk-g1", clear="off", brightness=64)
    try:
        assert wait_for(peer, "wled/desk-g1", 1) == [("wled/desk-g1", "OFF")]
        peer.publish(f"{GROUP}/box-b/light", light_envelope("box-b", "amber"), retain=True)
        got = wait_for(peer, "wled/desk-g1", 2)
        assert got[1][0] == "wled/desk-g1/api" and json.loads(got[1][1]) == wled_state((255, 120, 0), 0, bri=64)
    finally:
        bridge.stop()


@pytest.mark.parametrize("lamp_and_box", [("wled/desk-g1/#",)], indirect=True)
def test_restarted_wled_lamp_gets_the_current_look_again(broker, lamp_and_box):
    peer = lamp_and_box
    peer.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red"), retain=True)
    bridge = start_bridge(broker, "wled", "wled/desk-g1")
    try:
        wait_for(peer, "wled/desk-g1/api", 1)
        peer.publish("wled/desk-g1/status", b"online", retain=True)  # what WLED says after (re)connecting
        got = wait_for(peer, "wled/desk-g1/api", 2)
        assert got[0] == got[1] and json.loads(got[1][1])["seg"][0]["fx"] == 1
    finally:
        bridge.stop()


TASMOTA_RED = [
    ("cmnd/desk_g1/Power", "blinkoff"), ("cmnd/desk_g1/Color", "#FF0000"), ("cmnd/desk_g1/Dimmer", "50"),
    ("cmnd/desk_g1/Power", "ON"), ("cmnd/desk_g1/BlinkTime", "5"), ("cmnd/desk_g1/BlinkCount", "0"),
    ("cmnd/desk_g1/Power", "blink"),
]
TASMOTA_GREEN = [
    ("cmnd/desk_g1/Power", "blinkoff"), ("cmnd/desk_g1/Color", "#00FF00"), ("cmnd/desk_g1/Dimmer", "50"),
    ("cmnd/desk_g1/Power", "ON"),
]


@pytest.mark.parametrize("lamp_and_box", [("cmnd/desk_g1/#",)], indirect=True)
def test_tasmota_lamp_gets_colour_dimmer_power_and_blinks_red(broker, lamp_and_box):
    peer = lamp_and_box
    bridge = start_bridge(broker, "tasmota", "desk_g1")
    try:
        assert wait_for(peer, "cmnd/desk_g1/", 4) == TASMOTA_GREEN
        peer.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red", alert_id="r1"), retain=True)
        assert wait_for(peer, "cmnd/desk_g1/", 11, timeout=1.0)[4:] == TASMOTA_RED
        peer.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "green"), retain=True)
        assert wait_for(peer, "cmnd/desk_g1/", 15)[11:] == TASMOTA_GREEN
        peer.publish("tele/desk_g1/LWT", b"Online", retain=True)  # the lamp restarted
        assert wait_for(peer, "cmnd/desk_g1/", 19)[15:] == TASMOTA_GREEN
    finally:
        bridge.stop()


@pytest.mark.parametrize("lamp_and_box", [("cmnd/desk_g1/#",)], indirect=True)
def test_box_that_dies_leaves_the_tasmota_lamp_blinking_slow_blue(broker, lamp_and_box, tmp_path):
    peer = lamp_and_box
    conf = tmp_path / "box.toml"
    conf.write_text(config_toml({"box": {"site": "hq", "group": "g1", "id": "box-a"},
                                 "mqtt": {"url": broker.url, "keepalive_s": 5},
                                 "light_bridge": {"kind": "tasmota", "topic": "desk_g1"}}))
    proc = subprocess.Popen([sys.executable, "-m", "edge", "light-bridge", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        peer.publish(f"{GROUP}/box-a/light", light_envelope("box-a", "red"), retain=True)
        wait_for(peer, "cmnd/desk_g1/", 7, timeout=15)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    got = wait_for(peer, "cmnd/desk_g1/Backlog", 1, timeout=3)
    assert got == [("cmnd/desk_g1/Backlog", "Power blinkoff; Color #0000FF; Dimmer 50; Power ON; "
                                            "BlinkTime 20; BlinkCount 0; Power blink")]


def test_bridge_settings_are_checked_with_the_key_named(broker):
    with pytest.raises(ConfigError, match=r"test.toml: light_bridge.kind: Input should be 'wled' or 'tasmota'"):
        bridge_config(broker, "hue", "x")
    with pytest.raises(ConfigError, match=r"test.toml: light_bridge.topic: .*without wildcards"):
        bridge_config(broker, "wled", "wled/#")
    with pytest.raises(ConfigError, match=r"test.toml: light_bridge.brightness"):
        bridge_config(broker, "wled", "wled/desk", brightness=0)


def test_light_bridge_command_without_a_section_says_what_to_add(tmp_path):
    conf = tmp_path / "box.toml"
    conf.write_text('[box]\nsite = "hq"\n')
    result = subprocess.run([sys.executable, "-m", "edge", "light-bridge", "--config", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "light_bridge: section missing" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("lamp_and_box", [("wled/desk-g1/#",)], indirect=True)
def test_callqa_run_drives_the_lamp_from_the_calls_it_scores(broker, lamp_and_box, tmp_path):
    from scipy.io import wavfile

    from callqa_lab.gencall import generate_call

    peer = lamp_and_box
    calls = tmp_path / "calls"
    calls.mkdir()
    wavfile.write(calls / "raised.wav", 8000, generate_call("raised_voice", 8000, seed=21)[0])
    conf = tmp_path / "box.toml"
    conf.write_text(config_toml({
        "box": {"site": "hq", "group": "g1", "id": "box-a", "state_dir": str(tmp_path / "state")},
        "audio": {"sample_rate": 8000},
        "mqtt": {"enabled": True, "url": broker.url},
        "light_bridge": {"kind": "wled", "topic": "wled/desk-g1"},
        "lines": [{"name": "desk3", "source": "replay", "path": str(calls), "realtime": False}],
    }))
    r = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(conf)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    looks = [json.loads(p) for t, p in wait_for(peer, "wled/desk-g1/api", 2)]
    assert wled_state((255, 120, 0), 0) in looks  # the raised-voice alert, steady amber
    assert looks[-1] == wled_state((0, 0, 255), 2, 60)  # the box stopped: breathing blue
