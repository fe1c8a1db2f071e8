"""Raw multi-channel input for the technician's tools: every channel of a line's device (not
only the mapped ones), so `levels` and `doctor` can show where agent and customer really are.

`DeviceInput` opens the card through the pipeline's capture adapter. `WavInput` plays a WAV file
(read by edge.sources.wav, as the pipeline reads it) as if it were the device: `--source wav FILE`,
WAV-backed lines, and tests (no sound card here). edge.line.LineSources.raw picks one for a line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge.config import ConfigError, LineConfig
from edge.sources import SourceError
from edge.sources.capture import DeviceLost, SoundDevice
from edge.sources.wav import read_channels


class TapError(Exception):
    """An input that cannot be opened or read; the message names it and what is wrong."""


class RawInput(Protocol):
    name: str
    channels: int
    sample_rate: int

    def read(self, frames: int) -> np.ndarray | None:
        """int16 (frames, channels); fewer rows at the end; None when there is no more audio."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class InputDeviceInfo:
    index: int
    name: str
    max_input_channels: int
    default_samplerate: float
    hostapi: str


def list_input_devices() -> list[InputDeviceInfo]:
    """Every device with at least one input channel, as PortAudio sees it."""
    import sounddevice as sd

    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise TapError(f"PortAudio cannot list audio devices: {e}") from None
    return [
        InputDeviceInfo(d["index"], d["name"], d["max_input_channels"], d["default_samplerate"], apis[d["hostapi"]]["name"])
        for d in devices
        if d["max_input_channels"] > 0
    ]


class WavInput:
    """A WAV file served block by block at the working rate; `realtime` paces it like a card."""

    def __init__(self, path: Path, sample_rate: int, realtime: bool = False):
        try:
            self._data = read_channels(path, sample_rate).samples
        except SourceError as e:
            raise TapError(str(e)) from None
        self.name = str(path)
        self.sample_rate = sample_rate
        self.channels = self._data.shape[1]
        self._realtime = realtime
        self._pos = 0
        self._started = time.monotonic()

    def read(self, frames: int) -> np.ndarray | None:
        if self._pos >= len(self._data):
            return None
        block = self._data[self._pos : self._pos + frames]
        self._pos += len(block)
        if self._realtime:
            time.sleep(max(0.0, self._started + self._pos / self.sample_rate - time.monotonic()))
        return block

    def close(self) -> None:
        pass


class DeviceInput:
    """A sound card, every input channel, through the pipeline's capture adapter."""

    def __init__(self, device: str | int | None, sample_rate: int, block: int):
        try:
            dev = SoundDevice(device)
            self._stream = dev.open(dev.max_input_channels, sample_rate, block)
        except SourceError as e:
            raise TapError(str(e)) from None
        self.name, self.channels, self.sample_rate = dev.name, dev.max_input_channels, sample_rate

    def read(self, frames: int) -> np.ndarray | None:
        try:
            return self._stream.read(frames)
        except DeviceLost as e:
            raise TapError(f"audio device {self.name!r} stopped delivering audio: {e}") from None

    def close(self) -> None:
        self._stream.close()


def channel_roles(line: LineConfig) -> dict[int, str]:
    roles = {line.channels.agent: "agent"}
    if line.channels.customer is not None:
        roles[line.channels.customer] = "customer"
    return roles


def line_named(lines: tuple[LineConfig, ...], name: str | None) -> LineConfig:
    if not lines:
        raise ConfigError("no [[lines]] configured: add one (see README, 'Installing a box')")
    if name is None:
        return lines[0]
    for line in lines:
        if line.name == name:
            return line
    raise ConfigError(f"no line named {name!r}; configured: {', '.join(ln.name for ln in lines)}")
