"""Keyword rubric items measured end to end: generated calls → pipeline → KeywordSpotter →
CallScore items and live alerts. Voices are callqa_lab/gencall.py's defaults (training voices of
the keyword model: these tests check the wiring; accuracy on held-out voices is measured by
`callqa eval-kws` and published in models/README.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge.line import line_pipeline
from edge.config import Config
from edge.pipeline import run_source
from edge.scoring.callscore import CallScore
from edge.scoring.rubric import KeywordCategory, load_rubric
from edge.sinks import CollectingSink
from edge.sources.wav import Recording, wav_source
from callqa_lab import synth
from callqa_lab.gencall import Scenario, Turn, generate_call, scenario

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
KEYWORD_ITEMS = ("opening_greeting", "closing", "polite_forms", "thanks", "forbidden_phrases")


def call(name: str, *middle: Turn) -> Scenario:
    """A call that opens with a greeting and closes politely, `middle` in between."""
    return Scenario(name, (Turn("agent", "您好，很高兴为您服务"), *middle, Turn("agent", "感谢您的来电，再见", 0.5)))


def score(scn: Scenario, rate: int, rubric=None, seed: int = 1, count_missing: bool = False):
    pcm, truth = generate_call(scn, rate, seed=seed)
    sink = CollectingSink()
    cfg = Config(audio={"sample_rate": rate}, keywords={"count_missing_phrases": count_missing})
    pipe = line_pipeline("desk1", cfg, rubric or load_rubric(), [sink], EPOCH)
    rec = Recording(Path("generated"), rate, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
    run_source(pipe, list(wav_source(rec, "desk1", 0.3)))
    (s,) = sink.scores
    return s, {i.id: i for i in s.items}, sink.alerts


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_call_with_greeting_nin_thanks_and_closing_passes_those_items(rate):
    scn = call("polite",
               Turn("customer", "我想查一下我的话费", 0.5),
               Turn("agent", "好的，请您稍等，我帮您查一下", 0.7),
               Turn("agent", "感谢您的耐心，您上个月开通了一个流量包", 1.0),
               Turn("customer", "原来是这样", 0.6))
    s, items, alerts = score(scn, rate)
    for item in KEYWORD_ITEMS:
        assert items[item].status == "passed", (item, items[item])
    assert items["polite_forms"].evidence["count"] >= 2
    assert not alerts


def test_a_forbidden_phrase_loses_its_points_and_lights_the_red_alert():
    scn = call("rude",
               Turn("customer", "我的宽带又断了，你们什么时候能修好", 0.5),
               Turn("agent", "这个我[不知道]", 0.9),
               Turn("customer", "那我找谁问", 0.5))
    s, items, alerts = score(scn, 8000)
    forbidden = items["forbidden_phrases"]
    assert forbidden.status == "failed" and forbidden.deduction == 5.0
    assert [h["phrase"] for h in forbidden.evidence["hits"]] == ["不知道"]
    (alert,) = alerts
    assert alert.severity == "red" and alert.item == "forbidden_phrases" and alert.evidence["phrase"] == "不知道"
    assert items["opening_greeting"].status == "passed"


def test_a_phrase_added_to_the_rubric_is_detected_without_retraining():
    scn = call("refusal",
               Turn("customer", "我想把套餐改回原来的", 0.5),
               Turn("agent", "这个真的[没办法]改", 0.8))
    rubric = load_rubric()
    _, items, alerts = score(scn, 8000, rubric)
    assert items["forbidden_phrases"].status == "passed" and not alerts  # not in the shipped rubric
    forbidden = rubric.keywords["forbidden"]
    edited = rubric.model_copy(update={"keywords": {
        **rubric.keywords, "forbidden": KeywordCategory(phrases=forbidden.phrases + ("没办法",))}})
    _, items, alerts = score(scn, 8000, edited)
    assert [h["phrase"] for h in items["forbidden_phrases"].evidence["hits"]] == ["没办法"]
    assert [a.evidence["phrase"] for a in alerts] == ["没办法"]


def call_offset(s: CallScore) -> float:
    """Where the scored call starts in the generated audio, s (truth times are from the file's start)."""
    return (s.start - EPOCH).total_seconds()


def test_an_upset_customer_left_without_apology_lights_one_amber_alert_and_fails_the_item():
    scn = scenario("upset_customer", 1)
    s, items, alerts = score(scn, 8000, seed=1, count_missing=True)
    (_, truth) = generate_call(scn, 8000, seed=1)
    (raised,) = truth["raised_voice"]["customer"]
    assert raised[1] - raised[0] >= 2.0 and 10 <= raised[2] <= 15
    (alert,) = alerts
    assert alert.item == "apology" and alert.severity == "amber"
    assert abs(alert.t + call_offset(s) - raised[0]) < 1.5  # near the start of the outburst
    assert items["apology"].status == "failed" and len(items["apology"].evidence["unanswered"]) == 1


def test_where_the_spotters_misses_are_not_trusted_an_outburst_without_apology_heard_alerts_nothing():
    s, items, alerts = score(scenario("upset_customer", 1), 8000, seed=1)  # the default config
    assert not alerts
    item = items["apology"]
    assert item.status == "not_measured" and len(item.evidence["unanswered"]) == 1
    assert "count_missing_phrases" in item.evidence["reason"]


def test_an_agent_who_apologises_after_the_outburst_passes_the_item_and_lights_nothing():
    # the agent speaks with the generator's default voice f3 (a training voice of the shipped
    # model): the spotter misses the apology with seed 2's own agent voice m4. Keyword accuracy
    # is measured elsewhere (callqa eval-kws); this checks agitation → apology → verdict.
    scn = scenario("upset_customer_apology", 2, agent_voice=synth.Voice("f3", 175, 55))
    s, items, alerts = score(scn, 8000, seed=2)
    (_, truth) = generate_call(scn, 8000, seed=2)
    (raised,) = truth["raised_voice"]["customer"]
    apology = [p for p in truth["phrases"] if p["phrase"] in ("对不起", "抱歉", "不好意思")]
    assert len(apology) == 1 and 0 < apology[0]["start"] - raised[1] < 2.0
    item = items["apology"]
    assert item.status == "passed" and item.evidence["unanswered"] == []
    assert [h["phrase"] for h in item.evidence["hits"]] == [apology[0]["phrase"]]
    assert not alerts
