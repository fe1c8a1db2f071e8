"""Learning mode's segment store: bounded, private, deleted after use and after keep_days."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from edge.config import ConfigError, parse_config
from edge.learning.store import SegmentStore

RATE = 16000


def _speech(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3000, 3000, int(seconds * RATE)).astype(np.int16)


def test_learning_mode_is_off_by_default_and_its_bounds_are_validated():
    assert parse_config({}).learning.enabled is False
    with pytest.raises(ConfigError, match="learning.max_hours"):
        parse_config({"learning": {"enabled": True, "max_hours": -1}})
    with pytest.raises(ConfigError, match="learning.keep_days"):
        parse_config({"learning": {"keep_days": 0}})


def test_kept_segments_are_readable_by_the_service_user_only(tmp_path: Path):
    cfg = parse_config({"box": {"state_dir": str(tmp_path)}, "learning": {"enabled": True}})
    store = SegmentStore.from_config(cfg)
    path = store.keep("desk1", _speech(1.0))
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.folder == tmp_path / "learning" / "segments"
    assert np.array_equal(store.read(path), _speech(1.0))


def test_the_oldest_segments_go_when_the_hours_bound_is_reached(tmp_path: Path):
    store = SegmentStore(tmp_path / "seg", RATE, max_hours=10 / 3600, max_bytes=10**9, keep_days=7)
    paths = [store.keep("l", _speech(3.0, k), now=1000.0 + k) for k in range(5)]
    kept = store.segments()
    assert sum(s.seconds for s in kept) <= 10.0
    assert [s.path for s in kept] == paths[-3:]  # 3 × 3 s fit; the two oldest were dropped


def test_the_oldest_segments_go_when_the_disk_bound_is_reached(tmp_path: Path):
    one = 44 + 2 * RATE  # a 1 s segment on disk
    store = SegmentStore(tmp_path / "seg", RATE, max_hours=1, max_bytes=int(2.5 * one), keep_days=7)
    paths = [store.keep("l", _speech(1.0, k), now=1000.0 + k) for k in range(4)]
    assert [s.path for s in store.segments()] == paths[-2:]
    assert sum(s.bytes for s in store.segments()) <= 2.5 * one
    assert store.keep("l", _speech(3.0)) is None  # alone over the bound: not kept


def test_segments_are_deleted_after_use_and_after_keep_days(tmp_path: Path):
    store = SegmentStore(tmp_path / "seg", RATE, max_hours=1, max_bytes=10**9, keep_days=2)
    day = 86400.0
    old = store.keep("l", _speech(1.0, 1), now=10 * day)
    used = store.keep("l", _speech(1.0, 2), now=11.5 * day)
    fresh = store.keep("l", _speech(1.0, 3), now=11.9 * day)
    assert store.delete([used]) == 1 and not used.exists()
    assert store.expire(now=12.1 * day) == 1  # only the one kept more than 2 days ago
    assert not old.exists() and fresh.exists()
    assert store.purge() == 1 and store.segments() == []


def test_a_running_box_deletes_segments_older_than_keep_days_as_it_keeps_new_ones(tmp_path: Path):
    day = 86400.0
    store = SegmentStore(tmp_path / "seg", RATE, max_hours=1, max_bytes=10**9, keep_days=2)
    old = store.keep("l", _speech(1.0, 1), now=10 * day)
    store.keep("l", _speech(1.0, 2), now=13 * day)  # the next segment, three days on
    assert not old.exists() and len(store.segments()) == 1


def test_a_line_with_learning_on_keeps_each_speech_segment_vad_passed(tmp_path: Path):
    from edge.line import LineSources, line_pipeline
    from edge.learning.tap import SpeechTap
    from edge.scoring.rubric import load_rubric

    cfg = parse_config({"box": {"state_dir": str(tmp_path)}, "learning": {"enabled": True},
                        "keywords": {"enabled": False}})
    store = SegmentStore.from_config(cfg)
    wav = Path(__file__).resolve().parents[1] / "edge" / "bench" / "bench-call.wav"
    source, _ = LineSources.of(cfg).wav(wav, "desk1")
    pipeline = line_pipeline("desk1", cfg, load_rubric(None), [], speech_tap=SpeechTap(store, "desk1", cfg.audio.sample_rate))
    calls = []
    for item in source:
        calls += pipeline.feed(item)
    speech = [b - a for call in calls for segs in call.segments.values() for a, b in segs]
    kept = store.segments()
    assert speech and len(kept) >= len(speech)  # every segment, also those outside the scored call
    assert sum(s.seconds for s in kept) == pytest.approx(sum(speech), rel=0.1, abs=1.0)


def test_learn_status_says_loudly_that_it_is_on_and_purge_deletes_everything(tmp_path: Path):
    import subprocess
    import sys

    cfg_path = tmp_path / "box.toml"
    cfg_path.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[learning]\nenabled = true\n')
    store = SegmentStore.from_config(parse_config({"box": {"state_dir": str(tmp_path)}}))
    store.keep("l1", _speech(2.0))

    def learn(action):
        r = subprocess.run([sys.executable, "-m", "edge", "learn", action, "--config", str(cfg_path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert "LEARNING MODE IS ON: 1 speech segment(s)" in learn("status")
    assert "deleted 1" in learn("purge")
    assert store.segments() == []
