"""`callqa bench`: how much of a CPU core each stage needs, per stereo line.

RTF (real-time factor) = processing seconds / audio seconds, best of `repeats`; a line needs
RTF < 1 to keep up, and one core carries about 1 / RTF lines. Sections are pluggable: a
module exposes `bench_section(ctx: BenchContext) -> list[Measure]`. The box's own are listed in
SECTION_MODULES; other installed packages add theirs through the entry-point group
`callqa.bench_sections` (the lab adds the MQTT load run and the central store's ingest).
The test audio is `BENCH_CALL`, shipped with the box (callqa_lab/bench_call.py writes it).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
import resource
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge.config import Config

# The box's own sections; each exposes bench_section(ctx) -> list[Measure]. A section that needs
# a program that is not installed returns one Measure saying so (value NaN); one whose module
# cannot be imported (an optional dependency absent) is reported the same way by run_sections.
SECTION_MODULES: tuple[str, ...] = (
    "edge.bench.pipeline",
    "edge.bench.keywords",  # the keyword spotter per channel, both runtimes, int8 and float
    "edge.bench.teacher",  # the teacher per audio hour, and one check before a red light
)
PLUGIN_GROUP = "callqa.bench_sections"
BENCH_CALL = Path(__file__).with_name("bench-call.wav")  # 146 s of generated calls, 16 kHz stereo


def section_modules() -> tuple[str, ...]:
    """The box's sections, then those of installed packages, by entry-point name."""
    plugins = sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name)
    return SECTION_MODULES + tuple(ep.value for ep in plugins if ep.value not in SECTION_MODULES)


@dataclass(frozen=True)
class BenchContext:
    """A stereo test call (int16, left agent / right customer) at the working rate."""

    cfg: Config
    pcm: np.ndarray
    repeats: int

    @property
    def rate(self) -> int:
        return self.cfg.audio.sample_rate

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.rate


@dataclass(frozen=True)
class Measure:
    section: str
    stage: str
    value: float
    unit: str  # "rtf", "lines/core", "MiB", …
    note: str = ""


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """Fastest of `repeats` runs: the least disturbed by other processes on the machine."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def skipped(section: str, why: str) -> Measure:
    """The one line a section reports when it cannot run here (NaN: no value measured)."""
    return Measure(section, f"skipped: {why}", float("nan"), "-")


def run_sections(ctx: BenchContext, modules: tuple[str, ...] | None = None) -> list[Measure]:
    out: list[Measure] = []
    for name in section_modules() if modules is None else modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:  # a box without the optional extra still benches the rest
            out.append(skipped(name, f"cannot import {name} ({e})"))
            continue
        out += module.bench_section(ctx)
    return out
