"""Rubric phrase text → the acoustic model's units (toneless pinyin initials and finals).

The model never sees characters: a phrase is spelled as pypinyin's toneless initials and
finals (您好 → n in h ao), so a phrase added to the rubric is searchable without retraining
as long as every unit is one the model was trained on. Homophones are therefore the same
keyword to the model (喂 wei and 为 wei sound alike once tones are dropped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

BLANK = "<b>"
# Syllable initials (pypinyin, strict=False, so y and w count); m and n also end 嗯/呣 but
# almost always start a syllable.
INITIALS = frozenset("b p m f d t n l g k h j q x zh ch sh r z c s y w".split())
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_SEPARATORS = re.compile(r"[\s，。、！？,.!?；;：:“”\"'（）()]+")


class UnrepresentablePhrase(ValueError):
    """A phrase the model's units cannot spell; the message names the phrase and why."""


def han_only(text: str) -> str:
    """The Chinese characters of `text`, punctuation and spaces dropped."""
    return "".join(_HAN.findall(text))


def _pinyin(text: str, style: str, **kw) -> list[str]:
    # Imported when first needed: pypinyin's tables take ~55 MiB of a process, and the live
    # service spells its phrases in a short-lived child (edge.keywords.spelling) instead.
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=getattr(Style, style), errors="ignore", **kw)


def syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of a run of Chinese characters (one per character)."""
    return _pinyin(text, "NORMAL")


def text_units(text: str) -> list[str]:
    """Units of every Chinese character in `text` (others are skipped): for training labels."""
    han = han_only(text)
    if not han:
        return []
    initials = _pinyin(han, "INITIALS", strict=False)
    finals = _pinyin(han, "FINALS", strict=False)
    units: list[str] = []
    for ini, fin in zip(initials, finals):
        if ini:
            units.append(ini)
        if fin:
            units.append(fin)
    return units


def phrase_units(phrase: str, inventory: Sequence[str]) -> list[str]:
    """Units of a rubric phrase, or UnrepresentablePhrase naming the phrase and the reason."""
    stripped = _SEPARATORS.sub("", phrase)
    if not stripped:
        raise UnrepresentablePhrase(f"phrase {phrase!r} is empty")
    foreign = sorted({c for c in stripped if not _HAN.match(c)})
    if foreign:
        raise UnrepresentablePhrase(
            f"phrase {phrase!r} contains {''.join(foreign)!r}: only Chinese characters can be spotted"
        )
    units = text_units(stripped)
    known = set(inventory)
    unknown = sorted({u for u in units if u not in known})
    if not units or unknown:
        raise UnrepresentablePhrase(f"phrase {phrase!r} needs units the model lacks: {unknown}")
    return units


def unit_index_of(inventory: Sequence[str], units: Iterable[str]) -> list[int]:
    """Model output index of each unit: the inventory's position + 1 (output 0 is the blank)."""
    position = {u: i + 1 for i, u in enumerate(inventory)}
    return [position[u] for u in units if u in position]


# A one-syllable phrase matched by sound would be found in every homophone (喂 in 为您服务).
MIN_SOUND_SYLLABLES = 2


def occurrences(transcript: str, phrase: str, by_sound: bool) -> int:
    """How often `phrase` occurs in `transcript`: as characters, or as toneless syllables
    (then homophones count too: 为 for 喂, 情 for 请)."""
    if not by_sound:
        return transcript.count(phrase)
    said = " " + " ".join(syllables(han_only(transcript))) + " "
    return said.count(" " + " ".join(syllables(han_only(phrase))) + " ")


def heard_in(transcript: str, phrase: str) -> str | None:
    """How a recogniser's `transcript` holds `phrase`: "characters", "sound" (the same toneless
    syllables, for phrases of MIN_SOUND_SYLLABLES or more: a recogniser writes a rare insult
    as a homophone), or None."""
    if occurrences(transcript, phrase, False):
        return "characters"
    if len(han_only(phrase)) >= MIN_SOUND_SYLLABLES and occurrences(transcript, phrase, True):
        return "sound"
    return None
