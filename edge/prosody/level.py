"""Speech level and clipping of one side."""

from __future__ import annotations

import numpy as np

from edge.prosody.frames import power_db

P56_MARGIN_DB = 15.9  # ITU-T P.56: activity threshold this far below the active level
CLIP_FULL_SCALE = 32767 / 32768  # a float sample this large came from a clipped int16


def active_level_dbfs(power: np.ndarray) -> float | None:
    """Active speech level (P.56-like) of the given 10 ms frame powers, in dBFS.

    P.56 looks for the threshold c at which the mean power of the frames above c is
    P56_MARGIN_DB above c. Every frame's level is a candidate c: sorted descending, the mean
    above each is a cumulative mean, and the crossing is found for all candidates at once.
    (P.56 proper uses a 30 ms envelope with 200 ms hangover; 10 ms frames of speech segments
    already exclude pauses, which is what the hangover is for.)
    """
    p = np.sort(power[power > 0])[::-1]
    if p.size == 0:
        return None
    mean_above = np.cumsum(p) / np.arange(1, p.size + 1)
    margin = power_db(mean_above) - power_db(p)
    reached = margin >= P56_MARGIN_DB
    k = int(np.argmax(reached)) if reached.any() else p.size - 1
    return float(power_db(mean_above[k]))


def clipping_ratio(x: np.ndarray) -> float:
    """Share of samples at full scale (float samples in [-1, 1])."""
    if x.size == 0:
        return 0.0
    return float(np.mean(np.abs(x) >= CLIP_FULL_SCALE))
