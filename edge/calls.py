"""Call boundaries on a line: where one call starts and ends.

A call starts with speech after idle. Silence on both sides does not end it by itself: the
agent may have put the customer on hold. The segmenter decides with what `LineEvidence` (the
customer line's fingerprint and the keyword spotter's hits, edge/callerline.py) says:

- after a silence of `new_call_gap_s` or more, when speech resumes, it listens RESUME_S
  longer and asks `resumed(gap, now)`: a new call (a greeting, a changed customer line) closes
  the call at its last speech before the silence and opens the next at the resumed speech;
  otherwise (a resume phrase, the same line, nothing to tell) it is one call;
- a silence of `end_silence_s` makes the end *uncertain*: the call stays open as a possible hold.
  It ends (at its last speech: the trailing silence is not part of it) once the customer
  channel has gone idle (`hung_up`: the caller is gone) or the silence reaches `max_hold_s`;
  the CallScore is therefore at most max_hold_s after the last speech.

External start/end events (CTI, later over MQTT) override all of this: a call they start ends
only by their end event, the maximum length, or the source stopping, because a CTI-known call
may hold silently for a long time; a CTI end ends any call exactly there, a CTI start always
starts a new one. `max_call_s` closes a line left open.

The segmenter only decides boundaries; the pipeline keeps the audio and segments of the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edge.callerline import RESUME_S, Gap, Resume
from edge.config import CallsConfig
from edge.events import CallBoundary


@dataclass(frozen=True)
class CallOpened:
    start: float
    call_ref: str | None = None


@dataclass(frozen=True)
class CallClosed:
    start: float
    end: float
    reason: str  # end_reason of the CallScore schema
    call_ref: str | None = None


CallEvent = CallOpened | CallClosed


class LineEvidence(Protocol):
    """What the segmenter asks about the line (the pipeline answers from edge/callerline.py)."""

    def resumed(self, gap: Gap, now: float) -> Resume | None:
        """Speech resumed after `gap`, RESUME_S or more before `now`: a new call or the same?
        None: not yet (asked again at the next step)."""

    def hung_up(self, silence: Gap, now: float) -> bool:
        """Silent since `silence.start` (no resume yet): has the customer channel gone idle (the caller hung up)?"""


@dataclass
class _Current:
    start: float
    external: bool
    call_ref: str | None
    last_speech: float  # end of the latest speech heard in the call
    gap: Gap | None = None  # a silence after which speech resumed, its decision pending


class CallSegmenter:
    """Feed it the line's activity as the stream advances; it returns call events.

    `advance(now, speech_start, last_speech_end)`: `speech_start` is the start of speech in
    progress (earliest over both sides) or None; `last_speech_end` the end of the latest
    speech finished (or heard) so far, or None. `evidence` answers for the line's customer side.
    `resumes` lists every decision taken at resumed speech (gap, Resume), for the lab's evaluation.
    """

    def __init__(self, cfg: CallsConfig, evidence: LineEvidence):
        self._cfg = cfg
        self._evidence = evidence
        self._call: _Current | None = None
        self.resumes: list[tuple[Gap, Resume]] = []

    @property
    def in_call(self) -> bool:
        return self._call is not None

    @property
    def external_call(self) -> bool:
        """The call in progress was started by a CTI event."""
        return self._call is not None and self._call.external

    def _close(self, end: float, reason: str) -> CallClosed:
        call, self._call = self._call, None
        assert call is not None
        return CallClosed(call.start, max(end, call.start), reason, call.call_ref)

    def advance(self, now: float, speech_start: float | None, last_speech_end: float | None) -> list[CallEvent]:
        out: list[CallEvent] = []
        call = self._call
        if call is not None and not call.external:
            self._note_resume(call, speech_start, last_speech_end)
        if call is not None and last_speech_end is not None:
            call.last_speech = max(call.last_speech, last_speech_end)
        if call is not None and now - call.start >= self._cfg.max_call_s:
            out.append(self._close(call.start + self._cfg.max_call_s, "max_length"))
            call = None
            if speech_start is not None:  # the line is still talking: carry on in a new call
                speech_start = max(speech_start, now)
        verdict = self._evidence.resumed(call.gap, now) \
            if call is not None and call.gap is not None and now >= call.gap.resume + RESUME_S else None
        if verdict is not None:
            gap, call.gap = call.gap, None
            self.resumes.append((gap, verdict))
            if verdict.new_call:
                out.append(self._close(gap.start, "silence"))
                self._call = _Current(gap.resume, False, None, call.last_speech)
                out.append(CallOpened(gap.resume))
                return out
        if call is not None and not call.external and call.gap is None and speech_start is None:
            silent = now - call.last_speech
            if silent >= self._cfg.end_silence_s and (
                    silent >= self._cfg.max_hold_s or self._evidence.hung_up(Gap(call.start, call.last_speech, now), now)):
                out.append(self._close(call.last_speech, "silence"))
        if self._call is None and speech_start is not None and speech_start >= self._last_end(out):
            self._call = _Current(speech_start, False, None, speech_start)
            out.append(CallOpened(speech_start))
        return out

    def _note_resume(self, call: _Current, speech_start: float | None, last_speech_end: float | None) -> None:
        """Sound after a silence of new_call_gap_s or more opens a gap to decide RESUME_S later.
        A burst too short to be speech yet is heard (last_speech_end) before its start is known
        (speech_start): the gap takes the earliest start it is told."""
        if call.gap is not None:
            if speech_start is not None and call.gap.start < speech_start < call.gap.resume:
                call.gap = Gap(call.start, call.gap.start, speech_start)
            return
        first = speech_start if speech_start is not None else last_speech_end
        if first is not None and first - call.last_speech >= self._cfg.new_call_gap_s:
            call.gap = Gap(call.start, call.last_speech, first)

    @staticmethod
    def _last_end(events: list[CallEvent]) -> float:
        return max((e.end for e in events if isinstance(e, CallClosed)), default=float("-inf"))

    def external(self, ev: CallBoundary) -> list[CallEvent]:
        out: list[CallEvent] = []
        if ev.kind == "start":
            if self._call is not None:
                out.append(self._close(ev.t, "external"))
            self._call = _Current(ev.t, True, ev.call_ref, ev.t)
            out.append(CallOpened(ev.t, ev.call_ref))
        elif ev.kind == "end" and self._call is not None:
            out.append(self._close(ev.t, "external"))
        return out

    def stop(self, t: float, reason: str) -> list[CallEvent]:
        """The source ended ('source_end', 'device_lost') or the box shuts down."""
        if self._call is None:
            return []
        end = t if self._call.external or reason != "source_end" else self._call.last_speech
        return [self._close(end, reason)]
