"""Rubric items judged on a call's facts: keyword items, fatal items, not-measured items, pass mark."""

from datetime import datetime, timezone

from edge.config import BoxConfig, Config
from edge.metrics import conversation_metrics
from edge.scoring.callscore import CallIdentity, build_callscore
from edge.scoring.items import CallFacts, Hit
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import load_rubric
from tests.test_pipeline import VALIDATOR

RUBRIC = load_rubric()
PROSODY = {"pitch_median_hz": 210.0, "pitch_range_st": 6.0, "monotony": 2.5, "level_dbfs": -24.0,
           "clipping_ratio": 0.0, "speech_rate_sps": 4.2, "raised_voice": [], "drawn_out": []}
# A tidy 60 s call: the agent greets, answers promptly, closes; the customer speaks in between.
AGENT = [(0.0, 4.0), (9.0, 15.0), (21.0, 28.0), (34.0, 40.0), (46.0, 52.0), (56.0, 60.0)]
CUSTOMER = [(4.5, 8.5), (15.5, 20.5), (28.6, 33.5), (40.5, 45.5), (52.5, 55.5)]


def facts(hits=None, customer=CUSTOMER, prosody=PROSODY, customer_prosody=PROSODY, count_missing=True):
    m = conversation_metrics(AGENT, customer, 60.0, 5.0)
    return CallFacts(60.0, m, prosody, customer_prosody if customer is not None else None,
                     None if hits is None else tuple(hits), customer is not None,
                     MissedPhrases.read(Config(keywords={"count_missing_phrases": count_missing}), RUBRIC))


def scored(f, rubric=RUBRIC):
    ident = CallIdentity(BoxConfig(), "desk1", "box-desk1-1", None, datetime(2026, 1, 5, tzinfo=timezone.utc), "silence")
    s = build_callscore(ident, rubric, f, [], [])
    VALIDATOR.validate(s.to_dict())
    return s, {i.id: i for i in s.items}


def pct(s):
    return 100 * s.score / s.max_score


def hit(phrase, category, start, side="agent"):
    return Hit(phrase, category, side, start, start + 0.5, 0.9)


POLITE_HITS = [hit("您好", "greeting", 0.5), hit("再见", "closing", 59.0), hit("感谢", "thanks", 58.0)] + [
    hit("您", "polite", t) for t in (1.0, 10.0, 22.0, 35.0, 47.0)]


def test_a_tidy_call_with_a_spotter_passes_every_measured_item():
    s, items = scored(facts(POLITE_HITS))
    failed = {k: v for k, v in items.items() if v.status == "failed"}
    assert not failed, failed
    assert s.score == s.max_score == 97  # all but the human-review item
    assert s.passed and not s.fatal and pct(s) == 100


def test_forbidden_phrase_costs_points_per_hit_with_the_phrase_as_evidence():
    s, items = scored(facts(POLITE_HITS + [hit("不知道", "forbidden", 12.0)]))
    item = items["forbidden_phrases"]
    assert item.status == "failed" and item.deduction == 5
    assert item.evidence["hits"][0]["phrase"] == "不知道" and item.evidence["hits"][0]["start"] == 12.0
    s, items = scored(facts(POLITE_HITS + [hit("喂", "forbidden", t) for t in (12.0, 20.0, 30.0)]))
    assert items["forbidden_phrases"].deduction == 10  # capped at the item's points


def test_an_insult_is_fatal_whatever_the_score():
    s, items = scored(facts(POLITE_HITS + [hit("神经病", "insult", 30.0)]))
    assert items["insults"].fatal and s.fatal
    assert pct(s) > 80 and not s.passed


def test_customer_phrases_do_not_count_against_the_agent():
    s, items = scored(facts(POLITE_HITS + [hit("不知道", "forbidden", 5.0, side="customer")]))
    assert items["forbidden_phrases"].status == "passed"


def test_missing_greeting_and_closing_fail_their_items():
    s, items = scored(facts([hit("您", "polite", t) for t in (1.0, 10.0, 22.0)]))
    assert items["opening_greeting"].status == "failed" and items["closing"].status == "failed"
    late = [hit("您好", "greeting", 30.0)]  # a greeting in mid-call is not an opening
    s, items = scored(facts(late))
    assert items["opening_greeting"].status == "failed"


def test_a_site_that_does_not_trust_the_spotters_misses_loses_no_points_for_a_phrase_not_heard():
    upset = {**PROSODY, "raised_voice": [[16.0, 19.0]]}
    s, items = scored(facts([hit("您好", "greeting", 0.5), hit("不知道", "forbidden", 12.0)],
                            customer_prosody=upset, count_missing=False))
    unheard = ("closing", "thanks", "polite_forms", "apology")
    for item in unheard:
        assert items[item].status == "not_measured" and items[item].deduction == 0, items[item]
        assert "count_missing_phrases" in items[item].evidence["reason"]
    assert items["apology"].evidence["unanswered"] == [16.0]  # what was measured is still shown
    assert items["opening_greeting"].status == "passed"  # heard phrases still count, both ways
    assert items["forbidden_phrases"].status == "failed" and items["forbidden_phrases"].deduction == 5
    assert s.max_score == 97 - sum(items[i].points for i in unheard)


def test_agitated_customer_needs_an_apology():
    upset = {**PROSODY, "raised_voice": [[16.0, 19.0]]}
    s, items = scored(facts(POLITE_HITS, customer_prosody=upset))
    assert items["apology"].status == "failed" and items["apology"].evidence["unanswered"] == [16.0]
    s, items = scored(facts(POLITE_HITS + [hit("对不起", "apology", 21.5)], customer_prosody=upset))
    assert items["apology"].status == "passed"


def test_one_loud_phrase_is_not_agitation_but_an_outburst_as_long_as_the_rubric_says_is():
    apology = RUBRIC.item("apology")
    assert apology.min_s == 1.5
    loud_phrase = {**PROSODY, "raised_voice": [[16.0, 17.2]]}
    s, items = scored(facts(POLITE_HITS, customer_prosody=loud_phrase))
    assert items["apology"].status == "passed" and items["apology"].evidence["agitation"] == []
    stricter = RUBRIC.model_copy(update={"items": tuple(
        i.model_copy(update={"min_s": 1.0}) if i.id == "apology" else i for i in RUBRIC.items)})
    s, items = scored(facts(POLITE_HITS, customer_prosody=loud_phrase), stricter)
    assert items["apology"].status == "failed"


def test_without_a_spotter_keyword_items_are_left_out_of_the_score():
    s, items = scored(facts(None))
    kw = [i for i in items.values() if i.id in ("opening_greeting", "closing", "polite_forms", "thanks",
                                                   "fillers", "forbidden_phrases", "apology", "insults")]
    assert all(i.status == "not_measured" and i.deduction == 0 for i in kw)
    assert s.max_score == 97 - sum(i.points for i in kw)
    assert pct(s) == 100


def test_a_quiet_agent_without_pitch_leaves_pitch_items_unmeasured():
    quiet = {**PROSODY, "pitch_median_hz": None, "pitch_range_st": None, "monotony": None}
    s, items = scored(facts(POLITE_HITS, prosody=quiet))
    assert items["intonation"].status == "not_measured" and items["warmth"].status == "not_measured"


def test_below_the_pass_mark_fails_the_call():
    slow = {**PROSODY, "speech_rate_sps": 1.5, "pitch_range_st": 1.0, "level_dbfs": -45.0}
    s, items = scored(facts(POLITE_HITS, prosody=slow))
    assert {k for k, v in items.items() if v.status == "failed"} == {"speech_rate", "intonation", "clarity"}
    assert s.score == 97 - 16 and pct(s) < 85
    s2, _ = scored(facts(None, prosody=slow))  # fewer measured items: the same faults weigh more
    assert pct(s2) < 80 and not s2.passed
