"""The customer line's fingerprint: what stays the same through one call and changes with a new caller.

A call comes in on a line of its own, and that line's noise (its floor, its colour: hum, a
band-limited handset, a mobile codec) stays put while the call lasts; the next caller brings
another. `CallerLine` keeps, per 10 ms frame of the customer channel, its level and the levels
of a few coarse bands (numpy, one rfft per frame), for as long as the box may have to look back
(a hold, plus the stretch before it). From those frames:

- `fingerprint(t0, t1)`: the noise floor (FLOOR_PERCENTILE of the frame levels: speech does not
  move it while the customer is silent a fair share of the time) and the spectrum shape of the
  frames near that floor (band levels relative to their mean: the colour, not the loudness);
- `speech_level`: the customer's active speech level in the call so far, so that sound far
  quieter than the customer's own voice (music-on-hold heard back on the customer channel) is
  not taken for the customer speaking (`is_hold_audio`);
- `resumed(gap, now, hits, speech)`: at speech after a silence, whether it is the same call
  (edge/calls.py asks); `hung_up(silence, now)`: the customer channel fell to idle (far below
  the call's floor): the caller is gone.

Figures are dB re full scale (int16 32768). Memory: up to 9 float32 per 10 ms frame, 3.6 kB per
second kept; keep_s is the look-back, calls.max_hold_s + EXTRA_KEEP_S (35 s): ~560 kB a line at
the default 120 s.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge.events import KeywordHit, Side

FRAME_S = 0.01
BAND_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 3000.0, 3500.0, 4000.0, 8000.0)  # bands above rate/2 drop out
FLOOR_PERCENTILE = 20  # the line's noise floor: this percentile of the frame levels
QUIET_ABOVE_FLOOR_DB = 3.0  # the frames whose spectrum is the line's colour: within this of the floor
MIN_FRAMES = 50  # half a second of frames at least, else no fingerprint
FLOOR_CHANGE_DB = 3.0  # a noise floor this much higher or lower: another line (same call on generated lines: < 0.4 dB)
SHAPE_CHANGE_DB = 4.0  # a band this much louder or quieter relative to the others: another colour (same call: < 2.2 dB)
HUNG_UP_BELOW_DB = 12.0  # the customer channel this far below the call's floor: no call on it (idle)
HOLD_AUDIO_BELOW_DB = 12.0  # sound this far under the customer's speech level is not the customer talking
REFERENCE_S = 20.0  # the call's line is taken from this much before a silence
RESUME_S = 3.0  # after speech resumes, this long is listened to before deciding (line, phrases)
RESUME_MAX_S = 10.0  # … or longer, until MIN_FRAMES of the customer channel without their speech are heard
SPEECH_MARGIN_S = 0.1  # frames this close to the customer's speech are not the line's noise
EXTRA_KEEP_S = REFERENCE_S + RESUME_MAX_S + 5.0
RESUME_CATEGORY = "hold"  # the rubric's keyword category of hold and resume phrases (请您稍等, 让您久等了 …)
GREETING_CATEGORY = "greeting"
HOLD_PHRASE_BEFORE_S = 5.0  # a hold phrase ending this long before the silence announces it (the agent's last words)
AT_RESUME_S = 0.5  # a phrase starting this long before the resumed speech is still at the resume (VAD onset)


def _floor(rows: np.ndarray) -> float:
    """The noise floor (dB) of frame rows [level, bands…]: FLOOR_PERCENTILE of their levels."""
    return float(np.percentile(rows[:, 0], FLOOR_PERCENTILE))


@dataclass(frozen=True)
class LineFingerprint:
    floor_db: float
    shape_db: tuple[float, ...]  # band level of the quiet frames minus their mean band level

    def change(self, other: "LineFingerprint") -> str | None:
        """Why `other` is another line than this one ('floor …', 'colour …'), or None: the same."""
        d_floor = other.floor_db - self.floor_db
        if abs(d_floor) >= FLOOR_CHANGE_DB:
            return f"floor {d_floor:+.1f} dB"
        d_shape = np.abs(np.subtract(other.shape_db, self.shape_db))
        if len(d_shape) and d_shape.max() >= SHAPE_CHANGE_DB:
            return f"colour {d_shape.max():.1f} dB in band {int(d_shape.argmax())}"
        return None


@dataclass(frozen=True)
class Gap:
    """A silence inside a call: `start` the call's last speech before it, `resume` the first
    after; `call_start` where the call began (its line is not looked for before that)."""

    call_start: float
    start: float
    resume: float

    @property
    def reference(self) -> tuple[float, float]:
        """Where the call's line is measured: up to REFERENCE_S before the silence, inside the call."""
        return max(self.call_start, self.start - REFERENCE_S), self.start


@dataclass(frozen=True)
class Resume:
    """The decision at speech after a silence: a new call or the same one, and why."""

    new_call: bool
    reason: str  # resume_phrase | greeting | line_changed: … | same_line | no_evidence


def _db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(power + 1e-12)


class CallerLine:
    """Frame features of one line's customer channel, and what they say about the caller."""

    def __init__(self, rate: int, keep_s: float):
        self.rate, self.keep_s = rate, keep_s
        self._n = int(rate * FRAME_S)
        spectrum_hz = np.fft.rfftfreq(self._n, 1.0 / rate)
        edges = [e for e in BAND_EDGES_HZ if e <= rate / 2]
        # bins × bands, 1 where a bin belongs to a band: a frame's band powers are one product
        self._bands = np.column_stack([(spectrum_hz >= lo) & (spectrum_hz < hi)
                                       for lo, hi in zip(edges, edges[1:])]).astype(np.float64)
        self._starts: list[float] = []  # t of each kept block's first frame, ascending
        self._blocks: list[np.ndarray] = []  # its frames' rows [level, band levels…]
        self._rest = np.zeros(0, np.float32)  # samples short of a whole frame, carried to the next block
        self._speech_levels: list[float] = []  # the customer's speech segments of the call so far
        # the line before the silence in progress, (span, fingerprint): asked on every block of a
        # silence by hung_up, and the frames of that span, all in the past, no longer change
        self._before_silence: tuple[tuple[float, float], LineFingerprint | None] | None = None

    # ---------------------------------------------------------------- input

    def update(self, samples: np.ndarray, t0: float) -> None:
        """A block of the customer channel (int16), in stream order."""
        x = np.concatenate((self._rest, samples.astype(np.float32) / 32768.0))
        start = t0 - len(self._rest) / self.rate
        k = len(x) // self._n
        self._rest = x[k * self._n :]
        if k == 0:
            return
        frames = x[: k * self._n].reshape(k, self._n)
        spectrum = np.fft.rfft(frames, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2) / self._n**2
        level = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / self._n
        self._starts.append(start)
        self._blocks.append(_db(np.column_stack((level, power @ self._bands))).astype(np.float32))
        old = bisect_left(self._starts, start - self.keep_s)
        if old:
            del self._starts[:old], self._blocks[:old]

    def _rows(self, t0: float, t1: float, speech: Sequence[tuple[float, float]] = ()) -> np.ndarray:
        """The frames wholly inside [t0, t1], less those within SPEECH_MARGIN_S of `speech`."""
        parts = []
        speech = [(s, e) for s, e in speech if e + SPEECH_MARGIN_S > t0 and s - SPEECH_MARGIN_S < t1]
        first = max(0, bisect_right(self._starts, t0) - 1)
        for start, rows in zip(self._starts[first : bisect_left(self._starts, t1)], self._blocks[first:]):
            i0 = max(0, int(np.ceil((t0 - start) / FRAME_S - 1e-6)))
            i1 = min(len(rows), int(np.floor((t1 - start) / FRAME_S + 1e-6)))
            if i1 <= i0:
                continue
            t = start + FRAME_S * np.arange(i0, i1)
            keep = np.ones(i1 - i0, bool)
            for s, e in speech:
                keep &= (t + FRAME_S <= s - SPEECH_MARGIN_S) | (t >= e + SPEECH_MARGIN_S)
            parts.append(rows[i0:i1][keep])
        return np.concatenate(parts) if parts else np.zeros((0, 1 + self._bands.shape[1]), np.float32)

    # ---------------------------------------------------------------- what the frames say

    def fingerprint(self, t0: float, t1: float, speech: Sequence[tuple[float, float]] = ()) -> LineFingerprint | None:
        """The line over [t0, t1], the customer's `speech` left out (None: under MIN_FRAMES of it)."""
        rows = self._rows(t0, t1, speech)
        if len(rows) < MIN_FRAMES:
            return None
        floor = _floor(rows)
        quiet = rows[rows[:, 0] <= floor + QUIET_ABOVE_FLOOR_DB, 1:]
        bands = _db(np.mean(10 ** (quiet.astype(np.float64) / 10), axis=0))
        return LineFingerprint(round(floor, 2), tuple(round(float(b), 2) for b in bands - bands.mean()))

    def level(self, t0: float, t1: float) -> float | None:
        """Mean power (dB) of the frames in [t0, t1], or None when none is kept."""
        rows = self._rows(t0, t1)
        return float(_db(np.mean(10 ** (rows[:, 0].astype(np.float64) / 10)))) if len(rows) else None

    def add_speech(self, start: float, end: float) -> None:
        """A customer speech segment of the call in progress."""
        level = self.level(start, end)
        if level is not None:
            self._speech_levels.append(level)

    @property
    def speech_level(self) -> float | None:
        """The customer's speech level in the call so far (median over their segments)."""
        return float(np.median(self._speech_levels)) if self._speech_levels else None

    def new_call(self) -> None:
        """Another call begins: its customer's level is yet to be heard."""
        self._speech_levels.clear()

    def is_hold_audio(self, start: float, end: float) -> bool:
        """Sound on the customer channel over [start, end] HOLD_AUDIO_BELOW_DB or more under the
        customer's own speech level (music-on-hold leaking back): not the customer speaking.
        False while the call has no customer speech to compare with."""
        ref, level = self.speech_level, self.level(start, end)
        return ref is not None and level is not None and level <= ref - HOLD_AUDIO_BELOW_DB

    def hung_up(self, silence: Gap, now: float) -> bool:
        """The customer channel fell to idle over the last second before `now`, far under the
        call's floor before the silence (`silence.resume` unused: none yet): the caller has gone."""
        if self._before_silence is None or self._before_silence[0] != silence.reference:
            self._before_silence = (silence.reference, self.fingerprint(*silence.reference))
        before = self._before_silence[1]
        if before is None:
            return False
        idle = self._rows(now - 1.0, now)  # only its floor: asked on every block of a silence
        return len(idle) >= MIN_FRAMES and round(_floor(idle), 2) <= before.floor_db - HUNG_UP_BELOW_DB

    def resumed(self, gap: Gap, now: float, hits: Sequence[KeywordHit],
                speech: Sequence[tuple[float, float]]) -> Resume | None:
        """Speech came back after `gap`, at least RESUME_S before `now`: the same call or a new
        one? `hits`: the keyword hits of the line; `speech`: the customer's speech (left out of
        the line's noise). None: not yet, the customer has spoken nearly all the time since the
        resume (asked again until RESUME_MAX_S after it).

        In this order: the agent's hold phrase as the last words before the silence, or a resume
        phrase at the resume, says same call; a greeting at the resume says a new one, and so does a changed line; the
        same line says the same call. Without a fingerprint before the silence the call goes on.
        (A customer channel gone idle in a silence shorter than end_silence_s is a pause as far
        as this goes: the line after it decides.)"""
        agent = [h for h in hits if h.side == Side.AGENT]
        at_resume = [h for h in agent if gap.resume - AT_RESUME_S <= h.start <= gap.resume + RESUME_S]
        before = [h for h in agent if gap.start - HOLD_PHRASE_BEFORE_S <= h.end <= gap.start + AT_RESUME_S]
        if any(h.category == RESUME_CATEGORY for h in before + at_resume):
            return Resume(False, "resume_phrase")
        if any(h.category == GREETING_CATEGORY for h in at_resume):
            return Resume(True, "greeting")
        before = self.fingerprint(*gap.reference, speech)
        after = self.fingerprint(gap.resume, now, speech)
        if after is None and now < gap.resume + RESUME_MAX_S:
            return None
        if before is None or after is None:
            return Resume(False, "no_evidence")
        changed = before.change(after)
        return Resume(True, f"line_changed: {changed}") if changed else Resume(False, "same_line")
