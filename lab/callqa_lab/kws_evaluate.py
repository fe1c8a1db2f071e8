"""Keyword evaluation (`callqa eval-kws MANIFEST`, callqa_lab/eval_kws.py): how well the keyword model finds the rubric's phrases.

Each clip of the manifest is streamed through a KeywordSpotter as one speech segment (in
0.5 s chunks, as the box would), optionally after the headset-line simulation with noise
types never used in training. A detection counts as correct when its phrase is in the clip's
transcript (up to as many times as it occurs there), otherwise it is a false alarm. Reported
per phrase and per category: recall, false alarms per hour of audio, and a DET curve; and,
for the model as a whole, its unit error rate: how far its best reading of each clip (blank and
repeats dropped) is from the transcript's initials and finals, by edit distance. It says how
well the model hears these voices at all, whatever the phrases and thresholds.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.config import ConfigError, KeywordsConfig
from edge.events import Side
from callqa_lab.linesim import TEST_NOISES, LineSim
from callqa_lab.manifest import read_manifest, read_wav
from edge.keywords.model import NEVER
from edge.keywords.features import FRAME_S
from edge.keywords.spotter import KeywordSpotter
from edge.keywords.units import han_only, occurrences, text_units

PHRASES_FILE = Path(__file__).with_name("phrases.toml")
FLOOR = 0.02  # detections below this confidence are not even recorded
GRID = np.round(np.arange(FLOOR, 1.0001, 0.01), 2)
CHUNK_S = 0.5
MIN_THRESHOLD = 0.05  # a margin above FLOOR: the dev set cannot vouch for the very bottom


def load_phrases(path: Path = PHRASES_FILE) -> dict[str, list[str]]:
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except (FileNotFoundError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read phrase list ({e})") from None
    return {str(cat): [str(p) for p in v] for cat, v in raw.items()}


@dataclass(frozen=True)
class Detection:
    clip: int
    phrase: str
    category: str
    confidence: float
    start: float
    end: float


@dataclass(frozen=True)
class Run:
    """Every detection above FLOOR on a set of clips, with the clips' truth."""

    detections: tuple[Detection, ...]
    transcripts: tuple[str, ...]
    hours: float
    phrases: Mapping[str, Sequence[str]]
    seconds_of_compute: float
    unit_errors: int = 0  # edit distance of the model's greedy readings from the transcripts
    units: int = 0  # units in the transcripts

    @property
    def unit_error_rate(self) -> float | None:
        return round(self.unit_errors / self.units, 3) if self.units else None


class _Reading:
    """Stands in for the spotter's acoustic model, passing its outputs on and keeping the best
    unit of every frame: the model's greedy CTC reading of the clip. The last window of a
    segment also reads the silence padding after it, which the model hears as blank."""

    def __init__(self, model) -> None:
        self.model, self.best = model, []

    def log_probs(self, window: np.ndarray) -> np.ndarray:
        out = self.model.log_probs(window)
        self.best.append(out.argmax(axis=1))
        return out

    def units(self, names: Sequence[str]) -> list[str]:
        ids = np.concatenate(self.best) if self.best else np.zeros(0, int)
        keep = (ids != 0) & np.r_[True, ids[1:] != ids[:-1]]
        return [names[i - 1] for i in ids[keep]]


def floor_spotter(cfg: KeywordsConfig, phrases: Mapping[str, Sequence[str]], rate: int) -> KeywordSpotter:
    """A spotter at `rate` Hz that reports every candidate above FLOOR, overlaps included, for replaying."""
    from edge.keywords.model import ModelInfo, load_model

    info = ModelInfo.load(cfg.model)
    return KeywordSpotter(load_model(info, cfg.runtime, cfg.precision), info, phrases,
                          {c: FLOOR for c in phrases}, keep_overlaps=True, sample_rate=rate)


def line_audio(path: Path, index: int, line: LineSim | None, rate: int, seed: int) -> np.ndarray:
    """Clip `index` as the box would hear it: int16 at `rate`, through `line` if given (seeded
    by clip, so every pass over the clips hears the same audio)."""
    from scipy import signal

    x, in_rate = read_wav(path)
    if line is not None:
        return line(x, in_rate, np.random.default_rng([seed, index]))
    if in_rate != rate:
        g = np.gcd(in_rate, rate)
        x = signal.resample_poly(x, rate // g, in_rate // g)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)


def spot_clips(spotter: KeywordSpotter, rows: list[tuple[Path, str]], line: LineSim | None, seed: int) -> Run:
    """Stream each clip (resampled to the spotter's rate, through `line` if given) and keep every detection."""
    from rapidfuzz.distance import Levenshtein

    detections, seconds, compute, unit_errors, units = [], 0.0, 0.0, 0, 0
    model, rate = spotter.model, spotter.sample_rate
    for i, (path, transcript) in enumerate(rows):
        y = line_audio(path, i, line, rate, seed)
        seconds += len(y) / rate
        step = int(CHUNK_S * rate)
        t0 = time.process_time()
        hits = []
        spotter.model = reading = _Reading(model)
        try:
            for at in range(0, len(y), step):
                hits += spotter.process(Side.AGENT, y[at : at + step], at / rate)
            hits += spotter.flush(Side.AGENT)
        finally:
            spotter.model = model
        compute += time.process_time() - t0
        detections += [Detection(i, h.phrase, h.category, h.confidence, h.start, h.end) for h in hits]
        truth = text_units(transcript)
        unit_errors += Levenshtein.distance(reading.units(spotter.info.units), truth)
        units += len(truth)
    return Run(tuple(detections), tuple(t for _, t in rows), seconds / 3600, spotter_phrases(spotter), compute,
               unit_errors, units)


def operating_thresholds(spotter: KeywordSpotter) -> dict[str, float]:
    """phrase → the threshold the model's calibration gives it (a rubric without thresholds)."""
    return {kw.phrase: spotter.info.threshold_for(kw.phrase, len(han_only(kw.phrase))) for kw in spotter.keywords}


def spotter_phrases(spotter: KeywordSpotter) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for kw in spotter.keywords:
        out[kw.category].append(kw.phrase)
    return dict(out)


def _kept(candidates: list[Detection], thresholds: np.ndarray) -> np.ndarray:
    """How many of one phrase's candidates in one clip (in time order) the spotter reports at
    each threshold: those above it that do not overlap the last one it reported."""
    last_end = np.full(len(thresholds), -np.inf)
    count = np.zeros(len(thresholds), int)
    for d in candidates:
        keep = (d.confidence >= thresholds) & (d.start >= last_end - FRAME_S / 2)
        last_end = np.where(keep, d.end, last_end)
        count += keep
    return count


def _tally(run: Run, phrases: Sequence[str], by_sound: bool,
           thresholds_of: Callable[[str], np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """For a group of phrases (a category, or one phrase): (occurrences, true positives, false
    alarms), the last two per operating point (`thresholds_of(phrase)`: one threshold per
    point). A detection of any phrase of the group is correct while the clip holds more
    occurrences of the group than were already found."""
    truth = [sum(occurrences(t, p, by_sound) for p in phrases) for t in run.transcripts]
    groups: dict[tuple[int, str], list[Detection]] = defaultdict(list)
    for d in run.detections:
        if d.phrase in phrases:
            groups[(d.clip, d.phrase)].append(d)
    reported: dict[int, np.ndarray] = defaultdict(int)
    for (clip, phrase), cands in groups.items():
        reported[clip] = reported[clip] + _kept(cands, thresholds_of(phrase))
    width = len(thresholds_of(phrases[0]))
    tp, fa = np.zeros(width, int), np.zeros(width, int)
    for clip, n in reported.items():
        tp += np.minimum(n, truth[clip])
        fa += np.maximum(n - truth[clip], 0)
    return sum(truth), tp, fa


def _sweep(phrase: str) -> np.ndarray:
    return GRID


def _summary(run: Run, phrases: Sequence[str], thresholds: Mapping[str, float]) -> dict:
    """Recall and false alarms at each phrase's own threshold, by characters and by sound."""
    out = {}
    for mode, by_sound in (("text", False), ("sound", True)):
        n, tp, fa = _tally(run, phrases, by_sound, lambda p: np.array([thresholds.get(p, NEVER)]))
        out[mode] = {"occurrences": n, "found": int(tp[0]), "recall": round(tp[0] / n, 3) if n else None,
                     "false_alarms": int(fa[0]), "fa_per_hour": round(fa[0] / run.hours, 2)}
    return out


def category_table(run: Run, thresholds: Mapping[str, float]) -> dict:
    """Per category and per phrase, at each phrase's threshold (`thresholds`: phrase →
    confidence): occurrences, recall, false alarms (and per hour), judged by characters
    ("text") and by toneless sound ("sound": homophones count as heard)."""
    report: dict = {"hours": round(run.hours, 3), "categories": {}}
    for cat, phrases in run.phrases.items():
        report["categories"][cat] = {
            **_summary(run, phrases, thresholds),
            "phrases": {p: {"threshold": thresholds[p], **_summary(run, [p], thresholds)} for p in phrases},
        }
    return report


def calibrate(run: Run, max_fa_per_hour: float) -> dict:
    """Thresholds with false alarms (judged by characters, so a phrase that sounds like common
    words, 喂 like 为, is pushed up until it rarely fires: a false red light costs more than a
    miss) within budget, precision first, never below MIN_THRESHOLD: per phrase, the category's budget shared
    among its phrases; per phrase length in syllables (1, 2, 3+; for phrases added later), a
    quarter of the budget for an average phrase of that length."""
    per_phrase, by_length = {}, defaultdict(list)
    for cat, phrases in run.phrases.items():
        for p in phrases:
            _, _, fa = _tally(run, [p], False, _sweep)
            fa_h = fa / run.hours
            ok = np.flatnonzero((fa_h <= max_fa_per_hour / len(phrases)) & (GRID >= MIN_THRESHOLD) & (GRID < 1.0))
            per_phrase[p] = float(GRID[ok[0]]) if ok.size else NEVER
            by_length[str(min(len(han_only(p)), 3))].append(fa_h)
    syllables_thr = {}
    for length, curves in sorted(by_length.items()):
        ok = np.flatnonzero((np.mean(curves, axis=0) <= max_fa_per_hour / 4) & (GRID >= MIN_THRESHOLD) & (GRID < 1.0))
        syllables_thr[length] = float(GRID[ok[0]]) if ok.size else NEVER
    return {"phrases": per_phrase, "syllables": syllables_thr}


def det_plot(run: Run, thresholds: Mapping[str, float], title: str, path: Path) -> None:
    """Miss rate against false alarms/h per category, one threshold for the whole category
    swept over [0.05, 1]; the dot is the operating point (each phrase at its own threshold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for cat, phrases in run.phrases.items():
        n, tp, fa = _tally(run, phrases, False, _sweep)
        if not n:
            continue
        line, = ax.plot(fa / run.hours + 0.01, 1 - tp / n + 1e-3, label=cat)
        _, tp1, fa1 = _tally(run, phrases, False, lambda p: np.array([thresholds.get(p, NEVER)]))
        ax.plot(fa1[0] / run.hours + 0.01, 1 - tp1[0] / n + 1e-3, "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false alarms per hour (+0.01), judged by characters")
    ax.set_ylabel("miss rate (+0.001)")
    ax.set_title(title, fontsize=9)
    ax.axvline(1.0, color="grey", lw=0.5, ls="--")
    ax.axhline(0.1, color="grey", lw=0.5, ls="--")
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def spot_as_asked(args, rows: list[tuple[Path, str]]) -> tuple[KeywordSpotter, LineSim | None, Run]:
    """The spotter and line simulation eval-kws's options ask for, and the spotter's run on `rows`."""
    cfg = KeywordsConfig(runtime=args.runtime, precision=args.precision, model=args.model)
    spotter = floor_spotter(cfg, load_phrases(args.phrases), args.rate)
    line = LineSim(rate=args.rate, noises=TEST_NOISES) if args.line_sim == "test" else None
    return spotter, line, spot_clips(spotter, rows, line, args.seed)


def evaluate(args) -> dict:
    rows = read_manifest(args.manifest)[: args.limit or None]
    spotter, _, run = spot_as_asked(args, rows)
    thresholds = operating_thresholds(spotter)
    report = category_table(run, thresholds)
    report.update(manifest=str(args.manifest), clips=len(rows), rate=args.rate, line_sim=args.line_sim,
                  unit_error_rate=run.unit_error_rate,
                  runtime=args.runtime, precision=args.precision,
                  real_time_factor=round(run.seconds_of_compute / (run.hours * 3600), 5))
    name = args.name or f"{args.manifest.parent.name}-{args.rate}-{args.line_sim}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    det_plot(run, thresholds, f"{name}: {len(rows)} clips, {run.hours:.2f} h, {args.runtime}/{args.precision}",
             args.out / f"{name}.png")
    return report
