"""Prosody on generated calls with known truth, Praat as the pitch reference, and real clips."""

import csv
import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import parselmouth
import pytest
import webrtcvad
from scipy.io import wavfile

from tests.tools import absent

from edge.events import ProsodyEvent, Side
from edge.prosody import RaisedVoiceTracker, SideProsody, analyse
from edge.bench.prosody import bench
from callqa_lab import synth
from callqa_lab.gencall import SIDES, generate_call
from callqa_lab.shared import REAL_ZH

REAL = REAL_ZH
SCHEMA = Path(__file__).resolve().parent.parent / "callqa_contract" / "schemas" / "callscore.v1.json"


def _side(pcm, truth, side):
    x = pcm[:, SIDES.index(side)].astype(np.float32) / 32768
    return x, analyse(x, truth["rate"], truth["segments"][side])


def _praat_median(x, rate):
    f = parselmouth.Sound(x.astype(np.float64), rate).to_pitch(
        time_step=0.01, pitch_floor=60, pitch_ceiling=500).selected_array["frequency"]
    return float(np.median(f[f > 0]))


def _overlaps(a, b):
    return min(a[1], b[1]) > max(a[0], b[0])


def _f1(found, truth):
    tp = sum(any(_overlaps(f, t) for f in found) for t in truth)
    fp = sum(not any(_overlaps(f, t) for t in truth) for f in found)
    return tp, fp, len(truth) - tp


# ---------------------------------------------------------------- pitch

@pytest.mark.parametrize("scenario,seed,rate", [("polite", 11, 8000), ("busy", 12, 16000), ("random", 13, 8000), ("fast", 14, 16000)])
def test_median_pitch_within_5_percent_of_praat_on_generated_calls(scenario, seed, rate):
    pcm, truth = generate_call(scenario, rate, seed=seed)
    for side in SIDES:
        x, p = _side(pcm, truth, side)
        ref = _praat_median(x, rate)
        assert p.pitch_median_hz == pytest.approx(ref, rel=0.05), f"{side} ({truth['voices'][side]['variant']})"


def test_higher_voice_has_higher_pitch_and_a_monotone_voice_has_less_range():
    calm, _ = generate_call("polite", 8000, seed=1, agent_voice=synth.Voice("m3", 175, 20))
    high, truth = generate_call("polite", 8000, seed=1, agent_voice=synth.Voice("m3", 175, 80))
    low_p = analyse(calm[:, 0].astype(np.float32) / 32768, 8000, truth["segments"]["agent"])
    high_p = analyse(high[:, 0].astype(np.float32) / 32768, 8000, truth["segments"]["agent"])
    assert high_p.pitch_median_hz > 1.2 * low_p.pitch_median_hz
    assert low_p.pitch_range_st > 0 and low_p.monotony > 0


# ---------------------------------------------------------------- speech rate

def test_speech_rate_within_15_percent_of_the_generators_truth():
    errors = []
    for seed in range(100, 108):
        pcm, truth = generate_call("random", 8000 if seed % 2 else 16000, seed=seed)
        for side in SIDES:
            _, p = _side(pcm, truth, side)
            errors.append(p.speech_rate_sps / truth["speech_rate_sps"][side] - 1)
    errors = np.abs(errors)
    assert np.all(errors <= 0.15), np.round(errors, 2)
    assert np.median(errors) < 0.02


def _rate_errors(seeds, rates, **overrides):
    """(relative speech-rate error, side's voice variant) for each side of random calls."""
    out = []
    for seed in seeds:
        for rate in rates:
            pcm, truth = generate_call("random", rate, seed=seed, **overrides)
            for side in SIDES if not overrides else ["agent"]:
                _, p = _side(pcm, truth, side)
                out.append((p.speech_rate_sps / truth["speech_rate_sps"][side] - 1, truth["voices"][side]["variant"]))
    return out


@pytest.mark.parametrize("seed", [802, 853])
def test_breathy_voice_speech_rate_within_15_percent(seed):
    # low-pitched m8: most vowels only weakly periodic (these sides measured 20-22 % low before)
    [(error, _)] = _rate_errors([seed], [8000], agent_voice=synth.Voice("m8", 150 + seed % 50, 25 + seed % 50))
    assert abs(error) <= 0.15


@pytest.mark.slow
def test_speech_rate_within_15_percent_on_sixty_random_calls_at_both_rates():
    """Seeds 800-859, 8 and 16 kHz (240 sides; 25 s here). Measured: 238 within 15 %, median
    error 0.1 %, worst 15.5 % (RicishayMax, seed 816: 22 nuclei for 26 syllables, merged peaks)."""
    found = _rate_errors(range(800, 860), [8000, 16000])
    errors = np.abs([e for e, _ in found])
    print(f"within 15 %: {np.mean(errors <= 0.15):.1%}, median {np.median(errors):.1%}, worst {errors.max():.1%}, "
          f"failing: {sorted({v for e, v in found if abs(e) > 0.15})}")
    assert np.mean(errors <= 0.15) >= 0.99
    assert np.median(errors) < 0.01 and errors.max() < 0.2


def test_fast_agent_measures_faster_than_calm_agent():
    fast_pcm, fast = generate_call("fast", 8000, seed=21)
    calm_pcm, calm = generate_call("polite", 8000, seed=21)
    fast_rate = _side(fast_pcm, fast, "agent")[1].speech_rate_sps
    calm_rate = _side(calm_pcm, calm, "agent")[1].speech_rate_sps
    assert fast_rate == pytest.approx(fast["speech_rate_sps"]["agent"], rel=0.15)
    assert fast_rate > 1.6 * calm_rate


# ---------------------------------------------------------------- raised voice

def test_raised_voice_events_found_and_none_in_calm_calls():
    tp = fp = fn = 0
    for seed in range(30, 36):
        pcm, truth = generate_call("raised_voice", 8000 if seed % 2 else 16000, seed=seed)
        for side in SIDES:
            found = _side(pcm, truth, side)[1].raised_voice
            t, f, n = _f1(found, [r[:2] for r in truth["raised_voice"][side]])
            tp, fp, fn = tp + t, fp + f, fn + n
    assert tp >= 12
    assert 2 * tp / (2 * tp + fp + fn) >= 0.9
    for scenario, seed in [("polite", 40), ("polite", 41), ("busy", 42), ("fast", 43), ("rude", 44)]:
        pcm, truth = generate_call(scenario, 8000, seed=seed)
        for side in SIDES:
            assert _side(pcm, truth, side)[1].raised_voice == (), f"{scenario} seed {seed} {side}"


def test_raised_voice_bounds_match_the_raised_turns():
    pcm, truth = generate_call("raised_voice", 16000, seed=37)
    found = _side(pcm, truth, "agent")[1].raised_voice
    expected = [r[:2] for r in truth["raised_voice"]["agent"]]
    assert len(found) == len(expected)
    for (s, e), (ts, te) in zip(found, expected):
        assert abs(s - ts) < 0.4 and abs(e - te) < 0.4


def test_live_tracker_alerts_once_per_event_soon_after_it_starts():
    pcm, truth = generate_call("raised_voice", 8000, seed=38)
    expected = [r[:2] for r in truth["raised_voice"]["agent"]]
    tracker = RaisedVoiceTracker(8000, Side.AGENT, line="line1")
    step, t_offset = 240, 100.0  # 30 ms frames on a stream that started 100 s before the call
    live = []
    for i in range(0, len(pcm), step):
        live += tracker.update(pcm[i : i + step, 0], t_offset + i / 8000)
    final = tracker.close()
    assert len(live) == len(expected) == len(final)
    for ev, fin, (ts, te) in zip(live, final, expected):
        assert isinstance(ev, ProsodyEvent) and ev.kind == "raised_voice"
        assert ev.side is Side.AGENT and ev.line == "line1"
        assert ev.value >= 8.0
        assert ts + 1.0 <= ev.end - t_offset <= ts + 1.8  # alert ~1 s (the minimum) after onset
        assert fin.start == pytest.approx(ev.start) and abs(fin.end - t_offset - te) < 0.4
    assert tracker.close() == []  # each event is reported to one call only


def test_live_tracker_and_analyse_agree():
    pcm, truth = generate_call("raised_voice", 8000, seed=39)
    x, p = _side(pcm, truth, "agent")
    muted = np.zeros(len(x), np.int16)
    for s, e in truth["segments"]["agent"]:
        muted[int(s * 8000) : int(e * 8000)] = pcm[int(s * 8000) : int(e * 8000), 0]
    tracker = RaisedVoiceTracker(8000)
    for i in range(0, len(muted), 800):
        tracker.update(muted[i : i + 800], i / 8000)
    streamed = [(ev.start, ev.end) for ev in tracker.close()]
    assert len(streamed) == len(p.raised_voice)
    for (s1, e1), (s2, e2) in zip(streamed, p.raised_voice):
        assert abs(s1 - s2) < 0.05 and abs(e1 - e2) < 0.05


# ---------------------------------------------------------------- drawn-out syllables

@pytest.mark.parametrize("variant", ["f3", "m3", "f5", "klatt3", "m1"])
def test_drawn_out_syllable_is_found(variant):
    pcm, truth = generate_call("drawn_out", 8000, seed=50, agent_voice=synth.Voice(variant, 175, 50))
    found = _side(pcm, truth, "agent")[1].drawn_out
    (held,) = truth["drawn_out"]["agent"]
    assert len(found) == 1 and _overlaps(found[0], held)
    assert found[0][1] - found[0][0] >= 0.6


def test_no_drawn_out_syllables_in_normal_speech():
    for scenario, seed in [("polite", 51), ("random", 52), ("random", 53), ("fast", 54), ("busy", 55), ("rude", 56)]:
        pcm, truth = generate_call(scenario, 16000 if seed % 2 else 8000, seed=seed)
        for side in SIDES:
            assert _side(pcm, truth, side)[1].drawn_out == (), f"{scenario} seed {seed} {side}"


# ---------------------------------------------------------------- level, clipping, output

def test_active_level_matches_the_generators_level():
    pcm, truth = generate_call("polite", 8000, seed=60, headset=False)
    for side in SIDES:
        assert _side(pcm, truth, side)[1].level_dbfs == pytest.approx(truth["level_dbfs"][side], abs=1.5)


def test_clipped_speech_is_measured_and_clean_speech_is_not():
    pcm, truth = generate_call("polite", 8000, seed=61)
    x = pcm[:, 0].astype(np.float32) / 32768
    assert analyse(x, 8000, truth["segments"]["agent"]).clipping_ratio == 0.0
    clipped = np.clip(x * 40, -1.0, 32767 / 32768)
    assert analyse(clipped, 8000, truth["segments"]["agent"]).clipping_ratio > 0.01


def test_to_dict_matches_the_callscore_schema_and_track_lines_up():
    schema = json.loads(SCHEMA.read_text())
    side_schema = {"$defs": schema["$defs"], **schema["$defs"]["prosody_side"]}
    pcm, truth = generate_call("raised_voice", 8000, seed=62)
    _, p = _side(pcm, truth, "agent")
    d = p.to_dict()
    jsonschema.validate(d, side_schema)
    assert d["raised_voice"] and all(len(ev) == 2 for ev in d["raised_voice"])
    json.dumps(d)
    track = p.track
    assert len(track.times) == len(track.f0) == len(track.level) == len(pcm) // 80
    assert np.isfinite(track.f0).sum() > 100


def test_silence_gives_no_values_instead_of_made_up_ones():
    p = analyse(np.zeros(8000 * 5, np.float32), 8000, [])
    assert isinstance(p, SideProsody)
    assert p.pitch_median_hz is None and p.speech_rate_sps is None and p.level_dbfs is None
    assert p.clipping_ratio == 0.0 and p.raised_voice == () and p.drawn_out == ()


def test_bad_input_is_refused_with_a_clear_message():
    x = np.zeros(8000, np.float32)
    with pytest.raises(ValueError, match=r"speech\[1\] = \(0.5, 0.2\) ends before it starts"):
        analyse(x, 8000, [(0.0, 0.1), (0.5, 0.2)])
    with pytest.raises(ValueError, match="mono"):
        analyse(np.zeros((8000, 2), np.float32), 8000, [])
    with pytest.raises(ValueError, match="not a \\(start_s, end_s\\) pair"):
        analyse(x, 8000, [("a",)])
    with pytest.raises(ValueError, match="mono"):
        RaisedVoiceTracker(8000).update(np.zeros((10, 2), np.int16), 0.0)


def test_bench_reports_real_time_factors():
    r = bench(seconds=5.0, repeats=1)
    assert 0 < r["rtf_analyse"] < 1 and 0 < r["rtf_raised_voice_live"] < 1


# ---------------------------------------------------------------- real voices (evaluation only)

def _real_clips():
    if not (REAL / "manifest.tsv").exists():
        absent(f"the real evaluation clips are not at {REAL} (shared/data beside the checkout, or CALLQA_SHARED)")
    with open(REAL / "manifest.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _vad_segments(pcm, rate):
    """webrtcvad (aggressiveness 2) on 30 ms frames, gaps under 0.3 s bridged."""
    vad, n = webrtcvad.Vad(2), int(rate * 0.03)
    segs = []
    for i in range(0, len(pcm) - n + 1, n):
        if vad.is_speech(pcm[i : i + n].tobytes(), rate):
            t = i / rate
            if segs and t - segs[-1][1] <= 0.3:
                segs[-1][1] = t + 0.03
            else:
                segs.append([t, t + 0.03])
    return [tuple(s) for s in segs]


@pytest.fixture(scope="module")
def real_results():
    out = []
    for row in _real_clips():
        rate, pcm = wavfile.read(REAL / row["file"])
        x = pcm.astype(np.float32) / 32768
        segs = _vad_segments(pcm, rate)
        out.append((row, x, rate, segs, analyse(x, rate, segs)))
    return out


def test_median_pitch_within_5_percent_of_praat_on_real_voices(real_results):
    errors = [p.pitch_median_hz / _praat_median(x, rate) - 1 for _, x, rate, _, p in real_results]
    errors = np.abs(errors)
    # measured: 44 of 45 (the exception: a voice with creak at 73 Hz and speech at 200-370 Hz,
    # where the median falls between the two modes and any voicing difference moves it)
    assert np.mean(errors <= 0.05) >= 0.9, np.round(errors, 3)
    assert np.median(errors) < 0.02


def test_speech_rate_on_real_voices_follows_the_transcripts(real_results):
    """Characters per second of webrtcvad speech: a rough truth (VAD bounds, transcript quality)."""
    measured, expected = [], []
    for row, _, _, segs, p in real_results:
        speech_s = sum(e - s for s, e in segs)
        chars = len(re.findall(r"[\u4e00-\u9fff]", row["transcript"]))
        if p.speech_rate_sps is not None and speech_s >= 2.0:
            measured.append(p.speech_rate_sps)
            expected.append(chars / speech_s)
    measured, expected = np.array(measured), np.array(expected)
    assert len(measured) >= 35
    ratios = measured / expected
    print(f"real speech rate / transcript rate: median {np.median(ratios):.2f}, "
          f"within 15 %: {np.mean(np.abs(ratios - 1) <= 0.15):.0%}, r = {np.corrcoef(measured, expected)[0, 1]:.2f}")
    assert 0.8 <= np.median(ratios) <= 1.1
    assert np.corrcoef(measured, expected)[0, 1] > 0.6  # faster talkers measure faster
