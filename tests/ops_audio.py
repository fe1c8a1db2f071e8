"""Test lines for the ops tools: calls from callqa_lab/gencall.py (agent left, customer right,
with ground truth), written as WAV, optionally damaged the way a bad install damages them."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from callqa_lab.gencall import generate_call

RATE = 16000


@functools.lru_cache(maxsize=4)
def _call(seed: int) -> tuple[np.ndarray, dict]:
    return generate_call("polite", sample_rate=RATE, seed=seed)


def stereo_line(path: Path, swap: bool = False, clip: bool = False, dead_customer: bool = False,
                seed: int = 0) -> Path:
    """A polite call as a 16-bit stereo WAV. swap: agent and customer cables crossed;
    clip: input gain 24 dB too high; dead_customer: the customer channel carries nothing."""
    audio, _truth = _call(seed)
    out = audio.astype(np.float32)
    if clip:
        out *= 16.0
    if swap:
        out = out[:, ::-1]
    if dead_customer:
        out[:, 1] = 0
    wavfile.write(path, RATE, np.clip(out, -32768, 32767).astype(np.int16))
    return path


def truth(seed: int = 0) -> dict:
    return _call(seed)[1]
