"""Live capture from a sound card, through a small device adapter.

The adapter (`InputDevice`) is the only place that touches sounddevice, so tests drive the
capture source with a fake device. One `CaptureGroup` opens a device once and fans its
channels out to several lines (a multi-channel interface carries several lines); each line
takes its agent/customer channels from its channel map.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import numpy as np

from edge.config import ChannelMap
from edge.events import Frame
from edge.sources import SourceEnd, SourceError, SourceItem

log = logging.getLogger(__name__)


class DeviceLost(Exception):
    """The device stopped delivering audio (unplugged, driver error)."""


class InputStream(Protocol):
    def read(self, frames: int) -> np.ndarray:
        """Block until `frames` samples per channel are in; int16 array (frames, channels).
        Raises DeviceLost when the device is gone."""

    def close(self) -> None: ...


class InputDevice(Protocol):
    name: str
    max_input_channels: int

    def open(self, channels: int, sample_rate: int, blocksize: int) -> InputStream: ...


@dataclass(frozen=True)
class LineTap:
    """Which channels of the device a line listens to."""

    line: str
    channels: ChannelMap


class SoundDeviceStream:
    def __init__(self, stream):
        self._stream = stream

    def read(self, frames: int) -> np.ndarray:
        import sounddevice as sd

        try:
            data, overflowed = self._stream.read(frames)
        except sd.PortAudioError as e:
            raise DeviceLost(str(e)) from None
        if overflowed:  # samples were dropped by the driver: the stream clock stays honest by counting blocks
            log.warning("capture overflow on %s: some audio was lost", self._stream.device)
        return np.asarray(data)

    def close(self) -> None:
        self._stream.close()


class SoundDevice:
    """A sounddevice input device, found by name or index."""

    def __init__(self, device: str | int | None):
        import sounddevice as sd

        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as e:
            raise SourceError(f"capture device {device!r}: not found ({e})") from None
        self._device = device
        self.name = str(info["name"])
        self.max_input_channels = int(info["max_input_channels"])

    def open(self, channels: int, sample_rate: int, blocksize: int) -> InputStream:
        import sounddevice as sd

        try:
            stream = sd.InputStream(device=self._device, channels=channels, samplerate=sample_rate,
                                    blocksize=blocksize, dtype="int16")
            stream.start()
        except sd.PortAudioError as e:
            raise SourceError(f"capture device {self.name!r}: cannot open {channels} channel(s) "
                              f"at {sample_rate} Hz ({e})") from None
        return SoundDeviceStream(stream)


def check_taps(device: InputDevice, taps: Sequence[LineTap]) -> int:
    """Channels to open; refuses a channel map past the device's channels, naming the line."""
    for tap in taps:
        for side, ch in (("agent", tap.channels.agent), ("customer", tap.channels.customer)):
            if ch is not None and ch >= device.max_input_channels:
                raise SourceError(
                    f"line {tap.line!r}: {side} channel {ch} is past device {device.name!r}, "
                    f"which has {device.max_input_channels} input channel(s) (0..{device.max_input_channels - 1})"
                )
    return 1 + max(max(t.channels.agent, t.channels.customer or 0) for t in taps)


def capture_frames(device: InputDevice, taps: Sequence[LineTap], sample_rate: int,
                   block_s: float) -> Iterator[list[SourceItem]]:
    """Per block, one item per tap (same order): Frames, and on device loss a SourceEnd each."""
    n_ch = check_taps(device, taps)
    block = int(round(block_s * sample_rate))
    stream = device.open(n_ch, sample_rate, block)
    t = 0.0
    try:
        while True:
            try:
                data = stream.read(block)
            except DeviceLost as e:
                log.error("capture device %r lost: %s", device.name, e)
                yield [SourceEnd(tap.line, t, "device_lost", str(e)) for tap in taps]
                return
            yield [
                Frame(tap.line, t, sample_rate, np.ascontiguousarray(data[:, tap.channels.agent]),
                      None if tap.channels.customer is None else np.ascontiguousarray(data[:, tap.channels.customer]))
                for tap in taps
            ]
            t += len(data) / sample_rate
    finally:
        stream.close()


def capture_source(device: InputDevice, tap: LineTap, sample_rate: int, block_s: float) -> Iterator[SourceItem]:
    """A single line on its own device."""
    for items in capture_frames(device, [tap], sample_rate, block_s):
        yield items[0]
