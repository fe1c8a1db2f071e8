"""`callqa-central store`: the central QA consumer. Runs until SIGTERM/SIGINT, then stores and
acknowledges what it already received and leaves its session on the broker."""

from __future__ import annotations

import argparse
import re
import signal
import socket
import threading

from callqa_central.errors import ConfigError
from callqa_central.consumer import ConsumerOptions, StoreConsumer, broker_address
from callqa_central.db import open_database

DEFAULT_DB = "sqlite:///var/lib/callqa/store.sqlite"
_TOPIC_SAFE = re.compile(r"^[^/+#\s]+$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", required=True,
                   help="mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (tcp:// and ssl:// too; user:password@ allowed)")
    p.add_argument("--site", action="append", required=True, dest="sites", help="site to consume; repeat for several")
    p.add_argument("--share-group", default="callqa-store",
                   help="shared-subscription group: store processes with the same group split the messages")
    p.add_argument("--client-id", help="MQTT client id, fixed across restarts so the session survives; "
                   "must differ between processes (default: callqa-store-<host>-<share group>)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"sqlite:///PATH or postgresql://... (default {DEFAULT_DB})")
    p.add_argument("--prefix", default="callqa/v1", help="topic prefix (the boxes' mqtt.prefix)")
    p.add_argument("--session-expiry", type=int, default=7 * 24 * 3600, metavar="S",
                   help="how long the broker keeps this store's queue while it is away (s, default 7 days)")
    p.add_argument("--batch", type=int, default=500,
                   help="most messages per database transaction; also the broker's send-ahead window")


def options_from_args(args: argparse.Namespace) -> ConsumerOptions:
    broker_address(args.broker)  # refuse a bad URL before anything starts
    for name, values in (("--site", args.sites), ("--share-group", [args.share_group])):
        bad = [v for v in values if not _TOPIC_SAFE.match(v)]
        if bad:
            raise ConfigError(f"{name} {bad[0]!r}: must be non-empty and free of '/', '+', '#', spaces")
    if not 1 <= args.batch <= 65535:
        raise ConfigError(f"--batch {args.batch}: must be 1..65535 (MQTT receive maximum)")
    return ConsumerOptions(
        broker_url=args.broker,
        sites=tuple(dict.fromkeys(args.sites)),
        client_id=args.client_id or f"callqa-store-{socket.gethostname()}-{args.share_group}",
        share_group=args.share_group,
        prefix=args.prefix.rstrip("/"),
        session_expiry_s=args.session_expiry,
        receive_maximum=args.batch,
    )


def run(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    open_database(args.db).close()  # a wrong --db fails here, with its message, before connecting
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    StoreConsumer(opts, lambda: open_database(args.db), stop).run()
    return 0
