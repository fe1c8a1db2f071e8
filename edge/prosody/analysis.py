"""`analyse`: the prosody of one side of a call, from its samples and its speech segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edge.prosody import level as lvl
from edge.prosody.frames import HOP_S, frame_power, frame_times, power_db, speech_mask
from edge.prosody.nuclei import drawn_out, syllable_nuclei, vowel_intensity_db
from edge.prosody.pitch import PITCH_RATE, to_pitch_rate, track_f0
from edge.prosody.raised import RaisedVoiceTracker

PITCH_GATE_BELOW_LEVEL_DB = 25.0  # speech frames this far under the active level carry no pitch worth tracking
MIN_VOICED_S = 0.3  # less voiced speech than this: no pitch statistics
MIN_SPEECH_S = 1.0  # less speech than this: no speech rate
TRACKER_CHUNK_S = 0.5


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


def _checked_speech(speech: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
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


def analyse(samples: np.ndarray, sample_rate: int, speech: Sequence[tuple[float, float]]) -> SideProsody:
    """Prosody of one side: `samples` float32 mono in [-1, 1] at the working rate,
    `speech` the side's speech segments as (start_s, end_s) from the samples' start."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"prosody.analyse: expected mono samples, got shape {x.shape}")
    if sample_rate < 8000:
        raise ValueError(f"prosody.analyse: sample_rate {sample_rate} Hz is too low (8000 Hz or more)")
    segs = _checked_speech(speech, len(x) / sample_rate)
    power = frame_power(x, sample_rate)
    n = len(power)
    level_db = power_db(power)
    in_speech = speech_mask(n, segs)
    speech_s = sum(e - s for s, e in segs)

    active = lvl.active_level_dbfs(power[in_speech])
    pitch_gate = in_speech & (level_db > (active if active is not None else 0.0) - PITCH_GATE_BELOW_LEVEL_DB)
    # pitch and syllables need no more than 4 kHz of bandwidth: both work on 8 kHz samples
    narrow = to_pitch_rate(x, sample_rate)
    f0, aperiodicity = track_f0(narrow, n, pitch_gate)
    voiced = f0[np.isfinite(f0)]
    if voiced.size * HOP_S >= MIN_VOICED_S:
        median = float(np.median(voiced))
        st = 12 * np.log2(voiced / median)
        p5, p95 = np.percentile(st, [5, 95])
        pitch = (median, float(p95 - p5), float(np.std(st)))
    else:
        pitch = (None, None, None)

    intensity = vowel_intensity_db(narrow, PITCH_RATE)[:n]
    nuclei = syllable_nuclei(intensity, aperiodicity, in_speech)
    rate = len(nuclei) / speech_s if speech_s >= MIN_SPEECH_S else None
    held = drawn_out(f0, intensity) * HOP_S

    sample_mask = np.repeat(in_speech, len(x) // n if n else 1)
    speech_samples = x[: sample_mask.size][sample_mask]
    clipping = lvl.clipping_ratio(speech_samples if speech_samples.size else x)

    return SideProsody(
        pitch_median_hz=_round(pitch[0], 1),
        pitch_range_st=_round(pitch[1]),
        monotony=_round(pitch[2]),
        level_dbfs=_round(active, 1),
        clipping_ratio=round(clipping, 6),
        speech_rate_sps=_round(rate),
        raised_voice=_raised_voice(x, sample_rate, sample_mask),
        drawn_out=tuple((round(float(s), 2), round(float(e), 2)) for s, e in held),
        syllables=int(len(nuclei)),
        speech_s=round(speech_s, 3),
        track=ProsodyTrack(frame_times(n), f0, level_db),
    )


def _raised_voice(x: np.ndarray, sample_rate: int, sample_mask: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The streaming tracker, run over the call in chunks with everything but speech muted,
    so that the live alerts and the final score agree."""
    pcm = np.zeros(len(x), np.int16)
    pcm[: sample_mask.size] = np.where(sample_mask, np.clip(np.round(x[: sample_mask.size] * 32768), -32768, 32767), 0)
    tracker = RaisedVoiceTracker(sample_rate)
    step = int(TRACKER_CHUNK_S * sample_rate)
    for i in range(0, len(pcm), step):
        tracker.update(pcm[i : i + step], i / sample_rate)
    return tuple((round(ev.start, 2), round(ev.end, 2)) for ev in tracker.close())
