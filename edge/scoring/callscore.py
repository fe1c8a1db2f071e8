"""Assembling one CallScore (callqa_contract/schemas/callscore.v1.json) from a call's facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from edge.config import BoxConfig
from edge.events import Alert
from edge.scoring.items import CallFacts, judge
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


def make_call_id(box: BoxConfig, line: str, start: datetime, seq: int) -> str:
    return f"{box.id}-{line}-{start.astimezone(timezone.utc):%Y%m%dT%H%M%S}Z-{seq}"


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_pct(score: float, max_score: float) -> float | None:
    """What pass_mark is compared with: % of the measured items' points kept."""
    return round(100.0 * score / max_score, 2) if max_score else None


def score_items(rubric: Rubric, facts: CallFacts) -> list[dict[str, Any]]:
    out = []
    for item in rubric.items:
        v = judge(item, facts)
        out.append({
            "id": item.id, "name": item.name, "section": item.section, "status": v.status,
            "deduction": round(v.deduction, 3), "points": item.points,
            "fatal": bool(item.fatal and v.status == "failed"), "evidence": v.evidence,
        })
    return out


def build_callscore(ident: CallIdentity, rubric: Rubric, facts: CallFacts, flags: Sequence[str],
                    alerts: Sequence[Alert]) -> dict[str, Any]:
    items = score_items(rubric, facts)
    measured = [i for i in items if i["status"] != "not_measured"]
    max_score = round(sum(i["points"] for i in measured), 3)
    score = round(sum(i["points"] - i["deduction"] for i in measured), 3)
    pct = score_pct(score, max_score)
    fatal = any(i["fatal"] for i in items)
    end = ident.start + timedelta(seconds=facts.duration_s)
    return {
        "schema": SCHEMA,
        "box": {"site": ident.box.site, "group": ident.box.group, "id": ident.box.id},
        "line": ident.line,
        "call_id": ident.call_id,
        "call_ref": ident.call_ref,
        "start": iso(ident.start),
        "end": iso(end),
        "duration_s": round(facts.duration_s, 3),
        "end_reason": ident.end_reason,
        "flags": sorted(set(flags)),
        "metrics": facts.metrics.to_dict(),
        "prosody": {"agent": facts.agent_prosody, "customer": facts.customer_prosody},
        "keywords": [
            {"phrase": h.phrase, "category": h.category, "side": h.side, "start": h.start, "end": h.end,
             "confidence": h.confidence} for h in (facts.keywords or ())
        ],
        "items": items,
        "score": score,
        "max_score": max_score,
        "pass_mark": rubric.pass_mark,
        "passed": bool(pct is not None and pct >= rubric.pass_mark and not fatal),
        "fatal": fatal,
        "alerts": [a.to_dict() for a in alerts],
    }
