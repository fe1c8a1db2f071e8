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
        self.heard_until = 0.0  # stream time up to which every frame has been judged

    @property
    def speaking_since(self) -> float | None:
        """Start of the speech in progress (not yet a finished segment), or None."""
        return None if self._open is None else self._open.start

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
        self.heard_until = self._t_rest
        done: list[SpeechSegment] = []
        starts, ends = voiced_runs(flags)
        for s, e in zip(t0 + starts * self._frame_s, t0 + ends * self._frame_s):
            if self._open is not None and s - self._open.last_voiced <= self._hangover:
                self._open.last_voiced = e
                continue
            self._close_into(done)
            self._open = _Open(s, e)
        if self._open is not None and self.heard_until - self._open.last_voiced > self._hangover:
            self._close_into(done)
        return done

    def _close_into(self, done: list[SpeechSegment]) -> None:
        if self._open is not None:
            end = self.speech_end(self._open)
            if end - self._open.start >= self._min_speech:
                done.append(SpeechSegment(self.line, self.side, self._open.start, end))
        self._open = None

    def speech_end(self, seg: "_Open") -> float:
        """Where the speech of an open segment really ended, webrtcvad's overhang taken off."""
        return max(seg.start + self._frame_s, seg.last_voiced - self._overhang)

    def flush(self) -> list[SpeechSegment]:
        done: list[SpeechSegment] = []
        self._close_into(done)
        return done
