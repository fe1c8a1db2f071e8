"""Voice activity per side: webrtcvad decisions, smoothed into SpeechSegments.

webrtcvad judges each 10/20/30 ms frame. Its raw decisions flicker inside words and across
short pauses, so two smoothing rules make them into segments a listener would agree with:
a pause shorter than the hangover is bridged (speech goes on), and a voiced burst shorter
than `min_speech_ms` (a click, a breath) is dropped. A segment's end is its last voiced frame:
the hangover delays when a segment is *reported*, never its length, so talk time stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from edge.config import VadConfig
from edge.events import Side, SpeechSegment

# webrtcvad keeps calling a frame speech for a few frames after speech stops (its "overhang",
# kOverHangMax2* in webrtc's vad_core.c, for runs longer than 6 frames), by mode and frame
# length. Trimming it from segment ends makes talk time and silences match the audio
# (measured on generated calls: ends were ~0.1 s late at mode 2, 30 ms, before this).
# A 10 ms step this far above the noise floor is still speech at an edge. Weak onsets and
# decaying final syllables sit 4.5-9 dB above the floor on quiet or band-limited lines: an
# earlier 9 dB cut them: some voices' turns ended 0.03-0.1 s early, others started as late.
# On a steady line a 10 ms noise step's level varies by ~0.7 dB (SD, 8 kHz; 0.5 at 16 kHz,
# measured on generated calls), so 4.5 dB is >5 SD clear of it; on a line whose noise
# fluctuates more, the margin grows with the noise's own spread (EDGE_NOISE_SPREADS).
EDGE_ABOVE_FLOOR_DB = 4.5
EDGE_NOISE_SPREADS = 5.0  # margin in units of the floor's spread (10th - 1st percentile, ~1 SD)
OVERHANG_FRAMES = {  # mode -> {frame_ms: frames}
    0: {10: 14, 20: 7, 30: 5},
    1: {10: 14, 20: 7, 30: 5},
    2: {10: 9, 20: 5, 30: 3},
    3: {10: 9, 20: 5, 30: 3},
}


def voiced_runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indexes of each run of True in `flags`."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _percentiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """np.percentile(x, qs) (its default, linear method) from a partial sort: np.percentile's
    general machinery costs ~30 µs per call, asked on every block of speech of every side."""
    pos = np.asarray(qs, float) / 100 * (len(x) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    part = np.partition(x, sorted({*lo.tolist(), *hi.tolist()}))
    return part[lo] + (pos - lo) * (part[hi] - part[lo])


class _Energy:
    """10 ms energies (dB) of a side's recent past, and its noise floor.

    webrtcvad's decisions are 30 ms coarse and miss quiet onsets and word tails; a segment's
    edges are moved to where the energy really rises above the side's noise floor.
    """

    STEP_S = 0.01

    def __init__(self, sample_rate: int, keep_s: float = 10.0, above_db: float = EDGE_ABOVE_FLOOR_DB):
        self._step = sample_rate // 100
        self._keep = int(keep_s / self.STEP_S)
        self._above = above_db
        self.t0 = 0.0  # time of db[0]
        self.db = np.zeros(0)
        self._threshold: float | None = np.inf  # None: to be worked out from db when next asked

    def add(self, samples: np.ndarray, t0: float) -> None:
        n = len(samples) // self._step
        if n == 0:
            return
        x = samples[: n * self._step].astype(np.float32).reshape(n, self._step)
        db = 10 * np.log10(np.mean(x * x, axis=1) + 1.0)
        if not len(self.db):
            self.t0 = t0
        self.db = np.concatenate((self.db, db))[-self._keep :]
        self.t0 = t0 + n * self.STEP_S - len(self.db) * self.STEP_S
        self._threshold = None

    @property
    def threshold(self) -> float:
        """Loud above this (dB): the noise floor of the past `keep_s` plus a margin. Worked out
        only when a segment edge asks (a percentile over 10 s on every block cost 5 % of a line)."""
        if self._threshold is None:
            low, floor = _percentiles(self.db, (1, 10))
            self._threshold = float(floor + max(self._above, EDGE_NOISE_SPREADS * (floor - low)))
        return self._threshold

    def _index(self, t: float) -> int:
        return int(round((t - self.t0) / self.STEP_S))

    def onset(self, start: float, max_back_s: float = 0.2) -> float:
        """`start` moved back over the loud 10 ms steps just before it."""
        i = self._index(start)
        lo = max(0, i - int(max_back_s / self.STEP_S))
        if i <= lo:
            return start
        quiet = np.flatnonzero(self.db[lo:i][::-1] <= self.threshold)
        back = quiet[0] if len(quiet) else i - lo
        return start - back * self.STEP_S

    def offset(self, lo_t: float, hi_t: float, default: float) -> float:
        """End of the last loud 10 ms step in [lo_t, hi_t], or `default` if none is loud."""
        lo, hi = max(0, self._index(lo_t)), min(len(self.db), self._index(hi_t))
        loud = np.flatnonzero(self.db[lo:hi] > self.threshold) if hi > lo else np.zeros(0, int)
        return default if not len(loud) else self.t0 + (lo + loud[-1] + 1) * self.STEP_S


@dataclass
class _Open:
    start: float
    last_voiced: float  # end of the last voiced frame so far


class SideVad:
    """Streaming VAD for one side of one line.

    Feed int16 blocks in stream order with `process`; it returns the segments that are
    finished (followed by at least the hangover of silence). `flush` closes the open one.
    """

    def __init__(self, line: str, side: Side, sample_rate: int, frame_ms: int, cfg: VadConfig):
        self.line, self.side = line, side
        self._vad = webrtcvad.Vad(cfg.aggressiveness)
        self._rate = sample_rate
        self._frame = sample_rate * frame_ms // 1000
        self._frame_s = frame_ms / 1000
        self._hangover = cfg.hangover_ms / 1000
        self._min_speech = cfg.min_speech_ms / 1000
        self._overhang = OVERHANG_FRAMES[cfg.aggressiveness][frame_ms] * self._frame_s
        self._rest = np.zeros(0, np.int16)  # samples short of a whole frame, carried to the next block
        self._t_rest = 0.0
        self._open: _Open | None = None
        self._energy = _Energy(sample_rate)
        self._last_end = 0.0  # end of the last finished segment: the next one starts after it
        self.heard_until = 0.0  # stream time up to which every frame has been judged
        self._end_asked: tuple[tuple, float] | None = None  # speech_end's last answer, by (segment, its end, heard_until)

    @property
    def speaking_since(self) -> float | None:
        """Start of the speech in progress (not yet a finished segment), or None; a burst
        shorter than min_speech_ms does not count yet (it may be a click)."""
        if self._open is None or self.speech_end(self._open) - self._open.start < self._min_speech:
            return None
        return self._open.start

    @property
    def last_voiced(self) -> float | None:
        """End of the speech in progress so far (overhang taken off), or None."""
        return None if self._open is None else self.speech_end(self._open)

    def _decide(self, samples: np.ndarray) -> np.ndarray:
        n = len(samples) // self._frame
        frames = samples[: n * self._frame].reshape(n, self._frame)
        # webrtcvad takes one frame per call; there is no batch API.
        return np.fromiter((self._vad.is_speech(f.tobytes(), self._rate) for f in frames), bool, n)

    def process(self, samples: np.ndarray, t0: float) -> list[SpeechSegment]:
        if len(self._rest):
            samples = np.concatenate((self._rest, samples))
            t0 = self._t_rest
        n = len(samples) // self._frame
        self._rest = samples[n * self._frame :]
        self._t_rest = t0 + n * self._frame_s
        flags = self._decide(samples)
        self._energy.add(samples[: n * self._frame], t0)
        self.heard_until = self._t_rest
        done: list[SpeechSegment] = []
        starts, ends = voiced_runs(flags)
        for s, e in zip(t0 + starts * self._frame_s, t0 + ends * self._frame_s):
            onset = max(self._energy.onset(s), self._last_end)
            if self._open is not None:
                prev_end = self.speech_end(self._open, onset)
                # bridge a pause shorter than the hangover, judged on the refined edges
                if onset - prev_end <= self._hangover:
                    self._open.last_voiced = e
                    continue
                self._close_into(done, prev_end)
            self._open = _Open(max(onset, self._last_end), e)
        if self._open is not None and self.heard_until - self._open.last_voiced > self._hangover:
            self._close_into(done)
        return done

    def _close_into(self, done: list[SpeechSegment], end: float | None = None) -> None:
        if self._open is not None:
            end = self.speech_end(self._open) if end is None else end
            if end - self._open.start >= self._min_speech:
                done.append(SpeechSegment(self.line, self.side, self._open.start, end))
                self._last_end = end
        self._open = None

    def speech_end(self, seg: "_Open", before: float = np.inf) -> float:
        """Where the speech of a segment really ended: webrtcvad's overhang taken off, then
        moved to the last loud 10 ms step near there (and before the next speech, if any)."""
        if before == np.inf:  # asked several times per block by the pipeline: kept until the audio moves on
            key = (seg, seg.last_voiced, self.heard_until)
            if self._end_asked is None or self._end_asked[0] != key:
                self._end_asked = (key, self._speech_end(seg, before))
            return self._end_asked[1]
        return self._speech_end(seg, before)

    def _speech_end(self, seg: "_Open", before: float) -> float:
        trimmed = min(seg.last_voiced - self._overhang, before)
        end = self._energy.offset(trimmed - 0.1, min(self.heard_until, seg.last_voiced + 0.1, before), trimmed)
        return max(seg.start + self._frame_s, end)

    def flush(self) -> list[SpeechSegment]:
        done: list[SpeechSegment] = []
        self._close_into(done)
        return done
