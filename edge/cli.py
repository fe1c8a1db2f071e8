"""`callqa` command line: one subcommand per job, each in its own module.

Subcommands are imported lazily so that `callqa watch` never pays for loading the keyword
model, and a missing optional dependency only breaks the command that needs it.
Each module exposes `add_arguments(parser)` and `run(args) -> int`. Other installed packages
add commands through the entry-point group `callqa.commands` (name = module, its first
docstring line the help): the lab adds `eval-kws` that way, so the box never imports the lab.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from importlib.metadata import entry_points

from edge import __version__
from edge.config import ConfigError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("edge.commands.config", "check the box's config and rubric, or write a new config"),
    "devices": ("edge.commands.devices", "list the audio input devices"),
    "levels": ("edge.commands.levels", "live per-channel level meter for a line"),
    "doctor": ("edge.commands.doctor", "check everything the box needs; says how to fix what fails"),
    "score": ("edge.commands.score", "score recorded calls: one CallScore per call as JSON Lines on stdout"),
    "run": ("edge.commands.run", "the service loop: score every call on every configured line, live"),
    "bench": ("edge.commands.bench", "real-time factor per stage for a stereo line, lines per core, peak memory"),
    "watch": ("edge.commands.watch", "print scores, alerts, status and desk lights from the broker as they arrive"),
    "teacher": ("edge.commands.teacher", "assemble and verify the teacher (a real-speech recogniser) offline"),
    "learn": ("edge.commands.learn", "learning mode: what speech this box keeps to adapt to its site, or delete it"),
    "light-bridge": ("edge.commands.light_bridge", "mirror the seat group's desk light onto a WLED or Tasmota lamp"),
}


PLUGIN_GROUP = "callqa.commands"


def commands() -> dict[str, tuple[str, str]]:
    """The box's own commands, then those that installed packages add (never replacing one)."""
    found = dict(COMMANDS)
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in found:
            continue
        try:
            module = importlib.import_module(ep.value)
        except ImportError as e:  # a half-installed package must not take the box's commands down
            print(f"callqa: command {ep.name!r} ({ep.value}) cannot be loaded, left out: {e}", file=sys.stderr)
            continue
        found[ep.name] = (ep.value, (module.__doc__ or ep.name).strip().splitlines()[0])
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callqa", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"callqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in commands().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are declared by the command's module; importing it here only when asked
        # for would hide its options from --help, so import now but keep imports in the
        # modules themselves light.
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except ConfigError as e:
        print(f"callqa: configuration error:\n{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
