"""The prosody of one side of a call (SideProsody) from its frame tracks and speech segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edge.prosody import level as lvl
from edge.prosody.frames import HOP_S, frame_times, power_db, speech_mask
from edge.prosody.nuclei import drawn_out, smoothed_intensity_db, syllable_nuclei
from edge.prosody.pitch import drop_blips

PITCH_GATE_BELOW_LEVEL_DB = 25.0  # speech frames this far under the active level carry no pitch worth tracking
MIN_VOICED_S = 0.3  # less voiced speech than this: no pitch statistics
MIN_SPEECH_S = 1.0  # less speech than this: no speech rate
# columns of a side's 10 ms frame tracks (edge.prosody.stream keeps them, float32)
POWER, VOWEL_POWER, CLIPPED, F0, APERIODICITY = range(5)  # mean square, vowel-band mean square, clipped samples, Hz, YIN


@dataclass(frozen=True)
class ProsodyTrack:
    """Per-frame tracks for the timeline picture: frame centres (s), F0 (Hz, NaN where
    unvoiced or outside speech) and level (dBFS per 10 ms frame)."""

    times: np.ndarray
    f0: np.ndarray
    level: np.ndarray


@dataclass(frozen=True)
class SideProsody:
    """Prosody of one side. Times are s from the analysed samples' start.
    `to_dict()` is the CallScore's $defs/prosody_side; `track` stays on the box."""

    pitch_median_hz: float | None
    pitch_range_st: float | None  # 5th–95th percentile span
    monotony: float | None  # std of pitch, semitones
    level_dbfs: float | None  # active speech level
    clipping_ratio: float
    speech_rate_sps: float | None  # syllable nuclei per second of speech
    raised_voice: tuple[tuple[float, float], ...] = ()
    drawn_out: tuple[tuple[float, float], ...] = ()
    syllables: int = 0
    speech_s: float = 0.0
    track: ProsodyTrack | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pitch_median_hz": self.pitch_median_hz,
            "pitch_range_st": self.pitch_range_st,
            "monotony": self.monotony,
            "level_dbfs": self.level_dbfs,
            "clipping_ratio": self.clipping_ratio,
            "speech_rate_sps": self.speech_rate_sps,
            "raised_voice": [list(ev) for ev in self.raised_voice],
            "drawn_out": [list(ev) for ev in self.drawn_out],
        }


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(float(v), nd)


def checked_speech(speech: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    out = []
    for i, seg in enumerate(speech):
        try:
            start, end = float(seg[0]), float(seg[1])
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"prosody.analyse: speech[{i}] = {seg!r} is not a (start_s, end_s) pair") from None
        if not end >= start:
            raise ValueError(f"prosody.analyse: speech[{i}] = ({start}, {end}) ends before it starts")
        start, end = max(start, 0.0), min(end, duration)
        if end > start:
            out.append((start, end))
    return out


def summarise(rows: np.ndarray, speech: Sequence[tuple[float, float]], hop_samples: int, offset: float = 0.0,
              raised_voice: Sequence[tuple[float, float]] = ()) -> SideProsody:
    """Prosody of one side from its 10 ms frame tracks (`rows`, columns POWER…APERIODICITY,
    see edge.prosody.stream) and speech segments in s from frame 0's start. `offset`: frame 0's
    start in s from the call's start; `raised_voice`: events in s from the call's start."""
    n = len(rows)
    power = rows[:, POWER]
    level_db = power_db(power)
    in_speech = speech_mask(n, speech)
    speech_s = sum(e - s for s, e in speech)
    active = lvl.active_level_dbfs(power[in_speech])
    # pitch is tracked over all speech; frames far under the active level carry none worth keeping
    gate = in_speech & (level_db > (active if active is not None else 0.0) - PITCH_GATE_BELOW_LEVEL_DB)
    f0 = drop_blips(np.where(gate, rows[:, F0], np.nan))
    aperiodicity = np.where(gate, rows[:, APERIODICITY], np.nan)
    voiced = f0[np.isfinite(f0)]
    if voiced.size * HOP_S >= MIN_VOICED_S:
        median = float(np.median(voiced))
        st = 12 * np.log2(voiced / median)
        p5, p95 = np.percentile(st, [5, 95])
        pitch = (median, float(p95 - p5), float(np.std(st)))
    else:
        pitch = (None, None, None)

    intensity = smoothed_intensity_db(rows[:, VOWEL_POWER])
    nuclei = syllable_nuclei(intensity, aperiodicity, in_speech)
    rate = len(nuclei) / speech_s if speech_s >= MIN_SPEECH_S else None
    held = drawn_out(f0, intensity) * HOP_S + offset
    counted = in_speech if in_speech.any() else np.ones(n, bool)
    clipping = float(rows[counted, CLIPPED].sum()) / max(1, int(counted.sum()) * hop_samples)

    return SideProsody(
        pitch_median_hz=_round(pitch[0], 1),
        pitch_range_st=_round(pitch[1]),
        monotony=_round(pitch[2]),
        level_dbfs=_round(active, 1),
        clipping_ratio=round(clipping, 6),
        speech_rate_sps=_round(rate),
        raised_voice=tuple((round(float(s), 2), round(float(e), 2)) for s, e in raised_voice),
        drawn_out=tuple((round(float(s), 2), round(float(e), 2)) for s, e in held),
        syllables=int(len(nuclei)),
        speech_s=round(speech_s, 3),
        track=ProsodyTrack(frame_times(n) + offset, f0, level_db),
    )
