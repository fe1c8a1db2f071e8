"""VAD + conversation metrics against the generator's truth, over many generated calls.

Done-when targets of the pipeline: talk time per side within 0.3 s of the truth; overtalk and
dead-air events F1 ≥ 0.95, agent interruptions F1 ≥ 0.9 (pooled over the corpus). The truth's
turns are the generator's (scripts/gencall.py: one side's turns are >= MIN_TURN_PAUSE_S apart).
"""

import numpy as np
import pytest

from edge.metrics import conversation_metrics
from scripts.gencall import generate_call
from tests.truth import Match, match_events, vad_segments

DEAD_AIR_S = 3.0  # the generator's default truth threshold; the metric takes any
CORPUS = (
    [(name, 8000, seed) for name in ("polite", "busy", "rude", "raised_voice", "fast", "drawn_out") for seed in (1, 2)]
    + [("random", rate, seed) for rate in (8000, 16000) for seed in range(10)]
)


@pytest.fixture(scope="module")
def measured():
    out = []
    for name, rate, seed in CORPUS:
        pcm, truth = generate_call(name, rate, seed=seed, dead_air_min_s=DEAD_AIR_S)
        agent, customer = vad_segments(pcm, rate, "agent"), vad_segments(pcm, rate, "customer")
        start = min(s for s, _ in agent + customer)
        end = max(e for _, e in agent + customer)
        # the call runs from its first to its last speech: metrics are relative to its start
        rel = lambda segs: [(s - start, e - start) for s, e in segs]  # noqa: E731
        m = conversation_metrics(rel(agent), rel(customer), end - start, DEAD_AIR_S)
        shift = lambda evs: [(s + start, e + start) for s, e in evs]  # noqa: E731
        out.append(((name, rate, seed), truth, m, shift))
    return out


def test_talk_time_per_side_is_within_0_3_s_of_the_truth(measured):
    off = []
    for key, truth, m, _ in measured:
        for side, got in (("agent", m.agent_s), ("customer", m.customer_s)):
            if abs(got - truth["talk_s"][side]) > 0.3:
                off.append((key, side, got, truth["talk_s"][side]))
    assert not off, f"talk time off by more than 0.3 s: {off}"


@pytest.mark.parametrize("metric,truth_key,target", [
    ("overtalk", "overtalk", 0.95),
    ("dead_air", "dead_air", 0.95),
    ("interruptions", "interruptions", 0.9),
])
def test_conversation_events_match_the_truth(measured, metric, truth_key, target):
    total = Match(0, 0, 0)
    misses = []
    for key, truth, m, shift in measured:
        found = shift(getattr(m, metric).events)
        r = match_events(found, truth[truth_key])
        total += r
        if r.fp or r.fn:
            misses.append((key, found, truth[truth_key]))
    assert total.tp > 5, "the corpus must hold enough events to judge"
    assert total.f1 >= target, f"{metric} F1 {total.f1:.3f} ({total}); calls with misses: {misses}"


def test_last_speaker_and_response_latency_follow_the_truth(measured):
    for key, truth, m, _ in measured:
        assert m.last_speaker == truth["last_speaker"], key
        true_lat = sorted(x["latency_s"] for x in truth["response_latencies"])
        if len(true_lat) >= 2 and m.latencies:
            assert abs(m.latency_median_s - float(np.median(true_lat))) <= 0.3, (key, m.latencies, true_lat)


def test_a_comma_pause_inside_a_turn_neither_splits_an_overlap_nor_hides_an_interruption():
    # the customer pauses 0.3 s mid-turn (shorter than a turn gap: metrics.TALK_PAUSE_S)
    over = conversation_metrics([(0.0, 3.0)], [(1.0, 1.5), (1.8, 4.0)], 5.0, DEAD_AIR_S)
    assert over.overtalk.events == ((1.0, 3.0),) and over.interruptions.count == 0
    cut_in = conversation_metrics([(1.6, 3.0)], [(0.0, 1.5), (1.8, 4.0)], 5.0, DEAD_AIR_S)
    assert cut_in.interruptions.events == ((1.6, 3.0),)
