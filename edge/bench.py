"""`callqa bench`: how much of a CPU core each stage needs, per stereo line.

RTF (real-time factor) = processing seconds / audio seconds, best of `repeats`; a line needs
RTF < 1 to keep up, and one core carries about 1 / RTF lines. Sections are pluggable: a
module listed in SECTION_MODULES exposes `bench_section(ctx: BenchContext) -> list[Measure]`
(keyword spotting adds its own the same way).
"""

from __future__ import annotations

import importlib
import resource
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge.config import Config

# Modules that add bench sections; each exposes bench_section(ctx) -> list[Measure]. A section
# that needs a program that is not installed returns one Measure saying so (value NaN); one whose
# module cannot be imported (an optional dependency absent) is reported the same way by run_sections.
SECTION_MODULES: tuple[str, ...] = (
    "edge.bench_pipeline",
    "edge.keywords.bench",  # the keyword spotter per channel, both runtimes, int8 and float
    "edge.mqtt.bench",  # 8 lines of replayed calls through one box into a local Mosquitto
    "edge.store.bench",  # central store ingest (Mosquitto; PostgreSQL when installed)
)


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


def run_sections(ctx: BenchContext, modules: tuple[str, ...] = SECTION_MODULES) -> list[Measure]:
    out: list[Measure] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:  # a box without the optional extra still benches the rest
            out.append(skipped(name, f"cannot import {name} ({e})"))
            continue
        out += module.bench_section(ctx)
    return out
