"""KeywordSpotter: VAD-passed speech chunks of one line in, KeywordHit events out, live.

Per side it keeps the streaming log-mel front-end, a few hundred milliseconds of feature
frames and the keyword search state. Every `hop` new frames (0.2 s) the model scores one
window and the search advances, so a phrase is reported at most hop + context (0.4 s) of
audio after it ends. Between speech segments (`flush`) the state starts over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import logging

import numpy as np

from edge.config import ConfigError, KeywordsConfig
from edge.events import KeywordHit, Side
from edge.keywords.features import FRAME_S, HOP, PAD_VALUE, SAMPLE_RATE, WIN, N_MELS, StreamingLogMel
from edge.keywords.model import AcousticModel, ModelInfo, load_model
from edge.keywords.search import Keyword, KeywordSearch
from edge.keywords.spelling import spell_phrases
from edge.keywords.units import INITIALS, han_only, unit_index_of

log = logging.getLogger(__name__)
_GAP_S = 0.05  # a chunk starting this much after the previous one ended begins a new segment


@dataclass
class _SideState:
    search: KeywordSearch
    front: StreamingLogMel | None = None
    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, N_MELS), np.float32))
    seg_t0: float = 0.0  # stream time of the segment's first sample
    next_t: float | None = None  # where the next chunk should start if it continues the segment
    last_end: dict[int, int] = field(default_factory=dict)  # keyword → end frame of its last hit


class KeywordSpotter:
    """Finds rubric phrases in speech, per side of one line.

    `phrases`: category → phrase texts; `thresholds`: category → confidence in [0, 1], set by
    QA staff in the rubric; a category without one uses the model's calibrated threshold of
    each phrase (by phrase, or by its number of syllables for phrases added since). A phrase
    the model's units cannot spell raises ConfigError naming it. `sample_rate`: the line's
    working rate (8000 or 16000 Hz), the rate of every chunk given to `process`.
    """

    def __init__(self, model: AcousticModel, info: ModelInfo, phrases: Mapping[str, Sequence[str]],
                 thresholds: Mapping[str, float], line: str = "", keep_overlaps: bool = False, *,
                 sample_rate: int) -> None:
        """`keep_overlaps` (evaluation only): report every window's best candidate even where
        it overlaps the keyword's previous one, so that one run can be replayed at any
        threshold (callqa_lab.kws_evaluate does that)."""
        self.sample_rate = sample_rate
        self.model = model
        self.keep_overlaps = keep_overlaps
        self.info = info
        self.line = line
        unit_index = dict(zip(info.units, unit_index_of(info.units, info.units)))
        keywords = []
        spelled = spell_phrases([text for texts in phrases.values() for text in texts], info.units)
        for category, texts in phrases.items():
            for text in texts:
                units = spelled[text]
                if isinstance(units, Exception):
                    raise ConfigError(f"rubric category {category!r}: {units}")
                keywords.append(Keyword(text, category, tuple(unit_index[u] for u in units),
                                        starts_with_final=units[0] not in INITIALS))
        if not keywords:
            raise ConfigError("keywords: the rubric lists no phrases to spot")
        self.keywords = tuple(keywords)
        self.thresholds = np.array([
            float(thresholds[k.category]) if k.category in thresholds
            else info.threshold_for(k.phrase, len(han_only(k.phrase))) for k in keywords
        ])
        off = sorted({k.phrase for k, t in zip(keywords, self.thresholds) if t > 1.0})
        if off:
            log.warning("keyword model cannot tell %s from everyday words (calibrated off): "
                        "these phrases are never reported; a longer phrase can be", ", ".join(off))
        self._sides: dict[Side, _SideState] = {}

    @classmethod
    def from_config(cls, cfg: KeywordsConfig, phrases: Mapping[str, Sequence[str]],
                    thresholds: Mapping[str, float], line: str = "", *, sample_rate: int) -> "KeywordSpotter":
        info = ModelInfo.load(cfg.model)
        return cls(load_model(info, cfg.runtime, cfg.precision), info, phrases, thresholds, line,
                   sample_rate=sample_rate)

    # -- streaming -------------------------------------------------------------------------

    def process(self, side: Side, samples: np.ndarray, t0: float) -> list[KeywordHit]:
        """Feed one chunk of speech (int16 or float samples at `sample_rate`) starting at stream time t0 (s)."""
        state = self._sides.get(side)
        if state is None:
            state = self._sides[side] = _SideState(
                KeywordSearch(list(self.keywords), frozenset(unit_index_of(self.info.units, INITIALS))))
        hits: list[KeywordHit] = []
        continues = state.front is not None and state.next_t is not None and abs(t0 - state.next_t) <= _GAP_S
        if state.front is not None and not continues:
            hits += self.flush(side)
        if state.front is None:
            self._start_segment(state, t0)
        state.next_t = t0 + len(samples) / self.sample_rate
        state.frames = np.concatenate([state.frames, state.front(samples)])
        hits += self._run_windows(side, state, final=False)
        return hits

    def flush(self, side: Side) -> list[KeywordHit]:
        """End of a speech segment: score the remaining frames and reset this side."""
        state = self._sides.get(side)
        if state is None or state.front is None:
            return []
        state.frames = np.concatenate([state.frames, np.full((self.info.context, N_MELS), PAD_VALUE, np.float32)])
        hits = self._run_windows(side, state, final=True)
        state.front = None
        state.next_t = None
        return hits

    # -- internals -------------------------------------------------------------------------

    def _start_segment(self, state: _SideState, t0: float) -> None:
        state.front = StreamingLogMel(self.sample_rate)
        state.seg_t0 = t0
        state.search.reset()
        state.last_end = {}
        # The first frames get their look-back from silence frames, as in training.
        state.frames = np.full((self.info.context, N_MELS), PAD_VALUE, np.float32)

    def _run_windows(self, side: Side, state: _SideState, final: bool) -> list[KeywordHit]:
        hits: list[KeywordHit] = []
        window, ctx = self.info.window, self.info.context
        while len(state.frames) >= window or (final and len(state.frames) > 2 * ctx):
            chunk = state.frames[:window]
            n_out = len(chunk) - 2 * ctx
            if len(chunk) < window:
                chunk = np.concatenate([chunk, np.full((window - len(chunk), N_MELS), PAD_VALUE, np.float32)])
            log_probs = self.model.log_probs(chunk)[:n_out]
            first_frame = state.search.frame
            conf, starts = state.search.step(log_probs)
            hits += self._detections(side, state, conf, starts, first_frame)
            state.frames = state.frames[n_out:]
        return hits

    def _detections(self, side: Side, state: _SideState, conf: np.ndarray, starts: np.ndarray,
                    first_frame: int) -> list[KeywordHit]:
        """At most one hit per keyword per window: its best-scoring end frame, if above the
        keyword's threshold and not overlapping that keyword's previous hit."""
        best = conf.argmax(axis=0)
        peak = conf[best, np.arange(conf.shape[1])]
        hits = []
        for k in np.flatnonzero(peak >= self.thresholds):
            end = first_frame + int(best[k])
            start = int(starts[best[k], k])
            if start <= state.last_end.get(int(k), -1) and not self.keep_overlaps:
                continue
            state.last_end[int(k)] = end
            kw = self.keywords[k]
            hits.append(KeywordHit(
                line=self.line, side=side, phrase=kw.phrase, category=kw.category,
                start=round(state.seg_t0 + self._frame_time(start) - FRAME_S / 2, 3),
                end=round(state.seg_t0 + self._frame_time(end) + FRAME_S / 2, 3),
                confidence=round(float(peak[k]), 4),
            ))
        return hits

    @staticmethod
    def _frame_time(frame: int) -> float:
        """Centre of feature frame `frame` (0 = the segment's first), in s from the segment start."""
        return (frame * HOP + WIN / 2) / SAMPLE_RATE
