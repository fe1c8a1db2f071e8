"""Headset-line simulation and augmentation: clean speech in, what a box would hear out.

Used for training (random noise types from TRAIN_NOISES) and for evaluation (TEST_NOISES,
never seen in training, fixed seeds). All numpy/scipy, vectorised per clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

TRAIN_NOISES = ("white", "pink", "hum", "fan", "babble")
TEST_NOISES = ("brown", "keyboard", "crowd")


def _colored(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (0 white, 1 pink, 2 brown), shaped in the frequency domain."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    x = np.fft.irfft(spec / f ** (exponent / 2.0), n=n)
    return x / (np.std(x) + 1e-9)


def make_noise(kind: str, n: int, rate: int, rng: np.random.Generator, talkers: list[np.ndarray]) -> np.ndarray:
    """Unit-RMS noise of `kind`; `talkers` are other clean utterances (same rate) for babble."""
    t = np.arange(n) / rate
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _colored(n, 1.0, rng)
    elif kind == "brown":
        x = _colored(n, 2.0, rng)
    elif kind == "hum":
        f0 = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        x = x + 0.3 * rng.standard_normal(n)
    elif kind == "fan":
        b, a = signal.butter(2, rng.uniform(300, 1200), fs=rate)
        x = signal.lfilter(b, a, rng.standard_normal(n)) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t))
    elif kind == "keyboard":
        x = np.zeros(n)
        hits = rng.integers(0, n, size=max(1, int(n / rate * rng.uniform(3, 9))))
        click = rng.standard_normal(int(0.008 * rate)) * np.exp(-np.arange(int(0.008 * rate)) / (0.0015 * rate))
        for h in hits:  # a handful of clicks per second; the loop is over clicks, not samples
            seg = x[h : h + len(click)]
            seg += click[: len(seg)] * rng.uniform(0.3, 1.0)
        x = x + 0.05 * _colored(n, 1.0, rng)
    elif kind in ("babble", "crowd"):
        k = int(rng.integers(2, 5)) if kind == "babble" else int(rng.integers(6, 10))
        x = np.zeros(n)
        for _ in range(k):
            u = talkers[int(rng.integers(len(talkers)))] if talkers else rng.standard_normal(n)
            u = np.resize(u, n) if len(u) < n else u[:n]
            x += np.roll(u, int(rng.integers(n))) / (np.std(u) + 1e-9)
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-9)


def room_impulse(rate: int, rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise tail: a small office's reverb, RT60 0.1–0.5 s."""
    rt60 = rng.uniform(0.1, 0.5)
    n = int(rt60 * rate)
    h = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    h[0] = 1.0 / rng.uniform(0.2, 0.6)
    return h / np.sqrt(np.sum(h**2))


def mu_law(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711-style 8-bit companding round trip."""
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127.0) / 127.0
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


@dataclass(frozen=True)
class LineSim:
    """What happens between a mouth and the box. `rate` is the line's output rate."""

    rate: int = 8000
    noises: tuple[str, ...] = TRAIN_NOISES
    p_noise: float = 0.85
    snr_db: tuple[float, float] = (5.0, 30.0)
    p_reverb: float = 0.4
    gain_db: tuple[float, float] = (-24.0, 8.0)
    p_codec: float = 0.7  # mu-law on a narrowband line
    p_dropout: float = 0.1

    def __call__(self, clean: np.ndarray, in_rate: int, rng: np.random.Generator,
                 talkers: list[np.ndarray] = ()) -> np.ndarray:
        x = np.asarray(clean, dtype=np.float64)
        x = x / (np.max(np.abs(x)) + 1e-9) * 0.5
        if rng.random() < self.p_reverb:
            x = signal.fftconvolve(x, room_impulse(in_rate, rng))[: len(x)]
        if rng.random() < self.p_noise:
            kind = self.noises[int(rng.integers(len(self.noises)))]
            noise = make_noise(kind, len(x), in_rate, rng, list(talkers))
            snr = rng.uniform(*self.snr_db)
            x = x + noise * np.sqrt(np.mean(x**2) + 1e-12) * 10 ** (-snr / 20)
        if self.rate != in_rate:
            g = np.gcd(self.rate, in_rate)
            x = signal.resample_poly(x, self.rate // g, in_rate // g)
        band = (rng.uniform(250, 400), rng.uniform(3100, 3500)) if self.rate == 8000 else (
            rng.uniform(60, 150), rng.uniform(6000, 7500))
        x = signal.sosfilt(signal.butter(4, band, btype="bandpass", fs=self.rate, output="sos"), x)
        x = x / (np.max(np.abs(x)) + 1e-9) * 0.5 * 10 ** (rng.uniform(*self.gain_db) / 20)
        x = np.clip(x, -1.0, 1.0)  # loud agents clip at the ADC
        if self.rate == 8000 and rng.random() < self.p_codec:
            x = mu_law(x)
        if rng.random() < self.p_dropout:  # lost packets concealed as silence
            n = int(rng.uniform(0.02, 0.06) * self.rate)
            at = int(rng.integers(0, max(1, len(x) - n)))
            x[at : at + n] = 0.0
        return np.round(x * 32767.0).astype(np.int16)
