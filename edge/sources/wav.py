"""WAV files: any common width (8/16/24/32-bit int, 32/64-bit float), any rate.

A file is read once, resampled to the working rate with scipy's polyphase filter, mapped to
agent/customer channels and cut into `Frame`s (`read_channels` keeps every channel, unmapped,
for the technician's level meter). Clipping is judged later, per call, by the
pipeline, the same way for every source. A mono file is accepted with a warning: the
customer side is then absent and two-sided metrics are null (flag 'mono').
"""

from __future__ import annotations

import logging
import warnings
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from edge.config import ChannelMap
from edge.events import Frame
from edge.sources import SourceEnd, SourceError, SourceFlag, SourceItem

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Recording:
    """A whole recording at the working rate: int16 per side; customer None when mono."""

    path: Path
    sample_rate: int
    agent: np.ndarray
    customer: np.ndarray | None
    truncated: bool = False  # the file ended before its header said: read up to the break

    @property
    def duration(self) -> float:
        return len(self.agent) / self.sample_rate


def _to_float(data: np.ndarray, path: Path) -> np.ndarray:
    """Scale any of wavfile's sample types to float32 in [-1, 1]."""
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "f":
        return data.astype(np.float32, copy=False)
    if kind == "u" and size == 1:  # 8-bit WAV is unsigned, centred on 128
        return (data.astype(np.float32) - 128.0) / 128.0
    if kind == "i":  # 24-bit arrives left-justified in int32, so full scale is the dtype's
        return data.astype(np.float32) / float(2 ** (8 * size - 1))
    raise SourceError(f"{path}: unsupported sample format {data.dtype} (use 8/16/24/32-bit PCM or float)")


def _read_truncated_pcm(path: Path) -> tuple[int, np.ndarray]:
    """What a cut-off PCM file still holds. scipy refuses a data chunk shorter than its header
    says; the stdlib `wave` reader returns the frames that are there (integer PCM only)."""
    with wave.open(str(path), "rb") as w:
        width, n_ch, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    raw = raw[: len(raw) - len(raw) % (width * n_ch)]
    if width == 1:
        data = np.frombuffer(raw, np.uint8)
    elif width == 3:  # little-endian 24-bit: place in the top of an int32, as scipy does
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
    else:
        data = np.frombuffer(raw, {2: "<i2", 4: "<i4"}[width])
    return rate, data.reshape(-1, n_ch)


def _read(path: Path) -> tuple[int, np.ndarray, bool]:
    """(rate, samples, truncated)"""
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    truncated = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown extra chunks are harmless
            rate, data = wavfile.read(path)
    except Exception as e:  # noqa: BLE001 - scipy's parser fails on damaged files with many error types
        # (ValueError, struct.error, even UnboundLocalError for a WAVE without 'fmt '): all mean "damaged"
        try:
            rate, data = _read_truncated_pcm(path)
            truncated = True
        except Exception:  # noqa: BLE001 - the stdlib reader, too, fails on damage in many ways
            raise SourceError(f"{path}: not a readable WAV file ({e})") from None
        log.warning("%s: the file is cut short (%s): scoring the %d samples it holds", path, e, len(data))
    if data.size == 0:
        raise SourceError(f"{path}: the file holds no audio samples")
    if rate < 4000:
        raise SourceError(f"{path}: sample rate {rate} Hz is too low (needs ≥ 8000 Hz)")
    return int(rate), data, truncated


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x
    ratio = Fraction(dst, src)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def _int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)


@dataclass(frozen=True)
class Channels:
    """Every channel of a recording at the working rate: int16 (frames, channels), unmapped."""

    path: Path
    sample_rate: int
    samples: np.ndarray
    truncated: bool = False


def read_channels(path: Path | str, sample_rate: int) -> Channels:
    """Read `path` and resample each of its channels to `sample_rate`."""
    path = Path(path)
    rate, data, truncated = _read(path)
    x = _to_float(data, path)
    if x.ndim == 1:
        x = x[:, None]
    samples = np.stack([_int16(_resample(x[:, ch], rate, sample_rate)) for ch in range(x.shape[1])], axis=1)
    return Channels(path, sample_rate, samples, truncated)


def load_recording(path: Path | str, sample_rate: int, channels: ChannelMap = ChannelMap()) -> Recording:
    """Read `path`, pick the mapped channels, resample to `sample_rate`."""
    raw = read_channels(path, sample_rate)
    path, n_ch = raw.path, raw.samples.shape[1]
    if channels.agent >= n_ch:
        raise SourceError(f"{path}: channel map asks for agent channel {channels.agent}, file has {n_ch} channel(s)")
    customer = None
    if n_ch == 1 or channels.customer is None:
        log.warning("%s: mono recording: only the agent side is scored, two-sided metrics are unavailable", path)
    elif channels.customer >= n_ch:
        raise SourceError(f"{path}: channel map asks for customer channel {channels.customer}, file has {n_ch} channel(s)")
    else:
        customer = np.ascontiguousarray(raw.samples[:, channels.customer])
    return Recording(path, sample_rate, np.ascontiguousarray(raw.samples[:, channels.agent]), customer, raw.truncated)


def frames_of(rec: Recording, line: str, block_s: float, t0: float = 0.0) -> Iterator[Frame]:
    """Cut a recording into blocks of `block_s` seconds (the last one may be shorter)."""
    n = max(1, int(round(block_s * rec.sample_rate)))
    for i in range(0, len(rec.agent), n):
        yield Frame(
            line=line,
            t=t0 + i / rec.sample_rate,
            sample_rate=rec.sample_rate,
            agent=rec.agent[i : i + n],
            customer=None if rec.customer is None else rec.customer[i : i + n],
        )


def recording_items(rec: Recording, line: str, block_s: float, t0: float = 0.0) -> Iterator[SourceItem]:
    """A recording's flags, then its frames."""
    if rec.truncated:
        yield SourceFlag(line, t0, "truncated_input")
    yield from frames_of(rec, line, block_s, t0)


def wav_source(rec: Recording, line: str, block_s: float) -> Iterator[SourceItem]:
    """One file as a line's whole stream, then SourceEnd."""
    yield from recording_items(rec, line, block_s)
    yield SourceEnd(line, rec.duration)
