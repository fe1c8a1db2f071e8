"""Measure call boundaries around holds and back-to-back calls on fresh generated sets (holds kept as one call, new callers split).

`callqa eval-holds` (the lab adds this command to `callqa`), or `python3 -m callqa_lab.eval_holds`.
Every call is generated afresh (lab/callqa_lab/gencall.py) from seeds of one set: `dev` seeds
are for tuning edge/callerline.py and edge/calls.py, `test` seeds (never looked at while tuning)
for the figures in the README. Each case runs through the box's own line pipeline (real
webrtcvad; by default no keyword spotter: the customer line's fingerprint and the silence bounds
decide, as on a box whose spotter misses the hold phrases and greetings; `--keywords`: the box's
spotter too, so a hold or resume phrase and a greeting count) at each rate:

- holds: scenarios `hold` and `hold_music` (one hold of 10–120 s, silent or with music), each
  followed by an after-call gap and a new caller so the call has to end by itself; a hold is kept
  when the call comes out as one CallScore from its first speech (±START_TOL_S) to its last
  (±END_TOL_S) with the hold inside it. Holds up to calls.max_hold_s count towards the target;
- new callers: two calls back to back, after-call gap of 3–60 s, the second caller on another
  line (gencall.new_caller_line), the customer channel idle or still open in the gap; split
  when each call is its own CallScore within the same tolerances;
- same line: as new callers but the second call on the first one's line (no change of noise):
  what the audio alone cannot tell apart from a hold, reported, not targeted;
- score delay (stream time): from a call's last speech to its CallScore coming out of the
  pipeline, for the first call of each pair, by what the customer channel did in the gap.

    callqa eval-holds --set test --calls 50 --rate 8000 16000 --out out/eval-holds.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callqa_lab.gencall import GAP_LINES, generate_sequence
from edge.config import Config
from edge.line import BLOCK_S, line_pipeline
from edge.scoring.rubric import load_rubric
from edge.sources.wav import Recording, wav_source

SEED_BASE = {"dev": 0, "test": 100_000}  # the sets never share a seed
START_TOL_S = 1.5  # a call's start may come before its first word (the new line connecting, a breath)
END_TOL_S = 1.0
GAP_S = (3.0, 60.0)  # after-call gaps of the back-to-back cases
HOLD_AFTER_GAP_S = 20.0  # the gap after a hold call, before the next caller
OTHER_SCENARIOS = ("polite", "rude", "busy", "random", "raised_voice", "fast")
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Case:
    kind: str  # hold | new_caller | same_line
    rate: int
    seed: int
    gap_line: str
    detail: dict
    ok: bool
    delay_s: float | None  # first call: last speech → its score, stream time
    resumes: list[str] = field(default_factory=list)


def _run(pcm: np.ndarray, rate: int, cfg: Config) -> tuple[list[tuple[float, float, float]], list[str]]:
    """(start, end, scored at) of every call the pipeline finds, in stream time; the resume decisions."""
    pipe = line_pipeline("eval", cfg, load_rubric(cfg.rubric.path), [], EPOCH)
    rec = Recording(None, rate, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
    out = []
    for item in wav_source(rec, "eval", BLOCK_S):
        for call in pipe.feed(item):
            start = (call.score.start - EPOCH).total_seconds()
            out.append((start, start + call.score.duration_s, pipe.now))
    return out, [f"{v.reason.split(':')[0]}" for _, v in pipe.segmenter.resumes]


def _matches(call: tuple[float, float, float], truth: dict) -> bool:
    return abs(call[0] - truth["first_speech"]) <= START_TOL_S and abs(call[1] - truth["last_speech"]) <= END_TOL_S


def _pair(kind: str, rate: int, seed: int, cfg: Config) -> Case:
    rng = np.random.default_rng(seed)
    gap_line = str(rng.choice(GAP_LINES))
    if kind == "hold":
        first = str(rng.choice(["hold", "hold_music"]))
        gap = HOLD_AFTER_GAP_S
    else:
        first = str(rng.choice(OTHER_SCENARIOS))
        gap = float(rng.uniform(*GAP_S))
    second = str(rng.choice(OTHER_SCENARIOS))
    pcm, truth = generate_sequence([(first, seed), (second, seed + 1)], [gap], rate, new_line=kind != "same_line",
                                   gap_line=gap_line, seed=seed)
    calls, resumes = _run(pcm, rate, cfg)
    t1, t2 = truth["calls"]
    if kind == "hold":
        [hold] = t1["holds"]
        ok = sum(1 for c in calls if c[0] < t1["last_speech"] and c[1] > t1["first_speech"]) == 1 \
            and any(_matches(c, t1) for c in calls)
        detail = {"scenario": first, "hold_s": round(hold["end"] - hold["start"], 2), "music": hold["music"]}
    else:
        ok = len(calls) == 2 and _matches(calls[0], t1) and _matches(calls[1], t2)
        detail = {"gap_s": round(gap, 2), "scenarios": [first, second]}
    first_call = next((c for c in calls if _matches(c, t1)), None)
    delay = None if first_call is None else round(first_call[2] - t1["last_speech"], 2)
    detail["calls_found"] = [[round(s, 2), round(e, 2)] for s, e, _ in calls]
    return Case(kind, rate, seed, gap_line, detail, bool(ok), delay, resumes)


def _pct(cases: list[Case]) -> float | None:
    return round(100.0 * sum(c.ok for c in cases) / len(cases), 1) if cases else None


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {k: round(float(np.percentile(values, q)), 1) for k, q in (("p50", 50), ("p95", 95), ("max", 100))}


def summarise(cases: list[Case], cfg: Config) -> dict:
    """The figures: per kind and rate, % correct, by gap line; score delays; resume reasons."""
    out: dict = {"max_hold_s": cfg.calls.max_hold_s, "end_silence_s": cfg.calls.end_silence_s,
                 "new_call_gap_s": cfg.calls.new_call_gap_s, "by_rate": {}}
    for rate in sorted({c.rate for c in cases}):
        at = [c for c in cases if c.rate == rate]
        holds = [c for c in at if c.kind == "hold" and c.detail["hold_s"] <= cfg.calls.max_hold_s]
        row = {
            "holds_kept_pct": _pct(holds), "holds": len(holds),
            "holds_kept_pct_music": _pct([c for c in holds if c.detail["music"]]),
            "holds_kept_pct_silent": _pct([c for c in holds if not c.detail["music"]]),
        }
        for kind in ("new_caller", "same_line"):
            these = [c for c in at if c.kind == kind]
            row[f"{kind}_split_pct"] = _pct(these)
            row[kind] = len(these)
            for gap_line in GAP_LINES:
                row[f"{kind}_split_pct_{gap_line}_gap"] = _pct([c for c in these if c.gap_line == gap_line])
            row[f"{kind}_split_pct_gap_under_end_silence"] = _pct(
                [c for c in these if c.detail["gap_s"] < cfg.calls.end_silence_s])
        for gap_line in GAP_LINES:
            row[f"score_delay_s_{gap_line}_gap"] = _percentiles(
                [c.delay_s for c in at if c.gap_line == gap_line and c.delay_s is not None])
        row["resume_decisions"] = dict(Counter(r for c in at for r in c.resumes))
        out["by_rate"][str(rate)] = row
    out["failed"] = [{"kind": c.kind, "rate": c.rate, "seed": c.seed, "gap_line": c.gap_line, **c.detail,
                      "resumes": c.resumes} for c in cases if not c.ok]
    return out


def evaluate(rates: list[int], calls: int, seed_set: str, cfg_data: dict | None = None, keywords: bool = False,
             progress=lambda msg: None) -> dict:
    cases = []
    for rate in rates:
        data = cfg_data or {}
        cfg = Config.model_validate({**data, "audio": {"sample_rate": rate},
                                     "keywords": {**data.get("keywords", {}), "enabled": keywords}})
        for kind in ("hold", "new_caller", "same_line"):
            for k in range(calls):
                seed = SEED_BASE[seed_set] + 1000 * ("hold", "new_caller", "same_line").index(kind) + 2 * k
                cases.append(_pair(kind, rate, seed, cfg))
            progress(f"{rate} Hz {kind}: {_pct([c for c in cases if c.rate == rate and c.kind == kind])} %")
    report = summarise(cases, cfg)
    report.update({"set": seed_set, "calls_per_kind": calls, "rates": rates, "keywords": keywords})
    return report


def add_arguments(p) -> None:
    p.add_argument("--set", choices=tuple(SEED_BASE), default="dev",
                   help="dev: seeds for tuning; test: the held-out seeds the README's figures come from")
    p.add_argument("--calls", type=int, default=50, help="cases of each kind (hold, new caller, same line) per rate")
    p.add_argument("--rate", type=int, nargs="+", choices=(8000, 16000), default=[8000, 16000])
    p.add_argument("--keywords", action="store_true", help="with the box's keyword spotter (hold phrases, greetings)")
    p.add_argument("--config", type=Path, help="box config TOML whose [calls] (and rubric) to use (default: built-in)")
    p.add_argument("--out", type=Path, help="write the report JSON here")


def run(args) -> int:
    from edge.config import read_toml

    cfg_data = read_toml(args.config) if args.config else None
    report = evaluate(args.rate, args.calls, args.set, cfg_data, args.keywords, progress=lambda m: print(m, file=sys.stderr))
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(json.dumps({k: v for k, v in report.items() if k != "failed"}, ensure_ascii=False, indent=1))
    print(f"{len(report['failed'])} cases wrong (listed in the report)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
