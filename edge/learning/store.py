"""The learning store: speech segments VAD passed, kept on the box for learning mode only.

Each segment is one 16-bit mono WAV in its own directory under the box's state_dir, the
directory mode 0700 and each file 0600 (readable by the service user only). The store is
bounded in hours of audio and in bytes: when a new segment would pass either bound, the
oldest segments are dropped first. A segment is deleted once a learning run has used it
(`delete`), and any segment older than `keep_days` is deleted by `expire` whether used or
not. Nothing here is ever published: the store has no path to the MQTT side.
"""

from __future__ import annotations

import os
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIR_MODE = 0o700
FILE_MODE = 0o600
EXPIRE_EVERY_S = 3600.0


@dataclass(frozen=True)
class StoredSegment:
    path: Path
    seconds: float
    bytes: int
    mtime: float  # when it was kept (epoch seconds)


class SegmentStore:
    """`max_hours`, `max_bytes`: bounds over everything kept; `keep_days`: the longest a segment stays."""

    def __init__(self, folder: Path, rate: int, max_hours: float, max_bytes: int, keep_days: float):
        self.folder, self.rate = Path(folder), rate
        self.max_s, self.max_bytes, self.keep_s = max_hours * 3600.0, max_bytes, keep_days * 86400.0
        self._lock = threading.Lock()  # lines keep segments from their own threads
        self._counter = 0
        self._expired_at = -float("inf")  # keep() expires old segments at most once an hour
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, DIR_MODE)  # also an existing folder left wider by hand

    @classmethod
    def from_config(cls, cfg) -> "SegmentStore":
        """The store of a box's `[learning]` section (edge.config.LearningConfig)."""
        lc = cfg.learning
        return cls(lc.store_dir or cfg.box.state_dir / "learning" / "segments", cfg.audio.sample_rate,
                   lc.max_hours, int(lc.max_mb * 1024 * 1024), lc.keep_days)

    def segments(self) -> list[StoredSegment]:
        """Everything kept, oldest first."""
        out = []
        for p in self.folder.glob("*.wav"):
            try:
                st = p.stat()
            except FileNotFoundError:  # deleted by another thread meanwhile
                continue
            out.append(StoredSegment(p, (st.st_size - 44) / 2 / self.rate, st.st_size, st.st_mtime))
        return sorted(out, key=lambda s: (s.mtime, s.path.name))

    def keep(self, line: str, samples: np.ndarray, now: float | None = None) -> Path | None:
        """Keep one segment (int16 mono at the store's rate); the oldest go to make room. None
        when the segment alone is over a bound (it is not kept)."""
        x = np.asarray(samples, dtype=np.int16)
        size = 44 + 2 * len(x)
        if size > self.max_bytes or len(x) / self.rate > self.max_s:
            return None
        now = time.time() if now is None else now
        if now - self._expired_at >= EXPIRE_EVERY_S:
            self._expired_at = now
            self.expire(now)
        with self._lock:
            self._make_room(len(x) / self.rate, size)
            self._counter += 1
            path = self.folder / f"{int(now * 1000):015d}-{self._counter:06d}-{line}.wav"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.rate)
                w.writeframes(x.tobytes())
            os.utime(path, (now, now))
        return path

    def _make_room(self, seconds: float, size: int) -> None:
        kept = self.segments()
        total_s, total_b = sum(s.seconds for s in kept), sum(s.bytes for s in kept)
        for old in kept:
            if total_s + seconds <= self.max_s and total_b + size <= self.max_bytes:
                break
            old.path.unlink(missing_ok=True)
            total_s, total_b = total_s - old.seconds, total_b - old.bytes

    def delete(self, paths) -> int:
        """After use: the segments a learning run read are gone. Returns how many were deleted."""
        n = 0
        for p in paths:
            if Path(p).parent == self.folder and Path(p).exists():
                Path(p).unlink()
                n += 1
        return n

    def expire(self, now: float | None = None) -> int:
        """Delete every segment older than keep_days; returns how many."""
        now = time.time() if now is None else now
        return self.delete(s.path for s in self.segments() if now - s.mtime > self.keep_s)

    def purge(self) -> int:
        return self.delete(s.path for s in self.segments())

    def read(self, path: Path) -> np.ndarray:
        with wave.open(str(path), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
