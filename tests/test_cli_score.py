"""`callqa score` and `callqa run` as a user runs them: JSON Lines out, clear errors, no tracebacks."""

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import wavfile

from callqa_lab.gencall import generate_call
from tests.test_pipeline import VALIDATOR
from tests.tools import require


def callqa(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def call_wav(tmp_path_factory):
    d = tmp_path_factory.mktemp("calls")
    pcm, _ = generate_call("busy", 8000, seed=13)
    path = d / "busy.wav"
    wavfile.write(path, 8000, pcm)
    return path


def test_score_prints_one_valid_json_line_per_call_and_draws_timelines(call_wav, tmp_path):
    r = callqa("score", str(call_wav), str(call_wav), "--timeline", str(tmp_path / "tl"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        VALIDATOR.validate(json.loads(line))
    pngs = sorted((tmp_path / "tl").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "Traceback" not in r.stderr and "━" not in r.stderr  # piped: no progress bar


def test_score_at_the_other_working_rate(call_wav):
    r = callqa("score", str(call_wav), "--rate", "16000")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["talk"]["agent_s"] > 5


def test_bad_files_are_named_and_the_rest_still_scored(call_wav, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt nonsense")
    r = callqa("score", str(broken), str(tmp_path / "missing.wav"), str(call_wav))
    assert r.returncode == 1
    assert len(r.stdout.strip().splitlines()) == 1
    assert f"{broken}: not a readable WAV file" in r.stderr
    assert "missing.wav: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_cut_off_file_is_scored_up_to_the_break_flagged_and_named(call_wav, tmp_path):
    data = call_wav.read_bytes()
    start = data.index(b"data") + 8
    frames = (len(data) - start) // 4  # 16-bit stereo
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: start + frames // 2 * 4])  # half the call, on a frame boundary
    r = callqa("score", str(cut), str(call_wav))
    assert r.returncode == 0, r.stderr
    cut_score, whole_score = (json.loads(line) for line in r.stdout.strip().splitlines())
    assert "truncated_input" in cut_score["flags"] and "truncated_input" not in whole_score["flags"]
    assert f"{cut}: the file is cut short" in r.stderr and "missing" in r.stderr
    assert str(call_wav) not in r.stderr


def test_a_file_of_silence_gives_no_call(tmp_path):
    path = tmp_path / "quiet.wav"
    wavfile.write(path, 8000, np.zeros((8000 * 600, 2), np.int16))
    r = callqa("score", str(path))
    assert r.returncode == 0 and r.stdout == ""


def test_bad_config_is_refused_naming_file_and_key(call_wav, tmp_path):
    cfg = tmp_path / "box.toml"
    cfg.write_text("[vad]\naggressiveness = 7\n")
    r = callqa("score", str(call_wav), "--config", str(cfg))
    assert r.returncode == 2 and r.stdout == ""
    assert f"{cfg}: vad.aggressiveness: Input should be less than or equal to 3" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_rubric_named_in_config_is_refused(call_wav, tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('pass_mark = 80\n[sections]\n"A" = 5\n[[items]]\nid = "x"\nname = "x"\nsection = "A"\n'
                      'signal = "dead_air"\npoints = 5\ndeduction = 1\n')
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[rubric]\npath = "{rubric}"\n')
    r = callqa("score", str(call_wav), "--config", str(cfg))
    assert r.returncode == 2
    assert f"{rubric}: items.0: Value error, signal 'dead_air' needs max_count, min_s" in r.stderr


def test_run_scores_a_configured_wav_line(call_wav, tmp_path):
    cfg = tmp_path / "box.toml"
    cfg.write_text(f'[audio]\nsample_rate = 8000\n[[lines]]\nname = "desk9"\nsource = "wav"\npath = "{call_wav}"\n')
    r = callqa("run", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    scores = [json.loads(x) for x in r.stdout.splitlines() if '"schema"' in x]
    assert [s["line"] for s in scores] == ["desk9"]


def test_a_terminal_gets_a_progress_bar(call_wav):
    require("script", "util-linux")  # gives the command a pseudo-terminal
    # `script` gives the command a terminal; stdout goes to /dev/null, so what shows is stderr
    cmd = f"{shlex.quote(sys.executable)} -m edge score {shlex.quote(str(call_wav))} 2>&1 >/dev/null"
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300)
    assert "1/1 files" in r.stdout.replace("\r", "\n")
