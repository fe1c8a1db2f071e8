"""Keyword spotting's share of `callqa bench`: CPU per channel for each runtime and precision.

Streams generated speech (espeak-ng through the headset-line simulation) through a
KeywordSpotter with the QA standard's phrases in 0.5 s chunks, as the pipeline does, and
reports process CPU time per second of audio, i.e. the fraction of one core one channel
costs. Run alone with `python3 -m edge.keywords.bench`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edge.config import KeywordsConfig
from edge.events import Side

BENCH_TEXT = (
    "您好很高兴为您服务请问有什么可以帮您", "我这边帮您查一下订单的物流信息", "不好意思让您久等了",
    "客户反馈的问题我们会尽快处理", "感谢您的来电祝您生活愉快再见",
)


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


def bench_audio(sample_rate: int, seconds: float = 60.0, seed: int = 5) -> np.ndarray:
    """`seconds` of int16 speech at `sample_rate`: generated sentences on a simulated line."""
    from edge.keywords.linesim import LineSim
    from scripts.synth import Voice, speak

    rng = np.random.default_rng(seed)
    line = LineSim(rate=sample_rate)
    parts, total = [], 0
    while total < seconds * sample_rate:
        text = BENCH_TEXT[len(parts) % len(BENCH_TEXT)]
        x, rate = speak(text, Voice(variant="m3", speed_wpm=170))
        y = line(x, rate, rng)
        parts.append(y)
        total += len(y)
    return np.concatenate(parts)[: int(seconds * sample_rate)]


COMBOS = (("onnx", "int8"), ("onnx", "float"), ("tflite", "int8"), ("tflite", "float"))


def measure(audio: np.ndarray, sample_rate: int, combos=COMBOS, repeats: int = 1) -> list[KwsBenchRow]:
    """Stream `audio` (one channel, int16) through a spotter per runtime/precision; fastest
    of `repeats` CPU times counts (the least disturbed by other processes)."""
    from edge.keywords.evaluate import load_phrases
    from edge.keywords.spotter import KeywordSpotter

    phrases = load_phrases()
    step = sample_rate // 2
    rows = []
    for runtime, precision in combos:
        spotter = KeywordSpotter.from_config(KeywordsConfig(runtime=runtime, precision=precision), phrases, {})
        window = np.zeros((spotter.info.window, 40), np.float32)
        spotter.model.log_probs(window)  # warm-up outside the timing
        cpu, hits = np.inf, []
        for _ in range(repeats):
            t0 = time.process_time()
            hits = []
            for at in range(0, len(audio), step):
                hits += spotter.process(Side.AGENT, audio[at : at + step], sample_rate, at / sample_rate)
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


def bench_keywords(seconds: float = 60.0, sample_rate: int = 8000) -> list[KwsBenchRow]:
    return measure(bench_audio(sample_rate, seconds), sample_rate)


def bench_section(ctx) -> list:
    """`callqa bench` section: the agent channel of the bench call through the spotter (all of
    it, silence included, so an upper bound: the pipeline feeds only VAD-passed speech)."""
    from edge.bench import Measure

    out = []
    for r in measure(np.ascontiguousarray(ctx.pcm[:, 0]), ctx.rate, repeats=ctx.repeats):
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
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    args = p.parse_args()
    table = Table(title=f"keyword spotting, {args.seconds:.0f} s of speech at {args.rate} Hz, one channel")
    rows = bench_keywords(args.seconds, args.rate)
    for col in asdict(rows[0]):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in asdict(r).values()))
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
