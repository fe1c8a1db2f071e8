"""`callqa doctor`: a pass/fail table of everything a box needs, with the fix for each failure.

Run it as the service's user, so that permissions are the service's:
`sudo -u callqa /opt/callqa/venv/bin/callqa doctor`. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.config import ConfigError, load_config
from edge.ops import checks
from edge.ops.checks import CheckResult
from edge.commands.config import add_config_argument

CHECKS = ("rubric", "keywords", "teacher", "audio", "levels", "clock", "outbox", "broker")
STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--skip", action="append", default=[], choices=CHECKS,
                        help="leave a check out (repeatable), e.g. --skip broker before the broker exists")
    parser.add_argument("--levels-seconds", type=float, default=3.0, help="audio listened to per line (default 3)")
    parser.add_argument("--source", nargs=2, metavar=("wav", "FILE"),
                        help="judge levels from a recording instead of the lines' inputs")


def run_checks(args: argparse.Namespace) -> list[CheckResult]:
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        return [CheckResult("config", "fail", str(e), f"edit {args.config} at the key named; "
                            f"`callqa config check --config {args.config}` until it says OK")]
    rows = [CheckResult("config", "pass", f"{args.config}: {len(cfg.lines)} line(s)")]
    if not cfg.lines:
        rows.append(CheckResult("lines", "fail", "no [[lines]] configured", "add one (README: Installing a box)"))
    wav = Path(args.source[1]) if args.source else None
    plan = {
        "rubric": partial(checks.rubric, cfg),
        "keywords": partial(checks.keywords, cfg),
        "teacher": partial(checks.teacher, cfg),
        "audio": partial(checks.audio_devices, cfg, wav),
        "levels": partial(checks.levels, cfg, args.levels_seconds, wav),
        "clock": checks.clock,
        "outbox": partial(checks.outbox, cfg),
        "broker": partial(checks.broker, cfg),
    }
    for name, check in plan.items():
        if name in args.skip:
            rows.append(CheckResult(name, "skip", "skipped (--skip)"))
        else:
            rows += checks.guarded(name, check)
    if cfg.learning.enabled:  # loud: the box keeps audio
        from edge.commands.learn import summary

        rows.append(CheckResult("learning", "warn", summary(cfg), "on by [learning] enabled; "
                                "`callqa learn purge` deletes what is kept"))
    return rows


def render(rows: list[CheckResult]) -> Table:
    table = Table(title="callqa doctor", show_lines=False)
    for col in ("check", "result", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.name, f"[{STYLE[r.status]}]{r.status.upper()}[/]", r.detail, r.fix)
    return table


def run(args: argparse.Namespace) -> int:
    if args.source and args.source[0] != "wav":
        raise ConfigError(f"--source {args.source[0]}: only 'wav FILE' is supported")
    rows = run_checks(args)
    console = Console(width=None if Console().is_terminal else 200)
    console.print(render(rows))
    failed = [r.name for r in rows if r.status == "fail"]
    console.print(f"[bold red]{len(failed)} check(s) failed: {', '.join(failed)}[/]" if failed
                  else "[green]all checks passed[/]")
    return 1 if failed else 0
