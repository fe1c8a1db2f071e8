"""onnxruntime backend of the keyword model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.keywords.model import AcousticModel


class Model(AcousticModel):
    runtime = "onnx"
    thread_safe = True  # InferenceSession.run may be called from several threads at once

    def __init__(self, path: Path, window: int) -> None:
        super().__init__(path, window)
        opts = ort.SessionOptions()
        # One thread: the box runs several lines and stages side by side; a thread pool per
        # model would only fight them for the same cores.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        # No memory arena: with one thread per call the arena only keeps each caller's peak.
        opts.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def log_probs(self, window: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: window[None].astype(np.float32)})[0][0]
