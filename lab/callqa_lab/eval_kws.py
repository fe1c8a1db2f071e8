"""Measure keyword spotting on a manifest of clips: recall, false alarms per hour, DET curve.

`callqa eval-kws MANIFEST` (the lab adds this command to `callqa`); callqa_lab/kws_evaluate.py
does the work, imported only when the command runs."""

from __future__ import annotations

from pathlib import Path

from callqa_lab.kws_evaluate import PHRASES_FILE


def add_arguments(p) -> None:
    p.add_argument("manifest", type=Path, help="TSV with 'file' and 'transcript' columns")
    p.add_argument("--rate", type=int, choices=(8000, 16000), default=8000, help="line rate to evaluate at")
    p.add_argument("--line-sim", choices=("test", "none"), default="test",
                   help="'test': headset-line simulation with held-out noise types; 'none': audio as recorded")
    p.add_argument("--runtime", choices=("onnx", "tflite"), default="onnx")
    p.add_argument("--precision", choices=("int8", "float"), default="int8")
    p.add_argument("--model", type=Path, default=None, help="model manifest (default models/kws.json)")
    p.add_argument("--phrases", type=Path, default=PHRASES_FILE, help="TOML: category = [phrases]")
    p.add_argument("--out", type=Path, default=Path("out/eval-kws"), help="report JSON and DET curve PNG go here")
    p.add_argument("--name", default=None, help="report file name stem (default: manifest folder + rate)")
    p.add_argument("--limit", type=int, default=0, help="only the first N clips")
    p.add_argument("--seed", type=int, default=2024)


def run(args) -> int:
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
