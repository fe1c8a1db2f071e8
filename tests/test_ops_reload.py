"""Reloading the rubric on SIGHUP while calls go on: the call in progress is scored under the
rubric it started with, the next call under the new one; a broken file changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config, ConfigError, parse_config
from edge.pipeline import LinePipeline
from edge.scoring.rubric import load_rubric
from edge.service import Service
from edge.sinks import CollectingSink
from edge.sources.wav import Recording, wav_source
from callqa_lab.gencall import generate_call

RATE = 8000


def two_calls() -> np.ndarray:
    a, _ = generate_call("polite", RATE, seed=4)
    b, _ = generate_call("fast", RATE, seed=5)
    gap = np.zeros((RATE * 12, 2), np.int16)  # longer than the 10 s end silence: two calls
    return np.concatenate([a, gap, b]), len(a) / RATE


def test_a_reload_mid_call_applies_from_the_next_call():
    pcm, first_call_s = two_calls()
    old = load_rubric()
    new = old.model_copy(update={"pass_mark": 55.0})
    sink = CollectingSink()
    pipe = LinePipeline("seat1", Config(), old, [sink], datetime.now(timezone.utc), rate=RATE)
    rec = Recording(Path("generated"), RATE, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
    reloaded = False
    for item in wav_source(rec, "seat1", 0.3):
        if not reloaded and item.t >= first_call_s / 2:
            assert pipe._call is not None  # a call is in progress
            pipe.replace_rubric(new, None)
            reloaded = True
        pipe.feed(item)
    assert [s.pass_mark for s in sink.scores] == [old.pass_mark, 55.0]
    assert old.pass_mark != 55.0


def test_service_prepares_a_reload_or_refuses_a_broken_rubric_naming_the_key(tmp_path):
    rubric_file = tmp_path / "rubric.toml"
    packaged = resources.files("edge.scoring") / "default_rubric.toml"
    rubric_file.write_text(packaged.read_text())
    cfg = parse_config({"audio": {"sample_rate": RATE}, "rubric": {"path": str(rubric_file)},
                        "keywords": {"enabled": False},
                        "lines": [{"name": "seat1", "source": "wav", "path": str(tmp_path / "x.wav")}]})
    service = Service(cfg, load_rubric(rubric_file), [])
    assert service.prepare_rubric().stages == {"seat1": None}
    rubric_file.write_text(packaged.read_text().replace("pass_mark = ", "pass_mark = 1", 1))
    with pytest.raises(ConfigError, match="pass_mark"):
        service.prepare_rubric()


def test_a_reload_builds_each_line_a_spotter_and_refuses_a_phrase_the_model_cannot_spell(tmp_path):
    rubric_file = tmp_path / "rubric.toml"
    packaged = (resources.files("edge.scoring") / "default_rubric.toml").read_text()
    rubric_file.write_text(packaged)
    cfg = parse_config({"audio": {"sample_rate": RATE}, "rubric": {"path": str(rubric_file)},
                        "lines": [{"name": n, "source": "wav", "path": str(tmp_path / "x.wav")} for n in ("seat1", "seat2")]})
    service = Service(cfg, load_rubric(rubric_file), [])
    stages = service.prepare_rubric().stages
    assert sorted(stages) == ["seat1", "seat2"] and stages["seat1"] is not stages["seat2"]
    assert all(hasattr(stage, "process") for stage in stages.values())
    rubric_file.write_text(packaged.replace('phrases = ["谢谢", "感谢"]', 'phrases = ["谢谢", "OK啦"]'))
    with pytest.raises(ConfigError, match="thanks"):
        service.prepare_rubric()
