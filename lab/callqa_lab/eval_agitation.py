"""How well the box finds an upset customer: generated calls through the whole line pipeline.

Customer raised turns of the `upset_customer` and `upset_customer_apology` calls against the
CallScore's prosody.customer.raised_voice (a turn is found when a stretch overlaps it; a
stretch overlapping no raised turn is false), and the amber `apology` alerts per call: on the
upset calls without apology (wanted), with one (the keyword spotter missed the apology), and
on calm `polite`/`random` calls (every one false). Keywords on, the shipped model, a miss
counted as no apology (`keywords.count_missing_phrases`), so the alert path is measured.

    python3 scripts/eval_agitation.py --seeds 900 940
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


from edge.line import BLOCK_S, line_pipeline
from edge.config import Config
from edge.events import Alert
from edge.pipeline import run_source
from edge.scoring.callscore import CallScore
from edge.scoring.rubric import load_rubric
from edge.sinks import CollectingSink
from edge.sources.wav import Recording, wav_source
from callqa_lab.eval_raised import _overlap
from callqa_lab.gencall import generate_call

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
UPSET = ("upset_customer", "upset_customer_apology")
CALM = ("polite", "random")


def score(pcm: np.ndarray, rate: int, rubric) -> tuple[list[CallScore], list[Alert]]:
    sink = CollectingSink()
    cfg = Config(audio={"sample_rate": rate}, keywords={"count_missing_phrases": True})
    pipe = line_pipeline("eval", cfg, rubric, [sink], EPOCH)
    rec = Recording(Path("generated"), rate, np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))
    run_source(pipe, list(wav_source(rec, "eval", BLOCK_S)))
    return sink.scores, sink.alerts


def tally(name: str, rate: int, seed: int, rubric, counts: Counter) -> None:
    pcm, truth = generate_call(name, rate, seed)
    scores, alerts = score(pcm, rate, rubric)
    raised = [r[:2] for r in truth["raised_voice"]["customer"]]
    found = []
    for s in scores:  # stretches in file time
        offset = (s.start - EPOCH).total_seconds()
        found += [(a + offset, b + offset) for a, b in s.customer_prosody["raised_voice"]]
    counts[name, "calls"] += 1
    counts[name, "turns"] += len(raised)
    counts[name, "found"] += sum(any(_overlap(f, r) for f in found) for r in raised)
    counts[name, "stretches"] += len(found)
    counts[name, "false"] += sum(not any(_overlap(f, r) for r in raised) for f in found)
    counts[name, "alerts"] += sum(a.item == "apology" for a in alerts)
    counts[name, "calls_alerted"] += any(a.item == "apology" for a in alerts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=(900, 940), metavar=("FIRST", "END"))
    ap.add_argument("--rates", type=int, nargs="+", default=(8000, 16000))
    args = ap.parse_args(argv)
    rubric = load_rubric()
    for rate in args.rates:
        counts: Counter = Counter()
        for seed in range(*args.seeds):
            for name in UPSET + CALM:
                tally(name, rate, seed, rubric, counts)
        print(f"{rate} Hz, seeds {args.seeds[0]}-{args.seeds[1] - 1}")
        for name in UPSET + CALM:
            c = {k: counts[name, k] for k in ("calls", "turns", "found", "stretches", "false", "alerts", "calls_alerted")}
            precision = (c["stretches"] - c["false"]) / c["stretches"] if c["stretches"] else float("nan")
            print(f"  {name}: {c['calls']} calls; customer raised turns found {c['found']}/{c['turns']}; "
                  f"stretches {c['stretches']}, false {c['false']} (precision {precision:.3f}); "
                  f"apology alerts {c['alerts']} on {c['calls_alerted']} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
