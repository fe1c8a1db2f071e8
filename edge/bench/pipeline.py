"""Bench section for one stereo line: VAD, prosody, scoring, the whole pipeline (no keywords)."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timezone

import numpy as np

from edge.bench import BenchContext, Measure, best_seconds, peak_rss_mib
from edge.events import Side
from edge.line import BLOCK_S
from edge.metrics import conversation_metrics
from edge.pipeline import LinePipeline, run_source
from edge.prosody import RaisedVoiceTracker, analyse
from edge.scoring.callscore import CallIdentity, build_callscore
from edge.scoring.items import CallFacts
from edge.scoring.rubric import load_rubric
from edge.sources.wav import Recording, wav_source
from edge.vad import SideVad

LONG_CALL_MIN = 10


def _traced_peak_mib(work) -> float:
    """Peak allocation while `work` runs; numpy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
SIDES = (Side.AGENT, Side.CUSTOMER)


def _blocks(x: np.ndarray, n: int):
    return [np.ascontiguousarray(x[i : i + n]) for i in range(0, len(x), n)]


def bench_section(ctx: BenchContext) -> list[Measure]:
    cfg, rate, secs = ctx.cfg, ctx.rate, ctx.seconds
    n = int(BLOCK_S * rate)
    sides = {side: ctx.pcm[:, i] for i, side in enumerate(SIDES)}
    blocks = {side: _blocks(x, n) for side, x in sides.items()}

    segments: dict[Side, list[tuple[float, float]]] = {}

    def vad():
        for side in SIDES:
            v = SideVad("bench", side, rate, cfg.audio.frame_ms, cfg.vad)
            segs = [s for i, b in enumerate(blocks[side]) for s in v.process(b, i * BLOCK_S)] + v.flush()
            segments[side] = [(s.start, s.end) for s in segs]

    t_vad = best_seconds(vad, ctx.repeats)
    floats = {side: x.astype(np.float32) / 32768 for side, x in sides.items()}
    prosody = {}

    def prosody_stage():
        for side in SIDES:
            prosody[side] = analyse(floats[side], rate, segments[side]).to_dict()
            tracker = RaisedVoiceTracker(rate, side, "bench")
            for i, b in enumerate(blocks[side]):
                tracker.update(b, i * BLOCK_S)

    t_prosody = best_seconds(prosody_stage, ctx.repeats)
    rubric = load_rubric(cfg.rubric.path)
    ident = CallIdentity(cfg.box, "bench", "bench-1", None, datetime.now(timezone.utc), "silence")

    def scoring():
        m = conversation_metrics(segments[Side.AGENT], segments[Side.CUSTOMER], secs)
        facts = CallFacts(secs, m, prosody[Side.AGENT], prosody[Side.CUSTOMER], None, True)
        build_callscore(ident, rubric, facts, [], []).to_dict()  # as the sinks send it

    t_scoring = best_seconds(scoring, ctx.repeats)
    rec = Recording(None, rate, np.ascontiguousarray(sides[Side.AGENT]), np.ascontiguousarray(sides[Side.CUSTOMER]))
    rss_before = peak_rss_mib()

    def whole():
        run_source(LinePipeline("bench", cfg, rubric, [], keywords=None, rate=rate), wav_source(rec, "bench", BLOCK_S))

    t_whole = best_seconds(whole, ctx.repeats)
    pipeline_peak = _traced_peak_mib(whole)
    # a long call (the test audio looped): memory must not grow with the call's length
    n_long = int(LONG_CALL_MIN * 60 * rate)
    looped = np.tile(ctx.pcm, (int(np.ceil(n_long / len(ctx.pcm))), 1))[:n_long]
    rec_long = Recording(None, rate, np.ascontiguousarray(looped[:, 0]), np.ascontiguousarray(looped[:, 1]))
    del looped
    long_peak = _traced_peak_mib(lambda: run_source(LinePipeline("bench", cfg, rubric, [], keywords=None, rate=rate),
                                                    wav_source(rec_long, "bench", BLOCK_S)))
    rtf = t_whole / secs
    note = f"{secs:.0f} s stereo call at {rate} Hz, best of {ctx.repeats}"
    return [
        Measure("pipeline", "vad (both sides)", t_vad / secs, "rtf", note),
        Measure("pipeline", "prosody (both sides, with live raised-voice)", t_prosody / secs, "rtf", note),
        Measure("pipeline", "metrics + rubric + CallScore", t_scoring / secs, "rtf", note),
        Measure("pipeline", "whole line, no keywords", rtf, "rtf", note),
        Measure("pipeline", "lines per core, no keywords", 1.0 / rtf, "lines/core", "this machine; a Pi 4 core is ~4-6x slower"),
        Measure("pipeline", "peak memory of the whole-line run", pipeline_peak, "MiB", "tracemalloc: frame tracks of the call, audio of the open speech segment"),
        Measure("pipeline", f"peak memory of a {LONG_CALL_MIN}-minute call", long_peak, "MiB",
                "tracemalloc; the test audio looped into one call"),
        Measure("pipeline", "peak memory (process)", peak_rss_mib(), "MiB", f"{rss_before:.0f} MiB before the whole-line run (imports, test audio)"),
    ]
