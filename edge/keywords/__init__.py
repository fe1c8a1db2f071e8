"""Mandarin keyword spotting for the rubric's phrases (see README "Keyword spotting").

features → model (runtime_onnx | runtime_tflite) → search → spotter.KeywordSpotter.
Kept import-free so that `import edge.keywords.features` in training stays light.
"""
