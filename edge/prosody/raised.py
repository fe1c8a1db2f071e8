"""Raised voice: a speaker's short-term level well above their own running level.

The running level is the speaker's own: a slow average (time constant RUNNING_TAU_S of their
speech) of the level of their active 10 ms frames. The short-term level is the mean level of
the active frames in the last SHORT_WINDOW_S. A raised-voice event is a stretch where the
short-term level stays `threshold_db` or more above the running level for at least
`min_duration_s` (with HYSTERESIS_DB of slack once it is reached). Levels are averaged in dB, so a few loud syllables do not dominate, and the
running level learns from louder speech only as if it were RUNNING_LEARNS_UP_TO_DB above
itself: shouting barely moves the reference it is judged against, while a lasting change (a
headset moved closer) is still followed, at up to 2 dB per time constant.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from edge.events import ProsodyEvent, Side
from edge.prosody.frames import HOP_S, frame_power, hop, power_db, runs
from edge.prosody.level import P56_MARGIN_DB, active_level_dbfs

RAISED_DB = 8.0  # default: short-term level this far above the running level
RAISED_MIN_S = 1.0  # … for at least this long
SHORT_WINDOW_S = 0.5
RUNNING_TAU_S = 30.0  # of active speech
WARMUP_S = 2.0  # of sound above the floor before the running level is set
ACTIVE_FLOOR_DBFS = -60.0  # quieter frames are never speech
# Frames this far under the running level are pauses, not speech: the running level is a mean
# in dB, ~4 dB under P.56's power-mean active level, so this is P.56's own activity threshold.
ACTIVE_BELOW_RUNNING_DB = 12.0
HYSTERESIS_DB = 3.0  # once the threshold is reached, the event lasts while within this of it
MERGE_GAP_S = 0.6  # raised stretches closer than this are one event
BATCH_S = 0.2  # samples are analysed in batches of at least this much (alerts come <= 0.2 s later)
MIN_ACTIVE_IN_WINDOW = 0.4  # share of the short window that must be speech to judge it
RUNNING_LEARNS_UP_TO_DB = 2.0  # louder frames count as this much above the running level


class RaisedVoiceTracker:
    """Streaming raised-voice detector for one side of one line.

    Feed it every sample of that side in order (`update`, int16, any chunk length: short
    chunks are pooled into BATCH_S batches); silence and the other party's bleed are
    ignored by an energy gate relative to the speaker's own level. `side` and `line` are given
    at construction and copied into each ProsodyEvent.

    `update` returns each event once, as soon as it has lasted `min_duration_s`: `end` is that
    moment and `value` the dB above the running level so far, which is what a live alert needs.
    `close()`, at the end of a call, returns every event since the last `close()` with its full
    extent and peak dB. The running level carries over from call to call: it is the speaker's.
    """

    def __init__(
        self, sample_rate: int, side: Side = Side.AGENT, line: str = "",
        threshold_db: float = RAISED_DB, min_duration_s: float = RAISED_MIN_S,
    ) -> None:
        if sample_rate < 8000:
            raise ValueError(f"RaisedVoiceTracker: sample_rate {sample_rate} Hz is too low (8000 Hz or more)")
        self.sample_rate = sample_rate
        self.side, self.line = Side(side), line
        self.threshold_db, self.min_duration_s = threshold_db, min_duration_s
        self._finished: list[ProsodyEvent] = []
        self._alpha = HOP_S / RUNNING_TAU_S
        self._ema = np.zeros(1)  # lfilter state of the running level's average
        self._warmup: list[np.ndarray] = []  # frame levels heard before the running level is known
        self._running_db: float | None = None
        self._w = int(round(SHORT_WINDOW_S / HOP_S))
        self._tail_db = np.zeros(self._w - 1)  # last frames' (level, active) for the short window
        self._tail_active = np.zeros(self._w - 1)
        self._rest = np.zeros(0, np.float32)  # samples not yet analysed
        self._batch = int(BATCH_S * sample_rate)
        self._t_rest = 0.0
        self._open: list[float] | None = None  # [start, last frame time, peak dB, reported]

    def update(self, samples: np.ndarray, t0: float) -> list[ProsodyEvent]:
        """Process int16 `samples` whose first sample is at stream time `t0` (s)."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"RaisedVoiceTracker.update: expected mono samples, got shape {x.shape}")
        if self._rest.size and abs(self._t_rest + self._rest.size / self.sample_rate - t0) > 1e-3:
            self._rest = self._rest[:0]  # a gap in the stream: the partial frame belongs to nothing
        if not self._rest.size:
            self._t_rest = t0
        buf = np.concatenate([self._rest, x.astype(np.float32) / 32768.0])
        if len(buf) < self._batch:  # small chunks are pooled: numpy's per-call cost dominates them
            self._rest = buf
            return []
        db = power_db(frame_power(buf, self.sample_rate))
        t_first = self._t_rest
        used = len(db) * hop(self.sample_rate)
        self._rest, self._t_rest = buf[used:], t_first + used / self.sample_rate
        if not len(db):
            return []
        return self._frames(db, t_first + (np.arange(len(db)) + 0.5) * HOP_S)

    def close(self) -> list[ProsodyEvent]:
        """End of a call: every raised-voice event since the last close, with full extents."""
        self._end_open()
        self._rest = self._rest[:0]
        out, self._finished = self._finished, []
        return out

    def _frames(self, db: np.ndarray, t: np.ndarray) -> list[ProsodyEvent]:
        floor = ACTIVE_FLOOR_DBFS if self._running_db is None else max(
            ACTIVE_FLOOR_DBFS, self._running_db - ACTIVE_BELOW_RUNNING_DB)
        active = db > floor
        running = self._running(db, active)
        # short-term level: mean level of the active frames among the last w frames
        lv = np.concatenate([self._tail_db, np.where(active, db, 0.0)])
        ac = np.concatenate([self._tail_active, active.astype(np.float64)])
        kernel = np.ones(self._w)
        sum_db, n_act = np.convolve(lv, kernel, "valid"), np.convolve(ac, kernel, "valid")
        self._tail_db, self._tail_active = lv[-(self._w - 1):], ac[-(self._w - 1):]
        judged = (n_act >= MIN_ACTIVE_IN_WINDOW * self._w) & np.isfinite(running)
        excess = np.where(judged, sum_db / np.maximum(n_act, 1) - running, -np.inf)
        # the short-term level describes its window, so it is dated at the window's centre
        return self._events(excess, t - SHORT_WINDOW_S / 2)

    def _running(self, db: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Running level after each frame (NaN until known), updated by the active frames."""
        before = np.nan if self._running_db is None else self._running_db
        if self._running_db is None:
            self._start_running(db[active])
            return np.full(len(db), np.nan)
        idx = np.flatnonzero(active)
        out = np.full(len(db), np.nan)
        if idx.size:
            a = self._alpha
            louder_capped = np.minimum(db[idx], self._running_db + RUNNING_LEARNS_UP_TO_DB)
            out[idx], self._ema = signal.lfilter([a], [1, a - 1], louder_capped, zi=self._ema)
            self._running_db = float(out[idx[-1]])
        # pauses keep the level of the last active frame (or of the last chunk)
        last = np.maximum.accumulate(np.where(active, np.arange(len(db)), -1))
        return np.where(last >= 0, out[np.maximum(last, 0)], before)

    def _start_running(self, db: np.ndarray) -> None:
        """Collect WARMUP_S of frames above the floor, then start the running level at the mean
        of those that P.56 calls active: line noise under the speech is left out from the start."""
        self._warmup.append(db)
        heard = np.concatenate(self._warmup)
        if heard.size * HOP_S < WARMUP_S:
            return
        p56 = active_level_dbfs(10 ** (heard / 10))
        self._running_db = float(np.mean(heard[heard > p56 - P56_MARGIN_DB]))
        self._ema = np.array([(1 - self._alpha) * self._running_db])  # lfilter state for y[-1] = level
        self._warmup = []

    def _events(self, excess: np.ndarray, t: np.ndarray) -> list[ProsodyEvent]:
        """Follow stretches where the level is within HYSTERESIS_DB of the threshold, joining
        those less than MERGE_GAP_S apart (a breath in a shouted sentence), across chunks; a
        stretch that reaches the threshold and lasts `min_duration_s` is an event, reported
        once. A loop over stretches (a handful per call), never over frames."""
        out: list[ProsodyEvent] = []
        for start, stop in runs(excess >= self.threshold_db - HYSTERESIS_DB):
            t_start, t_end, peak = float(t[start]), float(t[stop - 1]), float(excess[start:stop].max())
            if self._open is not None and t_start - self._open[1] <= MERGE_GAP_S + HOP_S:
                self._open[1], self._open[2] = t_end, max(self._open[2], peak)
            else:
                self._end_open()
                self._open = [t_start, t_end, peak, 0.0]
            if not self._open[3] and self._is_event(*self._open[:3]):
                self._open[3] = 1.0
                out.append(self._event(*self._open[:3]))
        if self._open is not None and t[-1] - self._open[1] > MERGE_GAP_S:
            self._end_open()
        return out

    def _is_event(self, start: float, end: float, peak: float) -> bool:
        return peak >= self.threshold_db and end - start >= self.min_duration_s

    def _end_open(self) -> None:
        if self._open is not None and self._is_event(*self._open[:3]):
            self._finished.append(self._event(*self._open[:3]))
        self._open = None

    def _event(self, start: float, end: float, peak: float) -> ProsodyEvent:
        return ProsodyEvent(self.line, self.side, "raised_voice", round(start, 3), round(end, 3), round(peak, 2))
