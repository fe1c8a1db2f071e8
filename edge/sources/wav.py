"""WAV files: any common width (8/16/24/32-bit int, 32/64-bit float), any rate.

A file is read once, resampled to the working rate with scipy's polyphase filter, mapped to
agent/customer channels and cut into `Frame`s (`read_channels` keeps every channel, unmapped,
for the technician's level meter). Clipping is judged later, per call, by the
pipeline, the same way for every source. A mono file is accepted with a warning: the
customer side is then absent and two-sided metrics are null (flag 'mono'). A file whose data
chunk holds less than its header declares is read up to its last whole frame, with a warning
and the flag 'truncated_input'.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
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


@dataclass(frozen=True)
class _DataChunk:
    """A WAV file's audio as its header declares it, against the bytes the file holds."""

    endian: str  # struct's "<" (RIFF, RF64) or ">" (RIFX)
    fmt: bytes  # the 'fmt ' chunk's body, as found
    rate: int
    block_align: int  # bytes of one sample of every channel
    start: int  # offset of the first audio byte
    declared: int  # bytes the header says the data chunk holds
    held: int  # bytes the file holds from `start` on

    @property
    def missing(self) -> int:
        return max(0, self.declared - self.held)

    def seconds(self, n_bytes: int) -> float:
        return n_bytes / (self.rate * self.block_align)


def _data_chunk(path: Path) -> _DataChunk | None:
    """Walk the chunk headers up to 'data'. None when the file is no RIFF/RIFX/RF64 WAVE with
    'fmt ' before 'data': scipy then says what is wrong."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:] != b"WAVE":
            return None
        endian = ">" if head[:4] == b"RIFX" else "<"
        fmt, rf64_size = None, None
        while len(header := f.read(8)) == 8:
            kind, n = header[:4], struct.unpack(endian + "I", header[4:])[0]
            if kind == b"data":
                if fmt is None or len(fmt) < 16:
                    return None
                _, _, rate, _, block_align = struct.unpack(endian + "HHIIH", fmt[:14])
                if rate == 0 or block_align == 0:
                    return None
                declared = rf64_size if n == 0xFFFFFFFF and rf64_size is not None else n  # RF64 keeps it in ds64
                return _DataChunk(endian, fmt, rate, block_align, f.tell(), declared, size - f.tell())
            if kind in (b"fmt ", b"ds64"):
                body = f.read(n)
                if kind == b"fmt ":
                    fmt = body
                elif len(body) >= 16:
                    rf64_size = struct.unpack("<Q", body[8:16])[0]
                f.seek(n % 2, 1)  # chunks are padded to an even size
            else:
                f.seek(n + n % 2, 1)
    return None


def _whole_frames(path: Path, chunk: _DataChunk) -> io.BytesIO:
    """A cut-off file's audio up to its last whole frame, as a well-formed WAV with the true
    data size: scipy reads it like any intact file, whatever the sample format or scipy version."""
    n = chunk.held - chunk.held % chunk.block_align
    with path.open("rb") as f:
        f.seek(chunk.start)
        audio = f.read(n)
    e = chunk.endian
    body = (b"WAVE" + b"fmt " + struct.pack(e + "I", len(chunk.fmt)) + chunk.fmt + b"\0" * (len(chunk.fmt) % 2)
            + b"data" + struct.pack(e + "I", n) + audio + b"\0" * (n % 2))
    return io.BytesIO((b"RIFX" if e == ">" else b"RIFF") + struct.pack(e + "I", len(body)) + body)


def _read(path: Path) -> tuple[int, np.ndarray, bool]:
    """(rate, samples, truncated). Truncated is decided from the header's declared data size
    against what the file holds, not from scipy (1.17 only warns, older versions may refuse)."""
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    chunk = _data_chunk(path)
    truncated = chunk is not None and chunk.missing > 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown extra chunks are harmless
            rate, data = wavfile.read(_whole_frames(path, chunk) if truncated else path)
    except Exception as e:  # noqa: BLE001 - scipy's parser fails on damaged files with many error types
        # (ValueError, struct.error, even UnboundLocalError for a WAVE without 'fmt '): all mean "damaged"
        raise SourceError(f"{path}: not a readable WAV file ({e})") from None
    if data.size == 0:
        raise SourceError(f"{path}: the file holds no audio samples")
    if rate < 4000:
        raise SourceError(f"{path}: sample rate {rate} Hz is too low (needs ≥ 8000 Hz)")
    if truncated:
        log.warning("%s: the file is cut short: its header declares %.1f s of audio (%d bytes), the file holds "
                    "%.1f s: %.1f s (%d bytes) missing; read up to the break (flag truncated_input)",
                    path, chunk.seconds(chunk.declared), chunk.declared, chunk.seconds(chunk.held),
                    chunk.seconds(chunk.missing), chunk.missing)
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
    if data.dtype == np.int16 and rate == sample_rate:  # the working format already: no float copies
        return Channels(path, sample_rate, data.reshape(len(data), -1), truncated)
    x = _to_float(data, path)
    if x.ndim == 1:
        x = x[:, None]
    samples = np.stack([_int16(_resample(x[:, ch], rate, sample_rate)) for ch in range(x.shape[1])], axis=1)
    return Channels(path, sample_rate, samples, truncated)


def load_recording(path: Path | str, sample_rate: int, channels: ChannelMap = ChannelMap()) -> Recording:
    """Read `path`, pick the mapped channels, resample to `sample_rate`."""
    raw = read_channels(path, sample_rate)
    agent, customer = _mapped(raw.path, raw.samples.shape[1], channels)
    return Recording(raw.path, sample_rate, np.ascontiguousarray(raw.samples[:, agent]),
                     None if customer is None else np.ascontiguousarray(raw.samples[:, customer]), raw.truncated)


@dataclass(frozen=True)
class StreamedRecording:
    """A 16-bit PCM file already at the working rate, read block by block as it plays: a
    replay line holds one block of it, not the whole call (a 3-minute stereo call at 16 kHz
    is 11 MB, eight replay lines of them most of the box's memory budget)."""

    path: Path
    sample_rate: int
    start: int  # offset of the first audio byte
    n_frames: int
    n_channels: int
    agent: int  # channel index
    customer: int | None

    @property
    def duration(self) -> float:
        return self.n_frames / self.sample_rate

    def items(self, line: str, block_s: float, t0: float = 0.0) -> Iterator[Frame]:
        n = max(1, int(round(block_s * self.sample_rate)))
        try:
            f = self.path.open("rb")
        except OSError as e:
            raise SourceError(f"{self.path}: cannot be read any more ({e.strerror})") from None
        with f:
            f.seek(self.start)
            for i in range(0, self.n_frames, n):
                want = min(n, self.n_frames - i)
                data = f.read(want * 2 * self.n_channels)
                block = np.frombuffer(data[: len(data) - len(data) % (2 * self.n_channels)], "<i2")
                block = block.reshape(-1, self.n_channels)
                if len(block) < want:  # the file shrank while it played: what is left of it is the end
                    log.warning("%s: ended %.1f s early while replaying (the file changed)", self.path,
                                (self.n_frames - i - len(block)) / self.sample_rate)
                if not len(block):
                    return
                yield Frame(line=line, t=t0 + i / self.sample_rate, sample_rate=self.sample_rate,
                            agent=block[:, self.agent].astype(np.int16),
                            customer=None if self.customer is None else block[:, self.customer].astype(np.int16))
                if len(block) < want:
                    return


_PCM, _EXTENSIBLE = 1, 0xFFFE  # WAVE format tags


def open_streamed(path: Path | str, sample_rate: int, channels: ChannelMap = ChannelMap()) -> StreamedRecording | None:
    """`path` as a StreamedRecording when it is intact little-endian 16-bit PCM at
    `sample_rate`; None for anything else (load_recording reads, converts and resamples it)."""
    path = Path(path)
    chunk = _data_chunk(path) if path.is_file() else None
    if chunk is None or chunk.missing or chunk.endian != "<" or chunk.rate != sample_rate:
        return None
    tag, n_ch, _, _, _, bits = struct.unpack("<HHIIHH", chunk.fmt[:16])
    if tag not in (_PCM, _EXTENSIBLE) or bits != 16 or n_ch == 0 or chunk.block_align != 2 * n_ch:
        return None
    if tag == _EXTENSIBLE and (len(chunk.fmt) < 26 or struct.unpack("<H", chunk.fmt[24:26])[0] != _PCM):
        return None  # an extensible header whose sub-format is not PCM
    n_frames = chunk.declared // chunk.block_align
    if n_frames == 0:
        return None  # load_recording says the file holds no audio
    agent, customer = _mapped(path, n_ch, channels)
    return StreamedRecording(path, sample_rate, chunk.start, n_frames, n_ch, agent, customer)


def _mapped(path: Path, n_ch: int, channels: ChannelMap) -> tuple[int, int | None]:
    """(agent channel, customer channel or None when mono), or SourceError naming the file."""
    if channels.agent >= n_ch:
        raise SourceError(f"{path}: channel map asks for agent channel {channels.agent}, file has {n_ch} channel(s)")
    if n_ch == 1 or channels.customer is None:
        log.warning("%s: mono recording: only the agent side is scored, two-sided metrics are unavailable", path)
        return channels.agent, None
    if channels.customer >= n_ch:
        raise SourceError(f"{path}: channel map asks for customer channel {channels.customer}, file has {n_ch} channel(s)")
    return channels.agent, channels.customer


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
