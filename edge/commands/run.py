"""`callqa run --config FILE`: the box's service loop, one thread per configured line."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--config", type=Path, required=True, help="box config TOML")


def run(args) -> int:
    # Imported here: `callqa --help` and the other commands must not pay for the pipeline.
    from edge.line import load_setup
    from edge.config import ConfigError
    from edge.ops.service import ServiceRuntime
    from edge.service import Service
    from edge.sinks import JsonLinesSink

    cfg, rubric = load_setup(args.config)
    if not cfg.lines:
        raise ConfigError(f"{args.config}: lines: no line configured, nothing to listen to")
    with ServiceRuntime(cfg) as runtime:  # systemd notify + watchdog, metrics, SIGHUP reload
        service = Service(cfg, rubric, [JsonLinesSink(sys.stdout, alerts=True), runtime.metrics],
                          health=runtime.health)
        runtime.reload_with(service.prepare_rubric, service.replace_rubric)
        mqtt = None
        if cfg.mqtt.enabled:  # scores and alerts to the outbox and broker; CTI events back in
            from edge.mqtt.sink import MqttSink

            mqtt = MqttSink(cfg, on_call_boundary=service.on_call_boundary, stream_clock=service.stream_time).start()
            service.sinks.append(mqtt)
            runtime.metrics.watch_outbox(mqtt.client.pending, mqtt.client.dropped)
        bridge = None
        if cfg.light_bridge is not None:  # the seat group's light on a WLED or Tasmota lamp too
            from edge.light.bridge import LightBridge

            bridge = LightBridge.from_config(cfg).start()
        signal.signal(signal.SIGTERM, lambda *_: service.stop())
        service.start()
        log.info("scoring calls on %s", ", ".join(line.name for line in cfg.lines))
        try:
            runtime.ready()
            while service.running():
                service.join(timeout=0.5)
        except KeyboardInterrupt:
            service.stop()
            service.join(timeout=10)
        finally:
            if bridge is not None:
                bridge.stop()
            if mqtt is not None:
                mqtt.close()
    return 1 if service.failures else 0
