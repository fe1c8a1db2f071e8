"""Evaluation/training manifests: a TSV with a header holding at least `file` (a WAV path,
relative to the manifest) and `transcript`; other columns (duration_s, voice…) are ignored."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from edge.config import ConfigError


def read_rows(path: Path) -> list[dict[str, str]]:
    """Every row with all its columns (the trainer reads speaker columns too)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: manifest not found") from None
    if not rows or not {"file", "transcript"} <= set(rows[0]):
        raise ConfigError(f"{path}: needs a tab-separated header with 'file' and 'transcript' columns")
    return rows


def read_manifest(path: Path) -> list[tuple[Path, str]]:
    """(wav path, transcript) rows."""
    return [(Path(path).parent / r["file"], r["transcript"] or "") for r in read_rows(path)]


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] of a PCM or float WAV file, and its rate."""
    try:
        rate, data = wavfile.read(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: audio file not found") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not a readable WAV file ({e})") from None
    if data.dtype == np.int16:  # scaled before a stereo file is mixed down, which makes it float
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2147483648.0
    if data.ndim > 1:
        data = data.mean(axis=1)
    return data.astype(np.float32), int(rate)
