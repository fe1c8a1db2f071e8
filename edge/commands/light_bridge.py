"""`callqa light-bridge --config FILE`: mirror the seat group's desk light onto the WLED or
Tasmota lamp named in the config's [light_bridge] section, until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from edge.config import ConfigError, load_config

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the box's TOML configuration")


def run(args: argparse.Namespace) -> int:
    from edge.light.bridge import LightBridge  # here: `callqa --help` must not load MQTT and the light

    cfg = load_config(args.config)
    try:
        bridge = LightBridge.from_config(cfg).start()
    except ConfigError as e:
        raise ConfigError(f"{args.config}: {e}") from None
    log.info("light bridge: group %s/%s -> %s lamp %r", cfg.box.site, cfg.box.group,
             cfg.light_bridge.kind, cfg.light_bridge.topic)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    bridge.stop()
    return 0
