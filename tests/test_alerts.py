"""The live-alert rules on their own (edge/alerts.py), fed the events one block brings; the
pipeline tests (test_pipeline, test_keywords_pipeline) check them on generated calls."""

from edge.alerts import AlertRules, CallAlerts
from edge.config import Config
from edge.events import KeywordHit, ProsodyEvent, Side
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import load_rubric

RUBRIC = load_rubric()
START = 100.0  # the call's start, stream time


def call(spotting=True, count_missing=True) -> CallAlerts:
    missed = MissedPhrases.read(Config(keywords={"count_missing_phrases": count_missing}), RUBRIC)
    return CallAlerts(AlertRules.of(RUBRIC, spotting, missed), "desk1", "call-1", START)


def hit(phrase, category, start, side=Side.AGENT) -> KeywordHit:
    return KeywordHit("desk1", side, phrase, category, start, start + 0.5, 0.9)


def raised(side, start, db=10.0) -> ProsodyEvent:
    return ProsodyEvent("desk1", side, "raised_voice", start, start + 2.0, db)


def test_a_forbidden_phrase_or_insult_from_the_agent_alerts_red_at_once():
    alerts = call()
    out = alerts.on_keywords([hit("不知道", "forbidden", 112.0), hit("不知道", "forbidden", 113.0, Side.CUSTOMER),
                              hit("神经病", "insult", 99.0), hit("您好", "greeting", 101.0)])
    (alert,) = out  # the customer's phrase, speech before the call and a polite phrase alert nothing
    assert (alert.item, alert.severity, alert.t, alert.call_id) == ("forbidden_phrases", "red", 12.0, "call-1")
    assert alert.evidence == {"phrase": "不知道", "confidence": 0.9}
    assert alerts.raised == out


def test_the_agents_raised_voice_alerts_amber_and_the_customers_waits_for_an_apology():
    alerts = call()
    (alert,) = alerts.on_prosody(Side.AGENT, [raised(Side.AGENT, 110.0, 9.6)])
    assert (alert.item, alert.severity, alert.reason) == ("raised_voice", "amber", "agent raised voice (+10 dB)")
    assert alert.evidence == {"start": 10.0, "db_above_running": 9.6}
    assert alerts.on_prosody(Side.CUSTOMER, [raised(Side.CUSTOMER, 120.0)]) == []
    within = RUBRIC.item("apology").within_s
    assert alerts.check_apologies(120.0 + within - 0.1, []) == []  # not yet: the agent may still apologise
    (unanswered,) = alerts.check_apologies(120.0 + within, [])
    assert (unanswered.item, unanswered.t, unanswered.evidence) == ("apology", 20.0,
                                                                     {"agitation_at": 20.0, "within_s": within})
    assert alerts.check_apologies(200.0, []) == []  # alerted once
    assert [a.item for a in alerts.raised] == ["raised_voice", "apology"]


def test_an_apology_in_time_or_a_spotter_not_trusted_alerts_nothing():
    answered = call()
    answered.on_prosody(Side.CUSTOMER, [raised(Side.CUSTOMER, 120.0)])
    assert answered.check_apologies(150.0, [hit("对不起", "apology", 125.0)]) == []
    for untrusted in (call(spotting=False), call(count_missing=False)):
        untrusted.on_prosody(Side.CUSTOMER, [raised(Side.CUSTOMER, 120.0)])
        assert untrusted.check_apologies(150.0, []) == []


def test_dead_air_alerts_once_speech_resumes_or_while_it_lasts_on_a_cti_call():
    limit = RUBRIC.item("dead_air").alert_after_s
    speech = {Side.AGENT: [(101.0, 104.0)], Side.CUSTOMER: [(104.5, 106.0)]}
    vad = call()
    assert vad.check_dead_air(106.0 + limit + 1, speech, None, cti_bounded=False) == []  # may be the call's end
    (alert,) = vad.check_dead_air(106.0 + limit + 1, speech, 106.0 + limit + 1, cti_bounded=False)
    assert (alert.item, alert.t, alert.evidence["silent_s"]) == ("dead_air", 6.0, limit + 1)
    assert vad.check_dead_air(106.0 + limit + 1.3, speech, 106.0 + limit + 1, cti_bounded=False) == []  # once

    cti = call()
    assert cti.check_dead_air(106.0 + limit - 0.3, speech, None, cti_bounded=True) == []
    (alert,) = cti.check_dead_air(106.0 + limit, speech, None, cti_bounded=True)
    assert (alert.t, alert.evidence["silent_s"]) == (6.0, limit)
    assert cti.check_dead_air(106.0 + limit + 0.3, speech, None, cti_bounded=True) == []
