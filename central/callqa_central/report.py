"""`callqa-central report daily|weekly|monthly|boxes`: the centre's QA reports from the store, and the
boxes view (fleet.py), as a terminal table, CSV or a self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from callqa_central.errors import ConfigError
from callqa_central.db import open_database
from callqa_central.periods import KINDS, parse_period, zone
from callqa_central.queries import DEFAULT_MAJOR_POINTS, DEFAULT_MISSING_AFTER_S, DEFAULT_THRESHOLD, Scope, build_report
from callqa_central.fleet import fleet_view
from callqa_central.render import print_table, to_csv
from callqa_central.render_fleet import boxes_csv, print_boxes
from callqa_central.service import DEFAULT_DB, add_fleet_arguments, fleet_rules


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=(*KINDS, "boxes"), help="a period's report, or every box as it is now")
    p.add_argument("--db", default=DEFAULT_DB, help=f"the store's database (default {DEFAULT_DB})")
    p.add_argument("--site", help="only this site")
    p.add_argument("--group", help="only this seat group")
    p.add_argument("--date", help="daily: the day, YYYY-MM-DD (default yesterday)")
    p.add_argument("--week", help="weekly: ISO week, YYYY-Www (default last week)")
    p.add_argument("--month", help="monthly: YYYY-MM (default last month)")
    add_fleet_arguments(p)
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
    if args.kind == "boxes":
        return _boxes(args)
    period_arg = {"daily": args.date, "weekly": args.week, "monthly": args.month}[args.kind]
    others = [f"--{k}" for k, v in (("date", args.date), ("week", args.week), ("month", args.month))
              if v and v is not period_arg]
    if others:
        raise ConfigError(f"{args.kind} report: {', '.join(others)} does not apply (use "
                          f"{ {'daily': '--date', 'weekly': '--week', 'monthly': '--month'}[args.kind]})")
    if not 0 < args.threshold <= 100:
        raise ConfigError(f"--threshold {args.threshold:g}: must be a percentage in (0, 100]")
    period = parse_period(args.kind, period_arg, zone(args.tz))
    rules = fleet_rules(args)
    with _store(args) as db:
        report = build_report(db, period, Scope(args.site, args.group), args.threshold / 100, args.major_points,
                              args.missing_after * 60, rules)
    if args.format == "table":
        return _print(args, lambda console: print_table(report, console))
    if args.format == "csv":
        return _write(args, to_csv(report))
    from callqa_central.html import to_html  # matplotlib only when a page is asked for

    return _write(args, to_html(report))


def _boxes(args: argparse.Namespace) -> int:
    rules = fleet_rules(args)
    with _store(args) as db:
        view = fleet_view(db, rules, Scope(args.site, args.group))
    if args.format == "table":
        return _print(args, lambda console: print_boxes(view, console))
    if args.format == "csv":
        return _write(args, boxes_csv(view))
    from callqa_central.html import boxes_html

    return _write(args, boxes_html(view))


@contextmanager
def _store(args: argparse.Namespace):
    db = open_database(args.db, create=False)
    try:
        if not db.applied_migrations():
            raise ConfigError(f"--db {args.db}: no store tables here (has `callqa-central store` run with this --db?)")
        yield db
    finally:
        db.close()


def _print(args: argparse.Namespace, show) -> int:
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        show(Console(file=out, width=160 if args.out else None))
    finally:
        if args.out:
            out.close()
    return 0


def _write(args: argparse.Namespace, text: str) -> int:
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
