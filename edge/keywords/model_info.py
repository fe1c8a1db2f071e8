"""What a keyword model file promises: its unit inventory, frame geometry and thresholds.

Written next to the model as JSON by the training pipeline and read by the spotter, so the
box never imports training code. UNITS is every toneless initial and final pypinyin can
produce for the CJK Unified Ideographs block (57), in a fixed order: output k+1 of the
model is UNITS[k], output 0 is the CTC blank.
"""

from __future__ import annotations

UNITS: tuple[str, ...] = (
    "a", "ai", "an", "ang", "ao", "b", "c", "ch", "d", "e", "ei", "en", "eng", "er", "f", "g", "h",
    "i", "ia", "ian", "iang", "iao", "ie", "in", "ing", "iong", "iu", "j", "k", "l", "m", "n", "o",
    "ong", "ou", "p", "q", "r", "s", "sh", "t", "u", "ua", "uai", "uan", "uang", "ue", "ui", "un",
    "uo", "v", "ve", "w", "x", "y", "z", "zh",
)
