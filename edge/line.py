"""Assembling a line, below the commands: config → rubric → spotter → pipeline → source.

`load_setup` reads config and rubric, `line_pipeline` builds a line's LinePipeline with its
keyword spotter, and `LineSources` is the one source factory: it is given the working rate and
block size once, and is the only place that reads a line's `source` key. `callqa run`, `score`,
`levels` and `doctor` all take their audio from it.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

from edge.config import ChannelMap, Config, LineConfig, load_config
from edge.events import ScoreSink
from edge.ops.tap import DeviceInput, RawInput, TapError, WavInput
from edge.pipeline import KeywordStage, LinePipeline
from edge.redcheck import RedCheck
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import Rubric, load_rubric
from edge.sources import Source, SourceError, SourceItem
from edge.sources.capture import InputDevice, LineTap, capture_frames
from edge.sources.replay import recordings_in, replay_source
from edge.sources.wav import load_recording, wav_source

log = logging.getLogger(__name__)

BLOCK_S = 0.3  # audio per pipeline step: ten 30 ms VAD frames
REPLAY_GAP_S = 12.0  # idle between replayed recordings: longer than the default end silence
# Blocks a live line may fall behind (30 s) before its source drops audio: a capture device's
# feed, and a replay paced as if live, wait this deep for the line's thread.
LINE_QUEUE_BLOCKS = 100


def load_setup(config_path: Path | None) -> tuple[Config, Rubric]:
    """Config (defaults when no file) and rubric; either refused at start when bad."""
    cfg = load_config(config_path) if config_path else Config()
    return cfg, load_rubric(cfg.rubric.path)


def keyword_stage(cfg: Config, rubric: Rubric, line: str, rate: int) -> KeywordStage | None:
    """A keyword spotter for one line at `rate` Hz, or None when this box has none (keyword
    items are then reported as not measured)."""
    spotter = _spotter_class() if cfg.keywords.enabled else None
    if spotter is None:
        return None
    return spotter.from_config(cfg.keywords, rubric.phrases(), rubric.thresholds(), line, sample_rate=rate)


@functools.lru_cache(maxsize=1)
def _spotter_class():
    """edge.keywords' KeywordSpotter, or None (said once, not once per line or file)."""
    try:
        from edge.keywords.spotter import KeywordSpotter
    except ImportError:
        log.warning("keyword spotting is not installed: keyword items are reported as not measured")
        return None
    return KeywordSpotter


def line_pipeline(line: str, cfg: Config, rubric: Rubric, sinks: Sequence[ScoreSink],
                  epoch: datetime | None = None, call_numbers: Iterator[int] | None = None,
                  missed_phrases: MissedPhrases | None = None, speech_tap=None,
                  red_check: RedCheck | None = None) -> LinePipeline:
    """A line's pipeline and keyword spotter, both built for the box's working rate.
    `missed_phrases`: the box's, read once for all its lines (None: read for this one);
    `red_check`: the box's teacher check before a red light (RedCheck.from_config), if on."""
    rate = cfg.audio.sample_rate
    return LinePipeline(line, cfg, rubric, sinks, epoch, keyword_stage(cfg, rubric, line, rate), call_numbers,
                        rate=rate, missed_phrases=missed_phrases, speech_tap=speech_tap, red_check=red_check)


@dataclass(frozen=True)
class DeviceLines:
    """The capture lines of one sound card: one reader opens it and fans its channels out."""

    device: str | int | None
    lines: tuple[LineConfig, ...]


@dataclass(frozen=True)
class LineSources:
    """Where each line's audio comes from: Frames at `rate` Hz in blocks of `block_s` seconds.

    A wav or replay line has a source of its own (`file`); the capture lines of one device share
    one reader (`device`), so the card is opened once whatever the number of lines on it.
    `raw` is every channel of a line's input, unmapped, for the technician's tools."""

    rate: int
    block_s: float = BLOCK_S
    replay_gap_s: float = REPLAY_GAP_S

    @classmethod
    def of(cls, cfg: Config) -> "LineSources":
        """The box's working rate; replayed recordings further apart than a call's end silence."""
        return cls(cfg.audio.sample_rate, BLOCK_S, max(REPLAY_GAP_S, cfg.calls.end_silence_s + 2))

    @staticmethod
    def readers(lines: Sequence[LineConfig]) -> tuple[list[LineConfig], list[DeviceLines]]:
        """The file lines (a reader each) and the capture lines grouped by device (a reader per device)."""
        files, by_device = [], defaultdict(list)
        for line in lines:
            if line.source == "capture":
                by_device[line.device].append(line)
            else:
                files.append(line)
        return files, [DeviceLines(device, tuple(group)) for device, group in by_device.items()]

    def file(self, line: LineConfig) -> Source:
        """A wav or replay line's items. A WAV file is read here (SourceError when unusable); a
        replay folder file by file as it plays."""
        if line.source == "wav":
            return self.wav(line.path, line.name, line.channels)[0]
        if line.source == "replay":
            return replay_source(line.path, line.name, self.rate, line.channels, self.block_s,
                                 self.replay_gap_s, line.realtime)
        raise ValueError(f"line {line.name!r}: a capture line is read with its device (LineSources.device)")

    def wav(self, path: Path, line: str, channels: ChannelMap = ChannelMap()) -> tuple[Source, float]:
        """One WAV file as a line's whole stream, and its length in seconds."""
        rec = load_recording(path, self.rate, channels)
        return wav_source(rec, line, self.block_s), rec.duration

    def device(self, device: InputDevice, lines: Sequence[LineConfig]) -> Iterator[list[SourceItem]]:
        """Per block, one item per line of the opened `device` (in the order of `lines`)."""
        return capture_frames(device, [LineTap(line.name, line.channels) for line in lines], self.rate, self.block_s)

    def raw(self, line: LineConfig, wav: Path | None = None, realtime: bool = False) -> RawInput:
        """Every channel of the line's input as configured (a replay line: its first recording),
        or of `wav` in its place; TapError when it cannot be opened."""
        if wav is not None or line.source == "wav":
            return WavInput(wav or line.path, self.rate, realtime)
        if line.source == "replay":
            try:
                first = recordings_in(line.path)[0]
            except SourceError as e:
                raise TapError(f"line {line.name!r}: {e}") from None
            return WavInput(first, self.rate, realtime)
        return DeviceInput(line.device, self.rate, self.rate // 10)  # the card's buffer: 0.1 s
