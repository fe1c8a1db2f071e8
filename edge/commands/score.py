"""`callqa score FILE...`: score recorded calls, one CallScore per call as JSON Lines on stdout.

Each file is one line's stream: a recording may hold several calls, split by silence like a
live line. Progress goes to stderr on a terminal only, so piped output stays clean JSON.
"""

from __future__ import annotations

import itertools
import logging
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="WAV recordings (left agent, right customer)")
    p.add_argument("--config", type=Path, help="box config TOML (default: built-in defaults)")
    p.add_argument("--rate", type=int, choices=(8000, 16000), help="working rate (default: the config's audio.sample_rate)")
    p.add_argument("--timeline", type=Path, metavar="DIR", help="also write a timeline PNG per call into DIR")
    p.add_argument("--alerts", action="store_true", help="also print live alerts as they are raised")


def _progress(total: int):
    """A rich progress bar on a terminal; None when stderr is piped."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} files"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)


def run(args) -> int:
    # Imported here: `callqa --help` and the other commands must not pay for the pipeline.
    from edge.line import LineSources, line_pipeline, load_setup
    from edge.config import ChannelMap
    from edge.pipeline import run_source
    from edge.redcheck import RedCheck
    from edge.scoring.misses import MissedPhrases
    from edge.sinks import JsonLinesSink
    from edge.sources import SourceError

    cfg, rubric = load_setup(args.config)
    if args.rate:
        cfg = cfg.model_copy(update={"audio": cfg.audio.model_copy(update={"sample_rate": args.rate})})
    sources = LineSources.of(cfg)
    line = cfg.lines[0].name if cfg.lines else "file"
    channels = cfg.lines[0].channels if cfg.lines else ChannelMap()
    sink = JsonLinesSink(sys.stdout, alerts=args.alerts)
    draw = None
    if args.timeline:
        from edge.timeline import write_timeline

        args.timeline.mkdir(parents=True, exist_ok=True)
        draw = lambda call: write_timeline(call, args.timeline)  # noqa: E731
    failed = 0
    call_numbers = itertools.count(1)  # call ids stay unique across the files of one run
    missed_phrases = MissedPhrases.from_config(cfg, rubric)  # the trust file, read once for all files
    red_check = RedCheck.from_config(cfg)  # the teacher, loaded once, when it checks red alerts
    progress = _progress(len(args.files))
    task = progress.add_task("scoring", total=len(args.files)) if progress else None
    if progress:
        progress.start()
    try:
        for path in args.files:
            if progress:
                progress.update(task, description=path.name)
            try:
                source, duration = sources.wav(path, line, channels)
            except SourceError as e:
                print(f"callqa score: {e}", file=sys.stderr)
                failed += 1
                continue
            mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            pipeline = line_pipeline(line, cfg, rubric, [sink], mtime - timedelta(seconds=duration), call_numbers,
                                     missed_phrases, red_check)

            def on_call(call, path=path) -> None:
                if draw is not None:
                    print(f"{path}: timeline {draw(call)}", file=sys.stderr)

            try:
                run_source(pipeline, source, on_call=on_call)
            except Exception as e:  # noqa: BLE001 - one file's failure must not stop the batch
                log.debug("%s failed", path, exc_info=True)
                print(f"callqa score: {path}: could not be scored ({type(e).__name__}: {e}); "
                      "run with -v for details", file=sys.stderr)
                failed += 1
            if progress:
                progress.advance(task)
    finally:
        if progress:
            progress.stop()
    return 1 if failed else 0
