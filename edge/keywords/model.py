"""The keyword model as the spotter sees it: log-mel windows in, unit log-posteriors out.

One small interface, one module per runtime (runtime_onnx, runtime_tflite), chosen by the
config key `keywords.runtime` through `load_model`. Every runtime is fed the same fixed
window of frames, so both give the same detections on the same audio.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from edge.config import ConfigError

# A checkout's models/, else where `pip install` puts them (pyproject's data-files).
_CHECKOUT_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "kws.json"
DEFAULT_MANIFEST = _CHECKOUT_MANIFEST if _CHECKOUT_MANIFEST.exists() else Path(sys.prefix) / "share/callqa/models/kws.json"
DEFAULT_THRESHOLD = 0.5  # an uncalibrated model
NEVER = 1.01  # calibrated threshold of a phrase the model cannot tell from everyday words
RUNTIMES = {"onnx": "edge.keywords.runtime_onnx", "tflite": "edge.keywords.runtime_tflite"}


@dataclass(frozen=True)
class ModelInfo:
    """The model manifest (models/kws.json): geometry, units, files and calibrated thresholds."""

    folder: Path
    units: tuple[str, ...]
    context: int  # frames of look-back and look-ahead each output frame needs
    hop: int  # output frames per model call
    files: dict[str, dict[str, str]]  # runtime → precision → file name
    # calibrated on the dev set: {"phrases": {phrase: t}, "syllables": {"1": t, "2": t, "3": t}}
    thresholds: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def threshold_for(self, phrase: str, n_syllables: int) -> float:
        """The calibrated confidence threshold of a phrase: its own if it was calibrated, else
        that of phrases as long as it (one syllable needs far more certainty than four)."""
        own = self.thresholds.get("phrases", {}).get(phrase)
        if own is not None:
            return float(own)
        by_length = self.thresholds.get("syllables", {})
        key = str(min(max(n_syllables, 1), 3))
        return float(by_length.get(key, DEFAULT_THRESHOLD))

    @property
    def window(self) -> int:
        """Input frames per model call."""
        return self.hop + 2 * self.context

    @classmethod
    def load(cls, path: Path | None) -> "ModelInfo":
        path = Path(path) if path is not None else DEFAULT_MANIFEST
        if path.is_dir():
            path = path / "kws.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path.parent, tuple(raw["units"]), int(raw["context"]), int(raw["hop"]),
                       raw["files"], dict(raw.get("thresholds", {})), dict(raw.get("training", {})))
        except FileNotFoundError:
            raise ConfigError(f"keywords.model: {path}: model manifest not found") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"keywords.model: {path}: not a keyword model manifest ({e})") from None

    def file(self, runtime: str, precision: str) -> Path:
        try:
            return self.folder / self.files[runtime][precision]
        except KeyError:
            raise ConfigError(f"keywords: no {precision} model for runtime {runtime!r} in {self.folder}") from None


class AcousticModel(ABC):
    """features [window, 40] float32 → log-probabilities [window - 2*context, 1 + units]."""

    runtime: ClassVar[str]
    # Whether one instance may serve several lines' threads at once (then load_model shares it).
    thread_safe: ClassVar[bool] = False

    def __init__(self, path: Path, window: int) -> None:
        self.path = path
        self.window = window

    @abstractmethod
    def log_probs(self, window: np.ndarray) -> np.ndarray: ...


def load_model(info: ModelInfo, runtime: str, precision: str = "int8") -> AcousticModel:
    """The model file for `runtime` ('onnx' | 'tflite') and `precision` ('int8' | 'float')."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"keywords.runtime: {runtime!r} is not one of {sorted(RUNTIMES)}")
    path = info.file(runtime, precision)
    if not path.is_file():
        raise ConfigError(f"keywords.model: {path}: model file missing")
    module = importlib.import_module(RUNTIMES[runtime])
    if not module.Model.thread_safe:
        return module.Model(path, info.window)
    # One session per model file for the whole box: eight lines share its weights and memory.
    # The file's size and mtime are in the key, so a reload after the file changed loads anew.
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, info.window)
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = module.Model(path, info.window)
    return model


# Dropped when no spotter holds them any more, so an old model's session goes with its last line.
_shared: "weakref.WeakValueDictionary[tuple, AcousticModel]" = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()
