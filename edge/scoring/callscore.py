"""One scored call, `CallScore` (callqa_contract/schemas/callscore.v1.json), assembled from
the call's facts. It stays this typed, frozen object on the box; `to_dict` gives its JSON
body only where it leaves the process (the MQTT outbox, JSON Lines on stdout)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from callqa_contract.messages import BoxId
from edge.config import BoxConfig
from edge.events import Alert
from edge.metrics import ConversationMetrics
from edge.scoring.items import CallFacts, Hit, judge
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import Rubric

SCHEMA = "callqa.callscore/1"


@dataclass(frozen=True)
class CallIdentity:
    box: BoxConfig
    line: str
    call_id: str
    call_ref: str | None
    start: datetime  # UTC
    end_reason: str


@dataclass(frozen=True)
class ItemVerdict:
    """One rubric item as judged on the call: an entry of the CallScore's `items`."""

    id: str
    name: str
    section: str
    status: str  # passed | failed | not_measured
    deduction: float
    points: float  # the item's full weight
    fatal: bool  # failed, and the item is fatal
    evidence: Mapping[str, Any]  # times (s from the call's start) and values behind the verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CallScore:
    """A scored call. Times inside the call (evidence, events, alerts) are s from its start."""

    box: BoxId
    line: str
    call_id: str
    call_ref: str | None  # the CTI system's call id, when CTI bounded the call
    start: datetime  # UTC
    end: datetime
    duration_s: float
    end_reason: str
    flags: tuple[str, ...]  # sorted
    metrics: ConversationMetrics
    agent_prosody: Mapping[str, Any]  # $defs/prosody_side of the schema
    customer_prosody: Mapping[str, Any] | None  # None on a mono line
    keywords: tuple[Hit, ...]
    keyword_trust: MissedPhrases | None  # where a phrase not heard counted; None: no spotter on the box
    items: tuple[ItemVerdict, ...]
    score: float  # points kept on the measured items
    max_score: float  # points of the measured items
    pass_mark: float  # % of max_score needed to pass
    passed: bool
    fatal: bool
    alerts: tuple[Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, keys in the schema's order."""
        return {
            "schema": SCHEMA,
            "box": {"site": self.box.site, "group": self.box.group, "id": self.box.id},
            "line": self.line,
            "call_id": self.call_id,
            "call_ref": self.call_ref,
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_s": self.duration_s,
            "end_reason": self.end_reason,
            "flags": list(self.flags),
            "metrics": self.metrics.to_dict(),
            "prosody": {"agent": self.agent_prosody, "customer": self.customer_prosody},
            "keywords": [asdict(h) for h in self.keywords],
            "keyword_trust": None if self.keyword_trust is None else self.keyword_trust.to_dict(),
            "items": [i.to_dict() for i in self.items],
            "score": self.score,
            "max_score": self.max_score,
            "pass_mark": self.pass_mark,
            "passed": self.passed,
            "fatal": self.fatal,
            "alerts": [a.to_dict() for a in self.alerts],
        }


def make_call_id(box: BoxConfig, line: str, start: datetime, seq: int) -> str:
    return f"{box.id}-{line}-{start.astimezone(timezone.utc):%Y%m%dT%H%M%S}Z-{seq}"


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_pct(score: float, max_score: float) -> float | None:
    """What pass_mark is compared with: % of the measured items' points kept."""
    return round(100.0 * score / max_score, 2) if max_score else None


def score_items(rubric: Rubric, facts: CallFacts) -> tuple[ItemVerdict, ...]:
    out = []
    for item in rubric.items:
        v = judge(item, facts)
        out.append(ItemVerdict(item.id, item.name, item.section, v.status, round(v.deduction, 3), item.points,
                               bool(item.fatal and v.status == "failed"), v.evidence))
    return tuple(out)


def build_callscore(ident: CallIdentity, rubric: Rubric, facts: CallFacts, flags: Sequence[str],
                    alerts: Sequence[Alert]) -> CallScore:
    items = score_items(rubric, facts)
    measured = [i for i in items if i.status != "not_measured"]
    max_score = round(sum(i.points for i in measured), 3)
    score = round(sum(i.points - i.deduction for i in measured), 3)
    pct = score_pct(score, max_score)
    fatal = any(i.fatal for i in items)
    box = ident.box
    return CallScore(
        box=BoxId(box.site, box.group, box.id),
        line=ident.line,
        call_id=ident.call_id,
        call_ref=ident.call_ref,
        start=ident.start,
        end=ident.start + timedelta(seconds=facts.duration_s),
        duration_s=round(facts.duration_s, 3),
        end_reason=ident.end_reason,
        flags=tuple(sorted(set(flags))),
        metrics=facts.metrics,
        agent_prosody=facts.agent_prosody,
        customer_prosody=facts.customer_prosody,
        keywords=facts.keywords or (),
        keyword_trust=None if facts.keywords is None else facts.missed_phrases,
        items=items,
        score=score,
        max_score=max_score,
        pass_mark=rubric.pass_mark,
        passed=bool(pct is not None and pct >= rubric.pass_mark and not fatal),
        fatal=fatal,
        alerts=tuple(alerts),
    )
