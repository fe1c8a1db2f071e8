"""Offline Mandarin speech synthesis with espeak-ng, for test calls and keyword training data.

espeak-ng's plain `cmn` voice reads Chinese characters as English-spelled pinyin; the
`cmn-latn-pinyin` voice reads them as Mandarin, one syllable per character. Variants
(`+f3`, `+m2`, `+klatt4`…) with speed and pitch give many distinct, if robotic, voices.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
from scipy.io import wavfile

VOICE = "cmn-latn-pinyin"


@dataclass(frozen=True)
class Voice:
    variant: str = "f3"  # espeak-ng variant name, see `espeak-ng --voices=variant`
    speed_wpm: int = 175  # espeak's -s: words per minute (for Mandarin ~ syllables per minute)
    pitch: int = 50  # espeak's -p: 0..99
    amplitude: int = 100  # espeak's -a: 0..200


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError("espeak-ng is not installed (Debian package 'espeak-ng')")
    return path


@functools.lru_cache(maxsize=1)
def variants() -> tuple[str, ...]:
    """Names of every installed voice variant (about 70 on Debian 12)."""
    out = subprocess.run([espeak_binary(), "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = []
    for row in out.splitlines()[1:]:
        cols = row.split()
        if len(cols) >= 5 and cols[4].startswith("!v/"):
            names.append(cols[4][3:])
    return tuple(names)


def speak(text: str, voice: Voice = Voice()) -> tuple[np.ndarray, int]:
    """Synthesise `text` (Chinese characters); returns (float32 samples in [-1, 1], rate)."""
    # Written to a file, not --stdout: a piped WAV carries a bogus length in its header.
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        cmd = [
            espeak_binary(), "-v", f"{VOICE}+{voice.variant}", "-s", str(voice.speed_wpm),
            "-p", str(voice.pitch), "-a", str(voice.amplitude), "-w", f.name, text,
        ]
        subprocess.run(cmd, capture_output=True, check=True)
        rate, data = wavfile.read(f.name)
    return data.astype(np.float32) / 32768.0, int(rate)


def trim_silence(x: np.ndarray, rate: int, threshold_db: float = -45.0) -> np.ndarray:
    """Cut espeak's leading/trailing silence so that a clip's bounds are its speech bounds."""
    win = max(1, rate // 100)
    n = len(x) // win
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_db)
    if loud.size == 0:
        return x[:0]
    return x[loud[0] * win : (loud[-1] + 1) * win]
