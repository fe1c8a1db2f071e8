"""Audio in: WAV files of every common format, replay of a folder, capture through a device."""

import logging
import struct
import subprocess

import numpy as np
import pytest
from scipy.io import wavfile

from edge.config import ChannelMap, LineConfig
from edge.events import Frame
from edge.line import LineSources
from edge.ops.tap import WavInput
from edge.sources import SourceEnd, SourceError, SourceFlag
from edge.sources.capture import DeviceLost, LineTap, capture_frames, check_taps
from edge.sources.replay import replay_source
from edge.sources.wav import load_recording, open_streamed, wav_source


def tone(rate: int, seconds: float, hz: float, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def stereo(rate: int, seconds: float = 1.0) -> np.ndarray:
    """Agent 440 Hz at half scale on the left, customer 1000 Hz at quarter scale on the right."""
    return np.stack([tone(rate, seconds, 440, 0.5), tone(rate, seconds, 1000, 0.25)], axis=1)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


def write(path, rate, x, kind):
    if kind == "uint8":
        wavfile.write(path, rate, np.round(x * 127 + 128).astype(np.uint8))
    elif kind == "int16":
        wavfile.write(path, rate, np.round(x * 32767).astype(np.int16))
    elif kind == "int32":
        wavfile.write(path, rate, np.round(x * (2**31 - 1)).astype(np.int32))
    elif kind == "float32":
        wavfile.write(path, rate, x.astype(np.float32))
    elif kind == "int24":  # scipy cannot write 24-bit: sox converts a 16-bit file
        src = path.with_suffix(".16.wav")
        wavfile.write(src, rate, np.round(x * 32767).astype(np.int16))
        subprocess.run(["sox", str(src), "-b", "24", str(path)], check=True)
    return path


@pytest.mark.parametrize("kind", ["uint8", "int16", "int24", "int32", "float32"])
@pytest.mark.parametrize("src_rate,work_rate", [(8000, 8000), (44100, 16000), (48000, 8000), (22050, 16000), (16000, 8000)])
def test_wav_of_any_width_and_rate_arrives_at_the_working_rate(tmp_path, kind, src_rate, work_rate):
    path = write(tmp_path / "call.wav", src_rate, stereo(src_rate), kind)
    rec = load_recording(path, work_rate)
    assert rec.sample_rate == work_rate
    assert abs(len(rec.agent) - work_rate) <= 1
    assert rec.agent.dtype == np.int16 and rec.customer.dtype == np.int16
    assert abs(peak_hz(rec.agent, work_rate) - 440) < 3
    assert abs(peak_hz(rec.customer, work_rate) - 1000) < 3
    mid = slice(work_rate // 10, -work_rate // 10)  # away from the resampler's edges
    assert np.max(np.abs(rec.agent[mid])) / 32768 == pytest.approx(0.5, abs=0.02)
    assert np.max(np.abs(rec.customer[mid])) / 32768 == pytest.approx(0.25, abs=0.02)


def test_channel_map_picks_the_sides(tmp_path):
    path = write(tmp_path / "call.wav", 8000, stereo(8000), "int16")
    rec = load_recording(path, 8000, ChannelMap(agent=1, customer=0))
    assert abs(peak_hz(rec.agent, 8000) - 1000) < 3


def test_mono_file_is_accepted_with_a_warning(tmp_path, caplog):
    path = tmp_path / "mono.wav"
    wavfile.write(path, 8000, np.round(tone(8000, 1.0, 300) * 32767).astype(np.int16))
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path, 16000)
    assert rec.customer is None and len(rec.agent) == 16000
    assert "mono" in caplog.text and "two-sided metrics are unavailable" in caplog.text
    frames = [f for f in wav_source(rec, "l1", 0.3) if isinstance(f, Frame)]
    assert all(f.customer is None for f in frames)


@pytest.mark.parametrize("kind,frame_bytes", [("int16", 4), ("float32", 8), ("int24", 6)])
@pytest.mark.parametrize("torn", [0, 3], ids=["cut-on-a-frame", "torn-sample"])
def test_a_cut_off_wav_is_read_up_to_the_break_flagged_and_named(tmp_path, caplog, kind, frame_bytes, torn):
    path = write(tmp_path / "call.wav", 8000, stereo(8000, 2.0), kind)
    data = path.read_bytes()
    start = data.index(b"data") + 8
    path.write_bytes(data[: start + 8000 * frame_bytes + torn])  # half of the 2 s, maybe a torn sample
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path, 8000)
    assert rec.truncated and len(rec.agent) == 8000
    assert abs(peak_hz(rec.customer, 8000) - 1000) < 3
    assert f"{path}: the file is cut short" in caplog.text and "1.0 s (" in caplog.text  # 1.0 s missing
    items = list(wav_source(rec, "l1", 0.3))
    assert items[0] == SourceFlag("l1", 0.0, "truncated_input")
    assert isinstance(items[-1], SourceEnd)


def test_a_header_declaring_4_gb_of_audio_is_flagged(tmp_path, caplog):
    """What a writer that never went back to fix its header leaves (streamed WAV)."""
    path = write(tmp_path / "stream.wav", 8000, stereo(8000), "int16")
    data = bytearray(path.read_bytes())
    size_at = data.index(b"data") + 4
    data[size_at : size_at + 4] = b"\xff\xff\xff\xff"
    data[4:8] = b"\xff\xff\xff\xff"
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path, 8000)
    assert rec.truncated and len(rec.agent) == 8000
    assert "4294967295 bytes" in caplog.text


def as_rf64(path):
    """Rewrite a plain 16-byte-fmt WAV as RF64: the sizes move to a ds64 chunk, 0xFFFFFFFF in their place."""
    data = path.read_bytes()
    fmt, audio = data[12:36], data[44:]
    ds64 = b"ds64" + struct.pack("<IQQQI", 28, 4 + 36 + len(fmt) + 8 + len(audio), len(audio), 0, 0)
    path.write_bytes(b"RF64\xff\xff\xff\xffWAVE" + ds64 + fmt + b"data\xff\xff\xff\xff" + audio)
    return path


@pytest.mark.parametrize("container", [lambda p: p, as_rf64], ids=["RIFF", "RF64"])
def test_an_intact_wav_is_not_flagged(tmp_path, caplog, container):
    path = container(write(tmp_path / "call.wav", 8000, stereo(8000), "int16"))
    with caplog.at_level(logging.WARNING):
        rec = load_recording(path, 8000)
    assert not rec.truncated and len(rec.agent) == 8000
    assert "cut short" not in caplog.text
    assert not any(isinstance(i, SourceFlag) for i in wav_source(rec, "l1", 0.3))


@pytest.mark.parametrize("content,expect", [
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "not a readable WAV file"),
    (b"this is a text file, not audio" * 10, "not a readable WAV file"),
    (b"", "not a readable WAV file"),
])
def test_corrupt_wav_is_refused_naming_the_file(tmp_path, content, expect):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(SourceError) as e:
        load_recording(path, 8000)
    assert str(path) in str(e.value) and expect in str(e.value)


def test_unknown_sample_format_is_refused_naming_the_file(tmp_path):
    src = write(tmp_path / "call.wav", 8000, stereo(8000), "int16")
    ulaw = tmp_path / "ulaw.wav"
    subprocess.run(["sox", str(src), "-e", "u-law", str(ulaw)], check=True)
    with pytest.raises(SourceError) as e:
        load_recording(ulaw, 8000)
    assert str(ulaw) in str(e.value) and "not a readable WAV file" in str(e.value)


def test_missing_file_and_channel_past_the_file_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        load_recording(tmp_path / "nope.wav", 8000)
    path = write(tmp_path / "call.wav", 8000, stereo(8000), "int16")
    with pytest.raises(SourceError, match="customer channel 3, file has 2 channel"):
        load_recording(path, 8000, ChannelMap(agent=0, customer=3))


def test_replay_feeds_a_folder_as_one_stream_with_idle_gaps(tmp_path):
    for i in range(2):
        write(tmp_path / f"{i}.wav", 8000, stereo(8000, 1.0), "int16")
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    items = list(replay_source(tmp_path, "l1", 8000, ChannelMap(), 0.25, gap_s=2.0, realtime=False))
    frames = [f for f in items if isinstance(f, Frame)]
    assert isinstance(items[-1], SourceEnd) and items[-1].t == pytest.approx(6.0)
    times = np.array([f.t for f in frames])
    assert np.allclose(np.diff(times), 0.25)  # one continuous clock, no gaps, no overlaps
    silent = [f for f in frames if 1.0 <= f.t < 3.0]
    assert all(not f.agent.any() for f in silent)


@pytest.mark.parametrize("mono, rate", [(False, 8000), (True, 16000), (False, 11025)])
def test_replay_reads_a_file_as_it_plays_sample_for_sample_what_the_whole_file_holds(tmp_path, mono, rate):
    x = stereo(rate, 2.3)
    write(tmp_path / "a.wav", rate, x[:, 0] if mono else x, "int16")
    whole = load_recording(tmp_path / "a.wav", 8000)
    streamed = [f for f in replay_source(tmp_path, "l1", 8000, ChannelMap(), 0.3, gap_s=0.0, realtime=False)
                if isinstance(f, Frame)]
    assert np.array_equal(np.concatenate([f.agent for f in streamed]), whole.agent)
    if mono:
        assert all(f.customer is None for f in streamed)
    else:
        assert np.array_equal(np.concatenate([f.customer for f in streamed]), whole.customer)
    if rate == 8000:  # already at the working rate: read block by block
        assert open_streamed(tmp_path / "a.wav", 8000).duration == pytest.approx(whole.duration)
    else:  # resampled: read whole
        assert open_streamed(tmp_path / "a.wav", 8000) is None


def test_replay_in_real_time_paces_blocks_to_the_clock(tmp_path):
    write(tmp_path / "a.wav", 8000, stereo(8000, 1.0), "int16")
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    items = list(replay_source(tmp_path, "l1", 8000, ChannelMap(), 0.5, gap_s=1.0, realtime=True,
                               clock=lambda: now[0], sleep=sleep))
    assert sum(slept) == pytest.approx(2.0)  # each block is handed on once its audio is heard: the last at 2.0 s
    assert len([i for i in items if isinstance(i, Frame)]) == 4


class FakeStream:
    def __init__(self, blocks, lose_after):
        self.blocks, self.lose_after, self.n, self.closed = blocks, lose_after, 0, False

    def read(self, frames):
        if self.lose_after is not None and self.n >= self.lose_after:
            raise DeviceLost("device unplugged")
        self.n += 1
        return self.blocks(frames)

    def close(self):
        self.closed = True


class FakeDevice:
    """A 4-channel USB interface carrying two stereo lines; can vanish after some blocks."""

    name = "fake USB 4ch"
    max_input_channels = 4

    def __init__(self, lose_after=None):
        self.lose_after, self.stream = lose_after, None

    def open(self, channels, sample_rate, blocksize):
        def blocks(frames):  # channel k carries the constant value k+1
            return np.tile(np.arange(1, channels + 1, dtype=np.int16), (frames, 1))
        self.stream = FakeStream(blocks, self.lose_after)
        return self.stream


def test_channel_map_past_the_devices_channels_is_a_clear_error():
    with pytest.raises(SourceError) as e:
        check_taps(FakeDevice(), [LineTap("desk7", ChannelMap(agent=4, customer=5))])
    msg = str(e.value)
    assert "desk7" in msg and "agent channel 4" in msg and "fake USB 4ch" in msg and "4 input channel" in msg


def test_multichannel_interface_fans_out_to_its_lines():
    taps = [LineTap("a", ChannelMap(agent=0, customer=1)), LineTap("b", ChannelMap(agent=3, customer=2))]
    gen = capture_frames(FakeDevice(), taps, 8000, 0.3)
    first = next(gen)
    assert [f.line for f in first] == ["a", "b"]
    assert first[0].agent[0] == 1 and first[0].customer[0] == 2
    assert first[1].agent[0] == 4 and first[1].customer[0] == 3
    second = next(gen)
    assert second[0].t == pytest.approx(0.3)


def test_device_lost_ends_every_line_it_carried():
    dev = FakeDevice(lose_after=2)
    taps = [LineTap("a", ChannelMap()), LineTap("b", ChannelMap(agent=2, customer=3))]
    batches = list(capture_frames(dev, taps, 8000, 0.5))
    assert len(batches) == 3
    ends = batches[-1]
    assert [(e.line, e.reason, e.t) for e in ends] == [("a", "device_lost", 1.0), ("b", "device_lost", 1.0)]
    assert dev.stream.closed


def test_capture_lines_of_one_device_share_one_reader_and_file_lines_have_their_own(tmp_path):
    lines = [LineConfig(name="a", device="usb4", channels=ChannelMap(agent=0, customer=1)),
             LineConfig(name="f", source="wav", path=tmp_path / "f.wav"),
             LineConfig(name="b", device="usb4", channels=ChannelMap(agent=3, customer=2)),
             LineConfig(name="c", device="usb2")]
    files, devices = LineSources.readers(lines)
    assert [line.name for line in files] == ["f"]
    assert [(d.device, [line.name for line in d.lines]) for d in devices] == [("usb4", ["a", "b"]), ("usb2", ["c"])]
    first = next(LineSources(8000).device(FakeDevice(), devices[0].lines))
    assert [(f.line, f.sample_rate, f.agent[0], f.customer[0]) for f in first] == [("a", 8000, 1, 2), ("b", 8000, 4, 3)]


def test_the_level_meters_wav_input_is_the_pipelines_reading_of_the_file_every_channel_kept(tmp_path):
    x = np.stack([tone(48000, 1.0, 440, 0.5), tone(48000, 1.0, 1000, 0.25), tone(48000, 1.0, 200, 0.1)], axis=1)
    path = write(tmp_path / "three.wav", 48000, x, "int24")
    tap = WavInput(path, 16000)
    rec = load_recording(path, 16000, ChannelMap(agent=2, customer=0))
    data = tap.read(16000)
    assert tap.channels == 3 and data.dtype == np.int16
    assert np.array_equal(data[:, 2], rec.agent) and np.array_equal(data[:, 0], rec.customer)
