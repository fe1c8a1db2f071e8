"""The teacher (edge/keywords/teacher.py): the real Whisper base from the installed teacher
packages, joined, verified by sha256 and run by faster-whisper on real and generated speech;
refused when damaged; absent from a box that has none. `eval-kws --teacher` and the keyword
trust file it writes (edge/keywords/trust.py)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from callqa_lab.gencall import generate_call
from callqa_lab.manifest import read_manifest, read_wav
from callqa_lab.shared import REAL_ZH
from edge.config import KeywordsConfig
from edge.keywords import teacher as tch
from edge.keywords.model import ModelInfo
from edge.keywords.teacher import Teacher, TeacherError
from edge.keywords.trust import CategoryTrust, KeywordTrust, model_identity

REPO = Path(__file__).resolve().parents[1]
CLIP = "FireRedTeam_FireRedASR_TEST_NET_Y0000000000_-KTKHdZ2fb8_S00000.wav"  # 我有的时候说不清楚你们知道吗


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tch.install(tmp_path_factory.mktemp("teacher") / "whisper-base").folder


@pytest.fixture(scope="module")
def teacher(folder) -> Teacher:
    return Teacher.load(folder)


def test_the_installed_packages_join_into_the_pinned_whisper_base(folder):
    assert (folder / "model.bin").stat().st_size == tch.PINNED_BYTES
    assert tch.sha256_of(folder / "model.bin") == tch.PINNED_SHA256
    assert (folder / "SHA256SUMS").read_text() == f"{tch.PINNED_SHA256}  model.bin\n"
    check = tch.verify(folder)
    assert check.recorded and check.pinned and "sha256 ok" in check.describe


def test_the_teacher_transcribes_a_real_clip(teacher):
    clip = REAL_ZH / "audio" / CLIP
    said = dict((p.name, t) for p, t in read_manifest(REAL_ZH / "manifest.tsv"))[CLIP]
    x, rate = read_wav(clip)
    heard = teacher.transcribe(x, rate)
    assert "不清楚" in said and "不清楚" in heard.text
    assert "知道" in heard.text
    assert heard.audio_s == pytest.approx(len(x) / rate)
    words = [w for s in heard.segments for w in s.words]
    assert words and all(0 < w.probability <= 1 for w in words)
    assert heard.segments[0].min_word_probability == min(w.probability for w in heard.segments[0].words)
    assert all(0 <= s.start < s.end <= heard.audio_s + 0.5 for s in heard.segments)
    assert heard.cpu_s > 0


def test_a_long_recording_is_cut_into_windows_at_quiet_spots():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, 50 * tch.RATE).astype(np.float32)
    x[int(23.6 * tch.RATE) : int(23.9 * tch.RATE)] = 0  # a pause near the middle
    (a, cut), (cut2, b) = tch.windows(x)
    assert a == 0 and cut == cut2 and b == len(x)
    assert 23.6 <= cut / tch.RATE <= 23.9
    assert tch.windows(x[: 20 * tch.RATE]) == [(0, 20 * tch.RATE)]
    long = tch.windows(rng.normal(0, 0.1, 125 * tch.RATE).astype(np.float32))
    assert len(long) == 5 and all(e - s <= tch.WINDOW_S * tch.RATE for s, e in long)


def test_the_teacher_hears_an_8k_call_longer_than_one_window(teacher):
    pcm, _ = generate_call("busy", 8000, 1)
    assert len(pcm) / 8000 > 30
    heard = teacher.transcribe(pcm.mean(axis=1).astype(np.int16), 8000)
    assert "您" in heard.segments[0].text  # 您好，很高兴为您服务
    assert "感谢" in heard.text and heard.segments[-1].end > 30  # 感谢您的来电，再见, in the second window


def test_a_damaged_part_is_refused_and_nothing_is_left(tmp_path):
    parts = []
    for i, data in enumerate(tch.packaged_data(), 1):
        parts.append(Path(shutil.copytree(data, tmp_path / f"part{i}")))
    with open(parts[1] / "model.bin.part2", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(TeacherError, match="not the pinned") as e:
        tch.install(tmp_path / "teacher", parts)
    assert tch.PINNED_SHA256 in str(e.value)
    assert not any((tmp_path / "teacher").iterdir())


def test_a_corrupted_folder_is_refused_at_load(folder, tmp_path):
    bad = Path(shutil.copytree(folder, tmp_path / "bad"))
    with open(bad / "model.bin", "r+b") as f:
        f.seek(5_000_000)
        f.write(b"\0" * 16)
    with pytest.raises(TeacherError, match="damaged"):
        Teacher.load(bad)
    (bad / "SHA256SUMS").unlink()  # a folder dropped in by a site: loadable, said to be unrecorded
    check = tch.verify(bad)
    assert not check.recorded and not check.pinned and "not recorded" in check.describe
    (bad / "tokenizer.json").unlink()
    with pytest.raises(TeacherError, match="missing tokenizer.json"):
        tch.verify(bad)


def test_teacher_install_command_writes_the_folder_and_says_the_config_key(tmp_path):
    into = tmp_path / "t"
    proc = subprocess.run([sys.executable, "-m", "edge", "teacher", "install", "--into", str(into)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f'teacher = "{into}"' in proc.stdout and "sha256 ok" in proc.stdout
    assert tch.verify(into).pinned


def test_a_box_without_a_teacher_never_imports_faster_whisper(tmp_path):
    """Scoring a call, and doctor's teacher row, with keywords.teacher unset."""
    pcm, _ = generate_call("polite", 8000, 1)
    wavfile.write(tmp_path / "call.wav", 8000, pcm)
    code = ("import sys; from edge.cli import main; from edge.config import Config; from edge.ops import checks\n"
            f"assert main(['score', {str(tmp_path / 'call.wav')!r}]) == 0\n"
            "row, = checks.teacher(Config())\n"
            "assert row.status == 'skip' and 'keywords.teacher unset' in row.detail, row\n"
            "assert not {'faster_whisper', 'ctranslate2'} & set(sys.modules), 'imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_doctor_reports_the_teacher_its_checksum_and_speed(folder, tmp_path):
    from edge.commands.doctor import CHECKS, run_checks

    def row(teacher: Path):
        cfg = tmp_path / "edge.toml"
        cfg.write_text(f'[box]\nstate_dir = "{tmp_path}"\n[keywords]\nteacher = "{teacher}"\n')
        args = argparse.Namespace(config=cfg, skip=[c for c in CHECKS if c != "teacher"], levels_seconds=1.0,
                                  source=None)
        return {r.name: r for r in run_checks(args)}["teacher"]

    good = row(folder)
    assert good.status == "pass", good
    assert str(folder) in good.detail and "sha256 ok" in good.detail and "Whisper base" in good.detail
    speed = float(re.search(r"([0-9.]+) CPU-s per audio-s", good.detail).group(1))
    assert 0 < speed < 5
    missing = row(tmp_path / "nowhere")
    assert missing.status == "fail" and "teacher install" in missing.fix


def test_the_trust_rule_needs_recall_and_occurrences_and_the_same_model(tmp_path):
    cats = {"greeting": CategoryTrust(30, 27, 0.9, 1, 0.5), "closing": CategoryTrust(29, 29, 1.0, 0, 0.0),
            "thanks": CategoryTrust(40, 35, 0.875, 0, 0.0), "apology": CategoryTrust(0, 0, None, 2, 1.0)}
    trust = KeywordTrust("2026-12-04T02:30:00Z", "eval-kws --teacher", "kws.int8.onnx sha256:ab", 8000, 5400.0, cats)
    path = tmp_path / "keyword-trust.json"
    trust.write(path)
    back = KeywordTrust.read(path)
    assert back == trust
    assert json.loads(path.read_text())["schema"] == "callqa.keyword-trust/1"
    assert back.trusted("greeting", "kws.int8.onnx sha256:ab")
    assert not back.trusted("greeting", "kws.int8.onnx sha256:cd")  # another model: nothing trusted
    assert [c for c in cats if back.trusted(c, "kws.int8.onnx sha256:ab")] == ["greeting"]
    assert KeywordTrust.read(tmp_path / "absent.json") is None


def test_a_detection_the_teacher_did_not_hear_there_is_unconfirmed():
    """Matching by the teacher's segments: the same phrase heard by the teacher in another
    part of the recording does not confirm a spotter hit."""
    from callqa_lab.kws_evaluate import Detection, Run, category_table
    from callqa_lab.kws_teacher import Heard, against_teacher
    from edge.keywords.teacher import Segment, Transcript

    heard = Heard((Transcript((Segment(0.0, 3.0, "您好，请问有什么可以帮您", -0.2, 0.01, ()),
                               Segment(40.0, 44.0, "您好，再见", -0.3, 0.01, ())), 60.0, 1.0),), 1.0)
    hits = (Detection(0, "您好", "greeting", 0.9, 0.2, 0.7),  # in the first segment: confirmed
            Detection(0, "您好", "greeting", 0.9, 20.0, 20.5),  # where the teacher heard nothing
            Detection(0, "再见", "closing", 0.9, 10.0, 10.4))  # said, but 30 s later
    run = Run(hits, ("",), 60 / 3600, {"greeting": ["您好"], "closing": ["再见"]}, 0.1)
    table = category_table(against_teacher(run, heard), {"您好": 0.5, "再见": 0.5})["categories"]
    assert table["greeting"]["text"] == {"occurrences": 2, "found": 1, "recall": 0.5, "false_alarms": 1,
                                             "fa_per_hour": 60.0}
    assert table["closing"]["text"]["found"] == 0 and table["closing"]["text"]["false_alarms"] == 1


def test_eval_kws_teacher_on_a_folder_of_wavs_writes_figures_picture_and_trust_file(folder, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    seconds = 0.0
    for name, seed in (("polite", 1), ("busy", 1), ("rude", 1)):
        pcm, truth = generate_call(name, 8000, seed)
        wavfile.write(calls / f"{name}-{seed}.wav", 8000, pcm)
        seconds += len(pcm) / 8000
    out, trust_path = tmp_path / "out", tmp_path / "keyword-trust.json"
    proc = subprocess.run([sys.executable, "-m", "edge", "eval-kws", "--teacher", str(calls), "--teacher-model",
                           str(folder), "--rate", "8000", "--line-sim", "none", "--out", str(out), "--name", "site",
                           "--trust-out", str(trust_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "site.json").read_text())
    cats = report["categories"]
    # The teacher hears the generated greetings and closings (您好 ×3, 再见 in two calls).
    assert cats["greeting"]["text"]["occurrences"] >= 2
    assert cats["closing"]["text"]["occurrences"] >= 1
    for r in cats.values():
        t = r["text"]
        assert 0 <= t["found"] <= t["occurrences"] and t["fa_per_hour"] >= 0
    assert "teacher_vs_transcripts" not in report  # a folder of WAVs has no transcripts
    assert (out / "site.png").stat().st_size > 5000
    trust = KeywordTrust.read(trust_path)
    box_model = REPO / "models" / ModelInfo.load(None).files[KeywordsConfig().runtime]["int8"]  # the box's default
    assert trust.model == model_identity(box_model) and trust.rate == 8000
    assert trust.audio_s == pytest.approx(seconds, abs=0.5)
    assert trust.categories["greeting"].teacher_occurrences == cats["greeting"]["text"]["occurrences"]
    assert set(trust.categories) == set(cats)
    # Counts only: no word the teacher heard is in the report, only the rubric's phrases.
    phrases = {p for r in cats.values() for p in r["phrases"]}
    said = set(re.findall(r"[\u4e00-\u9fff]+", (out / "site.json").read_text()))
    assert said <= phrases and said


@pytest.mark.slow
def test_eval_kws_teacher_on_real_zh_reproduces_the_model_card(tmp_path):
    """The whole of real_zh at 16 kHz: the teacher's figures against the transcripts
    (models/README.md, "Teacher")."""
    proc = subprocess.run([sys.executable, "-m", "edge", "eval-kws", "--teacher", str(REAL_ZH / "manifest.tsv"),
                           "--rate", "16000", "--line-sim", "none", "--out", str(tmp_path), "--name", "r"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = json.loads((tmp_path / "r.json").read_text())["teacher_vs_transcripts"]
    six = [acc["phrases"].get(p, {"occurrences": 0, "found": 0, "false_alarms": 0})
           for p in ("这个", "啊", "你好", "您", "对不起", "不清楚")]
    assert sum(p["occurrences"] for p in six) == 30
    assert sum(p["found"] for p in six) >= 15 and sum(p["false_alarms"] for p in six) <= 5
    assert acc["character_error_rate"] < 0.5
