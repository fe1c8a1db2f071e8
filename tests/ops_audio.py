"""Stereo test lines with known truth for the ops tools: agent speech on one channel,
customer speech on the other, each at a known time, over a quiet noise floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from scripts.synth import Voice, speak

RATE = 16000


def _speech(text: str, voice: Voice) -> np.ndarray:
    x, rate = speak(text, voice)
    return resample_poly(x, RATE, rate).astype(np.float32) if rate != RATE else x


def stereo_line(path: Path, agent_text="您好很高兴为您服务", customer_text="我的宽带坏了",
                agent_gain=0.5, customer_gain=0.5, seconds=4.0, swap=False, clip=False) -> Path:
    """Agent talks from 0.2 s, the customer after; noise floor about -70 dBFS."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    out = rng.normal(0, 10, (n, 2)).astype(np.float32) / 32768.0
    agent = _speech(agent_text, Voice("f3")) * agent_gain
    customer = _speech(customer_text, Voice("m2")) * customer_gain
    a0 = int(0.2 * RATE)
    c0 = min(a0 + len(agent) + int(0.3 * RATE), n - 1)
    out[a0 : a0 + len(agent), 0] += agent[: n - a0]
    out[c0 : c0 + len(customer), 1] += customer[: n - c0]
    if clip:
        out *= 8.0
    if swap:
        out = out[:, ::-1]
    wavfile.write(path, RATE, (np.clip(out, -1, 32767 / 32768) * 32768).astype(np.int16))
    return path
