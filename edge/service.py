"""`callqa run`: the service loop. Every configured line runs in its own thread.

    source (capture | wav | replay, from edge.line.LineSources) → LinePipeline → sinks

A line's failure (a device that vanishes, a file that cannot be read, a bug) is logged with
the line's name and never stops the other lines; a capture line tries its device again every
`retry_s`. After each processed block the loop calls `health.beat(line, audio_s, work_s)`,
so a watchdog can tell a stalled line from a quiet one. CTI start/end events for a line go in
through `call_event`, in between blocks.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from edge.line import LINE_QUEUE_BLOCKS, DeviceLines, LineSources, keyword_stage, line_pipeline
from edge.config import Config, LineConfig
from edge.events import CallBoundary, Frame, ScoreSink
from edge.pipeline import Health, KeywordStage, LinePipeline, run_source
from edge.redcheck import RedCheck
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import Rubric, load_rubric
from edge.sources import SourceEnd, SourceError, SourceItem
from edge.sources.capture import InputDevice, SoundDevice

log = logging.getLogger(__name__)

_END = object()  # a capture reader's sentinel: the device's stream ended


@dataclass(frozen=True)
class Prepared:
    """A reload, built before anything changes: the rubric, each line's spotter, where misses count."""

    rubric: Rubric
    stages: dict[str, KeywordStage | None]
    missed_phrases: MissedPhrases


class Service:
    def __init__(self, cfg: Config, rubric: Rubric, sinks: Sequence[ScoreSink], health: Health | None = None,
                 open_device: Callable[[str | int | None], InputDevice] = SoundDevice, retry_s: float = 5.0):
        self.cfg, self.rubric, self.sinks, self.health = cfg, rubric, list(sinks), health
        self.missed_phrases = MissedPhrases.from_config(cfg, rubric)  # the trust file, read once for all lines
        self.red_check = RedCheck.from_config(cfg)  # one teacher for all lines, when it checks red alerts
        self._sources = LineSources.of(cfg)
        self._open_device = open_device
        self._retry_s = retry_s
        self.stop_event = threading.Event()
        self._cti = {line.name: queue.Queue() for line in cfg.lines}
        self._threads: list[threading.Thread] = []
        self._pipelines: dict[str, LinePipeline] = {}
        self.failures: dict[str, str] = {}  # line -> last error, for status reports
        self.learning_store = None
        if cfg.learning.enabled:  # learning mode keeps audio on the box: said loudly
            from edge.learning.store import SegmentStore

            self.learning_store = SegmentStore.from_config(cfg)
            log.warning("LEARNING MODE IS ON: speech segments are kept on this box in %s (at most %.1f h, "
                        "%.0f MB, %.0f days)", self.learning_store.folder, cfg.learning.max_hours,
                        cfg.learning.max_mb, cfg.learning.keep_days)

    # ------------------------------------------------------------------ control

    def call_event(self, line: str, kind: str, call_ref: str | None = None) -> None:
        """A CTI start/end for `line`; applied at the line's current stream time."""
        self.on_call_boundary(CallBoundary(line, kind, 0.0, call_ref))

    def on_call_boundary(self, boundary: CallBoundary) -> None:
        """CTI input (edge.mqtt.sink.MqttSink calls this on its thread): queued for the line."""
        if boundary.line not in self._cti:
            raise KeyError(f"no line named {boundary.line!r} is configured")
        self._cti[boundary.line].put(boundary)

    def prepare_rubric(self) -> Prepared:
        """Re-read the rubric file and build each line's spotter for its phrase lists; raises
        ConfigError (naming file and key, or the phrase) before anything changes. The keyword
        trust file is re-read too: an unusable one trusts nothing (logged) and refuses nothing."""
        rubric = load_rubric(self.cfg.rubric.path)
        stages = {line.name: keyword_stage(self.cfg, rubric, line.name, self._sources.rate) for line in self.cfg.lines}
        return Prepared(rubric, stages, MissedPhrases.from_config(self.cfg, rubric))

    def replace_rubric(self, prepared: Prepared) -> None:
        """SIGHUP's reloaded rubric: each line takes it up between calls (LinePipeline.replace_rubric);
        a line whose pipeline starts later (device back) starts with it."""
        self.rubric, self.missed_phrases = prepared.rubric, prepared.missed_phrases
        for line, pipeline in list(self._pipelines.items()):
            pipeline.replace_rubric(prepared.rubric, prepared.stages[line], prepared.missed_phrases)

    def stream_time(self, line: str) -> float:
        """The line's stream clock now (0.0 before its audio starts)."""
        pipeline = self._pipelines.get(line)
        return 0.0 if pipeline is None else pipeline.now

    def start(self) -> "Service":
        files, devices = LineSources.readers(self.cfg.lines)
        for line in files:
            self._spawn(f"line-{line.name}", self._file_line, line)
        for group in devices:
            self._spawn(f"device-{group.device}", self._device, group)
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def _spawn(self, name: str, target, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    # ------------------------------------------------------------------ lines

    def _pipeline(self, line: str) -> LinePipeline:
        tap = None
        if self.learning_store is not None:
            from edge.learning.tap import SpeechTap

            tap = SpeechTap(self.learning_store, line, self._sources.rate)
        # no epoch given: the pipeline takes the wall clock once its spotter is built, just
        # before its audio starts, so stream time 0 is when the line's audio began
        return line_pipeline(line, self.cfg, self.rubric, self.sinks, missed_phrases=self.missed_phrases,
                             speech_tap=tap, red_check=self.red_check)

    def _until_stopped(self, source: Iterator[SourceItem]) -> Iterator[SourceItem]:
        for item in source:
            if self.stop_event.is_set():
                return
            yield item

    def _run(self, line: str, source: Iterator[SourceItem]) -> None:
        """One line to the end of its source (or shutdown), a failure contained and named."""
        pipeline = self._pipelines[line] = self._pipeline(line)
        try:
            run_source(pipeline, self._until_stopped(source), self.health, self._cti[line])
        except SourceError as e:
            self._failed(line, str(e))
        except Exception as e:  # noqa: BLE001 - one line's bug must not take the box down
            log.debug("line %s failed", line, exc_info=True)
            self._failed(line, f"{type(e).__name__}: {e}")
        finally:
            for call in pipeline.close("shutdown"):  # no-op when the source already ended the call
                log.info("line %s: call %s scored at shutdown", line, call.score.call_id)

    def _failed(self, line: str, why: str) -> None:
        self.failures[line] = why
        log.error("line %s stopped: %s (other lines carry on)", line, why)

    def _file_line(self, line: LineConfig) -> None:
        try:
            source = self._sources.file(line)
        except SourceError as e:
            self._failed(line.name, str(e))
            return
        if line.source == "replay" and line.realtime:
            source = self._live(line.name, source)
        self._run(line.name, source)

    def _live(self, line: str, source: Iterator[SourceItem]) -> Iterator[SourceItem]:
        """A replay paced as if live is read on a thread of its own into a bounded queue, as a
        capture device is: a line that falls LINE_QUEUE_BLOCKS behind loses blocks (counted in
        its health) instead of slowing the clock its audio arrives by."""
        feed: "queue.Queue" = queue.Queue(maxsize=LINE_QUEUE_BLOCKS)

        def read() -> None:
            try:
                for item in self._until_stopped(source):
                    if not isinstance(item, Frame):
                        feed.put(item)  # flags and the end are never lost
                        continue
                    try:
                        feed.put_nowait(item)
                    except queue.Full:
                        log.warning("line %s: %.1f s behind its audio, block at %.1f s dropped",
                                    line, LINE_QUEUE_BLOCKS * item.duration, item.t)
                        if self.health is not None:
                            self.health.dropped(line)
            except Exception as e:  # noqa: BLE001 - handed to the line's thread, which names it
                feed.put(e)
            finally:
                feed.put(_END)

        threading.Thread(target=read, name=f"source-{line}", daemon=True).start()
        for item in _drain(feed):
            if isinstance(item, Exception):
                raise item
            yield item

    def _device(self, group: DeviceLines) -> None:
        """Read one device for all its lines; each line scores in its own thread. When the
        device is lost, every line on it closes its call (flag device_lost) and the device
        is tried again after retry_s."""
        lines = group.lines
        while not self.stop_event.is_set():
            feeds = {line.name: queue.Queue(maxsize=LINE_QUEUE_BLOCKS) for line in lines}
            workers = [threading.Thread(target=self._run, args=(n, _drain(q)), name=f"line-{n}", daemon=True)
                       for n, q in feeds.items()]
            try:
                batches = self._sources.device(self._open_device(group.device), lines)
                for w in workers:
                    w.start()
                for batch in self._until_stopped(batches):
                    for item in batch:
                        feeds[item.line].put(item)
            except SourceError as e:
                for line in lines:
                    self._failed(line.name, str(e))
            finally:
                for q in feeds.values():
                    q.put(_END)
                for w in workers:
                    if w.is_alive():
                        w.join()
            self.stop_event.wait(self._retry_s)


def _drain(q: "queue.Queue") -> Iterator[SourceItem]:
    while True:
        item = q.get()
        if item is _END:
            return
        yield item
        if isinstance(item, SourceEnd):
            return
