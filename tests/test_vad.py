"""The VAD's segment edges on lines whose noise is not steady."""

import numpy as np
from scipy import signal

from callqa_lab import synth
from tests.truth import vad_segments

RATE = 8000


def _turn() -> np.ndarray:
    x, rate = synth.speak("请问有什么可以帮您", synth.Voice("f2", 175, 50))
    x = signal.resample_poly(synth.trim_silence(x, rate), RATE, rate).astype(np.float32)
    return x * 10 ** (-28 / 20) / np.sqrt(np.mean(x**2))


def test_a_line_whose_noise_level_flutters_does_not_lengthen_talk_time():
    # line noise 24 dB under the speech whose level jumps by 3 dB (SD) every 10 ms, as a
    # crackly line does: the edges must not be stretched over the noise's louder steps
    turn, rng = _turn(), np.random.default_rng(7)
    n = 8 * RATE
    line = np.zeros(n, np.float32)
    for start in (1.0, 4.5):
        line[int(start * RATE) : int(start * RATE) + len(turn)] += turn
    flutter = np.repeat(10 ** (rng.normal(0, 3, n // 80) / 20), 80)
    noise = rng.standard_normal(n).astype(np.float32) * 10 ** (-52 / 20) * flutter
    pcm = np.clip(np.round((line + noise) * 32768), -32768, 32767).astype(np.int16)
    segs = vad_segments(np.stack([pcm, pcm], axis=1), RATE, "agent")
    talk = sum(e - s for s, e in segs)
    assert abs(talk - 2 * len(turn) / RATE) <= 0.15, segs
