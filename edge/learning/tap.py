"""The learning tap: in the line, after VAD, it hands each finished speech segment's audio to
the learning store. Built only when `[learning] enabled = true`; it sits beside the scoring
path and has no way to the sinks, so nothing it keeps can reach an MQTT payload.

It holds each side's recent audio (at most `max_segment_s`, the longest segment it keeps);
a segment longer than that is kept cut to its last `max_segment_s`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edge.events import Side, SpeechSegment
from edge.learning.store import SegmentStore


class SpeechTap:
    def __init__(self, store: SegmentStore, line: str, rate: int, max_segment_s: float = 30.0):
        self.store, self.line, self.rate = store, line, rate
        self._keep = int(max_segment_s * rate)
        self._audio = {side: np.zeros(0, np.int16) for side in Side}
        self._t0 = {side: 0.0 for side in Side}  # stream time of each side's first held sample

    def feed(self, side: Side, samples: np.ndarray, t0: float, finished: Sequence[SpeechSegment]) -> list:
        """One block of a side and the segments VAD finished in it; returns the paths kept."""
        held = np.concatenate([self._audio[side], np.asarray(samples, np.int16)])
        start_t = t0 + len(samples) / self.rate - len(held) / self.rate
        kept = []
        for seg in finished:
            a = max(0, int(round((seg.start - start_t) * self.rate)))
            b = min(len(held), int(round((seg.end - start_t) * self.rate)))
            if b - a > 0:
                path = self.store.keep(f"{self.line}-{side.value}", held[a:b])
                if path is not None:
                    kept.append(path)
        self._audio[side] = held[-self._keep:]
        return kept
