"""Micro-benchmark for `callqa bench`: real-time factor of the prosody stage per channel.

The input is a synthetic voiced signal (harmonics on a moving pitch, syllable-rate envelope,
pauses, line noise) rather than a recording, so the benchmark needs no files and no espeak on
the box; its cost per second matches speech, which is what the pitch tracker spends time on.

Measured on the development machine (2-core Intel Xeon, shared, so best of 3), 60 s, 75 %
speech: analyse RTF 0.0015–0.0018 at 8 kHz and 0.0011–0.0022 at 16 kHz; the live tracker fed
30 ms frames 0.0004–0.0007. On generated calls (~45 % speech per side) analyse is ~0.001.
"""

from __future__ import annotations

import time

import numpy as np

from edge.events import Side
from edge.prosody.stream import analyse
from edge.prosody.raised import RaisedVoiceTracker

LIVE_CHUNK_S = 0.03  # the pipeline's frame size: the tracker's worst case


def speechlike(seconds: float, sample_rate: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """(float32 samples, speech segments): 3 s talk spurts with 1 s pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 140 * 2 ** (0.25 * np.sin(2 * np.pi * 0.7 * t))  # ±3 semitones
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t))  # 4 syllables/s
    segments = [(s, min(s + 3.0, seconds)) for s in np.arange(0.5, seconds, 4.0)]
    talking = np.zeros(n, bool)
    for s, e in segments:
        talking[int(s * sample_rate) : int(e * sample_rate)] = True
    x = 0.05 * voice * envelope * talking + 3e-4 * rng.standard_normal(n)
    return x.astype(np.float32), segments


def bench(seconds: float = 60.0, sample_rate: int = 8000, repeats: int = 3) -> dict[str, float]:
    """Best-of-`repeats` real-time factors (processing time / audio time, one channel):
    `analyse` on a whole call, and the live RaisedVoiceTracker fed 30 ms frames."""
    x, speech = speechlike(seconds, sample_rate)
    pcm = np.round(x * 32767).astype(np.int16)
    step = int(LIVE_CHUNK_S * sample_rate)

    def run_analyse() -> None:
        analyse(x, sample_rate, speech)

    def run_tracker() -> None:
        tracker = RaisedVoiceTracker(sample_rate, Side.AGENT, "bench")
        for i in range(0, len(pcm), step):
            tracker.update(pcm[i : i + step], i / sample_rate)
        tracker.close()

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) / seconds

    return {
        "seconds": seconds,
        "sample_rate": sample_rate,
        "rtf_analyse": best(run_analyse),
        "rtf_raised_voice_live": best(run_tracker),
    }


if __name__ == "__main__":
    for rate in (8000, 16000):
        print(bench(sample_rate=rate))
