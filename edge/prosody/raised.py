"""Raised voice: a speaker's short-term level well above their own running level.

Both levels are power means (P.56's sense of "level", the one a listener's loudness follows) of
the speaker's active 10 ms frames, frames within P56_MARGIN_DB of the running level:

- the running level is the speaker's own, a slow average (time constant RUNNING_TAU_S of their
  speech) that starts at the P.56 active level of their first WARMUP_S of active speech, once
  P.56 finds speech at all: steady hiss or hum louder than ACTIVE_FLOOR_DBFS, heard before the
  speaker's first words, has no active level, where taking its level (as this tracker once
  did) set a reference ~30 dB too low and made every calm word after it "raised";
- the short-term level is the power mean of the active frames in the last SHORT_WINDOW_S.

A raised-voice event is a stretch where the short-term level stays `threshold_db` or more above
the running level for at least `min_duration_s` (with HYSTERESIS_DB of slack once it is
reached). The running level learns from louder frames only as if they were
RUNNING_LEARNS_UP_TO_DB above it, and from raised voice as if RAISED_TEACHES_DB: shouting barely
moves the reference it is judged against, while a lasting change (a headset moved closer) is
still followed.

Why power means and not means in dB: a mean in dB sits 3–9 dB under the power mean, by how much
depends on the voice's syllable-to-syllable swings, and with the learning cap it drifted further
down over a call (measured: 9 dB under P.56 after 5 minutes of calm speech), so a calm but
dense phrase read as raised. The power-mean reference stays within ~0.5 dB of P.56.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from edge.events import ProsodyEvent, Side
from edge.prosody.frames import HOP_S, frame_power, hop, power_db, runs
from edge.prosody.level import P56_MARGIN_DB, speech_level_dbfs

RAISED_DB = 8.0  # default: short-term level this far above the running level
RAISED_MIN_S = 1.0  # … for at least this long
SHORT_WINDOW_S = 0.5
RUNNING_TAU_S = 30.0  # of active speech
WARMUP_S = 1.5  # of the speaker's active speech before the running level is set (an agent's greeting)
ACTIVE_FLOOR_DBFS = -60.0  # quieter frames are never speech
WARMUP_HISTORY_S = 20.0  # frames kept while waiting for the speaker's first WARMUP_S of speech
HYSTERESIS_DB = 3.0  # once the threshold is reached, the event lasts while within this of it
MERGE_GAP_S = 0.6  # raised stretches closer than this are one event
BATCH_S = 0.2  # samples are analysed in batches of at least this much (alerts come <= 0.2 s later)
MIN_ACTIVE_IN_WINDOW = 0.4  # share of the short window that must be speech to judge it
# Louder frames count as this much above the running level: a calm voice's vowels reach ~6 dB
# over its power mean (a lower cap pulls the level down), and frames of raised voice as
# RAISED_TEACHES_DB over it. Measured on generated calls: an agent raising their voice through
# 44 % of their speech, 20 calls in a row, keeps a reference within 0.6 dB of their calm level;
# a lasting +10 dB change (a headset moved closer) is absorbed after ~45 s of their speech.
RUNNING_LEARNS_UP_TO_DB = 6.0
RAISED_TEACHES_DB = 1.0


class RaisedVoiceTracker:
    """Streaming raised-voice detector for one side of one line.

    Feed it every sample of that side in order (`update`, int16, any chunk length: short
    chunks are pooled into BATCH_S batches); silence and the other party's bleed are
    ignored by an energy gate relative to the speaker's own level. `side` and `line` are given
    at construction and copied into each ProsodyEvent.

    `update` returns each event once, as soon as it has lasted `min_duration_s`: `end` is that
    moment and `value` the dB above the running level so far, which is what a live alert needs.
    `close()`, at the end of a call, returns every event since the last `close()` with its full
    extent and peak dB. The running level carries over from call to call: it is the speaker's;
    `new_speaker()` forgets it when the next call brings someone else (a line's customers).
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
        self._heard = np.zeros(0)  # frame levels above the floor heard before the running level is known
        self._running_db: float | None = None
        self._w = int(round(SHORT_WINDOW_S / HOP_S))
        self._tail_power = np.zeros(self._w - 1)  # last frames' (power, active) for the short window
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

    def new_speaker(self) -> None:
        """Someone else speaks from now on: forget the running level and learn it again from the
        next WARMUP_S of speech (a quiet caller's level would make a louder next caller's calm
        speech "raised")."""
        self._heard = self._heard[:0]
        self._running_db = None

    def _frames(self, db: np.ndarray, t: np.ndarray) -> list[ProsodyEvent]:
        if self._running_db is None:
            self._start_running(db)
        running_before = self._running_db
        active = db > (ACTIVE_FLOOR_DBFS if running_before is None
                       else max(ACTIVE_FLOOR_DBFS, running_before - P56_MARGIN_DB))
        # short-term level: power mean of the active frames among the last w frames
        pw = np.concatenate([self._tail_power, np.where(active, 10 ** (db / 10), 0.0)])
        ac = np.concatenate([self._tail_active, active.astype(np.float64)])
        kernel = np.ones(self._w)
        sum_power, n_act = np.convolve(pw, kernel, "valid"), np.convolve(ac, kernel, "valid")
        self._tail_power, self._tail_active = pw[-(self._w - 1):], ac[-(self._w - 1):]
        judged = n_act >= MIN_ACTIVE_IN_WINDOW * self._w
        short_db = np.where(judged, power_db(sum_power / np.maximum(n_act, 1)), -np.inf)
        if running_before is None:
            excess = np.full(len(db), -np.inf)
        else:
            # frames already raised against the level before this batch (it moves < 0.1 dB
            # within one) teach the running level as if barely louder than it
            excess = short_db - self._running(db, active, short_db - running_before >= self.threshold_db)
        # the short-term level describes its window, so it is dated at the window's centre
        return self._events(excess, t - SHORT_WINDOW_S / 2)

    def _running(self, db: np.ndarray, active: np.ndarray, raised: np.ndarray) -> np.ndarray:
        """Running level (dB) after each frame, updated by the active frames (a power average)."""
        before = self._running_db
        idx = np.flatnonzero(active)
        out = np.full(len(db), np.nan)
        if idx.size:
            a = self._alpha
            cap = self._running_db + np.where(raised[idx], RAISED_TEACHES_DB, RUNNING_LEARNS_UP_TO_DB)
            louder_capped = 10 ** (np.minimum(db[idx], cap) / 10)
            mean_power, self._ema = signal.lfilter([a], [1, a - 1], louder_capped, zi=self._ema)
            out[idx] = power_db(mean_power)
            self._running_db = float(out[idx[-1]])
        # pauses keep the level of the last active frame (or of the last chunk)
        last = np.maximum.accumulate(np.where(active, np.arange(len(db)), -1))
        return np.where(last >= 0, out[np.maximum(last, 0)], before)

    def _start_running(self, db: np.ndarray) -> None:
        """Keep the frames above the floor (of the last WARMUP_HISTORY_S); once P.56 finds
        WARMUP_S of active speech among them, start the running level at its active level."""
        heard = np.concatenate([self._heard, db[db > ACTIVE_FLOOR_DBFS]])
        self._heard = heard[-int(round(WARMUP_HISTORY_S / HOP_S)):]
        level = speech_level_dbfs(10 ** (self._heard / 10))
        if level is None or np.count_nonzero(self._heard > level - P56_MARGIN_DB) * HOP_S < WARMUP_S:
            return
        self._running_db = level
        self._ema = np.array([(1 - self._alpha) * 10 ** (level / 10)])  # lfilter state: y[-1] = level
        self._heard = self._heard[:0]

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
