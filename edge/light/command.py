"""`callqa light-bridge --config FILE`: mirror the seat group's desk light onto the WLED or
Tasmota lamp named in the config's [light_bridge] section, until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from edge.config import ConfigError, load_config
from edge.light.bridge import LightBridge, client_factory

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the box's TOML configuration")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if cfg.light_bridge is None:
        raise ConfigError(f"{args.config}: light_bridge: section missing (kind = \"wled\" or \"tasmota\", topic = ...)")
    make, host, port = client_factory(cfg)
    bridge = LightBridge(cfg, make, host, port).start()
    log.info("light bridge: group %s/%s -> %s lamp %r via %s:%d", cfg.box.site, cfg.box.group,
             cfg.light_bridge.kind, cfg.light_bridge.topic, host, port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    bridge.stop()
    return 0
