"""Training pipeline for the keyword model: synthetic (or real) speech → augmented log-mel →
CTC acoustic model → ONNX/TFLite (float and int8) → thresholds. Run `python3 -m models.train.run`."""
