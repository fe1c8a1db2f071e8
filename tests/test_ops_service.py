"""The box as a systemd service: notify protocol on a real unix datagram socket, the watchdog
tied to every line's processing loop, SIGHUP reloads, and the metrics endpoint."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from edge.config import ConfigError, parse_config
from edge.events import Alert
from edge.ops.notify import notify
from edge.ops.reload import Reloader
from edge.ops.service import ServiceRuntime
from tests.broker import free_port


class NotifySocket:
    """What systemd listens on: a unix datagram socket; collects what the box sends."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> list[str]:
        deadline = time.monotonic() + seconds
        got = []
        while time.monotonic() < deadline:
            try:
                got.append(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
        self.received += [(time.monotonic(), g) for g in got]
        return got


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    listener = NotifySocket(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # WatchdogSec=0.1s: ping every 50 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield listener
    listener.sock.close()


def two_line_config(**ops):
    return parse_config({
        "lines": [{"name": "seat1", "source": "wav", "path": "a.wav"}, {"name": "seat2", "source": "wav", "path": "b.wav"}],
        "ops": {"stall_s": 0.3, "metrics_port": None, **ops},
    })


class ProcessingLoop(threading.Thread):
    """Stands in for one line's block loop: beats every 20 ms until stalled."""

    def __init__(self, service: ServiceRuntime, line: str):
        super().__init__(daemon=True)
        self.service, self.line = service, line
        self.stall = threading.Event()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            if not self.stall.is_set():
                self.service.health.beat(self.line, audio_s=0.02, work_s=0.001)
            time.sleep(0.02)


def test_watchdog_pings_only_while_every_line_processes_audio(systemd):
    with ServiceRuntime(two_line_config()) as service:
        loops = [ProcessingLoop(service, line) for line in ("seat1", "seat2")]
        for loop in loops:
            loop.start()
        service.ready()
        healthy = systemd.drain(0.6)
        assert any("READY=1" in m for m in healthy)
        assert healthy.count("WATCHDOG=1") >= 5

        loops[1].stall.set()  # seat2's processing hangs
        systemd.drain(0.5)  # stall_s (0.3 s) passes
        stalled = systemd.drain(0.6)
        assert "WATCHDOG=1" not in stalled
        assert any(m.startswith("STATUS=stalled: seat2") for m in stalled)
        assert not any("seat1" in m for m in stalled)

        loops[1].stall.clear()
        recovered = systemd.drain(0.5)
        assert recovered.count("WATCHDOG=1") >= 3
        for loop in loops:
            loop.done.set()
    assert any("STOPPING=1" in m for m in systemd.drain(0.1))


def test_no_watchdog_thread_when_systemd_did_not_ask(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with ServiceRuntime(two_line_config()) as service:
        assert service.watchdog is None
        assert notify("READY=1") is False


def test_notify_reaches_an_abstract_namespace_socket(monkeypatch):
    name = f"callqa-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1", "STATUS=up")
        assert s.recv(100) == b"READY=1\nSTATUS=up"


def test_sighup_swaps_in_a_new_rubric_and_keeps_the_old_one_when_the_file_is_bad(systemd, tmp_path):
    rubric_file = tmp_path / "rubric.txt"
    rubric_file.write_text("v1")
    in_force = {"rubric": "v1"}

    def load():
        text = rubric_file.read_text()
        if "broken" in text:
            raise ConfigError(f"{rubric_file}: items.0.weight: Input should be a valid number")
        return text

    reloader = Reloader(load, lambda new: in_force.update(rubric=new))
    before = signal.getsignal(signal.SIGHUP)
    with ServiceRuntime(two_line_config(), reloader):
        rubric_file.write_text("v2")
        os.kill(os.getpid(), signal.SIGHUP)
        messages = systemd.drain(0.3)
        assert in_force["rubric"] == "v2"
        assert "RELOADING=1\nSTATUS=reloading rubric and phrase lists" in messages
        assert "READY=1\nSTATUS=rubric reloaded" in messages

        rubric_file.write_text("broken")
        os.kill(os.getpid(), signal.SIGHUP)
        messages = systemd.drain(0.3)
        assert in_force["rubric"] == "v2"
        assert any("reload refused" in m for m in messages)
    assert signal.getsignal(signal.SIGHUP) is before  # the previous handler is back


def test_metrics_endpoint_reports_lines_calls_alerts_and_outbox(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    port = free_port()
    with ServiceRuntime(two_line_config(metrics_port=port)) as service:
        service.health.beat("seat1", audio_s=10.0, work_s=0.5)
        service.metrics.on_score({"line": "seat1", "call_id": "c1"})
        service.metrics.on_alert(Alert("a1", "seat1", "c1", "insult", "red", "insult heard", 3.0))
        service.metrics.watch_outbox(depth=lambda: 7, dropped=lambda: 2)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'callqa_calls_scored_total{line="seat1"} 1.0' in text
    assert 'callqa_calls_scored_total{line="seat2"} 0.0' in text
    assert 'callqa_alerts_total{line="seat1",severity="red"} 1.0' in text
    assert 'callqa_line_rtf{line="seat1"} 0.05' in text
    assert "callqa_lines_active 2.0" in text
    assert "callqa_outbox_depth 7.0" in text
    assert "callqa_outbox_dropped_total 2.0" in text
