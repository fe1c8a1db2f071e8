"""`callqa bench` section: what the teacher (keywords.teacher) costs.

- the whole agent channel of the bench call transcribed as eval-kws --teacher and learning
  mode do (all CPU threads, word probabilities): CPU-s per audio-s, and per audio hour;
- one check before a red light (edge/redcheck.py): a clip as long as a check's (BEFORE_S, a
  1 s phrase, AFTER_S) with the teacher as the check loads it (redcheck.THREADS), CPU-s and
  wall-clock s per check, the mean over CHECK_CLIPS clips across the call.

A box without a teacher gets one line saying so. Whisper is costly: the long transcription
runs once, whatever --repeats says.
"""

from __future__ import annotations

import math
import time

import numpy as np

CHECK_CLIPS = 4
PHRASE_S = 1.0  # the phrase in a check's clip


def bench_section(ctx) -> list:
    from edge.bench import Measure, skipped
    from edge.keywords.teacher import Teacher, TeacherError
    from edge.redcheck import AFTER_S, BEFORE_S, THREADS, RedCheck

    folder = ctx.cfg.keywords.teacher
    if folder is None:
        return [skipped("teacher", "no teacher (keywords.teacher unset)")]
    try:
        whole = Teacher.load(folder)
        checking = Teacher.load(folder, THREADS)
    except TeacherError as e:
        return [skipped("teacher", f"the teacher cannot be loaded: {e}")]
    agent = np.ascontiguousarray(ctx.pcm[:, 0])
    heard = whole.transcribe(agent, ctx.rate)
    rtf = heard.cpu_s / heard.audio_s
    out = [Measure("teacher", "transcription, all threads, with word probabilities", rtf, "rtf",
                   f"{heard.audio_s:.0f} s of the bench call's agent channel, one run; loaded in {whole.load_s:.1f} s"),
           Measure("teacher", "transcription per audio hour", rtf * 3600, "CPU-s", "the line above × 3600")]

    check = RedCheck(checking, timeout_s=math.inf)
    clip_n = round((BEFORE_S + PHRASE_S + AFTER_S) * ctx.rate)
    starts = np.linspace(0, len(agent) - clip_n, CHECK_CLIPS + 2)[1:-1].astype(int)
    cpu, wall = [], []
    for start in starts:
        clip = agent[start:start + clip_n]
        best_wall, best_cpu = math.inf, math.inf
        for _ in range(ctx.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            check.hear(clip, ctx.rate, "神经病")
            best_wall, best_cpu = min(best_wall, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        cpu.append(best_cpu)
        wall.append(best_wall)
    what = f"{clip_n / ctx.rate:.0f} s clips (Whisper pads each to 30 s), {THREADS} thread(s), mean of {CHECK_CLIPS}"
    return out + [Measure("teacher", "red check, CPU per check", float(np.mean(cpu)), "CPU-s", what),
                  Measure("teacher", "red check, wall per check", float(np.mean(wall)), "s",
                          f"{what}; the alert is held this long after the audio to AFTER_S past the phrase is in")]
