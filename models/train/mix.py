"""Which clips one training epoch presents: the synthetic clips (all, or a fresh sample each
epoch), every real clip `repeat` times, except that a speaker who dominates the real corpus
is capped: per epoch at most `cap` × as many of their clips as all other real speakers' draws
together, a fresh sample each epoch.

Why: `shared/data/real_zh_train` is 94 % one speaker (Yue Tan reading 5 000 isolated HSK
words); uncapped, "real speech" would mostly teach the model that one voice and bare words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

DEFAULT_SPEAKER_CAP = 1.0  # the dominant speaker gets at most as many draws as all others together


def speaker_key(row: dict[str, str]) -> str:
    """The speaker a manifest row is by, as far as its columns tell.

    real_zh_train has no speaker column, but the clips of one recording session share
    `source_repo` and `speaker_note` word for word: the 5 000 audio-cmn words all say
    "isolated HSK word, read by one native Mandarin speaker, Yue Tan (shtooka cmn-caen-tan)"
    and come from hugolpz/audio-cmn, while the other sources name their speakers in the note
    (AISHELL-3 "spk SSB1020", …) or are a handful of clips each. So that pair is the key. A
    manifest without those columns (a site's `file, transcript`) gives every clip the key "".
    """
    repo, note = row.get("source_repo") or "", row.get("speaker_note") or ""
    return f"{repo}|{note}" if repo or note else ""


def dominant_speaker(keys: list[str]) -> str | None:
    """The key of more than half of the clips, if any: only such a speaker can outnumber all
    the others together. "" (speaker unknown) is never one."""
    if not keys:
        return None
    key, count = Counter(keys).most_common(1)[0]
    return key if key and count * 2 > len(keys) else None


@dataclass(frozen=True)
class EpochMix:
    synthetic: int  # clips [0, synthetic) of the clip list are synthetic, the rest real
    real_speakers: tuple[str, ...]  # speaker_key of each real clip, in clip-list order
    repeat: int = 1  # draws of each (uncapped) real clip per epoch
    cap: float = DEFAULT_SPEAKER_CAP
    synthetic_per_epoch: int = 0  # 0: every synthetic clip every epoch
    seed: int = 1234

    @property
    def capped_speaker(self) -> str | None:
        return dominant_speaker(list(self.real_speakers))

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into the clip list) of the uncapped real clips and of the capped speaker's."""
        idx = np.arange(self.synthetic, self.synthetic + len(self.real_speakers))
        mine = np.array([k == self.capped_speaker for k in self.real_speakers], dtype=bool)
        if not (~mine).any():  # nobody to balance against (one speaker, or a site's own agents)
            mine[:] = False
        return idx[~mine], idx[mine]

    def capped_per_epoch(self) -> int:
        others, capped = self._split()
        return min(len(capped) * self.repeat, int(self.cap * len(others) * self.repeat))

    def draw(self, epoch: int) -> np.ndarray:
        """The epoch's clip indices (the trainer shuffles them into batches)."""
        rng = np.random.default_rng([self.seed, epoch, 0x5EED])
        n_syn = self.synthetic_per_epoch or self.synthetic
        synthetic = (np.arange(self.synthetic) if n_syn >= self.synthetic
                     else np.sort(rng.choice(self.synthetic, n_syn, replace=False)))
        others, capped = self._split()
        n = self.capped_per_epoch()
        picked = rng.choice(capped, n, replace=n > len(capped)) if n else capped[:0]
        return np.concatenate([synthetic, np.tile(others, self.repeat), np.sort(picked)]).astype(np.int64)

    def summary(self) -> dict:
        others, capped = self._split()
        return {"synthetic_clips": self.synthetic, "synthetic_per_epoch": self.synthetic_per_epoch or self.synthetic,
                "real_clips": len(self.real_speakers), "real_repeat": self.repeat,
                "capped_speaker": self.capped_speaker if len(capped) else None, "capped_speaker_clips": len(capped),
                "speaker_cap": self.cap, "capped_draws_per_epoch": self.capped_per_epoch(),
                "other_real_draws_per_epoch": len(others) * self.repeat}
