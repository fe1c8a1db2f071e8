"""F0 per 10 ms frame: YIN's cumulative-mean-normalised difference (de Cheveigné & Kawahara
2002), computed for all frames at once with FFT cross-correlation.

Why hand-written: no field library does pitch tracking within the box's budget and licence
(Praat/parselmouth is GPL, librosa's pyin is ~100x slower and pulls numba); YIN is a few lines
of numpy. Audio is analysed at 8 kHz: enough for 60–500 Hz, and half the work at 16 kHz.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal

from edge.prosody.frames import hop, mask_from_runs, runs

F0_MIN_HZ = 60.0
F0_MAX_HZ = 500.0
PITCH_RATE = 8000
YIN_THRESHOLD = 0.15  # first dip of the normalised difference below this is the period (YIN's step 4)
YIN_SLACK = 0.02  # … or, failing that, this far above the lowest value
VOICING_MAX = 0.45  # aperiodicity above this at the chosen lag: unvoiced
MIN_VOICED_FRAMES = 3  # shorter voiced blips are noise, not a syllable

_TAU_MIN = int(PITCH_RATE // F0_MAX_HZ)
_TAU_MAX = int(np.ceil(PITCH_RATE / F0_MIN_HZ))
_W = int(0.025 * PITCH_RATE)  # integration window: 1.5 periods of the lowest pitch
_L = _W + _TAU_MAX + 1  # samples each frame needs
# circular correlation is exact for lags 0.._TAU_MAX when negative lags cannot wrap onto them
_NFFT = 1 << int(np.ceil(np.log2(_TAU_MAX + _W)))
_TAU = np.arange(_TAU_MAX + 1)


def to_pitch_rate(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """`x` as float32 at PITCH_RATE."""
    if sample_rate != PITCH_RATE:
        g = np.gcd(sample_rate, PITCH_RATE)
        x = signal.resample_poly(x, PITCH_RATE // g, sample_rate // g)
    return np.asarray(x, np.float32)


def track_f0(y: np.ndarray, n_frames: int, analyse_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz, aperiodicity) per 10 ms frame of `y` (float32 at PITCH_RATE, see `to_pitch_rate`).

    F0 is NaN where unvoiced or not analysed; aperiodicity (YIN's normalised difference at the
    chosen lag: 0 = perfectly periodic, ~1 = noise) is NaN where not analysed. Only frames where
    `analyse_mask` is True (speech with some energy) are analysed.
    """
    f0 = np.full(n_frames, np.nan)
    aperiodicity = np.full(n_frames, np.nan)
    idx = np.flatnonzero(analyse_mask[:n_frames])
    if idx.size == 0:
        return f0, aperiodicity
    h = hop(PITCH_RATE)
    pad = np.pad(y, (_L, _L))
    starts = (idx * h + h // 2) - _L // 2 + _L  # window centred on the frame centre
    frames = np.lib.stride_tricks.sliding_window_view(pad, _L)[starts]
    frames = frames - frames.mean(axis=1, keepdims=True)
    # d(tau) = e(0) + e(tau) - 2 r(tau): energies by cumulative sums, r by FFT
    spec_w = sfft.rfft(frames[:, :_W], _NFFT)
    spec_l = sfft.rfft(frames, _NFFT)
    r = sfft.irfft(np.conj(spec_w) * spec_l, _NFFT)[:, : _TAU_MAX + 1]
    cs = np.zeros((len(idx), _L + 1), np.float32)
    np.cumsum(frames * frames, axis=1, out=cs[:, 1:])
    energy = cs[:, _W : _W + _TAU_MAX + 1] - cs[:, : _TAU_MAX + 1]
    d = np.maximum(energy[:, :1] + energy - 2 * r, 0.0)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * _TAU[1:] / np.maximum(np.cumsum(d[:, 1:], axis=1), 1e-20)
    dn[:, :_TAU_MIN] = np.inf
    # YIN step 4: the first run of lags below the threshold, its minimum. Where no lag gets
    # under the threshold, the threshold is raised to just above the best lag's value, so a
    # weakly periodic frame still prefers the shortest good period (no octave-down jumps).
    threshold = np.maximum(YIN_THRESHOLD, dn.min(axis=1) + YIN_SLACK)[:, None]
    below = dn < threshold
    first = np.argmax(below, axis=1)[:, None]
    after_run = np.argmax(~below & (_TAU > first), axis=1)[:, None]  # 0 when the run reaches the end
    in_first = (_TAU >= first) & ((_TAU < after_run) | (after_run == 0))
    best = np.argmin(np.where(in_first, dn, np.inf), axis=1)
    best = np.clip(best, _TAU_MIN, _TAU_MAX - 1)
    rows = np.arange(len(idx))
    a, b, c = dn[rows, best - 1], dn[rows, best], dn[rows, best + 1]
    a = np.where(np.isfinite(a), a, b)
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / denom, 0.0)
    period = best + np.clip(shift, -0.5, 0.5)
    voiced = (b < VOICING_MAX) & (best > _TAU_MIN) & (best < _TAU_MAX - 1)
    f0[idx[voiced]] = PITCH_RATE / period[voiced]
    aperiodicity[idx] = b
    return drop_blips(f0), aperiodicity


def drop_blips(f0: np.ndarray) -> np.ndarray:
    r = runs(np.isfinite(f0))
    f0[mask_from_runs(r[r[:, 1] - r[:, 0] < MIN_VOICED_FRAMES], len(f0))] = np.nan
    return f0
