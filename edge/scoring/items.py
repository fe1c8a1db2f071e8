"""Judging each rubric item on one call's measurements.

One small function per signal, all with the same shape: (item, facts) → Verdict. A verdict
is 'not_measured' whenever the box lacks the signal (no keyword spotter, a mono line, no
voiced speech for pitch): such items are left out of the score, never counted as passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from edge.metrics import ConversationMetrics
from edge.scoring.misses import NONE_COUNTED, MissedPhrases
from edge.scoring.rubric import Item


@dataclass(frozen=True)
class Hit:
    """A keyword heard in the call; times in s from the call's start."""

    phrase: str
    category: str
    side: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class CallFacts:
    """Everything the rubric is judged on, for one call."""

    duration_s: float
    metrics: ConversationMetrics
    agent_prosody: dict[str, Any]  # $defs/prosody_side of the CallScore schema
    customer_prosody: dict[str, Any] | None
    keywords: tuple[Hit, ...] | None  # None: no keyword spotter on this box
    two_sided: bool
    missed_phrases: MissedPhrases = NONE_COUNTED  # where a phrase not heard counts (keywords.count_missing_phrases)


@dataclass(frozen=True)
class Verdict:
    status: str  # passed | failed | not_measured
    deduction: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)


def not_measured(reason: str) -> Verdict:
    return Verdict("not_measured", 0.0, {"reason": reason})


def flat(item: Item, ok: bool, evidence: dict[str, Any]) -> Verdict:
    return Verdict("passed", 0.0, evidence) if ok else Verdict("failed", item.deduction, evidence)


def per_event(item: Item, count: int, allowed: int, evidence: dict[str, Any]) -> Verdict:
    over = max(0, count - allowed)
    if over == 0:
        return Verdict("passed", 0.0, evidence)
    return Verdict("failed", min(item.points, over * item.deduction), evidence)


def _within(value: float | None, lo: float | None, hi: float | None) -> bool:
    return value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)


def _agent_value(key: str, reason: str) -> Callable[[Item, CallFacts], Verdict]:
    def judge(item: Item, f: CallFacts) -> Verdict:
        v = f.agent_prosody.get(key)
        if v is None:
            return not_measured(reason)
        return flat(item, _within(v, item.min, item.max), {key: v, "min": item.min, "max": item.max})
    return judge


def _agent_events(key: str) -> Callable[[Item, CallFacts], Verdict]:
    def judge(item: Item, f: CallFacts) -> Verdict:
        events = f.agent_prosody.get(key) or []
        return per_event(item, len(events), item.max_count or 0,
                         {"count": len(events), "allowed": item.max_count, "events": events})
    return judge


def _clarity(item: Item, f: CallFacts) -> Verdict:
    level, clip = f.agent_prosody.get("level_dbfs"), f.agent_prosody.get("clipping_ratio")
    if level is None:
        return not_measured("no agent speech to measure")
    ok = level >= item.min and (clip or 0.0) <= item.max
    return flat(item, ok, {"level_dbfs": level, "min_level_dbfs": item.min,
                           "clipping_ratio": clip, "max_clipping_ratio": item.max})


def _two_sided(judge: Callable[[Item, CallFacts], Verdict]) -> Callable[[Item, CallFacts], Verdict]:
    def wrapped(item: Item, f: CallFacts) -> Verdict:
        if not f.two_sided:
            return not_measured("mono line: the customer side is absent")
        return judge(item, f)
    return wrapped


def _interruptions(item: Item, f: CallFacts) -> Verdict:
    s = f.metrics.interruptions
    return per_event(item, s.count, item.max_count or 0,
                     {"count": s.count, "allowed": item.max_count, "events": [list(e) for e in s.events]})


def _dead_air(item: Item, f: CallFacts) -> Verdict:
    s = f.metrics.dead_air
    return per_event(item, s.count, item.max_count or 0,
                     {"count": s.count, "allowed": item.max_count, "min_s": item.min_s,
                      "longest_s": s.longest_s, "events": [list(e) for e in s.events]})


def _holds(item: Item, f: CallFacts) -> Verdict:
    s = f.metrics.holds
    long = [e for e in s.events if e[1] - e[0] >= item.min_s]
    return per_event(item, len(long), item.max_count or 0,
                     {"count": len(long), "allowed": item.max_count, "min_s": item.min_s, "holds": s.count,
                      "longest_s": s.longest_s, "total_s": s.total_s, "events": [list(e) for e in long]})


def _latency(item: Item, f: CallFacts) -> Verdict:
    p90 = f.metrics.latency_p90_s
    if p90 is None:
        return not_measured("no customer turn answered by the agent")
    return flat(item, p90 <= item.max, {"p90_s": p90, "median_s": f.metrics.latency_median_s,
                                        "n": len(f.metrics.latencies), "max_s": item.max})


def _talk_ratio(item: Item, f: CallFacts) -> Verdict:
    r = f.metrics.talk_listen_ratio
    if r is None:
        return not_measured("the customer did not speak")
    return flat(item, _within(r, item.min, item.max), {"talk_listen_ratio": r, "min": item.min, "max": item.max})


def _last_speaker(item: Item, f: CallFacts) -> Verdict:
    last = f.metrics.last_speaker
    if last is None:
        return not_measured("nobody spoke")
    return flat(item, last == "agent", {"last_speaker": last})


def _hits(item: Item, f: CallFacts) -> tuple[Hit, ...]:
    assert f.keywords is not None
    return tuple(h for h in f.keywords if h.category == item.category and h.side == "agent")


def _hit_evidence(hits) -> list[dict[str, Any]]:
    return [{"phrase": h.phrase, "start": h.start, "end": h.end, "confidence": h.confidence} for h in hits]


def _heard(item: Item, f: CallFacts, ok: bool, evidence: dict[str, Any]) -> Verdict:
    """The verdict of an item that fails only when some phrase was not heard: failed only
    where the site trusts the spotter's misses in its category, else not measured (evidence
    kept). edge.scoring.misses.miss_categories lists the categories whose judges end here."""
    if ok or f.missed_phrases.count_in(item.category):
        return flat(item, ok, evidence)
    return Verdict("not_measured", 0.0, {**evidence, "reason": f.missed_phrases.reason(item.category)})


def _keyword_present(item: Item, f: CallFacts) -> Verdict:
    lo, hi = (0.0, item.within_s) if item.window == "opening" else (f.duration_s - item.within_s, f.duration_s)
    found = [h for h in _hits(item, f) if lo <= h.start <= hi]
    return _heard(item, f, bool(found), {"window": [round(max(lo, 0.0), 3), round(hi, 3)], "hits": _hit_evidence(found)})


def _keyword_absent(item: Item, f: CallFacts) -> Verdict:
    hits = _hits(item, f)
    return per_event(item, len(hits), 0, {"count": len(hits), "hits": _hit_evidence(hits)})


def _keyword_rate(item: Item, f: CallFacts) -> Verdict:
    minutes = f.metrics.agent_s / 60.0
    if minutes <= 0:
        return not_measured("no agent speech")
    hits = _hits(item, f)
    rate = round(len(hits) / minutes, 3)
    evidence = {"per_minute": rate, "count": len(hits), "min": item.min, "max": item.max, "hits": _hit_evidence(hits)}
    if item.max is not None and rate > item.max:  # too many: per extra occurrence over the allowance
        allowed = int(item.max * minutes)
        return per_event(item, len(hits), allowed, evidence)
    return _heard(item, f, item.min is None or rate >= item.min, evidence)


def agitation_times(customer_prosody: dict[str, Any] | None, min_s: float = 0.0) -> list[float]:
    """When the customer got agitated: the starts of their raised-voice stretches of at least min_s."""
    return [float(s) for s, e in (customer_prosody or {}).get("raised_voice", []) if e - s >= min_s - 1e-6]


def _apology(item: Item, f: CallFacts) -> Verdict:
    agitated = agitation_times(f.customer_prosody, item.min_s or 0.0)
    if not agitated:
        return Verdict("passed", 0.0, {"agitation": []})
    hits = _hits(item, f)
    unanswered = [t for t in agitated if not any(t <= h.start <= t + item.within_s for h in hits)]
    return _heard(item, f, not unanswered, {"agitation": agitated, "unanswered": unanswered, "hits": _hit_evidence(hits)})


JUDGES: dict[str, Callable[[Item, CallFacts], Verdict]] = {
    "speech_rate": _agent_value("speech_rate_sps", "no agent speech to measure"),
    "pitch_range": _agent_value("pitch_range_st", "too little voiced agent speech for pitch"),
    "warmth": _agent_value("monotony", "too little voiced agent speech for pitch"),
    "clarity": _clarity,
    "drawn_out": _agent_events("drawn_out"),
    "raised_voice": _agent_events("raised_voice"),
    "interruptions": _two_sided(_interruptions),
    "dead_air": _dead_air,
    "holds": _holds,
    "response_latency": _two_sided(_latency),
    "talk_ratio": _two_sided(_talk_ratio),
    "last_speaker": _two_sided(_last_speaker),
    "keyword_present": _keyword_present,
    "keyword_absent": _keyword_absent,
    "keyword_rate": _keyword_rate,
    "apology": _two_sided(_apology),
    "human_review": lambda item, f: not_measured("left to human QA"),
}


def judge(item: Item, facts: CallFacts) -> Verdict:
    if item.needs_keywords and facts.keywords is None:
        return not_measured("keyword spotting is not available on this box")
    return JUDGES[item.signal](item, facts)
