"""Speech for training: espeak-ng synthesis of the corpus, or a real-corpus manifest
(TSV with columns `file` and `transcript`, paths relative to the manifest), all as int16 at
16 kHz, plus the augmented log-mel examples the trainer draws from them.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

from edge.keywords import features
from callqa_lab.manifest import read_rows, read_wav
from edge.keywords.units import text_units
from models.train.corpus import Utterance
from models.train.mix import EpochMix, speaker_key
from callqa_lab.linesim import LineSim
from callqa_lab.synth import Voice, speak, trim_silence

RATE = 16000


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # int16, RATE
    units: tuple[str, ...]
    speaker: str = ""  # models.train.mix.speaker_key of a real clip's manifest row


def _synth_one(utt: Utterance) -> np.ndarray:
    variant, speed, pitch = utt.voice
    x, rate = speak(utt.text, Voice(variant=variant, speed_wpm=speed, pitch=pitch))
    x = trim_silence(x, rate)
    y = signal.resample_poly(x, RATE // 80, rate // 80) if rate % 80 == 0 else signal.resample(x, int(len(x) * RATE / rate))
    return np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)


def synthesize(utts: list[Utterance], workers: int) -> list[np.ndarray]:
    """Audio for each utterance, in order (espeak-ng runs `workers` at a time)."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_synth_one, utts, chunksize=64))


def load_real_corpus(path: Path) -> list[Clip]:
    clips = []
    for row in read_rows(path):
        x, rate = read_wav(Path(path).parent / row["file"])
        if rate != RATE:
            x = signal.resample_poly(x, RATE, rate)
        clips.append(Clip(np.round(np.clip(x, -1, 1) * 32767).astype(np.int16), tuple(text_units(row["transcript"] or "")),
                          speaker_key(row)))
    return clips


def write_eval_set(utts: list[Utterance], audio: list[np.ndarray], folder: Path) -> Path:
    """Clean 16 kHz WAVs and a manifest.tsv (file, duration_s, transcript, voice)."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.tsv"
    with open(manifest, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["file", "duration_s", "transcript", "voice"])
        for utt, x in zip(utts, audio):
            name = f"audio/{utt.utt_id}.wav"
            wavfile.write(folder / name, RATE, x)
            w.writerow([name, f"{len(x) / RATE:.3f}", utt.text, "+".join(map(str, utt.voice))])
    return manifest


class Augmented:
    """Indexable training examples: clip → speed perturbation → line simulation → log-mel.

    Each (epoch, index) has its own seed, so a run is reproducible whatever the worker count.
    An epoch presents every clip once, or what `mix` draws for it (set_epoch).
    """

    def __init__(self, clips: list[Clip], unit_ids: dict[str, int], seed: int, mix: EpochMix | None = None) -> None:
        self.clips = clips
        self.unit_ids = unit_ids
        self.seed = seed
        self.mix = mix
        self.talkers = [c.audio.astype(np.float32) / 32768.0 for c in clips[:: max(1, len(clips) // 300)]]
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = self.mix.draw(epoch) if self.mix else np.arange(len(self.clips))

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, i])  # by draw, so a repeated clip is augmented afresh
        clip = self.clips[self.order[i]]
        x = clip.audio.astype(np.float32) / 32768.0
        speed = rng.uniform(0.85, 1.15)  # tempo + pitch + formants together, as Kaldi's speed perturbation
        x = signal.resample_poly(x, 1000, int(round(1000 * speed)))
        pad = np.zeros(int(rng.uniform(0.05, 0.4) * RATE), np.float32)
        x = np.concatenate([pad, x, pad[: int(rng.uniform(0.3, 1.0) * len(pad))]])
        line = LineSim(rate=8000 if rng.random() < 0.7 else 16000)
        y = line(x, RATE, rng, self.talkers).astype(np.float32) / 32768.0
        feats = features.log_mel(features.resample_to_8k(y, line.rate), warp=rng.uniform(0.9, 1.1))
        labels = np.array([self.unit_ids[u] for u in clip.units], dtype=np.int64)
        return feats, labels


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
