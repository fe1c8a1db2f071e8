"""What the teacher's check before a red light (edge/redcheck.py, `[alerts] teacher_confirms_red`)
costs and buys: the delay it adds to a red alert, the true reds it keeps and the false ones it
removes.

    python -m callqa_lab.eval_redcheck --rate 8000 --out build/redcheck

Each call is scored by the box's pipeline twice, with the check off and on (the real teacher,
the installed Whisper base unless --teacher says otherwise). With it on, the line's audio is
fed in real time while a red alert is held, as fast as it goes otherwise, so the hold is what a
live line sees (and the teacher shares this machine's cores with whatever else runs on it).

- Generated calls (callqa_lab/gencall.py; espeak-ng voices, synthetic, not human speech): rude
  calls (a forbidden phrase, an insult and 那你想好了再打来吧 from the agent), random calls (some
  with forbidden phrases or insults) and polite, busy and fast ones (none). A red alert is true
  when the agent's turn at the hit says its phrase (truth: the call's turns); delay = stream
  time of the block that published it − the phrase's end (only for phrases the generator
  placed as their own piece, where the end is exact).
- real_zh (real voices, evaluation only): each clip as the agent side of a mono line; none
  says an insult and one says 不清楚, so a red elsewhere is false. At 8 kHz through the test
  line simulation (callqa_lab/linesim.py, seeded per clip), as the model card's 8 kHz rows.

Both sets run at the rubric's own thresholds (the red phrases' calibrated ones) and, with
--site-threshold T, again with forbidden and insult set to T in the rubric, as a site that
wants more of them caught would: that is where spotter false alarms come from (喂, which the
model cannot tell from 为, is then reported on every 为您服务). Counts only: no transcript is
written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callqa_lab.gencall import generate_call
from callqa_lab.kws_evaluate import line_audio
from callqa_lab.kws_teacher import teacher_folder
from callqa_lab.linesim import TEST_NOISES, LineSim
from callqa_lab.manifest import read_manifest
from callqa_lab.shared import REAL_ZH
from edge.config import parse_config
from edge.events import Alert, Frame, ScoreSink
from edge.keywords.units import han_only
from edge.line import BLOCK_S, line_pipeline
from edge.redcheck import RedCheck
from edge.scoring.rubric import Rubric, load_rubric

RED = ("forbidden", "insult")
CALLS = (("rude", 10), ("random", 10), ("polite", 4), ("busy", 4), ("fast", 4))  # (scenario, seeds)
TAIL_S = 4.0  # silence after each call: a check held at its end is answered before the file ends
TURN_SLACK_S = 0.5  # a hit this close to an agent turn belongs to it


@dataclass
class Recorder(ScoreSink):
    """Every published alert with the stream time it went out, every check, each call's start."""

    clock: object = None
    published: list[tuple[Alert, float]] = field(default_factory=list)
    checked: list[Alert] = field(default_factory=list)
    starts: dict[str, float] = field(default_factory=dict)

    def on_alert(self, alert: Alert) -> None:
        self.published.append((alert, self.clock()))

    def on_red_check(self, alert: Alert) -> None:
        self.checked.append(alert)

    def on_call_start(self, line: str, call_id: str, t: float) -> None:
        self.starts[call_id] = t


def score(agent: np.ndarray, customer: np.ndarray | None, rate: int, rubric: Rubric, red_check: RedCheck | None,
          cfg) -> Recorder:
    """One call through the box's pipeline; in real time while a red alert is held."""
    rec = Recorder()
    pipeline = line_pipeline("eval", cfg, rubric, [rec], red_check=red_check)
    rec.clock = lambda: pipeline.now
    block, anchor = int(BLOCK_S * rate), None  # anchor: (wall, stream) when the hold began
    for i in range(0, len(agent), block):
        t = i / rate
        if pipeline.red_alerts_held:
            anchor = anchor or (time.perf_counter(), t)
            time.sleep(max(0.0, anchor[0] + t + BLOCK_S - anchor[1] - time.perf_counter()))
        else:
            anchor = None
        pipeline.feed(Frame("eval", t, rate, agent[i:i + block], None if customer is None else customer[i:i + block]))
    pipeline.close()
    return rec


def red_alerts(rec: Recorder) -> list[tuple[Alert, float, float]]:
    """(alert, hit's stream time, published stream time) of the red alerts published."""
    return [(a, rec.starts[a.call_id] + a.t, at) for a, at in rec.published if a.severity == "red"]


def judge_generated(phrase: str, hit_t: float, truth: dict) -> tuple[bool, float | None]:
    """Whether the agent said `phrase` at `hit_t`, and where it ended (None: not exactly known)."""
    for turn in truth["turns"]:
        if turn["side"] == "agent" and turn["start"] - TURN_SLACK_S <= hit_t <= turn["end"] + TURN_SLACK_S:
            if phrase in han_only(turn["text"]):
                ends = [m["end"] for m in turn["marks"] if han_only(m["text"]) == phrase]
                return True, ends[0] if ends else None
    return False, None


@dataclass
class Tally:
    """One set at one threshold: reds off and on, by truth, and delays (s)."""

    true_off: int = 0
    false_off: int = 0
    true_kept: int = 0
    false_kept: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    delay_off: list[float] = field(default_factory=list)
    delay_on: list[float] = field(default_factory=list)
    teacher_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0

    def add(self, off: Recorder, on: Recorder, judge) -> None:
        for alert, hit_t, at in red_alerts(off):
            said, end = judge(alert.evidence["phrase"], hit_t)
            self.true_off += said
            self.false_off += not said
            if said and end is not None:
                self.delay_off.append(at - end)
        for alert in on.checked:
            check = alert.teacher_check
            self.outcomes[check["outcome"]] = self.outcomes.get(check["outcome"], 0) + 1
            if "teacher_s" in check:
                self.teacher_s.append(check["teacher_s"])
        for alert, hit_t, at in red_alerts(on):
            said, end = judge(alert.evidence["phrase"], hit_t)
            self.true_kept += said
            self.false_kept += not said
            if said and end is not None:
                self.delay_on.append(at - end)

    def report(self) -> dict:
        def pct(x: list[float], q: int) -> float | None:
            return round(float(np.percentile(x, q)), 2) if x else None

        hours = self.audio_s / 3600
        return {"audio_h": round(hours, 3),
                "check_off": {"true_reds": self.true_off, "false_reds": self.false_off,
                              "false_reds_per_h": round(self.false_off / hours, 1)},
                "check_on": {"true_reds": self.true_kept, "false_reds": self.false_kept,
                             "false_reds_per_h": round(self.false_kept / hours, 1), "checks": self.outcomes},
                "true_reds_withheld": self.true_off - self.true_kept,
                "false_reds_removed": self.false_off - self.false_kept,
                "delay_phrase_end_to_publish_s": {
                    "off": {"n": len(self.delay_off), "p50": pct(self.delay_off, 50), "p95": pct(self.delay_off, 95)},
                    "on": {"n": len(self.delay_on), "p50": pct(self.delay_on, 50), "p95": pct(self.delay_on, 95)}},
                "teacher_s_per_check": {"n": len(self.teacher_s), "p50": pct(self.teacher_s, 50),
                                        "p95": pct(self.teacher_s, 95)}}


def with_threshold(rubric: Rubric, threshold: float | None) -> Rubric:
    if threshold is None:
        return rubric
    keywords = dict(rubric.keywords)
    for category in RED:
        keywords[category] = keywords[category].model_copy(update={"threshold": threshold})
    return rubric.model_copy(update={"keywords": keywords})


def evaluate(args) -> dict:
    folder = teacher_folder(args.teacher)
    off_cfg = parse_config({"audio": {"sample_rate": args.rate}})
    on_cfg = parse_config({"audio": {"sample_rate": args.rate}, "keywords": {"teacher": str(folder)},
                           "alerts": {"teacher_confirms_red": True}})
    red_check = RedCheck.from_config(on_cfg)
    base = load_rubric()
    calls = []
    for name, seeds in CALLS:
        for seed in range(1, min(seeds, args.seeds or seeds) + 1):
            pcm, truth = generate_call(name, args.rate, seed)
            pcm = np.concatenate([pcm, np.zeros((int(TAIL_S * args.rate), 2), np.int16)])
            calls.append((pcm, truth))
    rows = read_manifest(REAL_ZH / "manifest.tsv")
    line = LineSim(rate=8000, noises=TEST_NOISES) if args.rate == 8000 else None
    clips = [(np.concatenate([line_audio(p, i, line, args.rate, 0), np.zeros(int(TAIL_S * args.rate), np.int16)]), text)
             for i, (p, text) in enumerate(rows)]
    report = {"rate": args.rate, "teacher": red_check.teacher.check.describe, "calls": len(calls), "real_zh_clips": len(clips),
              "machine_load_before": _load()}
    thresholds = [("rubric", None)] + ([(f"site {args.site_threshold}", args.site_threshold)]
                                       if args.site_threshold else [])
    for label, threshold in thresholds:
        rubric = with_threshold(base, threshold)
        generated, real = Tally(), Tally()
        for pcm, truth in calls:
            agent, customer = np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1])
            generated.audio_s += len(pcm) / args.rate
            generated.add(score(agent, customer, args.rate, rubric, None, off_cfg),
                          score(agent, customer, args.rate, rubric, red_check, on_cfg),
                          lambda phrase, t, truth=truth: judge_generated(phrase, t, truth))
            print(".", end="", file=sys.stderr, flush=True)
        for audio, text in clips:
            real.audio_s += len(audio) / args.rate
            real.add(score(audio, None, args.rate, rubric, None, off_cfg),
                     score(audio, None, args.rate, rubric, red_check, on_cfg),
                     lambda phrase, t, text=text: (phrase in text, None))
        report[label] = {"generated": generated.report(), "real_zh": real.report()}
        print(f"\n{label}: {json.dumps(report[label], ensure_ascii=False)}", file=sys.stderr)
    report["machine_load_after"] = _load()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"redcheck-{args.rate}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    return report


def _load() -> str:
    import os

    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    p.add_argument("--teacher", type=Path, help="a teacher folder (default: the installed Whisper base, under build/)")
    p.add_argument("--site-threshold", type=float, default=0.5,
                   help="also run with forbidden and insult at this threshold (0: only the rubric's)")
    p.add_argument("--seeds", type=int, help="at most this many seeds per scenario (default: all of CALLS)")
    p.add_argument("--out", type=Path, default=Path("build/redcheck"))
    evaluate(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
