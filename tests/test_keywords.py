"""Keyword spotting with the committed model on small generated speech (espeak-ng)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from edge.config import ConfigError, KeywordsConfig
from edge.events import Side
from edge.keywords.features import StreamingLogMel, log_mel, resample_to_8k
from edge.keywords.model import ModelInfo, load_model
from edge.keywords.search import Keyword, KeywordSearch
from edge.keywords.spotter import KeywordSpotter
from callqa_lab.synth import Voice, speak, trim_silence

# Voices the model never heard in training (the test split of models/train), clear settings.
HELD_OUT = Voice(variant="steph2", speed_wpm=160, pitch=50)
PHRASES = {"greeting": ["您好", "很高兴为您服务"], "thanks": ["谢谢"], "insult": ["神经病"], "forbidden": ["不知道"]}


@functools.lru_cache(maxsize=None)
def said(text: str, rate: int = 8000, voice: Voice = HELD_OUT) -> np.ndarray:
    """int16 speech at `rate` with 0.3 s of quiet on both sides."""
    x, r = speak(text, voice)
    x = resample_to_8k(trim_silence(x, r), r) if rate == 8000 else _to16k(trim_silence(x, r), r)
    pad = np.zeros(int(0.3 * rate), np.float32)
    y = np.concatenate([pad, x / np.max(np.abs(x)) * 0.4, pad])
    return np.round(y * 32767).astype(np.int16)


def _to16k(x, r):
    from scipy import signal

    return signal.resample_poly(x, 16000 // 10, r // 10 if r % 10 == 0 else r).astype(np.float32)


def spot(spotter: KeywordSpotter, audio: np.ndarray, rate: int, chunk_s: float = 0.5, t0: float = 0.0):
    step = int(chunk_s * rate)
    hits = []
    for at in range(0, len(audio), step):
        hits += spotter.process(Side.AGENT, audio[at : at + step], t0 + at / rate)
    return hits + spotter.flush(Side.AGENT)


def make(runtime="onnx", precision="int8", phrases=PHRASES, thresholds=None, rate=8000) -> KeywordSpotter:
    return KeywordSpotter.from_config(KeywordsConfig(runtime=runtime, precision=precision), phrases, thresholds or {},
                                      sample_rate=rate)


def test_streaming_features_match_whole_signal_features():
    x = (np.random.default_rng(1).standard_normal(16000 * 2) * 3000).astype(np.int16)
    front = StreamingLogMel(16000)
    chunked = np.concatenate([front(x[i : i + 1234]) for i in range(0, len(x), 1234)])
    whole = StreamingLogMel(16000)(x)
    assert chunked.shape == whole.shape
    assert np.allclose(chunked, whole, atol=1e-4)


def test_greeting_and_closing_are_found_in_a_held_out_voice_at_calibrated_thresholds():
    phrases = {"greeting": ["您好", "很高兴为您服务"], "closing": ["感谢您的来电", "再见"]}
    hits = spot(make(phrases=phrases), said("您好很高兴为您服务。感谢您的来电，再见"), 8000)
    found = {h.phrase for h in hits}
    assert {"您好", "很高兴为您服务", "感谢您的来电", "再见"} <= found
    assert all(h.side is Side.AGENT and 0.0 <= h.confidence <= 1.0 for h in hits)


def test_ordinary_speech_raises_no_insult_or_forbidden_phrase():
    hits = spot(make(), said("我这边帮您查一下订单的物流信息"), 8000)
    assert not [h for h in hits if h.category in ("insult", "forbidden")]


def test_onnx_and_tflite_runtimes_give_the_same_detections():
    audio = said("您好，不知道，神经病，谢谢")
    results = {}
    for runtime in ("onnx", "tflite"):
        hits = spot(make(runtime, "float", thresholds={c: 0.2 for c in PHRASES}), audio, 8000)
        results[runtime] = [(h.phrase, round(h.start, 2), round(h.end, 2)) for h in hits]
    assert results["onnx"], "nothing detected at all"
    assert results["onnx"] == results["tflite"]


def test_int8_model_agrees_with_float_model_frame_by_frame():
    info = ModelInfo.load(None)
    feats = log_mel(said("感谢您的来电，祝您生活愉快").astype(np.float32) / 32768)[: info.window]
    for runtime in ("onnx", "tflite"):
        f = load_model(info, runtime, "float").log_probs(feats).argmax(-1)
        q = load_model(info, runtime, "int8").log_probs(feats).argmax(-1)
        assert (f == q).mean() >= 0.9


def test_16k_and_8k_lines_find_the_same_phrase():
    for rate in (8000, 16000):
        hits = spot(make(rate=rate), said("您好，很高兴为您服务", rate), rate)
        assert "很高兴为您服务" in {h.phrase for h in hits}, rate


def test_a_phrase_added_to_the_rubric_is_found_without_retraining():
    phrases = {"refund": ["申请退款"]}  # never a keyword in training
    hits = spot(make(phrases=phrases), said("我想申请退款可以吗"), 8000)
    assert [h.phrase for h in hits] == ["申请退款"]
    assert not spot(make(phrases=phrases), said("我想查一下物流信息"), 8000)


def test_phrase_the_model_cannot_spell_is_refused_by_name():
    with pytest.raises(ConfigError, match="OK好"):
        make(phrases={"greeting": ["OK好"]})
    with pytest.raises(ConfigError, match="rubric lists no phrases"):
        make(phrases={})


def test_hits_carry_stream_times_and_arrive_within_half_a_second():
    audio = said("我看一下。感谢您的来电")
    spotter = make(phrases={"closing": ["感谢您的来电"]})
    step = 800  # 0.1 s chunks, as the pipeline's VAD frames arrive
    arrivals = []
    for at in range(0, len(audio), step):
        for h in spotter.process(Side.AGENT, audio[at : at + step], 100.0 + at / 8000):
            arrivals.append((h, 100.0 + (at + step) / 8000))
    late = spotter.flush(Side.AGENT)
    assert arrivals and not late
    hit, heard_at = arrivals[0]
    assert 100.0 < hit.start < hit.end <= 100.0 + len(audio) / 8000
    assert heard_at - hit.end <= 0.5


def test_a_gap_in_the_stream_starts_a_new_segment():
    spotter = make(phrases={"closing": ["感谢您的来电"]})
    a = said("感谢您的来电")
    hits = spot(spotter, a, 8000, t0=0.0) + spot(spotter, a, 8000, t0=30.0)
    assert [round(h.start) // 30 for h in hits] == [0, 1]


def test_search_finds_units_in_order_and_not_a_bare_final_inside_a_syllable():
    # outputs: 0 blank, 1 'b', 2 'a'; a CTC-like stream: blank…, b, blank, a, blank…
    lp = np.full((12, 3), np.log(0.02))
    lp[:, 0] = np.log(0.96)
    lp[4] = np.log([0.02, 0.96, 0.02])
    lp[6] = np.log([0.02, 0.02, 0.96])
    search = KeywordSearch([Keyword("ba", "x", (1, 2)), Keyword("a", "y", (2,), starts_with_final=True)],
                           initial_ids=frozenset({1}))
    conf, starts = search.step(lp)
    assert conf[:, 0].max() > 0.9 and starts[conf[:, 0].argmax(), 0] == 4
    assert conf[:, 1].max() < 0.1


def test_eval_kws_reports_recall_false_alarms_and_det_curve(tmp_path):
    from scipy.io import wavfile

    rows = ["file\ttranscript"]
    for i, text in enumerate(["您好很高兴为您服务", "谢谢您", "我看一下物流信息"]):
        wavfile.write(tmp_path / f"c{i}.wav", 16000, said(text, 16000))
        rows.append(f"c{i}.wav\t{text}")
    (tmp_path / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "edge", "eval-kws", str(tmp_path / "manifest.tsv"), "--rate", "16000",
                           "--line-sim", "none", "--out", str(out), "--name", "tiny"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "tiny.json").read_text())
    assert report["categories"]["greeting"]["text"]["occurrences"] == 2
    assert report["categories"]["greeting"]["text"]["recall"] >= 0.5
    assert (out / "tiny.png").stat().st_size > 1000
    assert report["unit_error_rate"] < 0.4 and "unit error rate" in proc.stdout


def test_unit_error_rate_tells_voices_the_model_hears_from_speech_it_does_not(tmp_path):
    from scipy.io import wavfile

    from callqa_lab.kws_evaluate import floor_spotter, spot_clips

    texts = ["您好很高兴为您服务", "我看一下物流信息", "请问还有什么可以帮您"]
    for i, text in enumerate(texts):
        wavfile.write(tmp_path / f"c{i}.wav", 8000, said(text))
    spotter = floor_spotter(KeywordsConfig(), PHRASES, 8000)
    heard = spot_clips(spotter, [(tmp_path / f"c{i}.wav", t) for i, t in enumerate(texts)], None, 1)
    wrong_truth = texts[1:] + texts[:1]  # each clip paired with another clip's words
    misheard = spot_clips(spotter, [(tmp_path / f"c{i}.wav", t) for i, t in enumerate(wrong_truth)], None, 1)
    assert heard.units == misheard.units > 40
    assert heard.unit_error_rate < 0.3 < 0.6 < misheard.unit_error_rate


def test_eval_kws_names_a_bad_manifest(tmp_path):
    bad = tmp_path / "m.tsv"
    bad.write_text("path\ttext\nx.wav\t你好\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "edge", "eval-kws", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "m.tsv" in proc.stderr and "transcript" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_replay_at_a_threshold_matches_a_spotter_run_at_that_threshold():
    from callqa_lab.kws_evaluate import Detection, _kept, floor_spotter

    phrases = {"greeting": ["您好", "很高兴为您服务"], "closing": ["感谢您的来电", "再见"], "filler": ["这个"]}
    audio = said("这个您好很高兴为您服务，这个问题我看一下，感谢您的来电再见")
    candidates = spot(floor_spotter(KeywordsConfig(), phrases, 8000), audio, 8000)
    for threshold in (0.05, 0.3, 0.6, 0.9):
        real = spot(make(phrases=phrases, thresholds={c: threshold for c in phrases}), audio, 8000)
        for phrase in ("您好", "很高兴为您服务", "感谢您的来电", "再见", "这个"):
            mine = [Detection(0, h.phrase, h.category, h.confidence, h.start, h.end) for h in candidates if h.phrase == phrase]
            assert _kept(mine, np.array([threshold]))[0] == sum(h.phrase == phrase for h in real), (threshold, phrase)


def test_read_wav_scales_a_stereo_recording_before_mixing_it_down(tmp_path):
    from scipy.io import wavfile

    from callqa_lab.manifest import read_wav

    wavfile.write(tmp_path / "s.wav", 8000, np.array([[16384, 0], [-16384, -16384]], np.int16))
    x, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and x.dtype == np.float32 and np.allclose(x, [0.25, -0.5])
