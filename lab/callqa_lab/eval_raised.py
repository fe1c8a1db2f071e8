"""How often the live raised-voice tracker fires on calm speech, and how well it finds raised turns.

Each side of each generated call is fed to a `RaisedVoiceTracker` as a line hears it (the raw
channel, line noise and all, in 0.3 s blocks). An event overlapping no raised turn of the
generator's truth is a false event; false events are counted per hour of calm speech (the
sides' talk time outside raised turns). Raised turns found / missed give the F1 (a turn is
found when an event overlaps it). `--variants` adds one polite call per espeak variant the
generator uses, both sides speaking with it; `--real` runs the tracker over each clip of the
real corpus (calm speech: every event there is a false one).

    python3 scripts/eval_raised.py --seeds 400 460
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from math import gcd

import numpy as np
from scipy import signal
from scipy.io import wavfile


from edge.line import BLOCK_S
from edge.prosody import RaisedVoiceTracker
from callqa_lab import synth
from callqa_lab.gencall import SIDES, UNUSABLE_VARIANTS, generate_call, render, scenario
from callqa_lab.shared import REAL_ZH

REAL = REAL_ZH


@dataclasses.dataclass
class Tally:
    calm_s: float = 0.0
    false_events: int = 0
    found: int = 0
    missed: int = 0

    def line(self, name: str) -> str:
        per_h = self.false_events / (self.calm_s / 3600) if self.calm_s else 0.0
        out = f"{name}: {self.calm_s / 3600:.2f} h calm speech, {self.false_events} false events ({per_h:.1f}/h)"
        turns = self.found + self.missed
        if turns:
            f1 = 2 * self.found / (2 * self.found + self.false_events + self.missed)
            out += f"; raised turns {self.found}/{turns} found, F1 {f1:.3f}"
        return out


def events(x: np.ndarray, rate: int) -> list[tuple[float, float]]:
    tracker = RaisedVoiceTracker(rate)
    step = int(BLOCK_S * rate)
    for i in range(0, len(x), step):
        tracker.update(x[i : i + step], i / rate)
    return [(e.start, e.end) for e in tracker.close()]


def _overlap(a, b) -> bool:
    return min(a[1], b[1]) > max(a[0], b[0])


def tally_call(pcm: np.ndarray, truth: dict, tally: Tally) -> None:
    for k, side in enumerate(SIDES):
        raised = [r[:2] for r in truth["raised_voice"][side]]
        found = events(np.ascontiguousarray(pcm[:, k]), truth["rate"])
        tally.calm_s += truth["talk_s"][side] - sum(e - s for s, e in raised)
        tally.false_events += sum(not any(_overlap(f, r) for r in raised) for f in found)
        hit = sum(any(_overlap(f, r) for f in found) for r in raised)
        tally.found, tally.missed = tally.found + hit, tally.missed + len(raised) - hit


def variant_calls(rate: int, seed: int):
    """One polite call per usable espeak variant, both sides speaking with it."""
    names = [v for v in synth.variants() if v not in UNUSABLE_VARIANTS]
    for i, name in enumerate(names):
        scn = scenario("polite", seed + i)
        scn = dataclasses.replace(scn, agent_voice=dataclasses.replace(scn.agent_voice, variant=name),
                                  customer_voice=dataclasses.replace(scn.customer_voice, variant=name))
        yield render(scn, rate, seed + i)


def real_clips(rate: int) -> Tally:
    tally = Tally()
    with open(REAL / "manifest.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        clip_rate, x = wavfile.read(REAL / row["file"])
        x = x if x.ndim == 1 else x[:, 0]
        g = gcd(clip_rate, rate)
        y = signal.resample_poly(x.astype(np.float32), rate // g, clip_rate // g)
        y = np.clip(np.round(y), -32768, 32767).astype(np.int16)
        tally.calm_s += len(y) / rate
        tally.false_events += len(events(y, rate))
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=(400, 460), metavar=("FIRST", "END"))
    ap.add_argument("--rates", type=int, nargs="+", default=(8000, 16000))
    ap.add_argument("--calm", nargs="+", default=("polite", "fast", "random"))
    ap.add_argument("--variants", action="store_true", help="also one polite call per espeak variant")
    ap.add_argument("--real", action="store_true", help=f"also the real clips in {REAL}")
    args = ap.parse_args(argv)
    seeds = range(*args.seeds)
    calm, raised, variants = Tally(), Tally(), Tally()
    for rate in args.rates:
        for seed in seeds:
            for name in args.calm:
                tally_call(*generate_call(name, rate, seed), calm)
            tally_call(*generate_call("raised_voice", rate, seed), raised)
        if args.variants:
            for pcm, truth in variant_calls(rate, 10 * args.seeds[0] + rate // 1000):
                tally_call(pcm, truth, variants)
    print(f"seeds {args.seeds[0]}-{args.seeds[1] - 1}, {' and '.join(f'{r} Hz' for r in args.rates)}")
    print(calm.line(f"calm scenarios ({', '.join(args.calm)})"))
    print(raised.line("raised_voice scenario"))
    if args.variants:
        print(variants.line("one polite call per espeak variant"))
    if args.real:
        for rate in args.rates:
            print(real_clips(rate).line(f"real clips at {rate} Hz"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
