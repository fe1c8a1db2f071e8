"""`callqa levels`: a live per-channel meter for one line, to get gain and wiring right.

Shows every channel of the line's input: peak and RMS bars, clipping and silence warnings,
and which channel webrtcvad hears as speech right now — have the agent talk alone and the
`agent` channel should light up. Ctrl-C stops and prints the summary. Without a terminal (or
with --seconds) it listens for a while and prints only the summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.bar import Bar
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from edge.config import ConfigError, load_config
from edge.commands.config import add_config_argument
from edge.ops.levels import FLOOR_DB, ChannelLevel, LevelMeter
from edge.line import LineSources
from edge.ops.tap import TapError, channel_roles, line_named

BAR_RANGE_DB = 60.0  # bars span -60 .. 0 dBFS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--line", help="line name (default: the first configured)")
    parser.add_argument("--source", nargs=2, metavar=("wav", "FILE"), help="meter a recording instead of the device")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C; a file: its end)")
    parser.add_argument("--block-ms", type=int, default=300, help="meter update period (default 300 ms)")


def _bar(db: float) -> Bar:
    return Bar(BAR_RANGE_DB, 0, max(0.0, db + BAR_RANGE_DB), width=30, color="red" if db > -1 else "green")


def render(levels: list[ChannelLevel], title: str, bars: bool) -> Table:
    table = Table(title=title)
    for col in ("ch", "side", "peak dBFS", "RMS dBFS", "speech", "warnings"):
        table.add_column(col, overflow="fold")
    for lv in levels:
        peak = f"{lv.peak_dbfs:6.1f}" if lv.peak_dbfs > FLOOR_DB else "  -inf"
        speech = f"{100 * lv.speech_fraction:3.0f} %"
        row = [str(lv.channel), lv.role or "(unused)", peak, f"{lv.rms_dbfs:6.1f}", speech, "; ".join(lv.warnings())]
        if bars:
            row[2] = Group(peak, _bar(lv.peak_dbfs))
            row[3] = Group(f"{lv.rms_dbfs:6.1f}", _bar(lv.rms_dbfs))
            row[4] = "[bold green]SPEECH[/]" if lv.speech_fraction >= 0.5 else ""
        table.add_row(*row)
    return table


def wiring_advice(levels: list[ChannelLevel]) -> str:
    """Plain words on agent/customer wiring. A call starts with the agent's greeting, so the
    agent channel should be the first to carry speech."""
    roles = {lv.role: lv for lv in levels if lv.role}
    parts = [f"{role} is channel {lv.channel}, " + ("no speech heard" if lv.first_speech_s is None
             else f"speech first heard at {lv.first_speech_s:.1f} s") for role, lv in roles.items()]
    advice = "; ".join(parts) + "."
    unused = [lv.channel for lv in levels if lv.role is None and lv.speech_fraction > 0.2]
    if unused:
        advice += f" Speech on channel(s) {unused}, which the line does not use: check [lines.channels]."
    agent, customer = roles.get("agent"), roles.get("customer")
    if agent and customer and customer.first_speech_s is not None and (
            agent.first_speech_s is None or customer.first_speech_s < agent.first_speech_s):
        advice += (" The customer channel spoke first, but agents greet first: if this was the start of a"
                   " call, agent and customer are probably swapped (swap them in [lines.channels]).")
    else:
        advice += " Check: with only the agent talking, only the agent channel shows SPEECH."
    return advice


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    line = line_named(cfg.lines, args.line)
    if args.source and args.source[0] != "wav":
        raise ConfigError(f"--source {args.source[0]}: only 'wav FILE' is supported")
    wav = Path(args.source[1]) if args.source else None
    console = Console()
    live = console.is_terminal
    try:
        tap = LineSources.of(cfg).raw(line, wav, realtime=live)
    except TapError as e:
        console.print(f"[red]{e}[/]")
        return 1
    meter = LevelMeter(tap.sample_rate, channel_roles(line), cfg.vad.aggressiveness)
    block = tap.sample_rate * args.block_ms // 1000
    title = f"line {line.name}: {tap.name}"
    started = time.monotonic()
    try:
        with Live(console=console, auto_refresh=False, transient=True) if live else _NoLive() as view:
            while args.seconds is None or meter.seconds < args.seconds:
                data = tap.read(block)
                if data is None:
                    break
                meter.add(data)
                view.update(render(meter.now, title, bars=True), refresh=True)
    except KeyboardInterrupt:
        pass
    except TapError as e:
        console.print(f"[red]{e}[/]")
        return 1
    finally:
        tap.close()
    overall = meter.overall
    if not overall:
        console.print(f"[red]no audio read from {tap.name}[/]")
        return 1
    console.print(render(overall, f"{title}: {meter.seconds:.1f} s of audio in {time.monotonic() - started:.1f} s", bars=False))
    console.print(wiring_advice(overall), markup=False)
    broken = [lv for lv in overall if lv.role and (lv.dead or lv.clipping)]
    return 1 if broken else 0


class _NoLive:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, *args, **kwargs):
        pass
