"""Call boundaries on a line: where one call starts and ends.

A call starts with speech after idle and ends once both sides have been silent for
`end_silence_s` (the call then ends at its last speech: the trailing silence is not part of
it). External start/end events (CTI, later over MQTT) override this: a call they start ends
only by their end event, the maximum length, or the source stopping, because a CTI-known call
may hold silently for a long time. `max_call_s` closes a line left open.

The segmenter only decides boundaries; the pipeline keeps the audio and segments of the call.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class _Current:
    start: float
    external: bool
    call_ref: str | None
    last_speech: float  # end of the latest speech heard in the call


class CallSegmenter:
    """Feed it the line's activity as the stream advances; it returns call events.

    `advance(now, speech_start, last_speech_end)`: `speech_start` is the start of speech in
    progress (earliest over both sides) or None; `last_speech_end` the end of the latest
    speech finished (or heard) so far, or None.
    """

    def __init__(self, cfg: CallsConfig):
        self._cfg = cfg
        self._call: _Current | None = None

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
        if call is not None and last_speech_end is not None:
            call.last_speech = max(call.last_speech, last_speech_end)
        if call is not None and now - call.start >= self._cfg.max_call_s:
            out.append(self._close(call.start + self._cfg.max_call_s, "max_length"))
            call = None
            if speech_start is not None:  # the line is still talking: carry on in a new call
                speech_start = max(speech_start, now)
        if call is not None and not call.external and speech_start is None \
                and now - call.last_speech >= self._cfg.end_silence_s:
            out.append(self._close(call.last_speech, "silence"))
            call = None
        if self._call is None and speech_start is not None and speech_start >= self._last_end(out):
            self._call = _Current(speech_start, False, None, speech_start)
            out.append(CallOpened(speech_start))
        return out

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
