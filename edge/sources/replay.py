"""Replay: a folder of recordings fed to a line as if it were live.

Files play in name order on one continuous stream clock, separated by `gap_s` of silence so
the call segmenter sees each recording as its own call (as a real line goes idle between
calls). `realtime=True` paces blocks to the wall clock; False runs as fast as possible.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from edge.config import ChannelMap
from edge.events import Frame
from edge.sources import SourceEnd, SourceError, SourceItem
from edge.sources.wav import Recording, StreamedRecording, load_recording, open_streamed, recording_items

log = logging.getLogger(__name__)


def recordings_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SourceError(f"{folder}: replay folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not files:
        raise SourceError(f"{folder}: no .wav recordings to replay")
    return files


def _silence(like: Recording | StreamedRecording, seconds: float) -> Recording:
    n = int(round(seconds * like.sample_rate))
    z = np.zeros(n, np.int16)
    return Recording(like.path, like.sample_rate, z, None if like.customer is None else z)


def _items(part: Recording | StreamedRecording, line: str, block_s: float, t0: float) -> Iterator[SourceItem]:
    if isinstance(part, StreamedRecording):
        return part.items(line, block_s, t0)
    return recording_items(part, line, block_s, t0)


def replay_source(
    folder: Path,
    line: str,
    sample_rate: int,
    channels: ChannelMap,
    block_s: float,
    gap_s: float,
    realtime: bool,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[SourceItem]:
    """Frames of every recording in `folder`, then SourceEnd. A file that cannot be read is
    skipped with a message naming it (the rest of the folder still plays)."""
    t = 0.0
    started = clock()
    for path in recordings_in(folder):
        try:
            rec = open_streamed(path, sample_rate, channels) or load_recording(path, sample_rate, channels)
        except SourceError as e:
            log.error("replay %s: skipped: %s", line, e)
            continue
        for part in (rec, _silence(rec, gap_s)):
            for frame in _items(part, line, block_s, t):
                if realtime and isinstance(frame, Frame):  # handed on once its last sample is heard, as a card does
                    ahead = frame.t + frame.duration - (clock() - started)
                    if ahead > 0:
                        sleep(ahead)
                yield frame
            t += part.duration
    yield SourceEnd(line, t)

