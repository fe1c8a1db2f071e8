"""LiteRT (TFLite) backend of the keyword model; int8 models take float input and output
(quantize/dequantize ops live inside the model), so callers never see the difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from edge.keywords.model import AcousticModel


class Model(AcousticModel):
    runtime = "tflite"

    def __init__(self, path: Path, window: int) -> None:
        super().__init__(path, window)
        self._interp = Interpreter(model_path=str(path), num_threads=1)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]

    def log_probs(self, window: np.ndarray) -> np.ndarray:
        self._interp.set_tensor(self._in, window[None].astype(np.float32))
        self._interp.invoke()
        return self._interp.get_tensor(self._out)[0].copy()
