"""Prosody of one side as its audio arrives: 10 ms frame tracks are kept, the audio is not.

A whole-call analysis holds the call's audio and several float copies of it (measured before
this module: ~40 MiB of peak allocation per minute of a 16 kHz stereo call, 1.2 GiB for 30
minutes), which a Raspberry Pi cannot afford at the 4-hour maximum call length. `ProsodyStream`
instead turns each block into per-frame values at once (level, vowel-band power, clipped
samples: 16 bytes per 10 ms frame, 5.8 MB per hour of one side), and keeps audio only until
the speech segment it belongs to is known:

- `update(samples, t0)`: every block of the side's int16 samples, in order;
- `speech(start, end)`: a finished speech segment: pitch is tracked over its frames;
- `release(t)` / `forget(t)`: audio / frame tracks before stream time t are no longer needed;
- `result(start, end, speech, raised_voice)`: the SideProsody of [start, end) from the tracks.

Every statistic (P.56 level, the pitch gate relative to it, syllable nuclei against the
loudest speech, drawn-out syllables) needs the whole call, but only its frame tracks: pitch is
tracked over all speech frames as segments finish, and the gate is applied at the end.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import signal

from edge.prosody.analysis import APERIODICITY, CLIPPED, F0, POWER, VOWEL_POWER, SideProsody, checked_speech, summarise
from edge.prosody.frames import HOP_S, hop, speech_mask
from edge.prosody.level import CLIP_FULL_SCALE
from edge.prosody.nuclei import VOWEL_BAND_HZ
from edge.prosody.pitch import to_pitch_rate, track_f0
from edge.prosody.raised import RaisedVoiceTracker

TRACKER_CHUNK_S = 0.5

CONTEXT_S = 0.1  # audio either side of a segment for the pitch windows (42 ms) and the resampler's filter
RELEASE_MARGIN_S = 0.5  # VAD segment starts are refined up to a few frames before `speaking_since`


class ProsodyStream:
    """Frame tracks of one side of one line; see the module docstring. The first `update`'s
    t0 is frame 0; samples are taken as contiguous (the sources deliver every sample)."""

    def __init__(self, sample_rate: int) -> None:
        if sample_rate < 8000:
            raise ValueError(f"prosody: sample_rate {sample_rate} Hz is too low (8000 Hz or more)")
        self.rate = sample_rate
        self._hop = hop(sample_rate)
        # transfer-function form: lfilter runs it in 60 % of sosfilt's time on every block, and
        # for this 4-pole band at 8–48 kHz the two agree to 1e-12 of full scale (float64)
        self._b, self._a = signal.butter(2, VOWEL_BAND_HZ, btype="bandpass", fs=sample_rate)
        self._zi = np.zeros(len(self._a) - 1)
        self._origin: float | None = None  # stream time of frame 0
        self._rows = np.zeros((0, 5), np.float32)  # frame tracks; row 0 is frame self._base
        self._n = 0
        self._base = 0
        self._pending = np.zeros(0, np.float32)  # samples short of a whole frame
        self._audio: list[tuple[int, np.ndarray]] = []  # (first sample index, int16 block)
        self._analysed_to = 0  # frames before this have had their pitch tracked (or never will)

    # ------------------------------------------------------------------ input

    def update(self, samples: np.ndarray, t0: float) -> None:
        """The side's next int16 samples; the first sample is at stream time t0 (s)."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"prosody: expected mono samples, got shape {x.shape}")
        if self._origin is None:
            self._origin = t0
        first = (self._base + self._n) * self._hop + len(self._pending)
        self._audio.append((first, x.astype(np.int16, copy=True)))
        self._frames(np.concatenate([self._pending, x.astype(np.float32) / 32768.0]))

    def update_float(self, x: np.ndarray, t0: float = 0.0) -> None:
        """Float samples in [-1, 1] (`analyse`'s input), kept at int16 resolution."""
        self.update(np.clip(np.round(np.asarray(x, np.float32) * 32768.0), -32768, 32767).astype(np.int16), t0)

    def _frames(self, buf: np.ndarray) -> None:
        h = self._hop
        n = len(buf) // h
        whole, self._pending = buf[: n * h], buf[n * h :]
        if not n:
            return
        frames = whole.reshape(n, h).astype(np.float64)
        vowel, self._zi = signal.lfilter(self._b, self._a, whole.astype(np.float64), zi=self._zi)
        rows = np.full((n, 5), np.nan, np.float32)
        rows[:, POWER] = np.mean(frames * frames, axis=1)
        rows[:, VOWEL_POWER] = np.mean(vowel.reshape(n, h) ** 2, axis=1)
        rows[:, CLIPPED] = np.count_nonzero(np.abs(frames) >= CLIP_FULL_SCALE, axis=1)
        self._append(rows)

    def _append(self, rows: np.ndarray) -> None:
        if self._n + len(rows) > len(self._rows):  # grow by doubling: amortised O(1) per frame
            grown = np.zeros((max(2 * len(self._rows), self._n + len(rows), 1024), 5), np.float32)
            grown[: self._n] = self._rows[: self._n]
            self._rows = grown
        self._rows[self._n : self._n + len(rows)] = rows
        self._n += len(rows)

    def _frame(self, t: float) -> int:
        """Index of the first frame whose centre is at or after stream time t."""
        assert self._origin is not None
        return int(np.ceil((t - self._origin) / HOP_S - 0.5 - 1e-9))

    def speech(self, start: float, end: float) -> None:
        """A speech segment (stream times) has finished: track pitch over its frames."""
        if self._origin is None:
            return
        k0 = max(self._frame(start), self._analysed_to, self._base)
        k1 = min(self._frame(end), self._base + self._n)
        if k1 <= k0:
            return
        h, ctx = self._hop, int(np.ceil(CONTEXT_S / HOP_S))
        first = max(k0 - ctx, -(-self._audio[0][0] // h))  # whole frames of the audio still kept
        audio = self._samples(first * h, (k1 + ctx) * h)
        k1 = min(k1, first + len(audio) // h)
        self._analysed_to = max(self._analysed_to, k1)
        if k1 <= k0:
            return  # the segment's audio was released already: no pitch for it
        n = len(audio) // h
        rows = self._rows[k0 - self._base : k1 - self._base]
        mask = np.zeros(n, bool)
        mask[k0 - first : k1 - first] = rows[:, POWER] > 0  # digital silence has no pitch (and never passes the gate)
        f0, aperiodicity = track_f0(to_pitch_rate(audio.astype(np.float32) / 32768.0, self.rate), n, mask)
        rows[:, F0] = f0[k0 - first : k1 - first]
        rows[:, APERIODICITY] = aperiodicity[k0 - first : k1 - first]

    def _samples(self, i0: int, i1: int) -> np.ndarray:
        parts = [b[max(0, i0 - s) : max(0, i1 - s)] for s, b in self._audio if s < i1 and s + len(b) > i0]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def release(self, t: float) -> None:
        """Audio before stream time t belongs to no future speech segment: let it go."""
        if self._origin is None:
            return
        keep = int((t - self._origin - RELEASE_MARGIN_S - CONTEXT_S) * self.rate)
        while len(self._audio) > 1 and self._audio[1][0] <= keep:
            self._audio.pop(0)

    def forget(self, t: float) -> None:
        """Frames before stream time t belong to no call: drop their tracks."""
        if self._origin is None:
            return
        drop = min(self._frame(t) - self._base, self._n)
        if drop <= 0:
            return
        self._rows[: self._n - drop] = self._rows[drop : self._n]
        self._n -= drop
        self._base += drop

    @property
    def held_audio_s(self) -> float:
        """Seconds of audio kept (for the open speech segment and its context)."""
        return sum(len(b) for _, b in self._audio) / self.rate

    @property
    def tracked_s(self) -> float:
        """Seconds of frame tracks kept (the call in progress, or the pre-roll)."""
        return self._n * HOP_S

    # ------------------------------------------------------------------ output

    def result(self, start: float, end: float, speech: Sequence[tuple[float, float]],
               raised_voice: Sequence[tuple[float, float]] = ()) -> SideProsody:
        """SideProsody of stream times [start, end). `speech`: the side's segments in s from
        `start` (any not yet given to `speech()` are tracked now); `raised_voice`: events in s
        from `start` (the live tracker's, so alerts and score agree)."""
        for s, e in speech:
            self.speech(start + s, start + e)
        if self._origin is None:
            rows, offset = np.zeros((0, 5), np.float32), 0.0
        else:
            k0, k1 = max(self._frame(start), self._base), min(self._frame(end), self._base + self._n)
            rows = self._rows[k0 - self._base : max(k0, k1) - self._base].astype(np.float64)
            offset = self._origin + k0 * HOP_S - start  # frame 0's start, s from `start`
        return summarise(rows, [(s - offset, e - offset) for s, e in speech], self._hop, offset, raised_voice)



def analyse(samples: np.ndarray, sample_rate: int, speech: Sequence[tuple[float, float]]) -> SideProsody:
    """Prosody of one recorded side: `samples` float32 mono in [-1, 1] at the working rate,
    `speech` the side's speech segments as (start_s, end_s) from the samples' start. The same
    computation as a line's stream; raised voice comes from a tracker run over the speech."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"prosody.analyse: expected mono samples, got shape {x.shape}")
    if sample_rate < 8000:
        raise ValueError(f"prosody.analyse: sample_rate {sample_rate} Hz is too low (8000 Hz or more)")
    duration = len(x) / sample_rate
    segs = checked_speech(speech, duration)
    stream = ProsodyStream(sample_rate)
    stream.update_float(x, 0.0)
    return stream.result(0.0, duration, segs, _raised_voice(x, sample_rate, segs))


def _raised_voice(x: np.ndarray, sample_rate: int, segs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The streaming tracker, run over the recording in chunks with everything but speech
    muted, as the line's live tracker hears the call."""
    h = hop(sample_rate)
    n = len(x) // h
    sample_mask = np.repeat(speech_mask(n, segs), h)
    pcm = np.zeros(len(x), np.int16)
    pcm[: sample_mask.size] = np.where(sample_mask, np.clip(np.round(x[: sample_mask.size] * 32768), -32768, 32767), 0)
    tracker = RaisedVoiceTracker(sample_rate)
    step = int(TRACKER_CHUNK_S * sample_rate)
    for i in range(0, len(pcm), step):
        tracker.update(pcm[i : i + step], i / sample_rate)
    return [(ev.start, ev.end) for ev in tracker.close()]
