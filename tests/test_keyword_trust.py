"""keywords.count_missing_phrases = "auto": a phrase the box did not hear counts against the
agent only in the categories the keyword trust file trusts (recall >= 0.9 against the teacher
over >= 30 teacher occurrences, for the model the box runs). Generated calls through the real
pipeline and spotter; trust files written with the module the lab writes them with."""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from callqa_central.validate import Accepted, Rejected, check_message
from callqa_lab.gencall import Scenario, Turn, generate_call, scenario
from callqa_lab.simulate import score_message
from edge.config import Config, ConfigError, parse_config
from edge.keywords.trust import CategoryTrust, KeywordTrust, running_model
from edge.line import line_pipeline
from edge.ops import checks
from edge.pipeline import run_source
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import load_rubric
from edge.service import Service
from edge.sinks import CollectingSink
from edge.sources.wav import Recording, wav_source
from tests.test_pipeline import VALIDATOR

RATE = 8000
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
MEASURED = "2026-12-04T02:30:00Z"
RUBRIC = load_rubric()
MODEL = running_model(Config().keywords)  # the shipped int8 ONNX model, as the box identifies it
OTHER_MODEL = "kws.int8.onnx sha256:" + "0" * 64

# The agent neither greets nor closes, and says no 您, 请 or thanks.
UNGREETED = Scenario("ungreeted", (
    Turn("agent", "这里是客服中心"),
    Turn("customer", "我想查一下我的话费", 0.5),
    Turn("agent", "好的，马上帮你查", 0.7),
    Turn("agent", "你上个月开通了一个流量包", 1.0),
    Turn("customer", "原来是这样", 0.6),
))
# The same call, opened with a greeting and closed politely.
GREETED = Scenario("greeted", (Turn("agent", "您好，很高兴为您服务"), *UNGREETED.turns[1:],
                               Turn("agent", "感谢您的来电，再见", 0.5)))


def write_trust(path: Path, model: str = MODEL, **categories: tuple[int, int]) -> Path:
    """A trust file; each category as (found, teacher occurrences)."""
    KeywordTrust(MEASURED, "eval-kws --teacher", model, RATE, 5400.0, {
        c: CategoryTrust(occ, found, round(found / occ, 3), 1, 0.67) for c, (found, occ) in categories.items()
    }).write(path)
    return path


def box(state_dir: Path, mode: bool | str = "auto", **keywords) -> Config:
    return Config(box={"state_dir": state_dir}, audio={"sample_rate": RATE},
                  keywords={"count_missing_phrases": mode, **keywords})


@functools.cache
def _pcm(scn: Scenario, seed: int) -> np.ndarray:
    return generate_call(scn, RATE, seed=seed)[0]


def score(scn: Scenario, cfg: Config, seed: int = 1):
    pcm = _pcm(scn, seed)
    sink = CollectingSink()
    pipe = line_pipeline("desk1", cfg, RUBRIC, [sink], EPOCH)
    rec = Recording(Path("generated"), RATE, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
    run_source(pipe, list(wav_source(rec, "desk1", 0.3)))
    (s,) = sink.scores
    VALIDATOR.validate(s.to_dict())
    return s, {i.id: i for i in s.items}, sink.alerts


def reason(item) -> str:
    assert item.status == "not_measured" and item.deduction == 0, item
    return item.evidence["reason"]


def test_a_missing_greeting_costs_points_only_where_the_box_is_known_to_hear_the_category(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", greeting=(27, 30), closing=(26, 30), thanks=(28, 29),
                apology=(95, 100))
    s, items, _ = score(UNGREETED, box(tmp_path))
    greeting = items["opening_greeting"]
    assert greeting.status == "failed" and greeting.deduction == 4 and greeting.evidence["hits"] == []
    assert reason(items["closing"]).endswith("category closing: recall 0.867 over 30 teacher occurrences, below 0.9")
    assert reason(items["thanks"]).endswith("category thanks: recall 0.966 over 29 teacher occurrences, fewer than 30")
    assert reason(items["polite_forms"]).endswith("category polite: not in the trust measurement")
    assert "count_missing_phrases = auto" in reason(items["closing"])
    assert s.to_dict()["keyword_trust"] == {"mode": "auto", "trusted": ["apology", "greeting"], "measured": MEASURED}
    assert s.max_score == 97 - sum(items[i].points for i in ("closing", "thanks", "polite_forms"))


def test_phrases_heard_still_count_in_categories_not_trusted(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", greeting=(27, 30), closing=(26, 30))
    _, items, _ = score(GREETED, box(tmp_path))
    assert items["opening_greeting"].status == "passed" and items["closing"].status == "passed"
    assert items["polite_forms"].status == "passed"


@pytest.mark.parametrize(("found", "occurrences", "trusted"), [
    (27, 30, True), (30, 30, True), (26, 30, False), (89, 100, False), (28, 29, False), (29, 29, False)],
    ids=["recall 0.9 over 30: trusted", "recall 1 over 30: trusted", "recall 0.87 over 30: not",
         "recall 0.89 over 100: not", "recall 0.97 over 29: not", "recall 1 over 29: not"])
def test_a_category_is_trusted_at_recall_0_9_over_at_least_30_teacher_occurrences(tmp_path, found, occurrences,
                                                                                  trusted):
    write_trust(tmp_path / "keyword-trust.json", greeting=(found, occurrences))
    missed = MissedPhrases.read(box(tmp_path), RUBRIC)
    assert missed.count_in("greeting") is trusted
    assert missed.trusted == (("greeting",) if trusted else ())
    if not trusted:
        assert f"over {occurrences} teacher occurrences" in missed.reason("greeting")


def test_a_trust_file_measured_on_another_model_trusts_nothing(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", OTHER_MODEL, greeting=(100, 100), closing=(100, 100))
    s, items, _ = score(UNGREETED, box(tmp_path))
    assert "no trust measurement for this model (the file measured kws.int8.onnx sha256:000000000000…" \
        in reason(items["opening_greeting"])
    assert s.to_dict()["keyword_trust"] == {"mode": "auto", "trusted": [], "measured": None}
    rows = checks.keyword_trust(box(tmp_path), RUBRIC)
    assert [(r.name, r.status) for r in rows] == [("keyword trust", "warn")]
    assert "no category is trusted until it is measured again" in rows[0].detail and "eval-kws --teacher" in rows[0].fix


def test_without_a_trust_file_nothing_is_trusted_and_the_log_and_doctor_say_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.scoring.misses")
    s, items, _ = score(UNGREETED, box(tmp_path))
    path = tmp_path / "keyword-trust.json"
    assert reason(items["opening_greeting"]).endswith(f"no keyword trust file at {path}")
    assert s.to_dict()["keyword_trust"] == {"mode": "auto", "trusted": [], "measured": None}
    (record,) = [r for r in caplog.records if r.name == "edge.scoring.misses"]
    assert record.levelno == logging.WARNING and f"no keyword trust file at {path}" in record.getMessage()
    (row,) = checks.keyword_trust(box(tmp_path), RUBRIC)
    assert row.status == "warn" and f"--trust-out {path}" in row.fix


def test_a_broken_trust_file_trusts_nothing_logs_an_error_and_fails_doctor(tmp_path, caplog):
    path = tmp_path / "site-trust.json"
    path.write_text('{"schema": "callqa.keyword-trust/1", "categories": ')  # cut off mid-write
    cfg = box(tmp_path / "state", trust=str(path))
    caplog.set_level(logging.INFO, logger="edge.scoring.misses")
    missed = MissedPhrases.from_config(cfg, RUBRIC)
    assert missed.trusted == () and not missed.count_in("greeting")
    assert f"the keyword trust file is unusable (keywords.trust: {path}: not readable as JSON" in missed.reason("greeting")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and str(path) in record.getMessage()
    (row,) = checks.keyword_trust(cfg, RUBRIC)
    assert row.status == "fail" and str(path) in row.detail
    path.write_text(json.dumps({"schema": "callqa.keyword-trust/1", "measured": MEASURED}))
    (row,) = checks.keyword_trust(cfg, RUBRIC)
    assert row.status == "fail" and "missing or unexpected field" in row.detail


def test_true_and_false_ignore_the_trust_file(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", closing=(10, 40))  # would trust nothing
    s, items, _ = score(UNGREETED, box(tmp_path, True))
    assert items["opening_greeting"].status == "failed" and items["closing"].status == "failed"
    assert s.to_dict()["keyword_trust"] == {
        "mode": True, "trusted": ["apology", "closing", "greeting", "polite", "thanks"], "measured": None}
    write_trust(tmp_path / "keyword-trust.json", greeting=(30, 30), closing=(30, 30))  # would trust both
    s, items, _ = score(UNGREETED, box(tmp_path, False))
    assert "config keywords.count_missing_phrases)" in reason(items["opening_greeting"])
    assert s.to_dict()["keyword_trust"] == {"mode": False, "trusted": [], "measured": None}
    assert checks.keyword_trust(box(tmp_path, False), RUBRIC) == []


def test_an_agitated_customer_left_without_apology_alerts_only_where_apologies_are_trusted(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", apology=(28, 30))
    _, items, alerts = score(scenario("upset_customer", 1), box(tmp_path))
    assert [(a.item, a.severity) for a in alerts] == [("apology", "amber")]
    assert items["apology"].status == "failed"
    write_trust(tmp_path / "keyword-trust.json", apology=(25, 25))
    _, items, alerts = score(scenario("upset_customer", 1), box(tmp_path))
    assert alerts == []
    assert reason(items["apology"]).endswith("recall 1 over 25 teacher occurrences, fewer than 30")
    assert len(items["apology"].evidence["unanswered"]) == 1


def test_doctor_lists_the_trusted_categories_and_why_the_others_are_not(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", greeting=(38, 41), closing=(30, 41), thanks=(5, 6))
    keywords, trust = checks.keywords(box(tmp_path))
    assert keywords.status == "pass" and "only where the keyword trust file trusts its category" in keywords.detail
    assert trust.name == "keyword trust" and trust.status == "pass" and trust.fix == ""
    assert f"measured {MEASURED} by eval-kws --teacher on 1.5 h at 8000 Hz: a missing phrase counts in greeting;" \
        in trust.detail
    assert "category closing: recall 0.732 over 41 teacher occurrences, below 0.9" in trust.detail
    assert "category thanks: recall 0.833 over 6 teacher occurrences, fewer than 30" in trust.detail
    assert "category apology: not in the trust measurement" in trust.detail


def test_a_new_trust_file_takes_effect_on_reload_not_mid_shift(tmp_path):
    path = write_trust(tmp_path / "keyword-trust.json", greeting=(20, 30))
    service = Service(box(tmp_path), RUBRIC, [])
    assert service.missed_phrases.trusted == ()
    write_trust(path, greeting=(29, 30))
    assert service.missed_phrases.trusted == ()  # read at start, not per call
    service.replace_rubric(service.prepare_rubric())
    assert service.missed_phrases.trusted == ("greeting",)


def test_central_qa_stores_scores_with_and_without_keyword_trust(tmp_path):
    write_trust(tmp_path / "keyword-trust.json", greeting=(27, 30))
    s, _, _ = score(UNGREETED, box(tmp_path))
    new = s.to_dict()
    assert isinstance(check_message(*score_message(new), "callqa/v1"), Accepted)
    old_box = {k: v for k, v in new.items() if k != "keyword_trust"}
    assert isinstance(check_message(*score_message(old_box), "callqa/v1"), Accepted)
    bad = {**new, "keyword_trust": {**new["keyword_trust"], "mode": "sometimes"}}
    rejected = check_message(*score_message(bad), "callqa/v1")
    assert isinstance(rejected, Rejected) and "keyword_trust" in rejected.reason


def test_count_missing_phrases_takes_true_false_or_auto_only():
    for value in (True, False, "auto"):
        assert parse_config({"keywords": {"count_missing_phrases": value}}).keywords.count_missing_phrases == value
    for value in ("yes", 1, "Auto"):
        with pytest.raises(ConfigError, match='keywords.count_missing_phrases: .*must be true, false or "auto"'):
            parse_config({"keywords": {"count_missing_phrases": value}}, "edge.toml")
