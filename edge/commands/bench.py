"""`callqa bench`: real-time factor per stage for a stereo line, lines per core, peak memory."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--wav", type=Path, help="a stereo call to measure on (default: the bench call shipped with the box)")
    p.add_argument("--config", type=Path, help="box config TOML (default: built-in defaults)")
    p.add_argument("--rate", type=int, choices=(8000, 16000), help="working rate (default: the config's)")
    p.add_argument("--repeats", type=int, default=3, help="runs per stage; the fastest counts (default 3)")
    p.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    p.add_argument("--lines", type=int, metavar="N",
                   help="instead: the real service (callqa run) with N replay lines of generated calls, keywords and "
                        "MQTT on, measured from outside: CPU per line, memory, dropped blocks, alert and score delays "
                        "(needs the lab: pip install -e ./lab)")
    p.add_argument("--calls", type=int, default=3, help="--lines: generated calls each line replays (default 3)")
    p.add_argument("--fast", action="store_true", help="--lines: replay as fast as possible (a stress figure), not in real time")
    p.add_argument("--runtime", choices=("auto", "onnx", "tflite"), default="auto",
                   help="--lines: the keyword model's runtime, int8 (default: the box's, auto)")
    p.add_argument("--broker", metavar="URL", help="--lines: this broker (default: a Mosquitto started on a loopback port)")


def _test_audio(wav: Path, rate: int):
    import numpy as np

    from edge.sources import SourceError
    from edge.sources.wav import load_recording

    rec = load_recording(wav, rate)
    if rec.customer is None:
        raise SourceError(f"{wav}: bench needs a stereo call")
    return np.stack([rec.agent, rec.customer], axis=1)


def run(args) -> int:
    if args.lines:
        return _lines(args)
    # Imported here: `callqa --help` and the other commands must not pay for the pipeline.
    from edge.bench import BENCH_CALL, BenchContext, run_sections
    from edge.line import load_setup
    from edge.sources import SourceError

    cfg, _ = load_setup(args.config)
    if args.rate:
        cfg = cfg.model_copy(update={"audio": cfg.audio.model_copy(update={"sample_rate": args.rate})})
    try:
        pcm = _test_audio(args.wav or BENCH_CALL, cfg.audio.sample_rate)
    except SourceError as e:
        print(f"callqa bench: {e}", file=sys.stderr)
        return 1
    measures = run_sections(BenchContext(cfg, pcm, args.repeats))
    machine = machine_name()
    if args.json:
        for m in measures:
            print(json.dumps({**m.__dict__, "machine": machine}, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"callqa bench on {machine}")
    for col in ("section", "stage", "value", "unit", "note"):
        table.add_column(col)
    for m in measures:
        value = "-" if m.value != m.value else f"{m.value:.2e}" if m.unit == "rtf" else f"{m.value:.1f}"  # NaN: skipped
        table.add_row(m.section, m.stage, value, m.unit, m.note)
    Console().print(table)
    return 0


def _lines(args) -> int:
    """`--lines N`: the lab's run (it generates the calls with their truth and starts the broker)."""
    from importlib.metadata import entry_points

    found = entry_points(group="callqa.bench_runs", name="lines")
    if not found:
        print("callqa bench --lines: needs the lab installed (pip install -e ./lab): it generates the calls "
              "and starts the broker", file=sys.stderr)
        return 1
    return next(iter(found)).load()(args)


def machine_name() -> str:
    """This machine, as the bench's figures name it: architecture and CPU model."""
    return f"{platform.processor() or platform.machine()} ({_cpu_model()})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
