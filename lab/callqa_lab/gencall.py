"""Two-sided test calls with known ground truth, synthesised with espeak-ng (callqa_lab/synth.py).

A call is a `Scenario`: two voices and a list of `Turn`s (who speaks, what, how long after the
floor became free, how fast, how loud). `generate_call` places the turns on two channels
(left = agent, right = customer), adds line noise and optionally a headset band-limit, and
returns stereo int16 audio with a truth dict measured from what it placed:

- every turn is synthesised, trimmed to its active region (synth.trim_silence) and placed at a
  known sample, so per-side speech segments are honest speech bounds;
- overtalk, interruptions, dead air (holds aside), response latencies, talk time and the last speaker are
  derived from those segments;
- a turn is speech of one side between pauses of at least MIN_TURN_PAUSE_S: the generator
  starts a side's turn no sooner than that after the side's previous turn ended, so each
  placed segment is one turn as a listener (and the box's VAD and talk-time bridging) hears
  it. A shorter pause of one speaker is a pause inside a turn, never a turn boundary;
- phrases marked `[...]` in a turn's text and drawn-out syllables marked `<.>` are synthesised
  as their own pieces, so their start and end are exact too.

Truth fields (times in s from the call's start): `segments` {side: [[start, end]]}, `turns`
(each with text, syllables, speed, gain and its marked pieces), `talk_s`, `syllables` and
`speech_rate_sps` per side (Chinese characters / seconds of the side's segments), `overtalk`
[[s, e]] (both sides in a segment), `interruptions` [[agent start, end of the overlap]] (the
agent starts inside customer speech), `silences` (every gap between speech of either side) and
`dead_air` (those >= `dead_air_min_s`), `raised_voice` {side: [[s, e, gain_db]]},
`drawn_out` {side: [[s, e]]}, `phrases` [{phrase, side, start, end}], `response_latencies`
[{customer_end, agent_start, latency_s}], `last_speaker`, `level_dbfs` (a normal turn's active
level per side), `voices`, `headset`, `rate`, `duration`, `seed`, `scenario`.

`holds` [{start, end, music}]: a `Hold` in the turns (scenarios `hold`, `hold_music`: one hold
of 10–120 s, the agent's hold and resume phrases in half of them) runs from the end of the
speech before it to the next turn; music-on-hold is a quiet tonal melody on the customer
channel. `line` is the customer line's noise (what a new caller changes).
`generate_sequence` puts calls back to back on one line, with after-call gaps, a new caller's
line (or the same one) and an idle or still-open customer channel in the gaps; its truth has
each call's bounds and holds.

Named scenarios (`SCENARIOS`) fix the turn structure; the seed picks voices, pitches, levels
and noise, so one name still yields many different calls. `random` builds the whole call from
the seed.

    python3 -m callqa_lab.gencall --scenario rude --rate 8000 --seed 3 --out call.wav --truth call.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import sys
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import signal
from scipy.io import wavfile


from callqa_lab import synth

SIDES = ("agent", "customer")
RATES = (8000, 16000)
# 0.5 s: longer than the pauses the box counts as talk inside a turn (edge.metrics.TALK_PAUSE_S,
# 0.4 s) and than webrtcvad's bridging hangover (0.2 s); conversation analysts also treat a
# same-speaker pause of a few hundred ms as within the turn.
MIN_TURN_PAUSE_S = 0.5
PIECE_PAUSE_S = 0.06  # between the separately synthesised pieces of one turn: well inside any VAD hangover
DRAWN_SPEED_WPM = 80  # espeak's slowest speed; the held vowel is then lengthened further
DRAWN_S = 1.0  # length of a drawn-out syllable, s (the QA manuals' 拖音: clearly held, >= 0.6 s)
HEADSET_BAND_HZ = (300.0, 3400.0)
PEAK_MAX = 10 ** (-3 / 20)  # speech peaks below -3 dBFS: headroom for the headset filter and line noise  # a telephone headset line's pass band
# Variants the random voices leave out: whispers and `announcer` have (almost) no periodic
# voicing (no pitch to measure: Praat voices a few % of announcer's speech frames), and
# these set their own tempo, so espeak's -s no longer sets the speech rate (measured: at -s 175
# they speak ~6.5 syllables/s, at -s 340 ~2.9) or barely changes it (Demonic, Marco).
UNUSABLE_VARIANTS = frozenset({
    "whisper", "whisperf", "announcer", "Andrea", "antonio", "Demonic", "Marco", "pedro", "RicishayMax2", "RicishayMax3",
    "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft7", "UniRobot", "anika", "anikaRobot",
})
MUSIC_BELOW_DB = 18.0  # music-on-hold level under the customer's speech level (a far-end leak, quiet)
MUSIC_INSET_S = 0.4  # the music starts this long after the hold begins and stops this long before it ends
MUSIC_NOTE_S = (0.18, 0.6)  # length of one note of the melody
MUSIC_SCALE_HZ = (262.0, 294.0, 330.0, 392.0, 440.0, 523.0, 587.0, 659.0)  # C major pentatonic, two octaves
IDLE_DBFS = -90.0  # a channel with no call on it: the interface's own noise
_CJK = re.compile(r"[\u4e00-\u9fff]")
_MARKUP = re.compile(r"\[([^\]]+)\]|<([^>]+)>")


@dataclass(frozen=True)
class Turn:
    """One utterance of one side.

    `text`: Chinese characters; `[您好]` marks a phrase whose times go into the truth,
    `<他>` a syllable that is drawn out (held ~1 s). `gap_s`: start relative to the moment the
    floor became free (the latest end of any speech so far); negative = starts that long before,
    i.e. overlaps; never sooner than MIN_TURN_PAUSE_S after the same side's previous turn.
    `speed_wpm`: None = the side's voice speed. `gain_db`: level relative to the
    side's own level (raised voice: +10..15).
    """

    side: str
    text: str
    gap_s: float = 0.6
    speed_wpm: int | None = None
    gain_db: float = 0.0


@dataclass(frozen=True)
class Hold:
    """The agent puts the customer on hold: nobody speaks for `duration_s` (from the end of the
    speech before it to the start of the next turn). `music`: music-on-hold on the customer
    channel meanwhile (a tonal melody MUSIC_BELOW_DB under the customer's speech level, from
    MUSIC_INSET_S after the hold starts to as long before it ends); otherwise the customer's
    line noise goes on alone."""

    duration_s: float
    music: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    turns: tuple[Turn | Hold, ...]
    agent_voice: synth.Voice = synth.Voice("f3", 175, 55)
    customer_voice: synth.Voice = synth.Voice("m3", 175, 40)
    agent_level_dbfs: float = -26.0  # active speech level of a normal turn
    customer_level_dbfs: float = -30.0
    noise_dbfs: float | None = -66.0  # broadband line noise (RMS)
    hum_dbfs: float | None = -62.0  # mains hum and its odd harmonics (RMS of the sum)
    hum_hz: float = 50.0
    headset: bool = False  # band-limit both sides to HEADSET_BAND_HZ
    lead_s: float = 0.6  # line open before the first word
    tail_s: float = 0.8  # line open after the last word


# --------------------------------------------------------------------------- synthesis


@functools.lru_cache(maxsize=4096)
def _speak_trimmed(text: str, voice: synth.Voice) -> tuple[np.ndarray, int]:
    x, rate = synth.speak(text, voice)
    return synth.trim_silence(x, rate), rate


def _hold_vowel(x: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """Lengthen a syllable to `seconds` by repeating whole pitch periods from its middle.

    Repeating periods keeps the pitch and spectrum of the vowel steady, which is what a held
    syllable sounds like; a generic time-stretch (sox tempo) halves espeak's pitch by mistake.
    """
    mid = len(x) // 2
    half = rate // 50  # 20 ms either side of the middle
    win = x[mid - half : mid + half].astype(np.float64)
    ac = signal.correlate(win, win, mode="full")[len(win) - 1 :]
    lo, hi = rate // 500, rate // 60
    period = lo + int(np.argmax(ac[lo:hi]))
    chunk = x[mid : mid + period * max(1, int(0.02 * rate) // period)]
    missing = int(seconds * rate) - len(x)
    if missing <= 0 or len(chunk) == 0:
        return x
    reps = -(-missing // len(chunk))
    return np.concatenate([x[:mid], np.tile(chunk, reps), x[mid:]])


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    g = gcd(rate_in, rate_out)
    return signal.resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)


def _active_level_db(x: np.ndarray, rate: int) -> float:
    """Mean power of the 10 ms frames within 30 dB of the loudest one (pauses excluded)."""
    win = max(1, rate // 100)
    n = len(x) // win
    p = np.mean(x[: n * win].reshape(n, win).astype(np.float64) ** 2, axis=1) + 1e-12
    db = 10 * np.log10(p)
    return float(10 * np.log10(np.mean(p[db > db.max() - 30])))


@dataclass(frozen=True)
class _Piece:
    kind: str  # "plain" | "phrase" | "drawn"
    text: str


def _pieces(text: str) -> list[_Piece]:
    out, pos = [], 0
    for m in _MARKUP.finditer(text):
        if m.start() > pos:
            out.append(_Piece("plain", text[pos : m.start()]))
        out.append(_Piece("phrase", m.group(1)) if m.group(1) else _Piece("drawn", m.group(2)))
        pos = m.end()
    if pos < len(text):
        out.append(_Piece("plain", text[pos:]))
    return [p for p in out if _CJK.search(p.text)]


def _synth_turn(turn: Turn, voice: synth.Voice, rate: int, level_dbfs: float):
    """Audio of one turn at `rate`, scaled to its level, and its pieces' (kind, text, start, end) in s."""
    if turn.speed_wpm is not None:
        voice = dataclasses.replace(voice, speed_wpm=turn.speed_wpm)
    parts, marks, t = [], [], 0.0
    for i, piece in enumerate(_pieces(turn.text)):
        if piece.kind == "drawn":
            x, r = _speak_trimmed(piece.text, dataclasses.replace(voice, speed_wpm=DRAWN_SPEED_WPM))
            x = _hold_vowel(x, r, DRAWN_S)
        else:
            x, r = _speak_trimmed(piece.text, voice)
        x = _resample(x, r, rate)
        if i:
            parts.append(np.zeros(int(PIECE_PAUSE_S * rate), np.float32))
            t += PIECE_PAUSE_S
        marks.append((piece.kind, piece.text, t, t + len(x) / rate))
        parts.append(x)
        t += len(x) / rate
    if not parts:
        raise ValueError(f"turn {turn!r} has no Chinese characters to speak")
    audio = np.concatenate(parts)
    audio *= 10 ** ((level_dbfs + turn.gain_db - _active_level_db(audio, rate)) / 20)
    return audio, marks


# --------------------------------------------------------------------------- truth


def _intersections(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if e > s:
                out.append([s, e])
    return sorted(out)


def _union(segs: list[list[float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for s, e in sorted(segs):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def _truth(
    scn: Scenario, rate: int, seed: int, duration: float, placed: list[dict], levels: dict[str, float], dead_air_min_s: float,
) -> dict:
    r3 = functools.partial(round, ndigits=4)
    seg = {side: [[p["start"], p["end"]] for p in placed if p["side"] == side] for side in SIDES}
    union = _union(seg["agent"] + seg["customer"])
    silences = [[a[1], b[0]] for a, b in zip(union, union[1:])]
    interruptions = [
        [a[0], min(a[1], c[1])] for a in seg["agent"] for c in seg["customer"] if c[0] < a[0] < c[1]
    ]
    # A response: the agent starts after the customer's turn ended, and the customer spoke last.
    latencies = []
    for a in seg["agent"]:
        before = [p for p in placed if p["end"] <= a[0]]
        if before and max(before, key=lambda p: p["end"])["side"] == "customer":
            c_end = max(p["end"] for p in before)
            if not any(s < a[0] < e for s, e in seg["customer"]):
                latencies.append({"customer_end": r3(c_end), "agent_start": r3(a[0]), "latency_s": r3(a[0] - c_end)})
    talk = {side: sum(e - s for s, e in _union(seg[side])) for side in SIDES}
    syllables = {side: sum(p["syllables"] for p in placed if p["side"] == side) for side in SIDES}
    last = max(placed, key=lambda p: p["end"])["side"] if placed else None

    def r(segs):
        return [[r3(s), r3(e)] for s, e in segs]

    return {
        "schema": "callqa.gencall/1",
        "scenario": scn.name,
        "seed": seed,
        "rate": rate,
        "duration": r3(duration),
        "voices": {side: dataclasses.asdict(v) for side, v in zip(SIDES, (scn.agent_voice, scn.customer_voice))},
        "level_dbfs": {side: r3(levels[side]) for side in SIDES},  # a normal turn's active level
        "headset": scn.headset,
        "turns": [{k: (r3(v) if isinstance(v, float) else v) for k, v in p.items()} for p in placed],
        "segments": {side: r(seg[side]) for side in SIDES},
        "talk_s": {side: r3(talk[side]) for side in SIDES},
        "syllables": syllables,
        "speech_rate_sps": {side: (r3(syllables[side] / talk[side]) if talk[side] else None) for side in SIDES},
        "overtalk": r(_intersections(seg["agent"], seg["customer"])),
        "interruptions": r(interruptions),
        "silences": r(silences),
        "dead_air_min_s": dead_air_min_s,
        "dead_air": r([g for g in silences if g[1] - g[0] >= dead_air_min_s]),
        "raised_voice": {
            side: [[r3(p["start"]), r3(p["end"]), p["gain_db"]] for p in placed if p["side"] == side and p["gain_db"] >= 6]
            for side in SIDES
        },
        "drawn_out": {side: r([[m["start"], m["end"]] for m in _marks(placed, side, "drawn")]) for side in SIDES},
        "phrases": sorted(
            ({"phrase": m["text"], "side": side, "start": r3(m["start"]), "end": r3(m["end"])}
             for side in SIDES for m in _marks(placed, side, "phrase")),
            key=lambda d: d["start"],
        ),
        "response_latencies": latencies,
        "last_speaker": last,
    }


def _marks(placed: list[dict], side: str, kind: str) -> list[dict]:
    return [m for p in placed if p["side"] == side for m in p["marks"] if m["kind"] == kind]


# --------------------------------------------------------------------------- the call


def _line_noise(n: int, rate: int, scn: Scenario, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, np.float32)
    if scn.noise_dbfs is not None:
        out += rng.standard_normal(n).astype(np.float32) * 10 ** (scn.noise_dbfs / 20)
    if scn.hum_dbfs is not None:
        t = np.arange(n) / rate
        phase = rng.uniform(0, 2 * np.pi)
        hum = sum(np.sin(2 * np.pi * k * scn.hum_hz * t + phase * k) / k for k in (1, 3, 5))
        hum *= 10 ** (scn.hum_dbfs / 20) / np.sqrt(np.mean(hum**2))
        out += hum.astype(np.float32)
    return out


def render(scn: Scenario, sample_rate: int = 8000, seed: int = 0, dead_air_min_s: float = 3.0) -> tuple[np.ndarray, dict]:
    """Place `scn`'s turns on two channels; returns (int16 array (n, 2), truth dict)."""
    if sample_rate not in RATES:
        raise ValueError(f"sample_rate must be one of {RATES}, not {sample_rate}")
    rng = np.random.default_rng(seed)
    voices = {"agent": scn.agent_voice, "customer": scn.customer_voice}
    levels = {"agent": scn.agent_level_dbfs, "customer": scn.customer_level_dbfs}
    clips, placed, holds = [], [], []
    floor_free = scn.lead_s  # latest end of any speech so far
    side_free = {side: float("-inf") for side in SIDES}  # end of each side's last turn
    hold: Hold | None = None  # a hold waiting for the turn that ends it
    for turn in scn.turns:
        if isinstance(turn, Hold):
            if hold is not None or not placed:
                raise ValueError("a hold comes after a turn and before another, one at a time")
            hold = turn
            continue
        if turn.side not in SIDES:
            raise ValueError(f"turn side must be one of {SIDES}, not {turn.side!r} (turn {turn.text!r})")
        audio, marks = _synth_turn(turn, voices[turn.side], sample_rate, levels[turn.side])
        # a side cannot overlap itself, and its next turn is a new turn only after a real pause;
        # starts land on whole samples so the truth matches the audio; the turn after a hold
        # starts when the hold is over
        start = (floor_free + hold.duration_s if hold is not None
                 else max(floor_free + turn.gap_s, side_free[turn.side] + MIN_TURN_PAUSE_S, scn.lead_s))
        i0 = int(round(start * sample_rate))
        start = i0 / sample_rate
        end = start + len(audio) / sample_rate
        clips.append((turn.side, i0, audio))
        placed.append({
            "side": turn.side, "start": start, "end": end, "text": turn.text,
            "syllables": len(_CJK.findall(turn.text)), "speed_wpm": turn.speed_wpm or voices[turn.side].speed_wpm,
            "gain_db": turn.gain_db,
            "marks": [{"kind": k, "text": txt, "start": round(start + s, 4), "end": round(start + e, 4)} for k, txt, s, e in marks],
        })
        if hold is not None:
            holds.append({"start": floor_free, "end": start, "music": hold.music})
            hold = None
        floor_free = max(floor_free, end)
        side_free[turn.side] = end
    if hold is not None:
        raise ValueError("a hold must be followed by a turn")
    n = int(round((floor_free + scn.tail_s) * sample_rate))
    channels = {side: np.zeros(n, np.float32) for side in SIDES}
    for side, i0, audio in clips:
        channels[side][i0 : i0 + len(audio)] += audio
    # A side whose loudest (raised) turn would clip is turned down as a whole: the raised
    # turns stay the same dB above the side's own level, and the truth says the level used.
    for side, x in channels.items():
        scale = min(1.0, PEAK_MAX / max(float(np.abs(x).max()), 1e-9))
        x *= scale
        levels[side] += float(20 * np.log10(scale))
    for h in holds:
        if h["music"]:
            i0 = int(round((h["start"] + MUSIC_INSET_S) * sample_rate))
            music = _melody(h["end"] - h["start"] - 2 * MUSIC_INSET_S, sample_rate, levels["customer"] - MUSIC_BELOW_DB, rng)
            channels["customer"][i0 : i0 + len(music)] += music
    if scn.headset:
        sos = signal.butter(4, HEADSET_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")
        channels = {side: signal.sosfilt(sos, x).astype(np.float32) for side, x in channels.items()}
    stereo = np.stack([channels[side] + _line_noise(n, sample_rate, scn, rng) for side in SIDES], axis=1)
    pcm = np.clip(np.round(stereo * 32768.0), -32768, 32767).astype(np.int16)
    truth = _truth(scn, sample_rate, seed, n / sample_rate, placed, levels, dead_air_min_s)
    truth["holds"] = [{"start": round(h["start"], 4), "end": round(h["end"], 4), "music": h["music"]} for h in holds]
    # a hold is the customer kept waiting, not dead air
    truth["dead_air"] = [g for g in truth["dead_air"]
                         if not any(abs(g[0] - h["start"]) < 1e-3 and abs(g[1] - h["end"]) < 1e-3 for h in truth["holds"])]
    truth["line"] = line_of(scn)
    return pcm, truth


def line_of(scn: Scenario) -> dict[str, Any]:
    """The customer line's conditions (what a new caller changes): noise, hum, band-limit."""
    return {"noise_dbfs": scn.noise_dbfs, "hum_dbfs": scn.hum_dbfs, "hum_hz": scn.hum_hz, "headset": scn.headset}


def _melody(seconds: float, rate: int, level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Music-on-hold: notes of a pentatonic melody (a tone and two softer harmonics, each note
    faded in and out over 20 ms), at `level_dbfs` RMS; no speech in it."""
    out, n_total = [], int(seconds * rate)
    fade = int(0.02 * rate)
    while sum(len(x) for x in out) < n_total:
        f0 = float(rng.choice(MUSIC_SCALE_HZ))
        t = np.arange(int(rng.uniform(*MUSIC_NOTE_S) * rate)) / rate
        note = sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in ((1, 1.0), (2, 0.4), (3, 0.2)))
        env = np.ones(len(t))
        env[:fade] = np.linspace(0, 1, fade)
        env[-fade:] = np.linspace(1, 0, fade)
        out.append(note * env)
    x = np.concatenate(out)[:n_total] if out else np.zeros(0)
    if not len(x):
        return x.astype(np.float32)
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


# --------------------------------------------------------------------------- scenarios

_AGENT_LINES = (
    "请问有什么可以帮您", "好的，我帮您查一下", "请您稍等一下", "您的订单已经发货了", "这个问题我们会尽快处理",
    "请问您的手机号码是多少", "我已经帮您登记了", "您还有其他问题吗", "麻烦您再说一遍", "我们会在三个工作日内回复您",
    "这个需要您到营业厅办理", "您的套餐是每月五十八元", "系统显示您的账户是正常的", "我明白您的意思",
)
_CUSTOMER_LINES = (
    "我的宽带又断了", "你们什么时候能修好", "我想查一下我的话费", "上个月怎么扣了这么多钱", "好的，谢谢",
    "我已经打了三次电话了", "能不能快一点", "我的手机号是一三八零零", "那我等你们的电话", "这个套餐太贵了",
    "我要投诉", "对，就是这个问题", "没有了", "你们的服务太差了",
)
_GREETINGS = ("[您好]，很高兴为您服务", "[您好]，请问有什么可以帮您")
_CLOSINGS = ("[感谢您的来电]，[再见]", "祝您生活愉快，[再见]")
_FORBIDDEN = ("这个我[不知道]", "我也[不清楚]", "[你这话什么意思]")
_INSULTS = ("你是[神经病]吧", "[神经病]")


def _voice(rng: np.random.Generator, speed: int | None = None) -> synth.Voice:
    names = [v for v in synth.variants() if v not in UNUSABLE_VARIANTS]
    return synth.Voice(
        variant=str(rng.choice(names)),
        speed_wpm=int(speed if speed is not None else rng.integers(150, 200)),
        pitch=int(rng.integers(25, 75)),
    )


def _line(rng: np.random.Generator) -> dict[str, Any]:
    """Voices, levels and line conditions drawn from the seed."""
    return {
        "agent_voice": _voice(rng),
        "customer_voice": _voice(rng),
        "agent_level_dbfs": float(rng.uniform(-30, -22)),
        "customer_level_dbfs": float(rng.uniform(-34, -24)),
        "noise_dbfs": float(rng.uniform(-72, -58)),
        "hum_dbfs": float(rng.uniform(-70, -58)) if rng.random() < 0.5 else None,
        "hum_hz": float(rng.choice([50.0, 60.0])),
        "headset": bool(rng.random() < 0.5),
    }


def _polite(rng) -> tuple[Turn, ...]:
    return (
        Turn("agent", str(rng.choice(_GREETINGS))),
        Turn("customer", "我想查一下我的话费，上个月怎么扣了这么多钱", 0.5),
        Turn("agent", "好的，请您稍等，我帮您查一下", 0.7),
        Turn("agent", "您上个月开通了一个流量包，所以多扣了二十元", 1.5),
        Turn("customer", "原来是这样，那怎么取消呢", 0.6),
        Turn("agent", "我现在就帮您取消，[请]您放心", 0.5),
        Turn("customer", "好的，[谢谢]", 0.4),
        Turn("agent", str(rng.choice(_CLOSINGS)), 0.5),
    )


def _rude(rng) -> tuple[Turn, ...]:
    return (
        Turn("agent", "喂，什么事"),
        Turn("customer", "我的宽带又断了，你们什么时候能修好", 0.5),
        Turn("agent", str(rng.choice(_FORBIDDEN)), 0.9),
        Turn("customer", "我已经打了三次电话了，你们到底管不管", 0.4),
        Turn("agent", str(rng.choice(_INSULTS)), 0.3),
        Turn("customer", "你怎么能这样说话，我要投诉", 0.3),
        Turn("agent", "那你想好了再打来吧", 0.5),
    )


def _busy(rng) -> tuple[Turn, ...]:
    return (
        Turn("agent", "[您好]，很高兴为您服务"),
        Turn("customer", "我的宽带又断了，已经断了两天了，你们到底什么时候能修好", 0.4),
        Turn("agent", "好的我帮您查一下", -1.5),  # interrupts the customer
        Turn("customer", "能不能快一点", 0.3),
        Turn("agent", "请您稍等", 4.0),  # dead air before it
        Turn("customer", "我在等着呢，你们的服务太差了，每次都这样", 0.5),
        Turn("agent", "系统显示您的线路有故障", -1.0),  # interrupts again
        Turn("customer", "那要多久", -0.4),  # the customer overtalks the agent's end
        Turn("agent", "我们会在二十四小时内修好", 0.6),
        Turn("customer", "好吧", 3.5),  # dead air before it
        Turn("agent", "[感谢您的来电]，[再见]", 0.5),
    )


def _raised_voice(rng) -> tuple[Turn, ...]:
    gain = float(rng.uniform(10, 15))
    return (
        Turn("agent", "[您好]，请问有什么可以帮您"),
        Turn("customer", "你们的服务太差了，我要投诉", 0.5),
        Turn("agent", "好的，请问您遇到了什么问题", 0.6),
        Turn("customer", "你们自己不会查吗", 0.5),
        Turn("agent", "我已经跟您说了很多遍了，您听我说完好不好", 0.4, gain_db=gain),
        Turn("customer", "好，你说", 0.8),
        Turn("agent", "这个需要您到营业厅办理", 0.6),
        Turn("agent", "我们真的没有办法帮您处理这个问题", 1.2, gain_db=gain),
        Turn("customer", "那好吧", 0.7),
        Turn("agent", str(rng.choice(_CLOSINGS)), 0.5),
    )


_COMPLAINTS = (
    "我已经打了三次电话了，你们到底管不管，每次都让我等", "你们的服务太差了，我要投诉你们，马上给我解决",
    "上个月怎么扣了这么多钱，你们这是乱收费", "宽带断了两天了，你们到底什么时候能修好",
)
_APOLOGIES = ("[对不起]，给您添麻烦了", "非常[抱歉]，让您久等了", "[不好意思]，我马上帮您处理")


def _upset_customer(rng, apology: bool) -> tuple[Turn, ...]:
    """The customer raises their voice (+10..15 dB, each outburst >= 2 s) once or twice; with
    `apology` the agent's next turn opens with an apology phrase, a few seconds after it."""
    gain = float(rng.uniform(10, 15))
    outbursts = rng.choice(len(_COMPLAINTS), size=int(rng.integers(1, 3)), replace=False)
    turns = [
        Turn("agent", "[您好]，请问有什么可以帮您"),
        Turn("customer", "我想问一下我的宽带，已经断了两天了", 0.5),  # sets the customer's own level
    ]
    for k in outbursts:
        turns += [
            Turn("agent", "好的，请问您的手机号码是多少", 0.6),
            Turn("customer", _COMPLAINTS[k], 0.5, gain_db=gain),
            Turn("agent", str(rng.choice(_APOLOGIES)) if apology else "请您稍等，我帮您查一下", 0.6),
            Turn("customer", "那你快点", 0.6),
        ]
    # the call goes on past the apology item's window (20 s after the last outburst), as the
    # box alerts an unanswered outburst only once the window is over
    return (
        *turns,
        Turn("agent", "系统显示您的线路有故障，我们会在二十四小时内派人上门修好", 1.5),
        Turn("customer", "好吧，那我等你们的电话", 0.6),
        Turn("agent", "我已经帮您登记了，维修师傅会提前给您打电话", 0.6),
        Turn("customer", "知道了", 0.5),
        Turn("agent", "请问您还有其他问题吗", 0.5),
        Turn("customer", "没有了", 0.6),
        Turn("agent", str(rng.choice(_CLOSINGS)), 0.5),
    )


def _fast(rng) -> tuple[Turn, ...]:
    speed = int(rng.integers(300, 380))
    return (
        Turn("agent", "[您好]，很高兴为您服务，请问有什么可以帮您", speed_wpm=speed),
        Turn("customer", "我想查一下我的话费", 0.6),
        Turn("agent", "好的您的话费余额是三十二元，本月已经消费了二十六元，还有什么可以帮您", 0.3, speed_wpm=speed),
        Turn("customer", "没有了", 0.5),
        Turn("agent", "好的[感谢您的来电]祝您生活愉快[再见]", 0.3, speed_wpm=speed),
    )


def _drawn_out(rng) -> tuple[Turn, ...]:
    held = str(rng.choice(["他", "先", "天", "些"]))  # level tones: a held syllable keeps its pitch
    return (
        Turn("agent", "[您好]，请问有什么可以帮您"),
        Turn("customer", "我想问一下我的套餐", 0.5),
        Turn("agent", f"<{held}>帮您看一下，您的套餐是每月五十八元", 0.7),
        Turn("customer", "好的，谢谢", 0.5),
        Turn("agent", "[再见]", 0.5),
    )


def _random(rng) -> tuple[Turn, ...]:
    """A call of 6–16 turns drawn from the seed, with every event kind possible."""
    turns = [Turn("agent", str(rng.choice(_GREETINGS)) if rng.random() < 0.8 else str(rng.choice(_AGENT_LINES)))]
    side = "customer"
    for _ in range(int(rng.integers(4, 14))):
        lines = _AGENT_LINES if side == "agent" else _CUSTOMER_LINES
        text = str(rng.choice(lines))
        if side == "agent" and rng.random() < 0.12:
            text = str(rng.choice(_FORBIDDEN + _INSULTS))
        roll = rng.random()
        gap = (
            -float(rng.uniform(0.3, 1.2)) if roll < 0.15  # overlap / interruption
            else float(rng.uniform(3.2, 5.0)) if roll < 0.22  # dead air
            else float(rng.uniform(0.2, 1.2))
        )
        turns.append(Turn(
            side, text, gap,
            speed_wpm=int(rng.integers(290, 360)) if rng.random() < 0.1 else None,
            gain_db=float(rng.uniform(10, 15)) if side == "agent" and rng.random() < 0.1 else 0.0,
        ))
        side = "agent" if side == "customer" or rng.random() < 0.15 else "customer"
    turns.append(Turn("agent", str(rng.choice(_CLOSINGS)), float(rng.uniform(0.3, 1.0))))
    return tuple(turns)


HOLD_S = (10.0, 120.0)  # the holds the generator places
HOLD_PHRASES = ("[请您稍等]，我帮您查询一下",)  # the agent puts the customer on hold
RESUME_PHRASES = ("[让您久等了]", "[感谢您的耐心等待]", "[让您久等了]，[感谢您的耐心等待]")


def _hold(rng, music: bool) -> tuple[Turn | Hold, ...]:
    """A call with one hold of HOLD_S, silent or with music; the agent announces it and thanks
    the customer for waiting in half the calls (drawn from the seed), else says other words."""
    spoken = rng.random() < 0.5
    return (
        Turn("agent", str(rng.choice(_GREETINGS))),
        Turn("customer", str(rng.choice(_CUSTOMER_LINES[:4])), 0.5),
        Turn("agent", str(rng.choice(HOLD_PHRASES)) if spoken else "好的，我看一下", 0.6),
        Hold(float(rng.uniform(*HOLD_S)), music),
        Turn("agent", (str(rng.choice(RESUME_PHRASES)) + "，" if spoken else "") + str(rng.choice(_AGENT_LINES[3:8])), 0.0),
        Turn("customer", str(rng.choice(("好的，谢谢", "那我等你们的电话", "没有了"))), 0.5),
        Turn("agent", str(rng.choice(_CLOSINGS)), 0.5),
    )


SCENARIOS: dict[str, Callable[[np.random.Generator], tuple[Turn | Hold, ...]]] = {
    "polite": _polite,
    "rude": _rude,
    "busy": _busy,
    "raised_voice": _raised_voice,
    "upset_customer": functools.partial(_upset_customer, apology=False),
    "upset_customer_apology": functools.partial(_upset_customer, apology=True),
    "fast": _fast,
    "drawn_out": _drawn_out,
    "random": _random,
    "hold": functools.partial(_hold, music=False),
    "hold_music": functools.partial(_hold, music=True),
}


def scenario(name: str, seed: int = 0, **overrides: Any) -> Scenario:
    """The named scenario with voices, levels and line conditions drawn from `seed`;
    `overrides` replace any Scenario field (e.g. headset=True, noise_dbfs=None)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(seed)
    line = _line(rng)
    return dataclasses.replace(Scenario(name, SCENARIOS[name](rng), **line), **overrides)


def generate_call(
    scenario_name: str | Scenario = "polite", sample_rate: int = 8000, seed: int = 0,
    dead_air_min_s: float = 3.0, **overrides: Any,
) -> tuple[np.ndarray, dict]:
    """A two-sided call: (int16 array of shape (n, 2), left agent / right customer; truth dict).

    `scenario_name`: a name from SCENARIOS or a Scenario of your own. `overrides` replace
    Scenario fields of a named scenario (headset=True, noise_dbfs=None, …).
    """
    scn = scenario(scenario_name, seed, **overrides) if isinstance(scenario_name, str) else scenario_name
    return render(scn, sample_rate, seed, dead_air_min_s)


# --------------------------------------------------------------------------- back-to-back calls

LINE_CHANGE_DB = (6.0, 14.0)  # a new caller's line noise floor moves by this much, up or down
NOISE_DBFS = (-74.0, -50.0)  # where a line's noise floor may lie
GAP_LINES = ("idle", "open")


def new_caller_line(prev: Scenario, rng: np.random.Generator) -> dict[str, Any]:
    """A new caller's line: the noise floor 6–14 dB away from the previous caller's, and hum
    and band-limit drawn again (so the colour may change too)."""
    for _ in range(100):
        floor = prev.noise_dbfs + float(rng.choice([-1, 1]) * rng.uniform(*LINE_CHANGE_DB))
        if NOISE_DBFS[0] <= floor <= NOISE_DBFS[1]:
            break
    return {"noise_dbfs": floor, "hum_dbfs": float(rng.uniform(-70, -58)) if rng.random() < 0.5 else None,
            "hum_hz": float(rng.choice([50.0, 60.0])), "headset": bool(rng.random() < 0.5)}


def generate_sequence(calls: list[tuple[str, int]], gaps_s: list[float], sample_rate: int = 8000,
                      new_line: bool = True, gap_line: str = "idle", seed: int = 0,
                      dead_air_min_s: float = 3.0) -> tuple[np.ndarray, dict]:
    """Back-to-back calls on one line: (int16 array (n, 2), truth).

    `calls`: (scenario name, seed) of each call in turn; `gaps_s[i]`: the after-call gap between
    call i and i + 1 (the agent's wrap-up: nobody on the line speaks). `new_line`: each next
    caller's line noise changes (new_caller_line); False: every call has the first call's line
    (same floor, colour and band-limit, a new noise draw). `gap_line`: what the customer channel
    carries in the gap: "idle", the interface's own noise (IDLE_DBFS: the caller hung up and
    no call is connected), or "open", the last caller's line noise going on (a line that stays
    connected between calls).

    Truth: `calls` [{start, end (the call's audio in the stream), first_speech, last_speech,
    holds [{start, end, music}], line, scenario, seed}], times in s from the stream's start;
    `gaps` [{start, end, line_changed}] between calls' speech; `rate`, `duration`, `gap_line`.
    """
    if len(gaps_s) != len(calls) - 1:
        raise ValueError(f"{len(calls)} calls need {len(calls) - 1} gaps, not {len(gaps_s)}")
    if gap_line not in GAP_LINES:
        raise ValueError(f"gap_line must be one of {GAP_LINES}, not {gap_line!r}")
    rng = np.random.default_rng(seed)
    parts, out_calls, t = [], [], 0.0
    prev: Scenario | None = None
    for k, (name, call_seed) in enumerate(calls):
        scn = scenario(name, call_seed)
        if prev is not None:
            scn = dataclasses.replace(scn, **(new_caller_line(prev, rng) if new_line else line_of(prev)))
        pcm, truth = render(scn, sample_rate, call_seed, dead_air_min_s)
        speech = [x for side in SIDES for seg in truth["segments"][side] for x in seg]
        out_calls.append({
            "start": round(t, 4), "end": round(t + truth["duration"], 4),
            "first_speech": round(t + min(speech), 4), "last_speech": round(t + max(speech), 4),
            "holds": [{**h, "start": round(t + h["start"], 4), "end": round(t + h["end"], 4)} for h in truth["holds"]],
            "line": truth["line"], "scenario": name, "seed": call_seed,
        })
        parts.append(pcm)
        t += truth["duration"]
        if k < len(gaps_s):
            n = int(round(gaps_s[k] * sample_rate))
            gap = np.zeros((n, 2), np.float32)
            for i, side in enumerate(SIDES):
                if side == "customer" and gap_line == "idle":
                    gap[:, i] = rng.standard_normal(n) * 10 ** (IDLE_DBFS / 20)
                else:
                    gap[:, i] = _line_noise(n, sample_rate, scn, rng)
            parts.append(np.clip(np.round(gap * 32768.0), -32768, 32767).astype(np.int16))
            t += n / sample_rate
        prev = scn
    gaps = [{"start": a["last_speech"], "end": b["first_speech"], "line_changed": new_line}
            for a, b in zip(out_calls, out_calls[1:])]
    pcm = np.concatenate(parts)
    return pcm, {"schema": "callqa.gencall-sequence/1", "rate": sample_rate, "duration": round(len(pcm) / sample_rate, 4),
                 "gap_line": gap_line, "calls": out_calls, "gaps": gaps}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a two-sided Mandarin test call with known ground truth.")
    ap.add_argument("--scenario", default="polite", choices=sorted(SCENARIOS))
    ap.add_argument("--rate", type=int, default=8000, choices=RATES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dead-air", type=float, default=3.0, help="dead-air threshold for the truth, s")
    ap.add_argument("--headset", action=argparse.BooleanOptionalAction, default=None,
                    help="force the headset band-limit on or off (default: from the seed)")
    ap.add_argument("--out", type=Path, required=True, help="stereo WAV to write (left agent, right customer)")
    ap.add_argument("--truth", type=Path, help="ground-truth JSON to write")
    args = ap.parse_args(argv)
    overrides = {} if args.headset is None else {"headset": args.headset}
    try:
        pcm, truth = generate_call(args.scenario, args.rate, args.seed, args.dead_air, **overrides)
        wavfile.write(args.out, args.rate, pcm)
        if args.truth:
            args.truth.write_text(json.dumps(truth, ensure_ascii=False, indent=1))
    except (OSError, RuntimeError, ValueError) as e:
        print(f"gencall: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {truth['duration']:.1f} s, scenario {args.scenario}, seed {args.seed}, {args.rate} Hz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
