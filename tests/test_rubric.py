"""The rubric: the default one follows the QA standard; a bad one is refused at start, clearly."""

import tomllib
from importlib import resources

import pytest

from edge.config import ConfigError
from edge.scoring.rubric import KEYWORD_SIGNALS, load_rubric

DEFAULT_TEXT = (resources.files("edge.scoring") / "default_rubric.toml").read_text(encoding="utf-8")


def test_default_rubric_covers_the_qa_standard_and_adds_up_to_100():
    r = load_rubric()
    assert r.pass_mark == 80
    assert sum(i.points for i in r.items) == 100
    assert r.sections == {"服务礼仪": 15, "服务技能": 55, "服务意识": 20, "综合评价": 10}  # 3/11/4/2 of 001_…
    signals = {i.signal for i in r.items}
    # every row of design/qa-standard.md's table has its signal
    assert {"keyword_present", "keyword_rate", "apology", "keyword_absent", "speech_rate", "pitch_range",
            "drawn_out", "clarity", "raised_voice", "interruptions", "last_speaker", "dead_air",
            "response_latency", "warmth", "talk_ratio"} <= signals
    insults = next(i for i in r.items if i.category == "insult")
    assert insults.fatal and insults.alert == "red"
    forbidden = r.keywords["forbidden"].phrases
    assert {"不知道", "不清楚", "不明白", "喂", "你这话什么意思", "那你想好了再打来吧"} <= set(forbidden)
    assert {"神经病", "你去死"} <= set(r.keywords["insult"].phrases)
    assert any(i.signal in KEYWORD_SIGNALS for i in r.items)


def _write(tmp_path, text):
    p = tmp_path / "rubric.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _replace(old, new):
    assert old in DEFAULT_TEXT
    return DEFAULT_TEXT.replace(old, new, 1)


@pytest.mark.parametrize("text,key,what", [
    (_replace('signal = "interruptions"\nmax_count = 1', 'signal = "interruptions"'),
     "items.10", "signal 'interruptions' needs max_count"),
    (_replace('signal = "speech_rate"', 'signal = "loudness"'), "items.4.signal", "Input should be"),
    (_replace('points = 6\ndeduction = 2', 'points = 6\ndeduction = 9'), "items.10", "deduction 9.0 is more than"),
    (_replace('"服务礼仪" = 15', '"服务礼仪" = 16'), "sections.服务礼仪", "weight 16 but its items' points add up to 15"),
    (_replace('category = "greeting"', 'category = "greetings"'), "items.0.category", "no [keywords.greetings]"),
    (_replace('pass_mark = 80', 'pass_mark = 180'), "pass_mark", "less than or equal to 100"),
    (_replace('phrases = ["神经病", "你去死"]', 'phrases = ["神经病", "你去死"]\nthreshold = 1.5'),
     "keywords.insult.threshold", "less than 1"),
    (_replace('signal = "dead_air"', 'signal = "dead_air"\nwindow = "opening"'), "items.11", "takes no window"),
], ids=["missing-param", "unknown-signal", "deduction-over-points", "section-sum", "unknown-category",
        "pass-mark-range", "threshold-range", "param-not-taken"])
def test_bad_rubric_is_refused_naming_file_key_and_problem(tmp_path, text, key, what):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_rubric(path)
    msg = str(e.value)
    assert str(path) in msg and key in msg and what in msg, msg


def test_rubric_that_is_not_toml_is_refused(tmp_path):
    path = _write(tmp_path, "pass_mark = = 80\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load_rubric(path)


def test_default_rubric_parses_as_plain_toml():
    assert len(tomllib.loads(DEFAULT_TEXT)["items"]) == len(load_rubric().items)
