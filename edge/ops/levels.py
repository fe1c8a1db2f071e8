"""Per-channel signal levels of a line: peak and RMS in dBFS, clipping, silence, and how much
of the time webrtcvad hears speech — what a technician needs to wire agent and customer right.

Pure numpy per block; webrtcvad judges each 30 ms frame, as the pipeline's VAD does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import webrtcvad

FULL_SCALE = 32768.0
FLOOR_DB = -96.0  # 16-bit digital silence
CLIP_LEVEL = 32767 - 1  # a sample this close to full scale was (almost certainly) clipped
CLIPPING_FRACTION = 1e-3  # more than 0.1 % of samples at full scale: gain too high
SILENT_DBFS = -60.0  # RMS below this: nothing but the quietest noise floor
VAD_FRAME_MS = 30
SPEECH_ABOVE_FLOOR_DB = 10.0  # speech stands this far above the line's own noise floor
SPEECH_MIN_DBFS = -70.0  # and is never quieter than this


def dbfs(x: np.ndarray) -> float:
    return float(max(20.0 * np.log10(max(float(x), 1e-12) / FULL_SCALE), FLOOR_DB))


@dataclass(frozen=True)
class ChannelLevel:
    """One channel over one stretch of audio."""

    channel: int
    role: str | None  # "agent", "customer", or None: not in the line's channel map
    peak_dbfs: float
    rms_dbfs: float
    clipped_fraction: float
    speech_fraction: float  # of 30 ms frames that webrtcvad calls speech
    first_speech_s: float | None = None  # when speech was first heard, s from the start

    @property
    def dead(self) -> bool:
        return self.peak_dbfs <= FLOOR_DB

    @property
    def clipping(self) -> bool:
        return self.clipped_fraction > CLIPPING_FRACTION

    @property
    def silent(self) -> bool:
        return self.rms_dbfs < SILENT_DBFS

    def warnings(self) -> list[str]:
        """Plain words, with what to do."""
        if self.dead:
            return ["no signal at all (digital zero): cable unplugged, wrong channel or channel muted in alsamixer"]
        out = []
        if self.clipping:
            out.append(f"clipping on {100 * self.clipped_fraction:.1f} % of samples: turn the input gain down")
        if self.silent:
            out.append("silent: fine between calls; during a call check the cable and input gain")
        return out


@dataclass
class LevelMeter:
    """Accumulates levels over blocks of (frames, channels) int16; `now` is the last block,
    `overall` everything since the start."""

    sample_rate: int
    roles: dict[int, str]  # channel -> role from the line's channel map
    vad_aggressiveness: int = 2
    _sum_sq: np.ndarray | None = None
    _peak: np.ndarray | None = None
    _clipped: np.ndarray | None = None
    _speech: np.ndarray | None = None
    _first: np.ndarray | None = None  # per channel: first speech frame index, -1 none yet
    _floor_db: np.ndarray | None = None  # per channel: noise floor estimate, dBFS
    _samples: int = 0
    _frames: int = 0
    now: list[ChannelLevel] = field(default_factory=list)

    def __post_init__(self):
        self._vad = webrtcvad.Vad(self.vad_aggressiveness)
        self._frame_len = self.sample_rate * VAD_FRAME_MS // 1000

    def add(self, block: np.ndarray) -> list[ChannelLevel]:
        if block.ndim != 2 or block.dtype != np.int16:
            raise ValueError("levels need int16 blocks shaped (frames, channels)")
        x = block.astype(np.float64)
        sum_sq = np.sum(x * x, axis=0)
        peak = np.max(np.abs(x), axis=0)
        clipped = np.sum(np.abs(x) >= CLIP_LEVEL, axis=0)
        flags = self._speech_flags(block)
        speech = flags.sum(axis=1)
        n_vad = flags.shape[1]
        first = (np.where(flags.any(axis=1), self._frames + flags.argmax(axis=1), -1) if n_vad
                 else np.full(block.shape[1], -1))
        self.now = self._levels(sum_sq, peak, clipped, speech, len(block), n_vad)
        if self._sum_sq is None:
            self._sum_sq, self._peak, self._clipped, self._speech, self._first = sum_sq, peak, clipped, speech, first
        else:
            self._first = np.where(self._first >= 0, self._first, first)
            self._sum_sq = self._sum_sq + sum_sq
            self._peak = np.maximum(self._peak, peak)
            self._clipped = self._clipped + clipped
            self._speech = self._speech + speech
        self._samples += len(block)
        self._frames += n_vad
        return self.now

    @property
    def overall(self) -> list[ChannelLevel]:
        if self._sum_sq is None:
            return []
        return self._levels(self._sum_sq, self._peak, self._clipped, self._speech, self._samples, self._frames,
                            self._first)

    @property
    def seconds(self) -> float:
        return self._samples / self.sample_rate

    def _speech_flags(self, block: np.ndarray) -> np.ndarray:
        """(channels, frames) bool: webrtcvad's verdict per 30 ms frame (a C call per frame),
        gated by level: webrtcvad alone calls hum and hiss speech, so a frame must also stand
        SPEECH_ABOVE_FLOOR_DB above the channel's noise floor (the quietest frames seen so far)."""
        n = len(block) // self._frame_len
        frames = np.ascontiguousarray(block[: n * self._frame_len].reshape(n, self._frame_len, block.shape[1]).transpose(2, 0, 1))
        voiced = np.array([[self._vad.is_speech(f.tobytes(), self.sample_rate) for f in channel] for channel in frames],
                          dtype=bool).reshape(block.shape[1], n)
        if n == 0:
            return voiced
        frame_db = 20.0 * np.log10(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=2)) / FULL_SCALE + 1e-12)
        block_floor = np.percentile(frame_db, 10, axis=1)
        self._floor_db = block_floor if self._floor_db is None else np.minimum(self._floor_db, block_floor)
        gate = np.maximum(self._floor_db + SPEECH_ABOVE_FLOOR_DB, SPEECH_MIN_DBFS)
        return voiced & (frame_db > gate[:, None])

    def _levels(self, sum_sq, peak, clipped, speech, n_samples, n_frames, first=None) -> list[ChannelLevel]:
        rms = np.sqrt(sum_sq / max(n_samples, 1))
        frame_s = VAD_FRAME_MS / 1000
        return [
            ChannelLevel(ch, self.roles.get(ch), dbfs(peak[ch]), dbfs(rms[ch]),
                         float(clipped[ch]) / max(n_samples, 1), float(speech[ch]) / max(n_frames, 1),
                         None if first is None or first[ch] < 0 else float(first[ch]) * frame_s)
            for ch in range(len(peak))
        ]
