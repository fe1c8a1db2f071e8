"""A real, throwaway Mosquitto on a free loopback port, for the tests and `callqa bench`.

Shared by every test that needs a broker (tests/broker.py) and by the MQTT and store benches: `Broker(tmp_path).start()` writes a config
(extra lines can add TLS, passwords, ACLs), waits until the port answers, and `stop()`
(or `kill()`) / `start()` again simulate a broker restart (persistence on, so queued QoS 1 messages survive).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc: subprocess.Popen, wait_s: float) -> int | None:
    """SIGTERM, then SIGKILL if it has not exited within wait_s; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


class Broker:
    def __init__(self, workdir: Path, extra_conf: str = "", port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_conf(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        body = self.extra_conf
        if "listener" not in body:
            body = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + body
        # Started as root, mosquitto drops to user 'mosquitto', who cannot read the test's
        # files (log, password file, certificates) under a private tmp dir: stay root then.
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            user + f"persistence true\npersistence_location {self.workdir}/\n"
            f"log_dest file {self.log}\nlog_type all\n" + body
        )
        return conf

    def start(self, timeout: float = 10.0) -> "Broker":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto')")
        conf = self.write_conf()
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not open port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc:
            terminate(self.proc, 5)
        self.proc = None

    def kill(self) -> None:
        """`kill -9`: no goodbye to its clients, no persistence written on the way out."""
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
