"""`callqa-central`: central QA's two jobs, on the server beside the site broker.

    callqa-central store   take every box's scores and alerts off MQTT into the database
    callqa-central report  daily, weekly and monthly quality reports and the boxes view from that database
    callqa-central cti     import the site's CTI call counts, for the reports' coverage
"""

from __future__ import annotations

import argparse
import logging
import sys

from callqa_central import cti, report, service
from callqa_central.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callqa-central", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, job, help_text in (
        ("store", service, "store every box's scores and alerts from the broker"),
        ("report", report, "daily, weekly and monthly quality reports, and every box's state, from the store"),
        ("cti", cti, "import the site's CTI call counts per seat group and hour (coverage)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        job.add_arguments(p)
        p.set_defaults(_run=job.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args._run(args) or 0)
    except ConfigError as e:
        print(f"callqa-central: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
