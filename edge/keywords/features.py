"""Log-mel features at 8 kHz: the one front-end shared by training and the box.

40 mel bands over 100–3800 Hz, 25 ms Hann windows every 10 ms, natural log of power.
16 kHz input is decimated to 8 kHz first, so a wideband and a telephone line look alike
to the model. Everything here is vectorised numpy/scipy; the streaming classes only keep the
few samples that straddle chunk boundaries so a chunked stream gives the same frames as the
whole signal at once.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

SAMPLE_RATE = 8000
WIN = 200  # 25 ms
HOP = 80  # 10 ms
NFFT = 256
N_MELS = 40
FMIN, FMAX = 100.0, 3800.0
LOG_FLOOR = 1e-7  # power floor: digital silence would otherwise give -inf
PAD_VALUE = float(np.log(LOG_FLOOR))  # the feature of silence, used to pad segment edges
FRAME_S = HOP / SAMPLE_RATE


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=64)
def mel_filterbank(warp: float = 1.0) -> np.ndarray:
    """[NFFT//2+1, N_MELS] triangular filters (HTK mel scale).

    Written out because it is ten lines and keeps librosa off the box. `warp` scales the band
    edges: vocal-tract-length perturbation in training; the box always uses 1.0.
    """
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)) * warp
    edges_hz = np.clip(edges_hz, 0.0, SAMPLE_RATE / 2)
    bins = np.fft.rfftfreq(NFFT, 1.0 / SAMPLE_RATE)
    lo, mid, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    up = (bins[None, :] - lo) / np.maximum(mid - lo, 1e-6)
    down = (hi - bins[None, :]) / np.maximum(hi - mid, 1e-6)
    fb = np.maximum(0.0, np.minimum(up, down))
    return np.ascontiguousarray(fb.T.astype(np.float32))


_WINDOW = signal.get_window("hann", WIN, fftbins=True).astype(np.float32)


def log_mel(samples: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """float32 samples in [-1, 1] at 8 kHz → [frames, N_MELS] float32; frames = 1 + (n-WIN)//HOP."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < WIN:
        return np.zeros((0, N_MELS), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP]
    spec = np.fft.rfft(frames * _WINDOW, n=NFFT, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return np.log(np.maximum(power @ mel_filterbank(warp), LOG_FLOOR)).astype(np.float32)


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 (or float) samples → float32 in [-1, 1]."""
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32)


def resample_to_8k(x: np.ndarray, rate: int) -> np.ndarray:
    """Whole-signal resampling to the model rate (training data, files)."""
    if rate == SAMPLE_RATE:
        return x.astype(np.float32)
    g = np.gcd(int(rate), SAMPLE_RATE)
    return signal.resample_poly(x, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)


class StreamingDecimator:
    """16 kHz → 8 kHz for a live stream: anti-alias FIR with carried filter state."""

    _TAPS = signal.firwin(63, 3800.0, fs=16000.0).astype(np.float64)

    def __init__(self) -> None:
        self._zi = np.zeros(len(self._TAPS) - 1)
        self._phase = 0  # index of the next kept sample within the next chunk

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self._zi = signal.lfilter(self._TAPS, 1.0, x.astype(np.float64), zi=self._zi)
        out = y[self._phase :: 2]
        self._phase = (self._phase - len(x)) % 2
        return out.astype(np.float32)


class StreamingLogMel:
    """Chunks at 8 or 16 kHz in, log-mel frames out, frame-exact across chunk boundaries."""

    def __init__(self, sample_rate: int) -> None:
        if sample_rate not in (SAMPLE_RATE, 2 * SAMPLE_RATE):
            raise ValueError(f"keyword features need 8000 or 16000 Hz audio, got {sample_rate}")
        self._decimate = StreamingDecimator() if sample_rate != SAMPLE_RATE else None
        self._tail = np.zeros(0, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        x = to_float(samples)
        if self._decimate is not None:
            x = self._decimate(x)
        buf = np.concatenate([self._tail, x])
        feats = log_mel(buf)
        self._tail = buf[len(feats) * HOP :]
        return feats
