"""Talk-time error of the box's VAD per call side, over a range of generated calls.

    python3 -m callqa_lab.talk_time_error --seeds 600-659 --rates 8000 16000 [--turns]

For each seed and rate: a `random` call from callqa_lab/gencall.py, both sides through
edge.vad.SideVad and edge.metrics as tests/test_conversation_truth.py runs them (talk time
bridges pauses shorter than TALK_PAUSE_S), compared with the generator's truth; also the
pooled F1 of overtalk, dead-air and interruption events, which a VAD change must not hurt.
`--turns` also prints, per voice variant, the mean error of turn starts and ends (positive:
the VAD is late), which is what shows a per-voice bias.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np

from edge.metrics import as_intervals, bridge, TALK_PAUSE_S
from callqa_lab.gencall import generate_call
from tests.truth import Match, match_events, measure_call

EVENTS = ("overtalk", "dead_air", "interruptions")


def seed_range(text: str) -> range:
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def turn_edge_errors(found: list[tuple[float, float]], truth: list[list[float]]) -> list[tuple[float, float]]:
    """(start error, end error) of each true turn against the found turn that overlaps it most."""
    got = bridge(as_intervals(found), TALK_PAUSE_S)
    out = []
    for s, e in bridge(as_intervals(truth), TALK_PAUSE_S):
        ov = np.minimum(got[:, 1], e) - np.maximum(got[:, 0], s) if len(got) else np.zeros(0)
        if len(ov) and ov.max() > 0:
            g = got[int(np.argmax(ov))]
            out.append((g[0] - s, g[1] - e))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_range, default=seed_range("600-659"))
    ap.add_argument("--rates", type=int, nargs="+", default=[8000, 16000])
    ap.add_argument("--limit", type=float, default=0.3)
    ap.add_argument("--turns", action="store_true", help="per-voice turn start/end bias")
    args = ap.parse_args()
    for rate in args.rates:
        errs, bad = [], []
        edges = collections.defaultdict(list)
        events = {name: Match(0, 0, 0) for name in EVENTS}
        for seed in args.seeds:
            pcm, truth = generate_call("random", rate, seed=seed)
            call = measure_call(pcm, rate, truth["dead_air_min_s"])
            for name in EVENTS:
                events[name] += match_events(call.events(name), truth[name])
            for side in ("agent", "customer"):
                segs = getattr(call, side)
                err = getattr(call.metrics, f"{side}_s") - truth["talk_s"][side]
                errs.append(err)
                v = truth["voices"][side]
                if abs(err) > args.limit:
                    bad.append((seed, side, v["variant"], round(err, 3), truth["headset"]))
                if args.turns:
                    edges[v["variant"]] += turn_edge_errors(segs, truth["segments"][side])
        a = np.abs(errs)
        print(f"{rate} Hz seeds {args.seeds.start}-{args.seeds.stop - 1}: {np.sum(a <= args.limit)}/{len(a)} sides "
              f"within {args.limit} s; mean |err| {a.mean():.3f} s, mean err {np.mean(errs):+.3f} s, p95 {np.percentile(a, 95):.3f} s, worst {a.max():.3f} s; "
              + ", ".join(f"{name} F1 {m.f1:.3f} ({m.tp}/{m.fp}/{m.fn})" for name, m in events.items()))
        for b in bad:
            print("   off:", b)
        for variant, e in sorted(edges.items(), key=lambda kv: np.mean([x[1] for x in kv[1]])):
            e = np.array(e)
            print(f"   {variant:12s} turns {len(e):3d}  start {e[:, 0].mean():+.3f}  end {e[:, 1].mean():+.3f}  "
                  f"end min {e[:, 1].min():+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
