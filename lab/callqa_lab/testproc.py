"""`callqa-central store` as a real child process, for the tests and `callqa bench`: start, wait until
subscribed, stop or kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from callqa_lab.testbroker import terminate


class StoreProcess:
    def __init__(self, broker_url: str, db_url: str, client_id: str, log_dir: Path, sites=("s1",), batch: int = 100,
                 extra: tuple[str, ...] | list[str] = ()):
        self.cmd = [sys.executable, "-m", "callqa_central", "store", "--broker", broker_url, "--db", db_url,
                    "--client-id", client_id, "--batch", str(batch), *extra]
        for site in sites:
            self.cmd += ["--site", site]
        self.log_path = Path(log_dir) / f"store-{client_id}.log"
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self, timeout: float = 20) -> "StoreProcess":
        subscribed = threading.Event()
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)

        def pump(stream, log):
            for line in stream:
                self.lines.append(line)
                log.write(line)
                log.flush()
                if "subscribed:" in line:
                    subscribed.set()

        log = open(self.log_path, "a")
        threading.Thread(target=pump, args=(self.proc.stderr, log), daemon=True).start()
        if not subscribed.wait(timeout):
            self.proc.kill()
            raise RuntimeError(f"store did not subscribe within {timeout}s:\n{''.join(self.lines)}")
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        return terminate(self.proc, 20)

    def log(self) -> str:
        return "".join(self.lines)

