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

from callqa_contract.messages import BoxId
from callqa_lab.synthetic import synthetic_score
from edge.config import ConfigError, parse_config
from edge.events import Alert
from edge.ops.notify import notify
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

    def wait_for(self, message: str, timeout: float) -> float:
        """When a message starting with `message` arrived (waiting up to `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            hit = next((t for t, m in self.received if m.startswith(message)), None)
            if hit is not None:
                return hit
            if time.monotonic() > deadline:
                raise AssertionError(f"no {message!r} from the box within {timeout} s: {self.received}")
            self.drain(0.1)


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
        "ops": {"stall_s": 0.3, "metrics_port": 0, **ops},
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


def test_a_stalled_line_is_logged_in_plain_words_even_without_systemd(monkeypatch, caplog):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    with ServiceRuntime(two_line_config()) as service:
        service.health.beat("seat1")
        loop = ProcessingLoop(service, "seat1")
        loop.start()
        time.sleep(0.6)  # seat2 never beats: stall_s is 0.3 s, checked every 0.15 s
        loop.done.set()
    assert "line stalled: seat2 (no audio processed for" in caplog.text
    assert "seat1" not in caplog.text.split("line stalled:")[1].split("\n")[0]


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

    before = signal.getsignal(signal.SIGHUP)
    with ServiceRuntime(two_line_config()) as service:
        service.reload_with(load, lambda new: in_force.update(rubric=new))
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
        service.metrics.on_score(synthetic_score(BoxId("site", "group", "box"), "seat1", 1))
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


def test_callqa_run_under_systemd_reports_ready_pings_reloads_and_stops_pinging_when_a_line_stalls(systemd, tmp_path):
    """The real service loop in its own process, as systemd starts it: seat1 is a line fed in
    real time, seat2 a recording that ends after a few seconds of processing, so its loop stops
    beating while seat1's goes on."""
    import shutil
    import subprocess
    import sys
    from importlib import resources

    from tests.ops_audio import stereo_line

    (tmp_path / "replay").mkdir()
    call = stereo_line(tmp_path / "replay" / "call.wav")
    rubric = tmp_path / "rubric.toml"
    good = (resources.files("edge.scoring") / "default_rubric.toml").read_text()
    rubric.write_text(good)
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[box]\nstate_dir = "{tmp_path}"\n[keywords]\nenabled = false\n[rubric]\npath = "{rubric}"\n'
        f'[ops]\nstall_s = 2.0\nmetrics_port = {port}\n'
        f'[[lines]]\nname = "seat1"\nsource = "replay"\npath = "{tmp_path / "replay"}"\n'
        f'[[lines]]\nname = "seat2"\nsource = "wav"\npath = "{shutil.copy(call, tmp_path / "seat2.wav")}"\n')
    env = {**os.environ, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID")  # systemd would set the child's pid; absent is accepted too
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        systemd.wait_for("READY=1\nSTATUS=scoring calls on seat1, seat2", 30)
        systemd.wait_for("WATCHDOG=1", 2)

        rubric.write_text(good.replace("pass_mark = ", "pass_mark = 1", 1))  # 180 %: refused
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("READY=1\nSTATUS=reload refused", 5)
        rubric.write_text(good)
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for("READY=1\nSTATUS=rubric reloaded", 5)

        # seat2's recording (33 s) is processed in a second or two; 2 s later it counts as stalled.
        stalled_at = systemd.wait_for("STATUS=stalled: seat2", 20)
        after = systemd.drain(1.0)
        assert "WATCHDOG=1" not in after
        assert any(t < stalled_at for t, m in systemd.received if m == "WATCHDOG=1")
        assert not any("seat1" in m for m in after)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "callqa_lines_active 1.0" in metrics
        assert 'callqa_calls_scored_total{line="seat2"} 1.0' in metrics
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "STOPPING=1" in systemd.drain(0.3)
    assert "line stalled: seat2" in err and "reload refused" in err and "pass_mark" in err
