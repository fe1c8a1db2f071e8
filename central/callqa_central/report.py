"""`callqa-central report daily|weekly|monthly`: the centre's QA reports from the store, as a terminal
table, CSV or a self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from callqa_central.errors import ConfigError
from callqa_central.db import open_database
from callqa_central.periods import KINDS, parse_period, zone
from callqa_central.queries import DEFAULT_MAJOR_POINTS, DEFAULT_MISSING_AFTER_S, DEFAULT_THRESHOLD, Scope, build_report
from callqa_central.render import print_table, to_csv
from callqa_central.service import DEFAULT_DB


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--db", default=DEFAULT_DB, help=f"the store's database (default {DEFAULT_DB})")
    p.add_argument("--site", help="only this site")
    p.add_argument("--group", help="only this seat group")
    p.add_argument("--date", help="daily: the day, YYYY-MM-DD (default yesterday)")
    p.add_argument("--week", help="weekly: ISO week, YYYY-Www (default last week)")
    p.add_argument("--month", help="monthly: YYYY-MM (default last month)")
    p.add_argument("--tz", help="the centre's time zone, e.g. Asia/Shanghai (default this machine's)")
    p.add_argument("--threshold", type=float, default=100 * DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"warning threshold on pass rate, %% (default {100 * DEFAULT_THRESHOLD:g})")
    p.add_argument("--major-points", type=float, default=DEFAULT_MAJOR_POINTS, metavar="N",
                   help=f"a non-fatal failed item costing at least N points is a B (major) problem (default {DEFAULT_MAJOR_POINTS:g})")
    p.add_argument("--missing-after", type=float, default=DEFAULT_MISSING_AFTER_S / 60, metavar="MIN",
                   help="a number missing from a box's count this long is reported as never received "
                        f"(default {DEFAULT_MISSING_AFTER_S / 60:g}: boxes send again what has no receipt within minutes)")
    p.add_argument("--format", choices=("table", "csv", "html"), default="table")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")


def run(args: argparse.Namespace) -> int:
    period_arg = {"daily": args.date, "weekly": args.week, "monthly": args.month}[args.kind]
    others = [f"--{k}" for k, v in (("date", args.date), ("week", args.week), ("month", args.month))
              if v and v is not period_arg]
    if others:
        raise ConfigError(f"{args.kind} report: {', '.join(others)} does not apply (use "
                          f"{ {'daily': '--date', 'weekly': '--week', 'monthly': '--month'}[args.kind]})")
    if not 0 < args.threshold <= 100:
        raise ConfigError(f"--threshold {args.threshold:g}: must be a percentage in (0, 100]")
    period = parse_period(args.kind, period_arg, zone(args.tz))
    db = open_database(args.db, create=False)
    try:
        if not db.applied_migrations():
            raise ConfigError(f"--db {args.db}: no store tables here (has `callqa-central store` run with this --db?)")
        report = build_report(db, period, Scope(args.site, args.group), args.threshold / 100, args.major_points,
                              args.missing_after * 60)
    finally:
        db.close()
    if args.format == "table":
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
        try:
            print_table(report, Console(file=out, width=160 if args.out else None))
        finally:
            if args.out:
                out.close()
        return 0
    if args.format == "csv":
        text = to_csv(report)
    else:
        from callqa_central.html import to_html  # matplotlib only when a page is asked for

        text = to_html(report)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0

