"""Conversation metrics of one call, from the speech segments of both sides.

Pure interval arithmetic on numpy arrays of [start, end] rows, in seconds from the call's
start. Definitions (the CallScore schema repeats them for central QA):
  talk          each side's speech, its pauses shorter than TALK_PAUSE_S counted as talk (a
                breath or a comma inside a turn); talk_listen_ratio = agent / customer
  turn          a side's talk between pauses of at least TALK_PAUSE_S (the test-call
                generator's truth keeps one side's turns further apart than that)
  overtalk      stretches where both sides' turns run at once (a comma pause inside a turn
                does not split an overlap in two)
  interruptions an agent turn that starts inside a customer turn; the event runs from the
                agent's start to the end of the overlap
  dead_air      both sides silent for ≥ threshold between the call's start and end, and
                shorter than a hold
  holds         both sides silent for ≥ hold_min_s (the box's calls.end_silence_s: a silence
                the call went on after is the customer kept waiting, not dead air)
  latency       customer's end of turn → agent's first speech after it, when the agent is the
                next to speak and was silent at that moment
  last_speaker  the side whose speech ends last
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Intervals = np.ndarray  # shape (n, 2), rows [start, end], sorted, non-overlapping
TALK_PAUSE_S = 0.4  # a side's pause shorter than this is inside its turn (a breath, a comma)


def _r(x: float) -> float:
    return round(float(x), 3)


def as_intervals(pairs) -> Intervals:
    a = np.asarray(list(pairs), dtype=float).reshape(-1, 2)
    return a[np.argsort(a[:, 0], kind="stable")] if len(a) else a


def union(a: Intervals, b: Intervals) -> Intervals:
    """Merge two interval sets into one sorted, non-overlapping set."""
    both = as_intervals(np.concatenate((a, b)))
    if not len(both):
        return both
    # A row starts a new merged block when it begins after every earlier row has ended.
    reach = np.maximum.accumulate(both[:, 1])
    new = np.concatenate(([True], both[1:, 0] > reach[:-1]))
    idx = np.flatnonzero(new)
    return np.column_stack((both[idx, 0], np.maximum.reduceat(both[:, 1], idx)))


def intersection(a: Intervals, b: Intervals) -> Intervals:
    """Pairwise overlaps of two sorted, non-overlapping sets (all pairs, vectorised)."""
    if not len(a) or not len(b):
        return np.zeros((0, 2))
    lo = np.maximum(a[:, None, 0], b[None, :, 0])
    hi = np.minimum(a[:, None, 1], b[None, :, 1])
    keep = hi > lo
    return as_intervals(np.column_stack((lo[keep], hi[keep])))


def bridge(iv: Intervals, max_gap: float) -> Intervals:
    """Join rows separated by less than `max_gap`."""
    if len(iv) < 2:
        return iv
    new = np.concatenate(([True], iv[1:, 0] - iv[:-1, 1] >= max_gap))
    idx = np.flatnonzero(new)
    return np.column_stack((iv[idx, 0], np.maximum.reduceat(iv[:, 1], idx)))


def talk_time(iv: Intervals) -> float:
    joined = bridge(iv, TALK_PAUSE_S)
    return _r(np.sum(joined[:, 1] - joined[:, 0])) if len(joined) else 0.0


def gaps(covered: Intervals, start: float, end: float, min_len: float) -> Intervals:
    """Stretches of [start, end] not covered, at least `min_len` long."""
    edges = np.concatenate(([start], covered.ravel(), [end])).reshape(-1, 2)
    edges = np.column_stack((np.maximum(edges[:, 0], start), np.minimum(edges[:, 1], end)))
    return edges[edges[:, 1] - edges[:, 0] >= min_len]


@dataclass(frozen=True)
class EventSummary:
    events: tuple[tuple[float, float], ...] = ()

    @classmethod
    def of(cls, iv: Intervals) -> "EventSummary":
        return cls(tuple((_r(s), _r(e)) for s, e in iv))

    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def total_s(self) -> float:
        return _r(sum(e - s for s, e in self.events))

    @property
    def longest_s(self) -> float:
        return _r(max((e - s for s, e in self.events), default=0.0))

    def to_dict(self, longest: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"count": self.count, "total_s": self.total_s, "events": [list(e) for e in self.events]}
        if longest:
            d["longest_s"] = self.longest_s
        return d


@dataclass(frozen=True)
class ConversationMetrics:
    agent_s: float
    customer_s: float | None
    overtalk: EventSummary
    interruptions: EventSummary
    dead_air: EventSummary
    latencies: tuple[float, ...]
    last_speaker: str | None
    holds: EventSummary = EventSummary()

    @property
    def talk_listen_ratio(self) -> float | None:
        if self.customer_s is None or self.customer_s == 0:
            return None
        return _r(self.agent_s / self.customer_s)

    @property
    def latency_median_s(self) -> float | None:
        return _r(np.median(self.latencies)) if self.latencies else None

    @property
    def latency_p90_s(self) -> float | None:
        return _r(np.percentile(self.latencies, 90)) if self.latencies else None

    def to_dict(self) -> dict[str, Any]:
        """The `metrics` object of a CallScore."""
        return {
            "talk": {"agent_s": self.agent_s, "customer_s": self.customer_s,
                     "talk_listen_ratio": self.talk_listen_ratio},
            "overtalk": self.overtalk.to_dict(),
            "interruptions": self.interruptions.to_dict(),
            "dead_air": self.dead_air.to_dict(longest=True),
            "holds": self.holds.to_dict(longest=True),
            "response_latency": {"n": len(self.latencies), "median_s": self.latency_median_s,
                                 "p90_s": self.latency_p90_s},
            "last_speaker": self.last_speaker,
        }


def _interruptions(agent: Intervals, customer: Intervals) -> Intervals:
    if not len(agent) or not len(customer):
        return np.zeros((0, 2))
    s = agent[:, 0]
    inside = (customer[None, :, 0] < s[:, None]) & (s[:, None] < customer[None, :, 1])
    hit = inside.any(axis=1)
    # The overlap ends when either the agent or the interrupted customer turn stops.
    cust_end = np.where(inside, customer[None, :, 1], -np.inf).max(axis=1)
    return np.column_stack((s[hit], np.minimum(agent[hit, 1], cust_end[hit])))


def _latencies(agent: Intervals, customer: Intervals) -> np.ndarray:
    if not len(agent) or not len(customer):
        return np.zeros(0)
    ends = customer[:, 1]
    # First agent start at or after each customer end.
    i = np.searchsorted(agent[:, 0], ends, side="left")
    has_reply = i < len(agent)
    nxt_agent = np.where(has_reply, agent[np.minimum(i, len(agent) - 1), 0], np.inf)
    # The agent must be silent at the customer's end (not talking over) …
    j = np.searchsorted(agent[:, 0], ends, side="right") - 1
    agent_busy = (j >= 0) & (agent[np.maximum(j, 0), 1] > ends)
    # … and the customer must not speak again before the agent replies.
    nxt_cust = np.append(customer[1:, 0], np.inf)
    ok = has_reply & ~agent_busy & (nxt_agent < nxt_cust)
    return (nxt_agent - ends)[ok]


def _silences(covered: Intervals, call_end: float, dead_air_min_s: float,
              hold_min_s: float) -> tuple[EventSummary, EventSummary]:
    """(dead air, holds): the silences of the call of at least dead_air_min_s, split at hold_min_s."""
    silent = gaps(covered, 0.0, call_end, min(dead_air_min_s, hold_min_s))
    hold = silent[:, 1] - silent[:, 0] >= hold_min_s
    dead = silent[~hold]
    return EventSummary.of(dead[dead[:, 1] - dead[:, 0] >= dead_air_min_s]), EventSummary.of(silent[hold])


def conversation_metrics(agent_segments, customer_segments, call_end: float,
                         dead_air_min_s: float = 5.0, hold_min_s: float = math.inf) -> ConversationMetrics:
    """Metrics of a call spanning [0, call_end]; segments are (start, end) pairs relative to
    the call's start. `customer_segments=None` for a mono line (two-sided metrics null).
    `hold_min_s`: a silence this long is a hold, not dead air (inf: none is)."""
    agent = as_intervals(agent_segments)
    agent_s = talk_time(agent)
    if customer_segments is None:
        dead_air, holds = _silences(agent, call_end, dead_air_min_s, hold_min_s)
        return ConversationMetrics(
            agent_s=agent_s, customer_s=None, overtalk=EventSummary(), interruptions=EventSummary(),
            dead_air=dead_air, latencies=(), last_speaker="agent" if len(agent) else None, holds=holds,
        )
    customer = as_intervals(customer_segments)
    customer_s = talk_time(customer)
    last_a = agent[:, 1].max() if len(agent) else -np.inf
    last_c = customer[:, 1].max() if len(customer) else -np.inf
    last = None if last_a == last_c == -np.inf else ("agent" if last_a >= last_c else "customer")
    turns_a, turns_c = bridge(agent, TALK_PAUSE_S), bridge(customer, TALK_PAUSE_S)
    dead_air, holds = _silences(union(agent, customer), call_end, dead_air_min_s, hold_min_s)
    return ConversationMetrics(
        agent_s=agent_s,
        customer_s=customer_s,
        overtalk=EventSummary.of(intersection(turns_a, turns_c)),
        interruptions=EventSummary.of(_interruptions(turns_a, turns_c)),
        dead_air=dead_air,
        latencies=tuple(_r(x) for x in _latencies(agent, customer)),
        last_speaker=last,
        holds=holds,
    )
