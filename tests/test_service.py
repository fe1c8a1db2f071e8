"""`callqa run`'s service loop: lines in their own threads; one line's failure spares the others."""

import threading
import time

import numpy as np
import pytest

from edge.config import Config
from edge.scoring.rubric import load_rubric
from edge.service import Service
from edge.sinks import CollectingSink
from edge.sources import SourceError
from edge.sources.capture import DeviceLost
from callqa_lab.gencall import generate_call

RATE = 8000
PLAYBACK_SPEED = 20  # the fake devices play 20x faster than real time: quick, yet slower than scoring


class CallDevice:
    """A stereo headset interface playing a generated call, then (optionally) vanishing."""

    max_input_channels = 2

    def __init__(self, name, pcm, lose_at_s=None):
        self.name, self.pcm, self.lose_at = name, pcm, lose_at_s

    def open(self, channels, sample_rate, blocksize):
        dev = self

        class Stream:
            pos = 0

            def read(self, frames):
                if dev.lose_at is not None and self.pos >= dev.lose_at * sample_rate:
                    raise DeviceLost("USB device disconnected")
                block = dev.pcm[self.pos : self.pos + frames]
                if len(block) < frames:  # the call is over: the line stays open and quiet
                    block = np.zeros((frames, 2), np.int16)
                self.pos += frames
                time.sleep(frames / sample_rate / PLAYBACK_SPEED)  # a real device blocks until a block is in
                return block

            def close(self):
                pass

        return Stream()


class Beats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_line = {}

    def beat(self, line, audio_s=0.0, work_s=0.0):
        with self.lock:
            self.by_line[line] = self.by_line.get(line, 0) + 1


def wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def calls():
    return generate_call("polite", RATE, seed=11)[0], generate_call("busy", RATE, seed=12)[0]


def config(lines):
    return Config(audio={"sample_rate": RATE}, calls={"end_silence_s": 3.0}, lines=lines)


def test_device_lost_mid_call_is_scored_flagged_and_other_lines_keep_running(calls):
    polite, busy = calls
    devices = {"usb-a": CallDevice("usb-a", busy, lose_at_s=8.0), "usb-b": CallDevice("usb-b", polite)}
    opened = []

    def open_device(name):
        opened.append(name)
        if name == "usb-a" and opened.count("usb-a") > 1:
            raise SourceError("capture device 'usb-a': not found")  # still unplugged
        return devices[name]

    cfg = config([{"name": "desk-a", "device": "usb-a"}, {"name": "desk-b", "device": "usb-b"}])
    sink, beats = CollectingSink(), Beats()
    service = Service(cfg, load_rubric(), [sink], beats, open_device=open_device, retry_s=0.2).start()
    try:
        assert wait_for(lambda: {s.line for s in sink.scores} == {"desk-a", "desk-b"})
        lost = next(s for s in sink.scores if s.line == "desk-a")
        assert lost.end_reason == "device_lost" and "device_lost" in lost.flags
        ok = next(s for s in sink.scores if s.line == "desk-b")
        assert ok.end_reason == "silence" and "device_lost" not in ok.flags
        assert wait_for(lambda: opened.count("usb-a") >= 2)  # the lost device is tried again
        assert "desk-a" in service.failures and "not found" in service.failures["desk-a"]
        assert beats.by_line["desk-b"] > beats.by_line["desk-a"] > 0
    finally:
        service.stop()
        service.join(timeout=10)
    assert not service.running()


def test_a_broken_line_is_reported_and_the_others_still_score(tmp_path, calls, caplog):
    from scipy.io import wavfile

    good = tmp_path / "good.wav"
    wavfile.write(good, RATE, calls[0])
    cfg = config([{"name": "bad", "source": "wav", "path": str(tmp_path / "missing.wav")},
                  {"name": "good", "source": "wav", "path": str(good)}])
    sink = CollectingSink()
    service = Service(cfg, load_rubric(), [sink]).start()
    service.join(timeout=60)
    assert [s.line for s in sink.scores] == ["good"]
    assert "missing.wav: file not found" in service.failures["bad"]
    assert "line bad stopped" in caplog.text


def test_shutdown_scores_the_call_in_progress(calls):
    polite, _ = calls
    cfg = config([{"name": "desk", "device": "usb"}])
    sink = CollectingSink()
    service = Service(cfg, load_rubric(), [sink], open_device=lambda name: CallDevice(name, polite)).start()
    assert wait_for(lambda: len(sink.starts) == 1)
    service.stop()
    service.join(timeout=10)
    assert len(sink.scores) == 1 and sink.scores[0].end_reason == "shutdown"


def test_cti_events_reach_the_line(calls):
    polite, _ = calls
    cfg = config([{"name": "desk", "device": "usb"}])
    sink = CollectingSink()
    service = Service(cfg, load_rubric(), [sink], open_device=lambda name: CallDevice(name, polite)).start()
    service.call_event("desk", "start", "cti-7")
    assert wait_for(lambda: len(sink.starts) >= 1)
    service.call_event("desk", "end", "cti-7")
    assert wait_for(lambda: len(sink.scores) >= 1)
    service.stop()
    service.join(timeout=10)
    assert sink.scores[0].call_ref == "cti-7" and sink.scores[0].end_reason == "external"
    with pytest.raises(KeyError):
        service.call_event("nope", "start")
