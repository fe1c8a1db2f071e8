"""The small typed events that pass between the pipeline's stages.

source → Frame → VAD → SpeechSegment → (KeywordHit, ProsodyEvent) → Call → CallScore

Times are seconds on the line's stream clock (0 = when the source started), unless a field
says otherwise. Audio only ever travels in `Frame`; no other event carries samples, features
or text beyond the rubric phrase that matched, so anything built from them is safe to publish.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # edge.scoring.callscore imports this module
    from edge.scoring.callscore import CallScore


class Side(str, Enum):
    """Which party of a line a channel carries."""

    AGENT = "agent"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class Frame:
    """One block of audio of one line, both sides, at the working rate.

    `agent` and `customer` are int16 sample arrays of equal length; `customer` is None for a
    mono source (two-sided metrics are then unavailable).
    """

    line: str
    t: float  # stream time of the first sample, s
    sample_rate: int
    agent: np.ndarray
    customer: np.ndarray | None

    @property
    def duration(self) -> float:
        return len(self.agent) / self.sample_rate


@dataclass(frozen=True)
class SpeechSegment:
    """A stretch of speech on one side, as VAD (with hangover) heard it."""

    line: str
    side: Side
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class KeywordHit:
    """A rubric phrase heard on one side. `phrase` is the rubric's own text, nothing else."""

    line: str
    side: Side
    phrase: str
    category: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class ProsodyEvent:
    """A notable prosodic moment: `kind` is 'raised_voice' or 'drawn_out'; `value` in the
    unit the kind documents (dB above the running level; seconds of steady nucleus)."""

    line: str
    side: Side
    kind: str
    start: float
    end: float
    value: float


@dataclass(frozen=True)
class CallBoundary:
    """An external (CTI) or internal call start/end for a line."""

    line: str
    kind: str  # "start" | "end"
    t: float
    call_ref: str | None = None  # the CTI system's own call id, if any


@dataclass(frozen=True)
class Alert:
    """A live alert raised while a call goes on (also listed in the final CallScore).

    severity: "red" (insult, forbidden phrase) or "amber" (raised voice, long dead air,
    agitated customer without apology). `t` is seconds from the call's start.
    """

    alert_id: str
    line: str
    call_id: str
    item: str  # rubric item id that raised it
    severity: str
    reason: str
    t: float
    evidence: dict[str, Any] = field(default_factory=dict)
    # what the teacher's check before a red light found (edge/redcheck.py); None: not checked
    teacher_check: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.teacher_check is None:  # not checked: the payload is as it was before the check existed
            del out["teacher_check"]
        return out


class ScoreSink:
    """Where the pipeline hands its results: stdout JSON lines, the MQTT outbox, a test list.

    A sink that sends a score out of the process sends `score.to_dict()`. Sinks must not
    block the audio path for long: the MQTT sink only writes to its outbox here.
    """

    def on_alert(self, alert: Alert) -> None:  # a live alert, while the call goes on
        pass

    def on_score(self, score: CallScore) -> None:  # a finished call
        pass

    def on_call_start(self, line: str, call_id: str, t: float) -> None:
        pass

    def on_red_check(self, alert: Alert) -> None:  # a held red alert, its teacher_check decided, published or not
        pass
