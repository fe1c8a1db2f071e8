"""Everything `callqa run` needs to behave as a systemd service, in one context manager.

    with ServiceRuntime(cfg, reloader) as service:
        ...open the lines...
        service.ready()
        for each processed block: service.health.beat(line, audio_s, work_s)

On entry: metrics endpoint, SIGHUP reloads, and (when systemd asked for one) the watchdog
thread. `ready()` tells systemd the box is up. On exit: STOPPING=1 and the threads end.
"""

from __future__ import annotations

import logging

from edge.config import Config
from edge.ops.health import Health
from edge.ops.metrics import BoxMetrics
from edge.ops.notify import notify, watchdog_interval_s
from edge.ops.reload import Reloader
from edge.ops.watchdog import Watchdog

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, cfg: Config, reloader: Reloader | None = None):
        self.cfg = cfg
        self.health = Health([line.name for line in cfg.lines], cfg.ops.stall_s)
        self.metrics = BoxMetrics(cfg, self.health)
        self.reloader = reloader
        self.watchdog: Watchdog | None = None
        self._server = None

    def __enter__(self) -> "ServiceRuntime":
        if self.cfg.ops.metrics_port is not None:
            try:
                self._server = self.metrics.serve(self.cfg.ops.metrics_bind, self.cfg.ops.metrics_port)
            except OSError as e:
                # Scoring matters more than being scraped: carry on, but say so plainly.
                log.error("metrics endpoint %s:%d not started: %s", self.cfg.ops.metrics_bind, self.cfg.ops.metrics_port, e)
        if self.reloader is not None:
            self.reloader.install()
        interval = watchdog_interval_s()
        if interval is not None:
            self.watchdog = Watchdog(self.health, interval).start()
        return self

    def ready(self) -> None:
        lines = ", ".join(self.health.lines)
        log.info("box ready: scoring calls on %s", lines)
        notify("READY=1", f"STATUS=scoring calls on {lines}")

    def __exit__(self, *exc) -> None:
        notify("STOPPING=1")
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.reloader is not None:
            self.reloader.uninstall()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
