"""Everything `callqa run` needs to behave as a systemd service, in one context manager.

    with ServiceRuntime(cfg) as service:
        service.reload_with(load, apply)   # SIGHUP: re-read the rubric
        ...start the lines, each calling service.health.beat(line, audio_s, work_s) per block...
        service.ready()

On entry: the metrics endpoint and the watchdog thread (it pings systemd when asked to, and
logs a stalled line in any case).
`ready()` tells systemd the box is up once every line has processed audio. On exit:
STOPPING=1 and the threads end.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from edge.config import Config
from edge.ops.health import Health
from edge.ops.metrics import BoxMetrics
from edge.ops.notify import notify, watchdog_interval_s
from edge.ops.reload import Reloader
from edge.ops.watchdog import Watchdog

log = logging.getLogger(__name__)
T = TypeVar("T")


class ServiceRuntime:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.health = Health([line.name for line in cfg.lines], cfg.ops.stall_s)
        self.metrics = BoxMetrics(cfg, self.health)
        self.reloader: Reloader | None = None
        self.watchdog: Watchdog | None = None  # set on entry
        self._server = None

    def __enter__(self) -> "ServiceRuntime":
        if self.cfg.ops.metrics_port:
            try:
                self._server = self.metrics.serve(self.cfg.ops.metrics_bind, self.cfg.ops.metrics_port)
            except OSError as e:
                # Scoring matters more than being scraped: carry on, but say so plainly.
                log.error("metrics endpoint %s:%d not started: %s", self.cfg.ops.metrics_bind, self.cfg.ops.metrics_port, e)
        # Without systemd's watchdog the thread still runs: a stalled line is logged either way.
        self.watchdog = Watchdog(self.health, watchdog_interval_s() or self.cfg.ops.stall_s / 2).start()
        return self

    def reload_with(self, load: Callable[[], T], apply: Callable[[T], None]) -> None:
        """On SIGHUP, `load()` (may raise ConfigError: nothing changes) then `apply(result)`."""
        self.reloader = Reloader(load, apply).install()

    def ready(self, wait_s: float | None = None, poll_s: float = 0.1) -> None:
        """Wait (up to ops.stall_s) for every line's first processed block, then READY=1.
        A line still silent by then is named; the watchdog takes it from there."""
        deadline = time.monotonic() + (self.cfg.ops.stall_s if wait_s is None else wait_s)
        while (waiting := [h.line for h in self.health.snapshot() if h.beats == 0]) and time.monotonic() < deadline:
            time.sleep(poll_s)
        live = [line for line in self.health.lines if line not in waiting]
        status = f"scoring calls on {', '.join(live) or 'no line'}"
        if waiting:
            status += f"; no audio yet from {', '.join(waiting)}"
            log.error("box started, but no audio yet from %s", ", ".join(waiting))
        else:
            log.info("box ready: %s", status)
        notify("READY=1", f"STATUS={status}")

    def __exit__(self, *exc) -> None:
        notify("STOPPING=1")
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.reloader is not None:
            self.reloader.uninstall()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
