"""One line, from audio to scored calls.

    source → Frame → VAD per side → (keywords, live prosody, customer line) → call segmenter
           → metrics + prosody + rubric → CallScore → sinks

`LinePipeline.feed` takes the line's source items (and CTI `CallBoundary` events) in stream
order and returns the calls it finished. Live alerts (edge/alerts.py) go to the sinks while
the call goes on.
A call's audio is never held: each side's ProsodyStream keeps 10 ms frame tracks of the call
(~1.6 kB per second per side) and audio only until the speech segment it belongs to ends.
"""

from __future__ import annotations

import itertools
import logging
import queue
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from edge.alerts import AlertRules, CallAlerts
from edge.callerline import EXTRA_KEEP_S, CallerLine, Gap, Resume
from edge.calls import CallClosed, CallOpened, CallSegmenter
from edge.config import Config
from edge.events import Alert, CallBoundary, Frame, KeywordHit, ProsodyEvent, ScoreSink, Side
from edge.metrics import conversation_metrics
from edge.prosody import ProsodyStream, RaisedVoiceTracker
from edge.prosody.raised import RAISED_MIN_S
from edge.redcheck import HeldReds, RedCheck
from edge.scoring.callscore import CallIdentity, CallScore, build_callscore, make_call_id
from edge.scoring.items import CallFacts, Hit
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import Rubric
from edge.sources import SourceEnd, SourceFlag, SourceItem
from edge.vad import SideVad

log = logging.getLogger(__name__)

PREROLL_S = 3.0  # frame tracks kept while idle, so a call can start at speech that began a block ago
CLIPPED_RATIO = 0.001  # a side with more clipped samples than this flags the call 'clipped'
DEFAULT_DEAD_AIR_S = 5.0  # when the rubric has no dead_air item
HEARD_LOOK_BACK_S = 0.3  # the customer's latest voiced sound is judged on this much audio (hold audio or speech)


class Health(Protocol):
    """What the service loop reports to after each processed block (edge/ops/health.py)."""

    def beat(self, line: str, audio_s: float = 0.0, work_s: float = 0.0) -> None: ...

    def dropped(self, line: str, blocks: int = 1) -> None:
        """Blocks of the line's audio its source dropped because the line fell behind."""


class KeywordStage(Protocol):
    """The keyword spotter as the pipeline uses it (edge/keywords: KeywordSpotter)."""

    def process(self, side: Side, samples: np.ndarray, t0: float) -> list[KeywordHit]:
        """`samples` at the rate the stage was built for (the pipeline's)."""

    def flush(self, side: Side) -> list[KeywordHit]: ...


@dataclass
class _OpenCall:
    call_id: str
    start: float
    start_wall: datetime
    call_ref: str | None
    flags: set[str]
    alerts: CallAlerts


@dataclass(frozen=True)
class ScoredCall:
    """A finished call: its CallScore, and what the timeline picture draws."""

    score: CallScore
    segments: dict[str, list[tuple[float, float]]]  # s from call start
    prosody: dict[str, Any]  # side → SideProsody


class LinePipeline:
    """`rate`: the working rate every stage is built for; a Frame at another rate is refused.
    `missed_phrases`: where a phrase not heard counts, decided once for the box (the service
    reads the trust file at start and on reload); None: decided here, from `cfg`."""

    def __init__(self, line: str, cfg: Config, rubric: Rubric, sinks: Sequence[ScoreSink],
                 epoch: datetime | None = None, keywords: KeywordStage | None = None,
                 call_numbers: Iterator[int] | None = None, *, rate: int,
                 missed_phrases: MissedPhrases | None = None, speech_tap=None,
                 red_check: RedCheck | None = None):
        self.line, self.cfg = line, cfg
        self.speech_tap = speech_tap  # learning mode's (edge/learning/tap.py); None: off
        self.sinks = list(sinks)
        self.rate = rate
        self.epoch = epoch or datetime.now(timezone.utc)  # wall time of stream time 0
        self.vads = {side: SideVad(line, side, self.rate, cfg.audio.frame_ms, cfg.vad) for side in Side}
        apology = rubric.item("apology")
        # the customer's raised voice is agitation (rubric item apology) once it lasts min_s
        agitated_after_s = max(RAISED_MIN_S, apology.min_s or 0.0) if apology is not None else RAISED_MIN_S
        self.trackers = {Side.AGENT: RaisedVoiceTracker(self.rate, Side.AGENT, line),
                         Side.CUSTOMER: RaisedVoiceTracker(self.rate, Side.CUSTOMER, line, min_duration_s=agitated_after_s)}
        self.streams = {side: ProsodyStream(self.rate) for side in Side}
        # the customer channel's line fingerprint, kept as far back as a hold may reach
        self.caller_line = CallerLine(self.rate, cfg.calls.max_hold_s + EXTRA_KEEP_S)
        self.segmenter = CallSegmenter(cfg.calls, self)
        self.now = 0.0
        self._segments: dict[Side, list[tuple[float, float]]] = {side: [] for side in Side}
        self._pending_boundaries: list[CallBoundary] = []
        self._line_flags: set[str] = set()  # from the source, for the call in progress or the next
        self._mono = False
        self._call: _OpenCall | None = None
        # the last part of call ids; shared between pipelines that score into one stream
        self._call_numbers = call_numbers or itertools.count(1)
        self._hits: list[KeywordHit] = []  # the line's keyword hits not yet given to a call
        # red keyword alerts wait for the teacher's check (config alerts.teacher_confirms_red)
        self._reds = HeldReds(red_check, rate) if red_check is not None else None
        self._use_rubric(rubric, keywords, missed_phrases or MissedPhrases.from_config(cfg, rubric))
        self._next_rubric: tuple[Rubric, KeywordStage | None, MissedPhrases] | None = None

    def replace_rubric(self, rubric: Rubric, keywords: KeywordStage | None,
                       missed_phrases: MissedPhrases | None = None) -> None:
        """A reloaded rubric (its spotter, and where misses count), taken up between calls: the
        call in progress, and speech that may open the next one, stay with the rubric they
        started under. Safe to call from another thread (one reference is swapped)."""
        self._next_rubric = (rubric, keywords, missed_phrases or MissedPhrases.from_config(self.cfg, rubric))

    def _use_rubric(self, rubric: Rubric, keywords: KeywordStage | None, missed_phrases: MissedPhrases) -> None:
        self.rubric, self.keywords, self.missed_phrases = rubric, keywords, missed_phrases
        dead_air = rubric.item("dead_air")
        self.dead_air_min_s = dead_air.min_s if dead_air else DEFAULT_DEAD_AIR_S
        self.alert_rules = AlertRules.of(rubric, keywords is not None, missed_phrases)

    # ------------------------------------------------------------------ input

    def feed(self, item: SourceItem | CallBoundary) -> list[ScoredCall]:
        if isinstance(item, Frame):
            return self._frame(item)
        if isinstance(item, CallBoundary):
            self._pending_boundaries.append(item)
            return []
        if isinstance(item, SourceFlag):
            self._line_flags.add(item.flag)
            if self._call is not None:
                self._call.flags.add(item.flag)
            return []
        if isinstance(item, SourceEnd):
            return self.close(item.reason, item.t)
        raise TypeError(f"not a source item: {item!r}")

    def close(self, reason: str = "shutdown", t: float | None = None) -> list[ScoredCall]:
        """The audio stopped: finish the call in progress (if any)."""
        t = self.now if t is None else t
        for side, vad in self.vads.items():
            segs = vad.flush()
            self._add_segments(self._customer_speech(segs) if side == Side.CUSTOMER else segs)
        if self._call is not None and reason == "device_lost":
            self._call.flags.add("device_lost")
        return self._apply(self.segmenter.stop(t, reason))

    # ------------------------------------------------------------------ per block

    def _frame(self, frame: Frame) -> list[ScoredCall]:
        if frame.sample_rate != self.rate:
            raise ValueError(f"line {self.line!r}: a frame at {frame.sample_rate} Hz reached a pipeline "
                             f"built for {self.rate} Hz")
        self._mono = frame.customer is None
        if self._reds is not None:
            self._reds.hear(frame.agent, frame.t)
        if self._next_rubric is not None and self._call is None and all(
                v.speaking_since is None for v in self.vads.values()):
            self._use_rubric(*self._next_rubric)
            self._next_rubric = None
        end = frame.t + frame.duration
        done: list[ScoredCall] = []
        due = [b for b in self._pending_boundaries if b.t <= end]
        for b in due:
            self._pending_boundaries.remove(b)
            done += self._apply(self.segmenter.external(b))
        new, hits = [], []
        if frame.customer is not None:
            self.caller_line.update(frame.customer, frame.t)
        for side, samples in ((Side.AGENT, frame.agent), (Side.CUSTOMER, frame.customer)):
            if samples is None:
                continue
            segs = self.vads[side].process(samples, frame.t)
            if side == Side.CUSTOMER:
                segs = self._customer_speech(segs)
            if self.speech_tap is not None:
                self.speech_tap.feed(side, samples, frame.t, segs)
            hits += self._spot(side, samples, frame.t, segs)
            self._prosody(side, samples, frame.t, segs)
            new += segs
        self._add_segments(new)
        self.now = end
        ongoing = [o for o in map(self._ongoing, Side) if o is not None]
        speaking = [s for s, _ in ongoing]
        heard = [v.last_voiced for side, v in self.vads.items() if v.last_voiced is not None
                 and not self._hold_audio(side, v.last_voiced - HEARD_LOOK_BACK_S, v.last_voiced)]
        speech_start = min(speaking + [s.start for s in new], default=None)
        last_end = max(heard + [s.end for s in new], default=None)
        done += self._apply(self.segmenter.advance(end, speech_start, last_end))
        if self._call is not None:
            alerts = self._call.alerts
            self._publish(self._keyword_alerts(hits))
            if self._reds is not None:
                self._teacher_checked(self._reds.ready(self.now))
            if not self._mono:  # with one side heard, a silence may be the other side talking
                self._publish(alerts.check_dead_air(self.now, self._segments, speech_start,
                                                    self.segmenter.external_call, self.cfg.calls.end_silence_s))
            self._publish(alerts.check_apologies(self.now, self._hits))
        self._trim_buffer()
        return done

    def _hold_audio(self, side: Side, start: float | None, end: float | None) -> bool:
        """Sound on the customer side of an open call far under the customer's own voice
        (music-on-hold heard back): not the customer speaking."""
        return side == Side.CUSTOMER and self._call is not None and start is not None and end is not None \
            and self.caller_line.is_hold_audio(start, end)

    def _customer_speech(self, segs):
        """The customer's finished segments that are their speech; each counts towards their level."""
        kept = [s for s in segs if not self._hold_audio(Side.CUSTOMER, s.start, s.end)]
        for s in kept:
            self.caller_line.add_speech(s.start, s.end)
        return kept

    def _ongoing(self, side: Side) -> tuple[float, float] | None:
        """The side's speech in progress (start, end so far), unless it is hold audio."""
        vad = self.vads[side]
        since = vad.speaking_since
        if since is None:
            return None
        last = vad.last_voiced
        return None if self._hold_audio(side, since, last) else (since, last)

    # what the call segmenter asks about the line (edge/calls.py LineEvidence)

    def resumed(self, gap: Gap, now: float) -> Resume | None:
        ongoing = self._ongoing(Side.CUSTOMER)
        speech = self._segments[Side.CUSTOMER] + ([ongoing] if ongoing else [])
        return self.caller_line.resumed(gap, now, self._hits, speech)

    def hung_up(self, silence: Gap, now: float) -> bool:
        return self.caller_line.hung_up(silence, now)

    def _add_segments(self, segs) -> None:
        for s in segs:
            self._segments[s.side].append((s.start, s.end))

    def _spot(self, side: Side, samples: np.ndarray, t0: float, finished) -> list[KeywordHit]:
        """Speech goes to the spotter whether or not a call is open yet: the first words of
        a call (the greeting) are heard before the segmenter opens it."""
        if self.keywords is None or (self.vads[side].speaking_since is None and not finished):
            return []
        hits = self.keywords.process(side, samples, t0)
        if finished:
            hits += self.keywords.flush(side)
        self._hits += hits
        return hits

    def _prosody(self, side: Side, samples: np.ndarray, t0: float, finished) -> None:
        stream = self.streams[side]
        stream.update(samples, t0)
        for seg in finished:
            stream.speech(seg.start, seg.end)
        speaking = self.vads[side].speaking_since
        stream.release(t0 + len(samples) / self.rate if speaking is None else speaking)
        events: list[ProsodyEvent] = self.trackers[side].update(samples, t0)
        if self._call is not None:
            self._publish(self._call.alerts.on_prosody(side, events))

    def _keyword_alerts(self, hits: list[KeywordHit]) -> list[Alert]:
        """The keyword alerts to publish now; with the red check on, a red one is held instead."""
        alerts = self._call.alerts
        if self._reds is None:
            return alerts.on_keywords(hits)
        out = []
        for hit in hits:
            for alert in alerts.on_keywords([hit]):
                if alert.severity == "red":
                    self._reds.hold(alert, hit)
                else:
                    out.append(alert)
        return out

    def _teacher_checked(self, decided: list[tuple[Alert, dict[str, Any]]]) -> None:
        for held, check in decided:
            alert = replace(held, teacher_check=check)
            for sink in self.sinks:
                sink.on_red_check(alert)
            if self._call.alerts.teacher_checked(alert):
                self._publish([alert])
            else:
                log.info("line %s: red alert %s withheld: the teacher did not hear the phrase", self.line, alert.item)

    @property
    def red_alerts_held(self) -> int:
        """Red alerts waiting for the teacher's check (0 with the check off)."""
        return 0 if self._reds is None else self._reds.waiting

    def _publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            for sink in self.sinks:
                sink.on_alert(alert)

    # ------------------------------------------------------------------ calls

    def _apply(self, events) -> list[ScoredCall]:
        done = []
        for ev in events:
            if isinstance(ev, CallOpened):
                self._open(ev)
            elif isinstance(ev, CallClosed):
                done.append(self._finish(ev))
        return done

    def _open(self, ev: CallOpened) -> None:
        start_wall = self.epoch + timedelta(seconds=ev.start)
        call_id = make_call_id(self.cfg.box, self.line, start_wall, next(self._call_numbers))
        self._call = _OpenCall(call_id, ev.start, start_wall, ev.call_ref, set(self._line_flags),
                               CallAlerts(self.alert_rules, self.line, call_id, ev.start))
        for tracker in self.trackers.values():
            tracker.close()  # raised voice heard between calls belongs to none
        self.caller_line.new_call()
        for sink in self.sinks:
            sink.on_call_start(self.line, call_id, ev.start)

    def _call_segments(self, start: float, end: float) -> dict[Side, list[tuple[float, float]]]:
        """Each side's speech inside [start, end], relative to start; speech still going on
        at `end` (a CTI or max-length end) is cut there."""
        out = {}
        for side in Side:
            segs = list(self._segments[side])
            ongoing = self._ongoing(side)
            if ongoing is not None:
                segs.append(ongoing)
            out[side] = [(round(max(s, start) - start, 3), round(min(e, end) - start, 3))
                         for s, e in segs if e > start and s < end]
        return out

    def _finish(self, ev: CallClosed) -> ScoredCall:
        call = self._call
        assert call is not None
        if self._reds is not None:
            self._teacher_checked(self._reds.settle())
        self._call = None
        duration = ev.end - ev.start
        segs = self._call_segments(ev.start, ev.end)
        two_sided = not self._mono
        flags = set(call.flags)
        if not two_sided:
            flags.add("mono")
        if ev.reason in ("max_length", "device_lost"):
            flags.add(ev.reason)
        if self.keywords is None and any(i.needs_keywords for i in self.rubric.items):
            flags.add("keywords_unavailable")
        metrics = conversation_metrics(segs[Side.AGENT], segs[Side.CUSTOMER] if two_sided else None,
                                       duration, self.dead_air_min_s, self.cfg.calls.end_silence_s)
        prosody = {side.value: self.streams[side].result(ev.start, ev.end, segs[side], self._raised_voice(side, ev))
                   for side in (Side.AGENT, Side.CUSTOMER) if two_sided or side == Side.AGENT}
        pro_dicts = {k: v.to_dict() for k, v in prosody.items()}
        if any(d["clipping_ratio"] > CLIPPED_RATIO for d in pro_dicts.values()):
            flags.add("clipped")
        hits = None if self.keywords is None else tuple(
            Hit(h.phrase, h.category, h.side.value, round(h.start - ev.start, 3), round(h.end - ev.start, 3),
                round(float(h.confidence), 3))
            for h in self._hits if ev.start <= h.start < ev.end)
        facts = CallFacts(duration, metrics, pro_dicts["agent"], pro_dicts.get("customer"), hits, two_sided,
                          self.missed_phrases)
        ident = CallIdentity(self.cfg.box, self.line, call.call_id, ev.call_ref or call.call_ref,
                             call.start_wall, ev.reason)
        score = build_callscore(ident, self.rubric, facts, sorted(flags), call.alerts.raised)
        for sink in self.sinks:
            sink.on_score(score)
        self._line_flags.clear()
        self._hits = [h for h in self._hits if h.start >= ev.end]
        for side in Side:  # keep only speech that may belong to the next call
            self._segments[side] = [(s, e) for s, e in self._segments[side] if e > ev.end]
        return ScoredCall(score, {k.value: v for k, v in segs.items() if two_sided or k == Side.AGENT}, prosody)

    def _raised_voice(self, side: Side, ev: CallClosed) -> list[tuple[float, float]]:
        """The live tracker's events of this call, with their full extent, s from its start.
        `close()` also empties the tracker's list, so a line's memory stays flat call after call.
        The agent stays on the line; the next call's customer is someone else."""
        events = self.trackers[side].close()
        if side == Side.CUSTOMER:
            self.trackers[side].new_speaker()
        return [(max(e.start, ev.start) - ev.start, min(e.end, ev.end) - ev.start)
                for e in events if e.end > ev.start and e.start < ev.end]

    def _trim_buffer(self) -> None:
        keep_from = self.now - PREROLL_S if self._call is None else self._call.start
        for stream in self.streams.values():
            stream.forget(keep_from)
        if self._call is None:
            for side in Side:
                self._segments[side] = [(s, e) for s, e in self._segments[side] if e > keep_from]
            self._hits = [h for h in self._hits if h.end > keep_from]


def run_source(pipeline: LinePipeline, source: Iterable[SourceItem], health: Health | None = None,
               boundaries: "queue.Queue[CallBoundary] | None" = None,
               on_call: Callable[[ScoredCall], None] = lambda call: None) -> None:
    """Drive one line to the end of its source. `boundaries`: CTI events, taken in between
    blocks and stamped with the line's stream time. `on_call` gets each finished call."""
    for item in source:
        while boundaries is not None and not boundaries.empty():
            b = boundaries.get_nowait()
            pipeline.feed(CallBoundary(b.line, b.kind, pipeline.now, b.call_ref))
        t0 = time.perf_counter()
        for call in pipeline.feed(item):
            on_call(call)
        if health is not None and isinstance(item, Frame):
            health.beat(pipeline.line, item.duration, time.perf_counter() - t0)
