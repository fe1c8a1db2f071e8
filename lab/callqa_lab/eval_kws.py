"""Measure keyword spotting on a manifest of clips (recall, false alarms per hour, DET curve), or against the teacher on any recordings.

`callqa eval-kws MANIFEST` (the lab adds this command to `callqa`): callqa_lab/kws_evaluate.py
does the work. `callqa eval-kws --teacher DIR_OR_MANIFEST`: the spotter against the teacher on a
folder of WAVs without transcripts (or a manifest), callqa_lab/kws_teacher.py; `--trust-out`
writes the keyword trust file. Both are imported only when the command runs."""

from __future__ import annotations

from pathlib import Path

from callqa_lab.kws_evaluate import PHRASES_FILE


def add_arguments(p) -> None:
    p.add_argument("manifest", type=Path, nargs="?", help="TSV with 'file' and 'transcript' columns")
    p.add_argument("--teacher", type=Path, metavar="DIR_OR_MANIFEST",
                   help="instead of a manifest: recordings (a folder of WAVs, no transcripts needed, or a "
                        "manifest) on which the spotter is judged against the teacher")
    p.add_argument("--teacher-model", type=Path, default=None,
                   help="a CTranslate2 Whisper folder (default: the installed Whisper base, assembled in "
                        "build/teacher/whisper-base)")
    p.add_argument("--trust-out", type=Path, default=None, help="with --teacher: write the keyword trust file here")
    p.add_argument("--rate", type=int, choices=(8000, 16000), default=8000, help="line rate to evaluate at")
    p.add_argument("--line-sim", choices=("test", "none"), default="test",
                   help="'test': headset-line simulation with held-out noise types; 'none': audio as recorded "
                        "(a site's own line recordings)")
    p.add_argument("--runtime", choices=("auto", "onnx", "tflite"), default="auto",
                   help="the spotter's runtime (default: the box's, auto), so a trust file names the model the box runs")
    p.add_argument("--precision", choices=("int8", "float"), default="int8")
    p.add_argument("--model", type=Path, default=None, help="model manifest (default models/kws.json)")
    p.add_argument("--phrases", type=Path, default=PHRASES_FILE, help="TOML: category = [phrases]")
    p.add_argument("--out", type=Path, default=Path("out/eval-kws"), help="report JSON and picture go here")
    p.add_argument("--name", default=None, help="report file name stem (default: recordings folder + rate)")
    p.add_argument("--limit", type=int, default=0, help="only the first N clips")
    p.add_argument("--seed", type=int, default=2024)


def run(args) -> int:
    from edge.config import ConfigError, KeywordsConfig

    args.runtime = KeywordsConfig(runtime=args.runtime).runtime  # "auto" → what this machine runs

    if (args.manifest is None) == (args.teacher is None):
        raise ConfigError("eval-kws: give a MANIFEST, or --teacher DIR_OR_MANIFEST (not both)")
    if args.trust_out and args.teacher is None:
        raise ConfigError("eval-kws: --trust-out needs --teacher (trust is measured against the teacher)")
    return run_teacher(args) if args.teacher is not None else run_transcripts(args)


def run_transcripts(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from callqa_lab.kws_evaluate import evaluate

    report = evaluate(args)
    table = Table(title=f"{args.manifest} at {args.rate} Hz, line sim {args.line_sim}: {report['hours']} h")
    for col in ("category", "occurrences", "recall", "FA/h", "recall (sound)", "FA/h (sound)"):
        table.add_column(col)
    for cat, r in report["categories"].items():
        table.add_row(cat, str(r["text"]["occurrences"]), str(r["text"]["recall"]),
                      str(r["text"]["fa_per_hour"]), str(r["sound"]["recall"]), str(r["sound"]["fa_per_hour"]))
    console = Console()
    console.print(table)
    console.print(f"unit error rate {report['unit_error_rate']}: how far the model's own reading of the clips is "
                  "from their transcripts (initials and finals, by edit distance; 0 is perfect).")
    console.print("(sound): a detection is right if the phrase's toneless syllables are in the transcript, "
                  f"so homophones (为 for 喂) count as heard. Report and DET curve in {args.out}/")
    return 0


def run_teacher(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from callqa_lab.kws_teacher import evaluate_teacher
    from edge.keywords.teacher import TeacherError

    try:
        report = evaluate_teacher(args)
    except TeacherError as e:
        Console(stderr=True).print(f"eval-kws: teacher unusable: {e}")
        return 1
    table = Table(title=f"spotter against the teacher: {args.teacher} at {args.rate} Hz, line sim {args.line_sim}, "
                        f"{report['hours']} h")
    for col in ("category", "teacher hits", "spotter found", "recall", "unconfirmed", "unconfirmed/h",
                "recall (sound)"):
        table.add_column(col)
    for cat, r in report["categories"].items():
        t = r["text"]
        table.add_row(cat, str(t["occurrences"]), str(t["found"]), str(t["recall"]), str(t["false_alarms"]),
                      str(t["fa_per_hour"]), str(r["sound"]["recall"]))
    console = Console()
    console.print(table)
    console.print(f"teacher: {report['teacher']}, {report['teacher_cpu_s_per_audio_s']} CPU-s per audio-s. "
                  "Unconfirmed: spotter hits of a phrase the teacher did not hear there. "
                  f"Report and picture in {args.out}/" + (f"; trust file {args.trust_out}" if args.trust_out else ""))
    if "teacher_vs_transcripts" in report:
        console.print(f"the teacher against the transcripts: character error rate "
                      f"{report['teacher_vs_transcripts']['character_error_rate']} (per phrase in the report)")
    return 0
