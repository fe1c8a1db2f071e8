"""10 ms framing shared by every prosody measure: one frame grid per side, so pitch, level and
events line up frame for frame. Frame i covers samples [i*hop, (i+1)*hop); its time is its centre."""

from __future__ import annotations

from typing import Sequence

import numpy as np

HOP_S = 0.01
FLOOR_DB = -120.0  # level of digital silence, dBFS


def hop(sample_rate: int) -> int:
    return int(round(sample_rate * HOP_S))


def frame_power(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square (full scale = 1) of each whole 10 ms frame of float samples in [-1, 1]."""
    h = hop(sample_rate)
    n = len(x) // h
    frames = x[: n * h].reshape(n, h).astype(np.float64)
    return np.mean(frames * frames, axis=1)


def power_db(p: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(p, 10 ** (FLOOR_DB / 10)))


def frame_times(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) * HOP_S


def speech_mask(n: int, speech: Sequence[tuple[float, float]]) -> np.ndarray:
    """Frames whose centre lies inside one of the speech segments (s from the samples' start)."""
    t = frame_times(n)
    mask = np.zeros(n, bool)
    for start, end in speech:
        mask[np.searchsorted(t, start) : np.searchsorted(t, end)] = True
    return mask


def runs(mask: np.ndarray) -> np.ndarray:
    """[start, stop) frame indices of each run of True, shape (k, 2)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def mask_from_runs(r: np.ndarray, n: int) -> np.ndarray:
    """Inverse of `runs`: a boolean mask of length n, True inside each [start, stop)."""
    step = np.zeros(n + 1, np.int32)
    np.add.at(step, r[:, 0], 1)
    np.add.at(step, r[:, 1], -1)
    return np.cumsum(step[:n]) > 0
