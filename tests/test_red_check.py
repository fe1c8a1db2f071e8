"""The teacher's check before a red light (`[alerts] teacher_confirms_red`, edge/redcheck.py):
generated calls scored by the box with the real Whisper base from the installed teacher
packages; the desk light and the alert's payload on a real Mosquitto."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest
from scipy.io import wavfile

from callqa_contract.messages import BoxId, Envelope, privacy_problems, validation_errors
from callqa_lab.gencall import Turn, generate_call, scenario
from edge.config import ConfigError, load_config, parse_config
from edge.events import Frame
from edge.keywords import teacher as tch
from edge.keywords.units import heard_in
from edge.line import keyword_stage, line_pipeline
from edge.mqtt.sink import MqttSink
from edge.redcheck import AFTER_S, RedCheck
from edge.scoring.rubric import load_rubric
from edge.service import Service
from edge.sinks import CollectingSink
from tests.desklight_doubles import SimulatedLight, step_lights_until
from tests.mqtt_helpers import Collector

RATE = 8000
RUBRIC = load_rubric()


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory) -> Path:
    return tch.install(tmp_path_factory.mktemp("teacher") / "whisper-base").folder


def checked(teacher_folder: Path, **alerts) -> dict:
    return {"audio": {"sample_rate": RATE}, "keywords": {"teacher": str(teacher_folder)},
            "alerts": {"teacher_confirms_red": True, **alerts}}


def insult_call(seed: int = 1):
    """A customer's complaint, the agent: 神经病 (the teacher hears this voice say it), the customer's reply."""
    rude = scenario("rude", seed=seed)
    turns = (rude.turns[1], Turn("agent", "[神经病]", 0.3), rude.turns[5])
    return generate_call(dataclasses.replace(rude, turns=turns), RATE, seed)


class Checks(CollectingSink):
    """Published alerts (CollectingSink) and every decided check, published or not."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = []

    def on_red_check(self, alert) -> None:
        self.checked.append(alert)


def score(pcm, cfg, rubric=RUBRIC, red_check=None) -> tuple[Checks, list[float]]:
    """Score one call block by block (as fast as it goes); also the stream time of each published alert."""
    sink, published_at = Checks(), []
    pipeline = line_pipeline("desk1", cfg, rubric, [sink], red_check=red_check)
    on_alert = sink.on_alert
    sink.on_alert = lambda a: (published_at.append(pipeline.now), on_alert(a))
    block = int(0.3 * RATE)
    for i in range(0, len(pcm), block):
        pipeline.feed(Frame("desk1", i / RATE, RATE, pcm[i:i + block, 0], pcm[i:i + block, 1]))
    pipeline.close()
    return sink, published_at


def test_a_confirmed_insult_turns_the_light_red_with_the_teachers_check_in_the_alert(tmp_path, broker, teacher_folder):
    audio, truth = insult_call()
    insult = next(p for p in truth["phrases"] if p["phrase"] == "神经病")
    calls = tmp_path / "calls"
    calls.mkdir()
    wavfile.write(calls / "insult.wav", RATE, audio)
    cfg = parse_config({
        **checked(teacher_folder),
        "box": {"site": "hq", "group": "g1", "id": "box1", "state_dir": str(tmp_path / "state")},
        "mqtt": {"enabled": True, "url": broker.url},
        "lines": [{"name": "line4", "source": "replay", "path": str(calls), "realtime": True}],
    }, "box.toml")
    rubric = load_rubric(cfg.rubric.path)
    assert keyword_stage(cfg, rubric, "line4", RATE) is not None  # keyword code loaded before the clock starts
    collector = Collector(broker.port, "callqa/v1/hq/g1/box1/#")
    sink = MqttSink(cfg).start()
    service = Service(cfg, rubric, [sink])  # loads the teacher once, for every line
    light = SimulatedLight(broker, light_id="desk-1")
    try:
        light.step_until(lambda: light.kind == "clear", 5)
        started = time.time()
        service.start()
        step_lights_until((light,), lambda: light.kind == "red", insult["end"] + AFTER_S + 20, step_s=0.005)
        held = time.time() - (started + insult["end"])
        assert "神经病" in light.ring.look.reason
        collector.wait_for(lambda: collector.of_kind("alert") and collector.of_kind("score"), 30, "alert and score")
        (alert,) = [env["body"] for env in collector.of_kind("alert")]
        check = alert["teacher_check"]
        assert (check["confirmed"], check["outcome"], check["heard_by"]) == (True, "confirmed", "characters")
        assert 0 < check["teacher_s"] <= check["held_s"] < held + 1
        assert held < AFTER_S + cfg.alerts.teacher_timeout_s + 1  # the documented bound on the hold
        (score_body,) = [env["body"] for env in collector.of_kind("score")]
        assert score_body["alerts"] == [alert]  # the CallScore lists the alert as it was published
        assert not collector.invalid, collector.invalid
        assert privacy_problems(alert) == []  # whether the phrase was heard, never what the teacher heard
    finally:
        service.stop()
        service.join(10)
        sink.close()
        collector.close()


def test_a_spotter_false_alarm_the_teacher_does_not_hear_gives_no_red_alert_but_stays_in_the_callscore(teacher_folder):
    """A site that sets a threshold for its forbidden phrases gets 喂 (calibrated off in the
    model: it cannot tell it from 为) on 很高兴为您服务; the teacher hears 为."""
    keywords = dict(RUBRIC.keywords)
    keywords["forbidden"] = keywords["forbidden"].model_copy(update={"threshold": 0.5})
    rubric = RUBRIC.model_copy(update={"keywords": keywords})
    pcm, truth = generate_call("polite", RATE, 1)
    assert "很高兴为您服务" in truth["turns"][0]["text"]
    cfg = parse_config(checked(teacher_folder))
    off, _ = score(pcm, parse_config({"audio": {"sample_rate": RATE}}), rubric)
    assert [a.evidence["phrase"] for a in off.alerts] == ["喂"]  # the false red the check is for
    on, _ = score(pcm, cfg, rubric, RedCheck.from_config(cfg))
    assert on.alerts == []
    (withheld,) = on.checked
    assert withheld.teacher_check["outcome"] == "not_heard" and not withheld.teacher_check["confirmed"]
    (call,) = on.scores
    assert call.alerts == ()
    assert [h.phrase for h in call.keywords if h.category == "forbidden"] == ["喂"]  # the hit is kept, and scored
    item = {i.id: i for i in call.items}["forbidden_phrases"]
    assert item == {i.id: i for i in off.scores[0].items}["forbidden_phrases"]


def test_a_teacher_slower_than_the_timeout_lets_the_red_through_unconfirmed(teacher_folder):
    pcm, _ = insult_call()
    cfg = parse_config(checked(teacher_folder, teacher_timeout_s=0.01))
    sink, _ = score(pcm, cfg, red_check=RedCheck.from_config(cfg))
    (alert,) = sink.alerts
    assert alert.evidence["phrase"] == "神经病"
    assert alert.teacher_check["outcome"] == "timeout" and alert.teacher_check["confirmed"] is False
    assert sink.scores[0].alerts == (alert,)
    assert validation_errors_of(alert) == []


def test_reds_beyond_the_queue_go_out_unconfirmed_as_busy(teacher_folder):
    """The rude call's three reds, scored faster than the teacher checks them, with room for one."""
    pcm, _ = generate_call("rude", RATE, 1)
    cfg = parse_config(checked(teacher_folder))
    red_check = RedCheck.from_config(cfg)
    sink, _ = score(pcm, cfg, red_check=RedCheck(red_check.teacher, cfg.alerts.teacher_timeout_s, max_waiting=1))
    outcomes = [a.teacher_check["outcome"] for a in sink.checked]
    assert len(outcomes) == 3 and "busy" in outcomes
    assert all(a.teacher_check["outcome"] != "not_heard" for a in sink.alerts)
    assert {a.alert_id for a in sink.alerts} == {a.alert_id for a in sink.checked
                                                 if a.teacher_check["outcome"] != "not_heard"}


def test_with_the_check_off_a_red_alert_goes_out_at_once_and_unchanged(teacher_folder):
    pcm, truth = insult_call()
    insult = next(p for p in truth["phrases"] if p["phrase"] == "神经病")
    plain = parse_config({"audio": {"sample_rate": RATE}, "keywords": {"teacher": str(teacher_folder)}})
    assert RedCheck.from_config(plain) is None  # a teacher alone checks nothing
    sink, published_at = score(pcm, plain)
    (alert,) = sink.alerts
    assert "teacher_check" not in alert.to_dict() and validation_errors_of(alert) == []
    assert published_at[0] - insult["end"] < AFTER_S  # in the block that heard it: not held
    cfg = parse_config(checked(teacher_folder))
    held, held_at = score(pcm, cfg, red_check=RedCheck.from_config(cfg))
    assert held_at[0] >= insult["end"] + AFTER_S  # with the check on: held until the audio after it is in
    assert held.alerts[0].teacher_check["confirmed"] is True


def test_the_red_check_is_refused_without_a_teacher(tmp_path):
    path = tmp_path / "box.toml"
    path.write_text("[alerts]\nteacher_confirms_red = true\n")
    with pytest.raises(ConfigError, match=r"box.toml: .*alerts.teacher_confirms_red needs keywords.teacher"):
        load_config(path)
    cfg = parse_config({"keywords": {"teacher": str(tmp_path / "nowhere")}, "alerts": {"teacher_confirms_red": True}})
    with pytest.raises(ConfigError, match="alerts.teacher_confirms_red: the teacher cannot be loaded"):
        RedCheck.from_config(cfg)  # at start, before any line runs


def test_the_teachers_text_confirms_a_phrase_by_its_characters_or_its_sound():
    assert heard_in("我也不清楚。", "不清楚") == "characters"
    assert heard_in("你是神精病吧", "神经病") == "sound"  # a homophone the teacher wrote
    assert heard_in("很高兴为您服务", "喂") is None  # one syllable: by sound it would be every 为
    assert heard_in("李世神天便爬", "神经病") is None


def validation_errors_of(alert) -> list[str]:
    """The alert as the box sends it (alert.v1 in its envelope), checked against the contract."""
    return validation_errors(Envelope.new("alert", BoxId("hq", "g1", "box1"), alert.to_dict()).to_dict())


def test_doctor_says_whether_the_red_check_is_on_and_what_one_check_costs(teacher_folder, tmp_path):
    import argparse

    from edge.commands.doctor import CHECKS, run_checks

    def rows(red_check: bool):
        cfg = tmp_path / "edge.toml"
        cfg.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[keywords]\nteacher = "{teacher_folder}"\n'
                       f'[alerts]\nteacher_confirms_red = {str(red_check).lower()}\n')
        args = argparse.Namespace(config=cfg, skip=[c for c in CHECKS if c != "teacher"], levels_seconds=1.0,
                                  source=None)
        return {r.name: r for r in run_checks(args)}

    on = rows(True)["red check"]
    assert on.status == "pass" and on.detail.startswith("on:"), on
    wall, cpu = map(float, re.search(r"took ([0-9.]+) s, ([0-9.]+) CPU-s", on.detail).groups())
    assert 0 < wall < 20 and 0 < cpu
    off = rows(False)["red check"]
    assert off.status == "skip" and "off" in off.detail


def test_bench_says_why_it_has_no_teacher_figures(tmp_path):
    import math

    from edge.bench import BenchContext, run_sections
    from edge.config import Config

    (m,) = run_sections(BenchContext(Config(), None, 1), modules=("edge.bench.teacher",))
    assert m.stage == "skipped: no teacher (keywords.teacher unset)" and math.isnan(m.value)
    cfg = parse_config({"keywords": {"teacher": str(tmp_path / "nowhere")}})
    (m,) = run_sections(BenchContext(cfg, None, 1), modules=("edge.bench.teacher",))
    assert m.stage.startswith("skipped: the teacher cannot be loaded") and math.isnan(m.value)
