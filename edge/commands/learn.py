"""`callqa learn status|purge`: what learning mode keeps on this box, and deleting it now.

`status` says whether learning mode is on and how much speech the store holds (never what was
said); `purge` deletes every kept segment. `run-now` (label, fine-tune, guard, adopt) is not
built yet (issue 18).
"""

from __future__ import annotations

import argparse

from edge.commands.config import add_config_argument
from edge.config import load_config
from edge.learning.store import SegmentStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (("status", "is learning mode on, and how much speech is kept"),
                            ("purge", "delete every kept speech segment now")):
        add_config_argument(sub.add_parser(name, help=help_text))


def summary(cfg) -> str:
    """One line for status and doctor: on or off, and the store's fill against its bounds."""
    lc = cfg.learning
    store = SegmentStore.from_config(cfg)
    kept = store.segments()
    hours, mb = sum(s.seconds for s in kept) / 3600, sum(s.bytes for s in kept) / 2**20
    state = "LEARNING MODE IS ON" if lc.enabled else "learning mode is off"
    return (f"{state}: {len(kept)} speech segment(s) kept in {store.folder}, {hours:.2f} of {lc.max_hours} h, "
            f"{mb:.1f} of {lc.max_mb:.0f} MB, each deleted after use or after {lc.keep_days:g} days")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.action == "purge":
        n = SegmentStore.from_config(cfg).purge()
        print(f"deleted {n} kept speech segment(s)")
        return 0
    print(summary(cfg))
    return 0
