"""The technician's tools on generated lines with known truth: `callqa levels` (wiring, gain,
dead channels), `callqa config init/check`, `callqa devices`, the clock check."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edge.cli import main
from edge.config import load_config
from edge.ops.clock import clock_synchronised, kernel_clock_synchronised
from edge.ops.levels import LevelMeter
from tests.ops_audio import RATE, stereo_line, truth


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[[lines]]\nname = "seat1"\nsource = "wav"\n'
                    f'path = "{stereo_line(tmp_path / "seat1.wav")}"\n')
    return path


def first_heard(out: str, role: str) -> float:
    return float(re.search(rf"{role} is channel \d, speech first heard at ([\d.]+) s", out).group(1))


def test_levels_hear_the_agent_greet_first_on_the_agent_channel(config, capsys):
    assert main(["levels", "--config", str(config)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    segments = truth()["segments"]
    assert first_heard(out, "agent") == pytest.approx(segments["agent"][0][0], abs=0.1)
    assert first_heard(out, "customer") == pytest.approx(segments["customer"][0][0], abs=0.1)
    assert "swapped" not in out


def test_levels_say_agent_and_customer_look_swapped(config, tmp_path, capsys):
    swapped = stereo_line(tmp_path / "swapped.wav", swap=True)
    main(["levels", "--config", str(config), "--source", "wav", str(swapped)])
    out = " ".join(capsys.readouterr().out.split())
    assert first_heard(out, "customer") == pytest.approx(truth()["segments"]["agent"][0][0], abs=0.1)
    assert "agent and customer are probably swapped" in out


def test_levels_fail_on_a_dead_customer_channel(config, tmp_path, capsys):
    dead = stereo_line(tmp_path / "dead.wav", dead_customer=True)
    assert main(["levels", "--config", str(config), "--source", "wav", str(dead)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "no signal at all" in out


def test_level_meter_hears_each_side_talk_about_as_long_as_the_call_says(tmp_path):
    from scipy.io import wavfile

    _, audio = wavfile.read(stereo_line(tmp_path / "call.wav"))
    meter = LevelMeter(RATE, {0: "agent", 1: "customer"})
    for start in range(0, len(audio), RATE // 4):
        meter.add(audio[start : start + RATE // 4])
    t = truth()
    agent, customer = meter.overall
    # webrtcvad leaves out the short pauses inside a turn that the truth's segments include.
    assert agent.speech_fraction == pytest.approx(t["talk_s"]["agent"] / t["duration"], abs=0.1)
    assert customer.speech_fraction == pytest.approx(t["talk_s"]["customer"] / t["duration"], abs=0.1)
    assert agent.rms_dbfs < -20 and not agent.clipping and not customer.silent


def test_level_meter_measures_a_known_tone_and_clipping():
    t = np.arange(RATE) / RATE
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # -6 dBFS peak, -9 dBFS RMS
    hot = np.clip(4 * tone.astype(np.int32), -32768, 32767).astype(np.int16)
    meter = LevelMeter(RATE, {0: "agent", 1: "customer"})
    level_tone, level_hot = meter.add(np.stack([tone, hot], axis=1))
    assert level_tone.peak_dbfs == pytest.approx(-6.0, abs=0.1)
    assert level_tone.rms_dbfs == pytest.approx(-9.0, abs=0.1)
    assert not level_tone.clipping and level_hot.clipping


def test_config_init_writes_a_file_config_check_accepts(tmp_path, capsys):
    out = tmp_path / "edge.toml"
    args = ["config", "init", "--out", str(out), "--site", "sh01", "--group", "g3", "--box-id", "box7",
            "--line", 'seat1:USB "Audio":0:1', "--line", "seat2:2:1:0", "--broker", "mqtts://qa.example:8883",
            "--username", "box7", "--password-file", "/etc/callqa/mqtt-password"]
    assert main(args) == 0
    cfg = load_config(out)
    assert [ln.device for ln in cfg.lines] == ['USB "Audio"', 2]
    assert cfg.lines[1].channels.agent == 1 and cfg.lines[1].channels.customer == 0
    assert cfg.mqtt.enabled and cfg.mqtt.username == "box7"
    assert "count_missing_phrases = false" in out.read_text() and not cfg.keywords.count_missing_phrases
    assert main(["config", "check", "--config", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK: " + str(out) + " (2 line(s): seat1, seat2)")
    assert main(args) == 1  # an existing file is kept without --force


def test_config_init_refuses_a_bad_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "edge.toml"
    code = main(["config", "init", "--out", str(out), "--site", "sh01", "--group", "g3", "--box-id", "box 7",
                 "--line", "seat1::0:1"])
    assert code == 2 and not out.exists()
    assert "box.id: Value error, must be non-empty and free of" in capsys.readouterr().err


def test_config_check_names_the_key_of_a_bad_value(tmp_path, capsys):
    bad = tmp_path / "edge.toml"
    bad.write_text('[[lines]]\nname = "seat1"\n[lines.channels]\nagent = 1\ncustomer = 1\n')
    assert main(["config", "check", "--config", str(bad)]) == 2
    assert f"{bad}: lines.0.channels: Value error, agent and customer must be different" in capsys.readouterr().err


def test_devices_lists_inputs_or_says_how_to_get_one(capsys):
    code = main(["devices"])
    out = capsys.readouterr().out
    # This machine has no sound card; on a box the table lists the USB interface.
    assert (code == 0 and "input channels" in out) or (code == 1 and "no audio input devices found" in out)


def test_clock_state_comes_from_the_kernel_when_timedatectl_cannot_answer():
    kernel = kernel_clock_synchronised()
    assert kernel in (True, False)
    verdict, how = clock_synchronised()
    assert verdict in (True, False)
    assert how in ("timedatectl NTPSynchronized", "kernel adjtimex")


def test_config_check_and_doctor_name_the_key_of_a_broken_rubric(tmp_path, capsys):
    from importlib import resources

    rubric = tmp_path / "rubric.toml"
    rubric.write_text((resources.files("edge.scoring") / "default_rubric.toml").read_text()
                      .replace("pass_mark = ", "pass_mark = 1", 1))
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[rubric]\npath = "{rubric}"\n[keywords]\nenabled = false\n'
                   f'[[lines]]\nname = "seat1"\nsource = "wav"\npath = "{stereo_line(tmp_path / "l.wav")}"\n')
    assert main(["config", "check", "--config", str(cfg)]) == 2
    assert f"{rubric}: pass_mark" in capsys.readouterr().err
    assert main(["doctor", "--config", str(cfg), "--skip", "clock"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "rubric │ FAIL" in out and "pass_mark" in out and "then `systemctl reload callqa`" in out


def test_doctor_says_to_plug_in_the_audio_interface_when_the_device_is_missing(tmp_path, capsys):
    # This machine has no sound card: exactly what a box with its USB interface unplugged sees.
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[keywords]\nenabled = false\n'
                   '[[lines]]\nname = "seat1"\nsource = "capture"\ndevice = "USB Audio"\n')
    assert main(["doctor", "--config", str(cfg), "--skip", "clock"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "audio seat1 │ FAIL │ capture device 'USB Audio': not found" in out
    assert "plug the USB audio interface in" in out
    assert "levels seat1 │ FAIL" in out
