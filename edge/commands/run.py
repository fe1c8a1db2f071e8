"""`callqa run --config FILE`: the box's service loop, one thread per configured line."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import MqttConfig
    from edge.mqtt.sink import MqttSink

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("--config", type=Path, required=True, help="box config TOML")


def run(args) -> int:
    _tune_malloc()
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

            mqtt = MqttSink(cfg, model=_model_in_use(cfg), on_call_boundary=service.on_call_boundary,
                            stream_clock=service.stream_time).start()
            service.sinks.insert(0, mqtt)  # first: a score printed or counted is in the outbox already
            runtime.metrics.watch_outbox(mqtt.client.pending, mqtt.client.dropped)
        bridge = None
        if cfg.light_bridge is not None:  # the seat group's light on a WLED or Tasmota lamp too
            from edge.light.bridge import LightBridge

            bridge = LightBridge.from_config(cfg).start()
        signal.signal(signal.SIGTERM, lambda *_: service.stop())
        service.start()
        log.info("scoring calls on %s", ", ".join(line.name for line in cfg.lines))
        ended = False
        try:
            runtime.ready()
            while service.running():
                service.join(timeout=0.5)
            ended = not service.stop_event.is_set()  # every line ran to its end (replay, wav)
        except KeyboardInterrupt:
            service.stop()
            service.join(timeout=10)
        finally:
            if bridge is not None:
                bridge.stop()
            if mqtt is not None:
                _close_mqtt(mqtt, cfg.mqtt, service.stop_event if ended else None)
    return 1 if service.failures else 0


# glibc's mallopt parameters (malloc.h) and what the box sets them to; MALLOC_*_ set by a site win.
_MALLOC_SETTINGS = (
    # Each thread that contends for malloc gets an arena of its own (up to 8 per core), and
    # each keeps what it frees: about 60 MiB over eight line threads. Two are enough.
    ("MALLOC_ARENA_MAX", -8, 2),
    # A freed large block raises glibc's mmap threshold up to 32 MiB, after which a call's
    # arrays of a few MB come from the heap and stay there once freed; a fixed threshold
    # keeps them mapped, so they go back to the system when a call ends (and the heap is
    # trimmed past 512 KiB). Together about 40 MiB less for eight lines, measured.
    ("MALLOC_MMAP_THRESHOLD_", -3, 128 * 1024),
    ("MALLOC_TRIM_THRESHOLD_", -1, 512 * 1024),
)


def _tune_malloc() -> None:
    """Keep the service's resident memory near what it uses (see _MALLOC_SETTINGS)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl has no per-thread arenas): nothing to tune
    for env, param, value in _MALLOC_SETTINGS:
        if env not in os.environ:
            mallopt(param, value)


def _model_in_use(cfg) -> str | None:
    """The status's `model`: the spotter file the lines run and the start of its digest, so that
    central QA sees which model a box scored with (a site's adapted model differs from the shipped one)."""
    if not cfg.keywords.enabled:
        return None
    from edge.keywords.trust import running_model, short_model

    return short_model(running_model(cfg.keywords))


def _close_mqtt(mqtt: MqttSink, mcfg: MqttConfig, drain: threading.Event | None) -> None:
    """Disconnect, saying how many scores and alerts stay in the outbox. A box whose lines all
    ended by themselves first waits up to mqtt.drain_s for them to be delivered, so that a
    replay's last scores are not left behind (`drain`: the stop event that cuts the wait short;
    None: stopped, no wait)."""
    delivered = "receipted by central QA" if mcfg.receipts else "acknowledged by the broker"
    if drain is not None and (left := mqtt.client.undelivered()):
        log.info("waiting up to %.0f s (mqtt.drain_s) for %d message(s) (scores, alerts) to be %s",
                 mcfg.drain_s, left, delivered)
        try:
            mqtt.client.drain(mcfg.drain_s, cancel=drain)
        except KeyboardInterrupt:
            pass
    left = mqtt.close()
    if left:
        log.warning("%d message(s) (scores, alerts) not yet %s stay in the outbox %s; they go out on the next start",
                    left, delivered, mqtt.client.outbox_path)
    else:
        log.info("every score and alert is %s; the outbox is empty", delivered)
