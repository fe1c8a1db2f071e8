"""Training and evaluation text: varied Mandarin sentences from the seed manuals, with the
rubric phrases placed in many contexts, and voice settings split so that evaluation voices
are never heard in training.
"""

from __future__ import annotations

import glob
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.keywords.units import han_only
from callqa_lab.shared import SEEDS

PHRASES_FILE = Path(__file__).resolve().parents[2] / "lab" / "callqa_lab" / "phrases.toml"
SEEDS_GLOB = str(SEEDS / "*.txt")

# Call-centre turns written for this project, to put phrases in a realistic place.
_TURNS = (
    "{p}请问有什么可以帮您", "{p}我这边帮您查一下", "好的{p}", "{p}您稍等一下", "是的{p}",
    "{p}我明白您的意思", "嗯{p}", "那{p}", "{p}我们会尽快处理", "您的订单已经发货了{p}",
    "{p}这边是客服中心", "我看一下{p}", "{p}还有其他问题吗", "关于这个问题{p}",
    "{p}", "{p}", "{p}",
)


def load_phrases(path: Path = PHRASES_FILE) -> dict[str, list[str]]:
    with open(path, "rb") as f:
        return {cat: list(v) for cat, v in tomllib.load(f).items()}


def seed_clauses(pattern: str = SEEDS_GLOB) -> list[str]:
    """Runs of 2+ Chinese characters from the seed documents, de-duplicated, in file order."""
    seen: dict[str, None] = {}
    for path in sorted(glob.glob(pattern)):
        for run in re.findall(r"[\u4e00-\u9fff]{2,}", Path(path).read_text(encoding="utf-8")):
            seen.setdefault(run[:24], None)
    if not seen:
        raise FileNotFoundError(f"no seed text matched {pattern}")
    return list(seen)


def contains_any(text: str, phrases: list[str]) -> bool:
    return any(p in text for p in phrases)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    text: str
    voice: tuple[str, int, int]  # espeak variant, speed wpm, pitch
    split: str  # train | dev | test
    phrases: tuple[str, ...]  # rubric phrases it contains


def split_clauses(clauses: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    idx = rng.permutation(len(clauses))
    n = len(clauses)
    cut1, cut2 = int(0.8 * n), int(0.9 * n)
    return {
        "train": [clauses[i] for i in idx[:cut1]],
        "dev": [clauses[i] for i in idx[cut1:cut2]],
        "test": [clauses[i] for i in idx[cut2:]],
    }


def split_variants(variants: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """Whole espeak variants per split: ~15 % test, ~10 % dev, the rest train."""
    order = [variants[i] for i in rng.permutation(len(variants))]
    n_test, n_dev = max(2, len(order) * 15 // 100), max(2, len(order) // 10)
    return {"test": order[:n_test], "dev": order[n_test : n_test + n_dev], "train": order[n_test + n_dev :]}


def _sentence(pool: list[str], rng: np.random.Generator, max_chars: int = 28) -> str:
    parts = [pool[i] for i in rng.integers(0, len(pool), size=int(rng.integers(1, 4)))]
    return "".join(parts)[:max_chars]


def _voice(variants: list[str], rng: np.random.Generator) -> tuple[str, int, int]:
    return (variants[int(rng.integers(len(variants)))], int(rng.integers(110, 260)), int(rng.integers(15, 85)))


def make_utterances(
    split: str, n_positive: int, n_negative: int, clauses: list[str], variants: list[str],
    phrases: dict[str, list[str]], rng: np.random.Generator,
) -> list[Utterance]:
    """Positives carry one or two rubric phrases in context; negatives carry none."""
    flat = [p for ps in phrases.values() for p in ps]
    clean = [c for c in clauses if not contains_any(c, flat)]
    chars = han_only("".join(clean))
    out: list[Utterance] = []
    for i in range(n_positive):
        chosen = [flat[i % len(flat)]]
        if rng.random() < 0.3:
            chosen.append(flat[int(rng.integers(len(flat)))])
        text = ""
        for p in chosen:
            turn = _TURNS[int(rng.integers(len(_TURNS)))]
            before = _sentence(clean, rng, 10) if rng.random() < 0.5 else ""
            after = _sentence(clean, rng, 10) if rng.random() < 0.5 else ""
            text += before + turn.format(p=p) + after
        found = tuple(p for p in flat if p in text)
        out.append(Utterance(f"{split}-p{i:06d}", text, _voice(variants, rng), split, found))
    for i in range(n_negative):
        text = _sentence(clean, rng)
        if rng.random() < 0.15:  # random character strings cover rare syllables
            text = "".join(chars[j] for j in rng.integers(0, len(chars), size=int(rng.integers(4, 16))))
        if contains_any(text, flat):  # a join can create a phrase across clause edges
            continue
        out.append(Utterance(f"{split}-n{i:06d}", text, _voice(variants, rng), split, ()))
    return out
