"""The test-call generator's truth must describe its audio: every later test leans on it."""

import json

import numpy as np
import pytest
from scipy.io import wavfile

from callqa_lab import gencall
from callqa_lab.gencall import SIDES, Turn, generate_call

FRAME_S = 0.01


def _active(pcm: np.ndarray, rate: int, side: str) -> np.ndarray:
    """Per 10 ms frame: is there speech on this side (well above the line's noise floor)?"""
    x = pcm[:, SIDES.index(side)].astype(np.float64) / 32768
    win = int(rate * FRAME_S)
    n = len(x) // win
    db = 10 * np.log10(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) + 1e-12)
    return db > np.percentile(db, 10) + 15


def _frames(seg):
    """The 10 ms frames that lie wholly inside `seg`."""
    return slice(int(np.ceil(seg[0] / FRAME_S)), int(np.floor(seg[1] / FRAME_S)))


def _touching(seg):
    """The 10 ms frames that share any time with `seg`."""
    return slice(int(np.floor(seg[0] / FRAME_S)), int(np.ceil(seg[1] / FRAME_S)))


@pytest.fixture(scope="module")
def busy():
    return generate_call("busy", 8000, seed=1, noise_dbfs=-70.0, hum_dbfs=None)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_call_is_stereo_int16_of_the_stated_duration(rate):
    pcm, truth = generate_call("polite", rate, seed=2)
    assert pcm.dtype == np.int16 and pcm.ndim == 2 and pcm.shape[1] == 2
    assert truth["rate"] == rate
    assert abs(len(pcm) / rate - truth["duration"]) < 1e-3
    json.dumps(truth)  # JSON-serialisable


def test_overtalk_events_are_where_both_sides_speak(busy):
    pcm, truth = busy
    assert len(truth["overtalk"]) >= 2
    a, c = _active(pcm, truth["rate"], "agent"), _active(pcm, truth["rate"], "customer")
    for ev in truth["overtalk"]:
        both = a[_frames(ev)] & c[_frames(ev)]
        assert both.mean() > 0.6, f"overtalk {ev}: both sides active in only {both.mean():.0%} of it"


def test_interruptions_are_the_agent_starting_inside_customer_speech(busy):
    pcm, truth = busy
    assert len(truth["interruptions"]) == 2
    c = _active(pcm, truth["rate"], "customer")
    for start, end in truth["interruptions"]:
        assert any(s < start < e for s, e in truth["segments"]["customer"])
        assert [start, end] in truth["overtalk"]
        assert c[_frames([start - 0.3, start])].mean() > 0.5  # the customer was really talking


def test_dead_air_is_silent_on_both_sides_and_long_enough(busy):
    pcm, truth = busy
    assert len(truth["dead_air"]) == 2
    a, c = _active(pcm, truth["rate"], "agent"), _active(pcm, truth["rate"], "customer")
    for ev in truth["dead_air"]:
        assert ev[1] - ev[0] >= truth["dead_air_min_s"]
        assert not (a[_frames(ev)] | c[_frames(ev)]).any()


def test_speech_segments_are_honest_speech_bounds(busy):
    pcm, truth = busy
    for side in SIDES:
        act = _active(pcm, truth["rate"], side)
        inside = np.zeros_like(act)
        for seg in truth["segments"][side]:
            inside[_touching(seg)] = True
            assert act[_frames([seg[0], seg[0] + 0.05])].any() and act[_frames([seg[1] - 0.05, seg[1]])].any()
        assert not (act & ~inside).any(), f"{side}: speech outside the truth's segments"


def test_talk_time_rate_last_speaker_and_latencies_follow_the_segments(busy):
    _, truth = busy
    for side in SIDES:
        talk = sum(e - s for s, e in truth["segments"][side])
        assert truth["talk_s"][side] == pytest.approx(talk, abs=1e-3)
        assert truth["speech_rate_sps"][side] == pytest.approx(truth["syllables"][side] / talk, rel=1e-3)
    assert truth["last_speaker"] == "agent"
    lat = truth["response_latencies"]
    assert any(r["latency_s"] >= 3.0 for r in lat)  # the agent's reply after dead air
    assert all(r["latency_s"] >= 0 for r in lat)


def test_rude_call_records_forbidden_phrase_and_insult_on_the_agent_side():
    pcm, truth = generate_call("rude", 16000, seed=3)
    phrases = {p["phrase"]: p for p in truth["phrases"]}
    assert "神经病" in phrases and phrases["神经病"]["side"] == "agent"
    assert {"不知道", "不清楚", "你这话什么意思"} & set(phrases)
    act = _active(pcm, 16000, "agent")
    for p in truth["phrases"]:
        assert any(s <= p["start"] < p["end"] <= e for s, e in truth["segments"][p["side"]])
        assert act[_frames([p["start"], p["end"]])].mean() > 0.5


@pytest.mark.parametrize("name,side,turns,min_s", [("raised_voice", "agent", 2, 1.0), ("upset_customer", "customer", 1, 2.0)])
def test_raised_voice_turns_are_10_to_15_db_above_the_speakers_own_level(name, side, turns, min_s):
    pcm, truth = generate_call(name, 8000, seed=4)
    x = pcm[:, SIDES.index(side)].astype(np.float64) / 32768
    raised = truth["raised_voice"][side]
    assert len(raised) == turns and all(e - s >= min_s for s, e, _ in raised)

    def level(s, e):
        return 10 * np.log10(np.mean(x[int(s * 8000) : int(e * 8000)] ** 2))

    calm = [seg for seg in truth["segments"][side] if not any(seg[0] == r[0] for r in raised)]
    calm_db = np.mean([level(*seg) for seg in calm])
    for s, e, gain in raised:
        assert 10 <= gain <= 15
        assert level(s, e) - calm_db == pytest.approx(gain, abs=3.0)
    assert np.mean(np.abs(pcm) >= 32767) < 1e-3  # raised, not clipped


def test_fast_scenario_speaks_faster_than_polite():
    fast = generate_call("fast", 8000, seed=5)[1]["speech_rate_sps"]["agent"]
    calm = generate_call("polite", 8000, seed=5)[1]["speech_rate_sps"]["agent"]
    assert fast > 1.5 * calm


def test_drawn_out_syllable_is_held_about_a_second():
    _, truth = generate_call("drawn_out", 8000, seed=6)
    (held,) = truth["drawn_out"]["agent"]
    assert 0.8 <= held[1] - held[0] <= 1.2


def test_same_seed_same_call_other_seed_other_call():
    a, ta = generate_call("random", 8000, seed=7)
    b, tb = generate_call("random", 8000, seed=7)
    c, tc = generate_call("random", 8000, seed=8)
    assert np.array_equal(a, b) and ta == tb
    assert ta["segments"] != tc["segments"]


def test_headset_line_removes_energy_outside_the_telephone_band():
    def high_to_mid(headset):
        pcm, _ = generate_call("polite", 16000, seed=9, headset=headset, hum_dbfs=None, noise_dbfs=None)
        spec = np.abs(np.fft.rfft(pcm[:, 0].astype(np.float64)))
        f = np.fft.rfftfreq(len(pcm), 1 / 16000)
        return spec[f > 5000].mean() / spec[(f > 500) & (f < 3000)].mean()

    assert high_to_mid(True) < 0.2 * high_to_mid(False)


def test_a_scenario_of_your_own_turns_is_rendered():
    scn = gencall.Scenario("mine", (Turn("agent", "[您好]"), Turn("customer", "你好", 0.5)))
    _, truth = generate_call(scn, 8000)
    assert [t["side"] for t in truth["turns"]] == ["agent", "customer"]
    assert truth["phrases"][0]["phrase"] == "您好"


def test_unknown_scenario_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown scenario 'shouting'"):
        generate_call("shouting")


def test_cli_writes_wav_and_truth(tmp_path, capsys):
    wav, js = tmp_path / "call.wav", tmp_path / "call.json"
    assert gencall.main(["--scenario", "rude", "--rate", "8000", "--seed", "3", "--out", str(wav), "--truth", str(js)]) == 0
    rate, data = wavfile.read(wav)
    truth = json.loads(js.read_text())
    assert rate == 8000 and data.shape == (round(truth["duration"] * 8000), 2)
    assert gencall.main(["--scenario", "rude", "--out", str(tmp_path / "no" / "x.wav")]) == 1
    assert "gencall:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["hold", "hold_music"])
def test_a_hold_is_silent_speech_wise_and_music_plays_only_in_it(name):
    pcm, truth = generate_call(name, 8000, seed=4, noise_dbfs=-70.0, hum_dbfs=None)
    [hold] = truth["holds"]
    assert hold["music"] == (name == "hold_music")
    assert gencall.HOLD_S[0] <= hold["end"] - hold["start"] <= gencall.HOLD_S[1]
    speech = [seg for side in SIDES for seg in truth["segments"][side]]
    assert not any(s < hold["end"] and e > hold["start"] for s, e in speech)  # nobody speaks in it
    assert any(abs(e - hold["start"]) < 1e-3 for _, e in speech) and any(abs(s - hold["end"]) < 1e-3 for s, _ in speech)
    x = pcm[:, SIDES.index("customer")].astype(np.float64) / 32768
    inside = x[int((hold["start"] + 0.5) * 8000) : int((hold["end"] - 0.5) * 8000)]
    level = 10 * np.log10(np.mean(inside**2))
    if hold["music"]:  # quiet, but well above the line noise
        assert truth["level_dbfs"]["customer"] - 25 < level < truth["level_dbfs"]["customer"] - 12
    else:
        assert level < -65


@pytest.mark.parametrize("new_line", [True, False])
def test_back_to_back_calls_keep_their_own_truth_and_line(new_line):
    calls = [("polite", 1), ("rude", 2), ("hold", 3)]
    pcm, truth = gencall.generate_sequence(calls, [4.0, 30.0], 8000, new_line=new_line, seed=5)
    assert len(pcm) / 8000 == pytest.approx(truth["duration"], abs=1e-3)
    assert [c["scenario"] for c in truth["calls"]] == ["polite", "rude", "hold"]
    for a, b in zip(truth["calls"], truth["calls"][1:]):
        assert b["start"] >= a["end"] and b["first_speech"] > a["last_speech"]
        floors = a["line"]["noise_dbfs"], b["line"]["noise_dbfs"]
        if new_line:
            assert gencall.LINE_CHANGE_DB[0] - 1e-9 <= abs(floors[1] - floors[0]) <= gencall.LINE_CHANGE_DB[1] + 1e-9
        else:
            assert a["line"] == b["line"]
    [hold] = truth["calls"][2]["holds"]
    assert truth["calls"][2]["first_speech"] < hold["start"] < hold["end"] < truth["calls"][2]["last_speech"]
    # the idle gap carries only the interface's noise on the customer channel
    c = truth["calls"]
    gap = pcm[int((c[0]["end"] + 0.5) * 8000) : int((c[1]["start"] - 0.5) * 8000), 1].astype(np.float64) / 32768
    assert 10 * np.log10(np.mean(gap**2) + 1e-20) < -85


def test_a_hold_is_in_the_truths_holds_not_its_dead_air():
    _, truth = generate_call("hold", 8000, seed=4)
    [hold] = truth["holds"]
    assert [hold["start"], hold["end"]] in truth["silences"]
    assert [hold["start"], hold["end"]] not in truth["dead_air"]
