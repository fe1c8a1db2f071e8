"""Is every line's audio and processing loop still turning? One beat per processed block.

The service loop calls `beat(line, audio_s, work_s)` after each block it has fully processed
(`audio_s` seconds of audio that took `work_s` seconds of compute). A line whose last beat is
older than `stall_s` is stalled: its device stopped delivering, or processing hangs. The
watchdog pings systemd only while no line is stalled, so systemd restarts a stuck box.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class LineHealth:
    line: str
    last_beat_age_s: float  # since the last processed block (or since start, if none yet)
    audio_s: float  # audio processed since start
    work_s: float  # compute spent on it
    beats: int  # blocks processed since start
    dropped_blocks: int = 0  # blocks its source dropped because the line fell behind

    @property
    def rtf(self) -> float | None:
        """Real-time factor: compute seconds per audio second (< 1 keeps up)."""
        return self.work_s / self.audio_s if self.audio_s > 0 else None


class Health:
    def __init__(self, lines: Iterable[str], stall_s: float, clock: Callable[[], float] = time.monotonic):
        self.stall_s = stall_s
        self._clock = clock
        started = clock()
        # line -> [last beat time, audio s, work s, beats, dropped blocks]; lines start "fresh" so start-up has stall_s
        self._state = {line: [started, 0.0, 0.0, 0, 0] for line in lines}
        if not self._state:
            raise ValueError("Health needs at least one line to watch")
        self._lock = threading.Lock()

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self._state)

    def beat(self, line: str, audio_s: float = 0.0, work_s: float = 0.0) -> None:
        now = self._clock()
        with self._lock:
            state = self._state[line]  # KeyError: a line that is not configured is a bug
            state[0] = now
            state[1] += audio_s
            state[2] += work_s
            state[3] += 1

    def dropped(self, line: str, blocks: int = 1) -> None:
        with self._lock:
            self._state[line][4] += blocks

    def snapshot(self) -> list[LineHealth]:
        now = self._clock()
        with self._lock:
            return [LineHealth(line, now - t, a, w, n, d) for line, (t, a, w, n, d) in self._state.items()]

    def stalled(self) -> list[LineHealth]:
        return [h for h in self.snapshot() if h.last_beat_age_s > self.stall_s]

    def healthy(self) -> bool:
        return not self.stalled()
