"""Syllable nuclei and drawn-out syllables from the intensity and pitch tracks.

Syllable nuclei follow de Jong & Wempe (2009, "Praat script to detect syllable nuclei and
measure speech rate automatically"), implemented here from the paper's description: a
nucleus is a peak of the intensity contour that is above a silence threshold set relative
to the loud end of the speaker's intensity, stands out from the dips around it by at least
a minimum dip, and is voiced. Counting nuclei per second of speech gives the speech rate
without knowing the words.

Two departures, chosen on generated calls (never on the real clips): intensity is taken in
the vowel band (300–2500 Hz), where Mandarin's nasal and lateral onsets dip clearly below
the vowels, and the minimum dip is 3 dB; "voiced" means periodic (aperiodicity < 0.5) within
20 ms of the peak, since the pitch tracker's stricter voicing misses creaky syllable ends.
With broadband intensity, 2 dB and F0-at-peak the error on generated calls was 20–40 %.

Breathy voices (espeak's m8 at low pitch) have vowels whose aperiodicity sits at 0.5–0.8, so
the periodicity test alone dropped up to a third of their nuclei (speech rate 20–25 % low). A
peak standing BREATHY_MIN_DIP_DB above both neighbouring dips is a vowel, not a split inside
one syllable (those dip 3–7 dB), so it is voiced when merely weakly periodic. Limits chosen
on seeds 700–739; on seeds 800–859 (random scenario, 8 and 16 kHz) with m8 forced as the
agent, sides within 15 % of the truth went 92 % -> 97 %, worst error 22 % -> 18 % (what is
left over-counts: split peaks). The random voices' sides: 98.3 % -> 99.2 %.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from edge.prosody.frames import HOP_S, power_db, runs

VOWEL_BAND_HZ = (300.0, 2500.0)
SMOOTH_FRAMES = 5  # intensity smoothing (Hann, 50 ms): one contour hump per syllable
SILENCE_BELOW_TOP_DB = 25.0  # de Jong & Wempe: peaks more than 25 dB under the 99th percentile are silence
MIN_DIP_DB = 3.0  # dip on both sides of a nucleus
PERIODIC_MAX = 0.5  # aperiodicity at or near a nucleus
PERIODIC_NEAR_FRAMES = 2
BREATHY_MIN_DIP_DB = 12.0  # a peak this far above both dips is a nucleus even when only weakly periodic …
BREATHY_PERIODIC_MAX = 0.7  # … (aperiodicity under this; YIN gives noise about 1)

DRAWN_MIN_S = 0.6  # a held syllable this long is drawn out (拖音)
STEADY_WINDOW_S = 0.25  # steadiness is judged over windows this long …
STEADY_PITCH_ST = 2.0  # … whose pitch stays within this span (semitones) …
STEADY_LEVEL_DB = 10.0  # … and whose intensity stays within this span (dB): a held vowel fades, a syllable boundary dips deeper


def smoothed_intensity_db(power: np.ndarray) -> np.ndarray:
    """Smoothed intensity contour in dB from per-frame power of the VOWEL_BAND_HZ band-passed
    signal (edge.prosody.stream filters it as the audio arrives)."""
    win = signal.windows.hann(SMOOTH_FRAMES + 2)[1:-1]
    return power_db(np.convolve(power, win / win.sum(), mode="same"))


def syllable_nuclei(intensity: np.ndarray, aperiodicity: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Frame indices of syllable nuclei: intensity peaks inside speech that are periodic, or
    weakly periodic and very prominent (breathy vowels)."""
    if not speech.any():
        return np.zeros(0, int)
    contour = np.where(speech, intensity, intensity[speech].min())
    floor = np.percentile(intensity[speech], 99) - SILENCE_BELOW_TOP_DB
    peaks, props = signal.find_peaks(contour, height=floor, prominence=MIN_DIP_DB)
    near = ndimage.minimum_filter1d(np.nan_to_num(aperiodicity, nan=1.0), 2 * PERIODIC_NEAR_FRAMES + 1)[peaks]
    breathy = (props["prominences"] >= BREATHY_MIN_DIP_DB) & (near < BREATHY_PERIODIC_MAX)
    voiced = (near < PERIODIC_MAX) | breathy
    return peaks[voiced & speech[peaks]]


def drawn_out(f0: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """[start, stop) frame runs of held syllables: voiced, steady in pitch and level, >= DRAWN_MIN_S.

    A frame belongs to a steady stretch when some STEADY_WINDOW_S window containing it is all
    voiced with pitch and level spans within the limits; normal speech breaks such windows at
    every syllable boundary (a consonant, a tone movement or an intensity dip).
    """
    w = int(round(STEADY_WINDOW_S / HOP_S))
    if len(f0) < w:
        return np.zeros((0, 2), int)
    voiced = np.isfinite(f0)
    if not voiced.any():
        return np.zeros((0, 2), int)
    # a held vowel may lose voicing for a frame or two (a pitch-tracker miss): bridge those
    voiced = ndimage.binary_closing(voiced, np.ones(3, bool)) | voiced
    frames_ = np.arange(len(f0))
    known = np.isfinite(f0)
    st = np.where(voiced, np.interp(frames_, frames_[known], 12 * np.log2(f0[known])), 0.0)

    def ahead(filt, v):  # filt over the window [i, i + w) starting at each frame i
        return filt(v, w, origin=-(w // 2), mode="constant", cval=0)

    def span(v):
        return ahead(ndimage.maximum_filter1d, v) - ahead(ndimage.minimum_filter1d, v)

    all_voiced = ahead(ndimage.minimum_filter1d, voiced.astype(np.int8)) > 0
    steady_start = all_voiced & (span(st) <= STEADY_PITCH_ST) & (span(intensity) <= STEADY_LEVEL_DB)
    # a frame is covered if a steady window started within the w frames up to it
    covered = ndimage.maximum_filter1d(steady_start.astype(np.int8), w, origin=(w - 1) // 2, mode="constant", cval=0) > 0
    r = runs(covered)
    return r[(r[:, 1] - r[:, 0]) * HOP_S >= DRAWN_MIN_S]
