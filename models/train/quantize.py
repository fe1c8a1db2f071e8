"""int8 models: onnxruntime static quantization and the TFLite conversion, both calibrated on
feature windows from the dev split (held-out voices, training noise types)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.keywords import features
from callqa_lab.manifest import read_manifest, read_wav
from models.train.fold import fold
from callqa_lab.linesim import LineSim


def calibration_windows(manifest: Path, window: int, n: int = 300, seed: int = 7) -> np.ndarray:
    """[n, window, 40] log-mel windows from line-simulated dev clips."""
    rng = np.random.default_rng(seed)
    rows = read_manifest(manifest)
    out = []
    for i in rng.permutation(len(rows))[: n]:
        x, rate = read_wav(rows[i][0])
        line = LineSim(rate=8000 if i % 2 else 16000)
        y = line(x, rate, rng).astype(np.float32) / 32768.0
        f = features.log_mel(features.resample_to_8k(y, line.rate))
        if len(f) >= window:
            at = int(rng.integers(0, len(f) - window + 1))
            out.append(f[at : at + window])
    return np.stack(out)


class _Windows(CalibrationDataReader):
    def __init__(self, windows: np.ndarray, name: str) -> None:
        self._it = iter([{name: w[None]} for w in windows])

    def get_next(self):
        return next(self._it, None)


def quantize_onnx(float_model: Path, out: Path, windows: np.ndarray) -> None:
    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(float_model), str(prepared))
    quantize_static(str(prepared), str(out), _Windows(windows, "features"), quant_format=QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    prepared.unlink()


def export_tflite(weights: Path, windows: np.ndarray, out_float: Path, out_int8: Path, window: int,
                  tf_python: str) -> None:
    work = out_float.parent
    folded, calib = work / "_folded.npz", work / "_calib.npy"
    np.savez(folded, **fold(torch.load(weights, map_location="cpu")))
    np.save(calib, windows[:200])
    script = Path(__file__).with_name("tflite_export.py")
    try:
        subprocess.run([tf_python, str(script), str(folded), str(calib), str(out_float), str(out_int8), str(window)],
                       check=True)
    finally:
        folded.unlink(missing_ok=True)
        calib.unlink(missing_ok=True)
