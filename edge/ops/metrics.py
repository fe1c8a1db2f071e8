"""What a site's monitoring can scrape: Prometheus text on a loopback HTTP port.

Lines live, audio processed and its real-time factor, audio blocks dropped, calls scored, alerts raised, outbox
depth and dropped messages (capture overflows are only logged, by the capture source).
Gauges that already live elsewhere (Health, the outbox) are read at scrape time through a
collector, so there is one source of truth and nothing to keep in step.
"""

from __future__ import annotations

import logging
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from edge import __version__
from edge.config import Config
from edge.events import Alert, ScoreSink
from edge.ops.health import Health
from edge.scoring.callscore import CallScore

log = logging.getLogger(__name__)


class _LiveCollector:
    """Reads Health and the outbox callbacks when scraped."""

    def __init__(self, health: Health):
        self.health = health
        self.outbox_depth: Callable[[], int] | None = None
        self.outbox_dropped: Callable[[], int] | None = None

    def collect(self):
        lines = self.health.snapshot()
        active = GaugeMetricFamily("callqa_lines_active", "Lines whose audio was processed within ops.stall_s")
        active.add_metric([], sum(h.last_beat_age_s <= self.health.stall_s for h in lines))
        yield active
        age = GaugeMetricFamily("callqa_line_last_beat_age_seconds", "Seconds since the line last processed a block", labels=["line"])
        audio = CounterMetricFamily("callqa_line_audio_seconds", "Audio processed", labels=["line"])
        work = CounterMetricFamily("callqa_line_processing_seconds", "Compute spent processing it", labels=["line"])
        rtf = GaugeMetricFamily("callqa_line_rtf", "Compute seconds per audio second since start (below 1 keeps up)", labels=["line"])
        dropped = CounterMetricFamily("callqa_line_dropped_blocks", "Audio blocks dropped because the line fell behind", labels=["line"])
        for h in lines:
            age.add_metric([h.line], h.last_beat_age_s)
            audio.add_metric([h.line], h.audio_s)
            work.add_metric([h.line], h.work_s)
            dropped.add_metric([h.line], h.dropped_blocks)
            if h.rtf is not None:
                rtf.add_metric([h.line], h.rtf)
        yield from (age, audio, work, rtf, dropped)
        if self.outbox_depth is not None:
            depth = GaugeMetricFamily("callqa_outbox_depth", "Messages waiting in the outbox for the broker")
            depth.add_metric([], self.outbox_depth())
            yield depth
        if self.outbox_dropped is not None:
            dropped = CounterMetricFamily("callqa_outbox_dropped", "Messages the outbox dropped (full or too old)")
            dropped.add_metric([], self.outbox_dropped())
            yield dropped


class BoxMetrics(ScoreSink):
    """The box's metrics; also a ScoreSink, so the pipeline counts calls by handing it results."""

    def __init__(self, cfg: Config, health: Health):
        self.registry = CollectorRegistry()
        self._live = _LiveCollector(health)
        self.registry.register(self._live)
        info = GaugeMetricFamily("callqa_info", "This box", labels=["version", "site", "group", "box"])
        info.add_metric([__version__, cfg.box.site, cfg.box.group, cfg.box.id], 1)
        self.registry.register(_Fixed(info))
        self.calls_scored = Counter("callqa_calls_scored", "Calls scored and handed to the outbox", ["line"], registry=self.registry)
        self.alerts = Counter("callqa_alerts", "Live alerts raised", ["line", "severity"], registry=self.registry)
        self.red_checks = Counter("callqa_red_checks", "Red keyword alerts the teacher checked (alerts.teacher_confirms_red), "
                                  "by outcome: confirmed, not_heard (withheld), unclear / timeout / busy / failed "
                                  "(published unconfirmed)", ["line", "outcome"], registry=self.registry)
        for line in health.lines:  # export zeros from the start so rates work from the first scrape
            self.calls_scored.labels(line)

    def watch_outbox(self, depth: Callable[[], int], dropped: Callable[[], int]) -> None:
        self._live.outbox_depth = depth
        self._live.outbox_dropped = dropped

    def on_score(self, score: CallScore) -> None:
        self.calls_scored.labels(score.line).inc()

    def on_alert(self, alert: Alert) -> None:
        self.alerts.labels(alert.line, alert.severity).inc()

    def on_red_check(self, alert: Alert) -> None:
        self.red_checks.labels(alert.line, alert.teacher_check["outcome"]).inc()

    def serve(self, bind: str, port: int):
        """Start the HTTP endpoint (a daemon thread); returns the server for shutdown."""
        server, _thread = start_http_server(port, addr=bind, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", bind, port)
        return server


class _Fixed:
    def __init__(self, family):
        self.family = family

    def collect(self):
        yield self.family
