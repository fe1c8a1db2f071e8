"""Keyword spotting's share of `callqa bench`: CPU per channel for each runtime and precision.

Streams the bench call's agent channel through a KeywordSpotter with the rubric's phrases in
0.5 s chunks, as the pipeline does, and reports process CPU time per second of audio, i.e. the
fraction of one core one channel costs. Run alone with `python3 -m edge.bench.keywords`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edge.config import KeywordsConfig
from edge.events import Side


@dataclass(frozen=True)
class KwsBenchRow:
    runtime: str
    precision: str
    sample_rate: int
    audio_s: float
    cpu_s: float
    core_percent_per_channel: float  # CPU time / audio time × 100
    model_ms_per_call: float
    hits: int


COMBOS = (("onnx", "int8"), ("onnx", "float"), ("tflite", "int8"), ("tflite", "float"))


def measure(audio: np.ndarray, sample_rate: int, phrases: dict[str, list[str]], combos=COMBOS,
            repeats: int = 1) -> list[KwsBenchRow]:
    """Stream `audio` (one channel, int16) through a spotter per runtime/precision; fastest
    of `repeats` CPU times counts (the least disturbed by other processes)."""
    from edge.keywords.spotter import KeywordSpotter

    step = sample_rate // 2
    rows = []
    for runtime, precision in combos:
        spotter = KeywordSpotter.from_config(KeywordsConfig(runtime=runtime, precision=precision), phrases, {},
                                             sample_rate=sample_rate)
        window = np.zeros((spotter.info.window, 40), np.float32)
        spotter.model.log_probs(window)  # warm-up outside the timing
        cpu, hits = np.inf, []
        for _ in range(repeats):
            t0 = time.process_time()
            hits = []
            for at in range(0, len(audio), step):
                hits += spotter.process(Side.AGENT, audio[at : at + step], at / sample_rate)
            hits += spotter.flush(Side.AGENT)
            cpu = min(cpu, time.process_time() - t0)
        t1 = time.process_time()
        for _ in range(200):
            spotter.model.log_probs(window)
        per_call = (time.process_time() - t1) / 200 * 1000
        seconds = len(audio) / sample_rate
        rows.append(KwsBenchRow(runtime, precision, sample_rate, round(seconds, 1), round(cpu, 3),
                                round(100 * cpu / seconds, 3), round(per_call, 4), len(hits)))
    return rows


def bench_keywords(sample_rate: int = 8000) -> list[KwsBenchRow]:
    """The bench call's agent channel at `sample_rate`, the default rubric's phrases."""
    from edge.bench import BENCH_CALL
    from edge.scoring.rubric import load_rubric
    from edge.sources.wav import load_recording

    return measure(load_recording(BENCH_CALL, sample_rate).agent, sample_rate, load_rubric(None).phrases())


def bench_section(ctx) -> list:
    """`callqa bench` section: the agent channel of the bench call through the spotter (all of
    it, silence included, so an upper bound: the pipeline feeds only VAD-passed speech)."""
    from edge.bench import Measure
    from edge.scoring.rubric import load_rubric

    out = []
    phrases = load_rubric(ctx.cfg.rubric.path).phrases()
    for r in measure(np.ascontiguousarray(ctx.pcm[:, 0]), ctx.rate, phrases, repeats=ctx.repeats):
        label = f"{r.runtime} {r.precision}"
        out.append(Measure("keywords", f"spotter, {label}", r.cpu_s / r.audio_s, "rtf",
                           f"{r.core_percent_per_channel:.2f} % of one core per channel"))
        out.append(Measure("keywords", f"model call, {label}", r.model_ms_per_call * 1000, "µs",
                           "one 0.2 s hop: 60 frames in, 20 out"))
    return out


def main() -> int:
    import argparse

    from rich.console import Console
    from rich.table import Table

    p = argparse.ArgumentParser(description="keyword spotting CPU per channel")
    p.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    args = p.parse_args()
    rows = bench_keywords(args.rate)
    table = Table(title=f"keyword spotting, {rows[0].audio_s:.0f} s of the bench call at {args.rate} Hz, one channel")
    for col in asdict(rows[0]):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in asdict(r).values()))
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
