"""`callqa-central store`: the central QA consumer. Runs until SIGTERM/SIGINT, then stores and
acknowledges what it already received and leaves its session on the broker."""

from __future__ import annotations

import argparse
import re
import signal
import socket
import threading
from pathlib import Path

from callqa_central.errors import ConfigError
from callqa_central.consumer import ConsumerOptions, StoreConsumer, broker_address
from callqa_central.db import open_database
from callqa_central.fleet import (DEFAULT_OFFLINE_AFTER_MIN, DEFAULT_SILENT_AFTER_H, DEFAULT_WORKING_DAYS,
                                  DEFAULT_WORKING_HOURS, FleetRules, WorkingHours, read_closed_dates)
from callqa_central.periods import zone

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
    add_fleet_arguments(p)
    p.add_argument("--offline-after", type=float, default=DEFAULT_OFFLINE_AFTER_MIN, metavar="MIN",
                   help="a box offline this long in working hours raises a fleet alert "
                        f"(default {DEFAULT_OFFLINE_AFTER_MIN:g}: a restart is not an alert)")
    p.add_argument("--fleet-check", type=float, default=30.0, metavar="S",
                   help="how often to look for boxes offline and lines silent (s, default 30)")
    p.add_argument("--no-fleet-alerts", action="store_true",
                   help="do not publish fleet alerts on <prefix>/<site>/fleet/alert")


def add_fleet_arguments(p: argparse.ArgumentParser) -> None:
    """The silence rule's settings, shared by the store (fleet alerts) and the reports."""
    p.add_argument("--tz", help="the centre's time zone, e.g. Asia/Shanghai (default this machine's)")
    p.add_argument("--working-hours", default=DEFAULT_WORKING_HOURS, metavar="HH:MM-HH:MM",
                   help=f"the centre's working hours in --tz (default {DEFAULT_WORKING_HOURS})")
    p.add_argument("--working-days", default=DEFAULT_WORKING_DAYS, metavar="DAYS",
                   help=f"the days those hours apply: mon-fri, mon-sat, mon,wed,fri (default {DEFAULT_WORKING_DAYS})")
    p.add_argument("--closed-dates", type=Path, metavar="FILE",
                   help="dates the centre is closed (public holidays), one YYYY-MM-DD per line")
    p.add_argument("--silent-after", type=float, default=DEFAULT_SILENT_AFTER_H, metavar="H",
                   help="a line that scored no call for H working hours is silent "
                        f"(default {DEFAULT_SILENT_AFTER_H:g})")


def fleet_rules(args: argparse.Namespace, offline_after_min: float = DEFAULT_OFFLINE_AFTER_MIN) -> FleetRules:
    if args.silent_after <= 0:
        raise ConfigError(f"--silent-after {args.silent_after:g}: must be a number of hours above 0")
    closed = read_closed_dates(args.closed_dates) if args.closed_dates else frozenset()
    hours = WorkingHours.parse(args.working_hours, zone(args.tz), args.working_days, closed)
    return FleetRules(hours, args.silent_after, 60 * offline_after_min)


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
        fleet=None if args.no_fleet_alerts else fleet_rules(args, args.offline_after),
        fleet_check_s=args.fleet_check,
    )


def run(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    open_database(args.db).close()  # a wrong --db fails here, with its message, before connecting
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    StoreConsumer(opts, lambda: open_database(args.db), stop).run()
    return 0
