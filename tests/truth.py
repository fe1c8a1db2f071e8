"""Comparing what the box measured with a generated call's ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import VadConfig
from edge.metrics import ConversationMetrics, conversation_metrics
from edge.events import Side
from edge.vad import SideVad


@dataclass(frozen=True)
class Match:
    tp: int
    fp: int
    fn: int

    def __add__(self, other: "Match") -> "Match":
        return Match(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        if self.tp == 0:
            return 1.0 if self.fp == self.fn == 0 else 0.0
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


def match_events(found, truth, tol_s: float = 0.3) -> Match:
    """One-to-one: a found event matches a true one when both its ends are within tol_s."""
    left = [tuple(t[:2]) for t in truth]
    tp = 0
    for s, e in found:
        hit = next((t for t in left if abs(t[0] - s) <= tol_s and abs(t[1] - e) <= tol_s), None)
        if hit is not None:
            left.remove(hit)
            tp += 1
    return Match(tp, len(found) - tp, len(left))


def vad_segments(pcm: np.ndarray, rate: int, side: str, cfg: VadConfig = VadConfig(), block_s: float = 0.3):
    """Speech segments of one side of a generated call, as the box's VAD finds them."""
    vad = SideVad("test", Side(side), rate, 30, cfg)
    n = int(block_s * rate)
    ch = 0 if side == "agent" else 1
    segs = []
    for i in range(0, len(pcm), n):
        segs += vad.process(np.ascontiguousarray(pcm[i : i + n, ch]), i / rate)
    segs += vad.flush()
    return [(s.start, s.end) for s in segs]


@dataclass(frozen=True)
class MeasuredCall:
    """What the box measured on one generated call, in the generator's time (call audio start)."""

    agent: list[tuple[float, float]]
    customer: list[tuple[float, float]]
    metrics: ConversationMetrics  # times relative to `start`, the first speech, as the box reports them
    start: float

    def events(self, name: str) -> list[tuple[float, float]]:
        """The metric's events (overtalk, dead_air, interruptions) in the generator's time."""
        return [(s + self.start, e + self.start) for s, e in getattr(self.metrics, name).events]


def measure_call(pcm: np.ndarray, rate: int, dead_air_s: float) -> MeasuredCall:
    """Both sides' VAD segments and the conversation metrics of a generated call; the call
    runs from its first to its last speech, as the box's call tracker sees it."""
    agent, customer = vad_segments(pcm, rate, "agent"), vad_segments(pcm, rate, "customer")
    start = min(s for s, _ in agent + customer)
    end = max(e for _, e in agent + customer)
    rel = lambda segs: [(s - start, e - start) for s, e in segs]  # noqa: E731
    return MeasuredCall(agent, customer, conversation_metrics(rel(agent), rel(customer), end - start, dead_air_s), start)
