"""Open-vocabulary keyword search over CTC posteriors.

Every keyword is a left-to-right CTC path (unit, optional blank, unit, …) that may start at any
frame. One Viterbi pass for all keywords at once (their states side by side in one vector)
finds, for each keyword ending at each frame, the best such path, scored as

    confidence = exp( Σ_frames cost / number of units ),
    cost = log p(unit) on a unit's frames,
           log p(blank) − log max_u p(u) on the blanks between units (0 where blank is best),

i.e. the geometric mean of the units' posteriors, where the gaps between them cost only what
the model heard there instead. 1.0 means every unit was heard with certainty. Paths older than the keyword could
last are dropped, so scattered units far apart never add up to a phrase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEG = -1e30
MAX_FRAMES_PER_UNIT = 30  # 0.3 s: slow, drawn-out speech still fits, a long pause does not


@dataclass(frozen=True)
class Keyword:
    phrase: str
    category: str
    label_ids: tuple[int, ...]  # model outputs, 1-based (0 is the blank)
    starts_with_final: bool = False  # a syllable without initial (啊 a, 欧 ou)


class KeywordSearch:
    """Streaming search state for one audio stream. `step` takes consecutive posterior frames."""

    def __init__(self, keywords: list[Keyword], initial_ids: frozenset[int] = frozenset()) -> None:
        """`initial_ids`: the outputs that are syllable initials. A keyword that starts with a
        bare final (啊 is just 'a') may only start where the model heard no initial right
        before it, so 啊 is not found inside every 'ba', 'da', 'na'."""
        if not keywords:
            raise ValueError("no keywords to search for")
        self.keywords = tuple(keywords)
        # States of each keyword: unit 1, blank, unit 2, blank, …, unit n; all keywords side by side.
        labels, first, skip_ok, kw_of = [], [], [], []
        for k, kw in enumerate(keywords):
            ids = np.array(kw.label_ids)
            lab = np.zeros(2 * len(ids) - 1, int)
            lab[0::2] = ids
            skip = np.zeros(len(lab), bool)
            # a unit may follow the previous unit directly (skipping the blank) unless both are
            # the same unit, which CTC can only tell apart with a blank between them
            skip[2::2] = ids[1:] != ids[:-1]
            labels.append(lab)
            first.append(np.arange(len(lab)) == 0)
            skip_ok.append(skip)
            kw_of.append(np.full(len(lab), k))
        labels, kw_of = np.concatenate(labels), np.concatenate(kw_of)
        self._labels = labels
        self._first = np.concatenate(first)
        self._last = np.flatnonzero(np.r_[kw_of[1:] != kw_of[:-1], True])
        self._is_blank = labels == 0
        self._kw_of = kw_of
        n_units = np.array([len(kw.label_ids) for kw in keywords], float)
        self._n_units = n_units
        self._max_len = (n_units * MAX_FRAMES_PER_UNIT).astype(int)[kw_of]
        self._needs_boundary = self._first & np.array([kw.starts_with_final for kw in keywords])[kw_of]
        self._initial_ids = initial_ids
        # The cost of reaching each state from each predecessor (_NEG: not allowed): from the
        # state itself, from the state one back (the blank or unit before) and from two back
        # (the unit before, skipping the blank between).
        self._from_one_back = np.where(~self._first, 0.0, _NEG)[1:]
        self._from_two_back = np.where(np.concatenate(skip_ok), 0.0, _NEG)[2:]
        self._entry = np.where(self._first, 0.0, _NEG)  # entering from the filler is free
        self._entry_after_initial = np.where(self._needs_boundary, _NEG, self._entry)
        self._is_initial = np.zeros(0, bool)  # output id → is it an initial? (sized at the first step)
        self.reset()

    def reset(self) -> None:
        n = len(self._labels)
        self._score = np.full(n, _NEG)
        self._start = np.zeros(n, int)
        self._after_initial = False  # was the last non-blank output heard an initial?
        self.frame = 0  # index of the next frame

    def step(self, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log_probs [n, outputs] → (confidence [n, keywords], start frame [n, keywords]) of
        the best path of each keyword ending at each of these frames."""
        n = len(log_probs)
        rel = log_probs[:, self._labels] - np.where(self._is_blank, log_probs.max(axis=1, keepdims=True), 0.0)
        if len(self._is_initial) != log_probs.shape[1]:  # a table lookup per frame instead of np.isin
            self._is_initial = np.isin(np.arange(log_probs.shape[1]), sorted(self._initial_ids))
        after_initial = self._after_initial_at(log_probs.argmax(axis=1))
        last_scores = np.empty((n, len(self.keywords)))
        starts = np.empty((n, len(self.keywords)), int)
        s, st = self._score.copy(), self._start.copy()
        one, two, max_len, last = self._from_one_back, self._from_two_back, self._max_len, self._last
        entries = (self._entry, self._entry_after_initial)
        m = len(s)
        via_one, via_two, pred_best, best, new_s = (np.full(m, _NEG) for _ in range(5))
        new_st, st_two, age = np.zeros(m, int), np.zeros(m, int), np.zeros(m, int)
        take_two, stay, enter, expired = (np.zeros(m, bool) for _ in range(4))
        # Frames depend on each other; states are vectorised, predecessors are shifted views
        # and every array is reused (no allocation per frame). Everything that does not feed
        # the next frame (the confidences, where a keyword may start) is computed outside the
        # loop: this loop is the keyword spotter's largest cost per line (`callqa bench --lines`).
        for i in range(n):
            t = self.frame + i
            np.add(s[:-1], one, out=via_one[1:])
            np.add(s[:-2], two, out=via_two[2:])
            new_st[1:], st_two[2:] = st[:-1], st[:-2]
            # the first best predecessor wins a tie: stay, then one back, then two back
            np.greater(via_two, via_one, out=take_two)
            np.copyto(new_st, st_two, where=take_two)
            np.maximum(via_one, via_two, out=pred_best)
            np.greater_equal(s, pred_best, out=stay)
            np.copyto(new_st, st, where=stay)
            np.maximum(s, pred_best, out=best)
            entry = entries[after_initial[i]]
            np.greater(entry, best, out=enter)
            np.copyto(new_st, t, where=enter)
            np.maximum(entry, best, out=best)
            np.add(best, rel[i], out=new_s)
            np.subtract(t, new_st, out=age)
            np.greater_equal(age, max_len, out=expired)
            np.copyto(new_s, _NEG, where=expired)
            s, new_s, st, new_st = new_s, s, new_st, st
            last_scores[i] = s[last]
            starts[i] = st[last]
        self._score, self._start = s, st
        self.frame += n
        return np.exp(np.minimum(last_scores, 0.0) / self._n_units), starts

    def _after_initial_at(self, heard: np.ndarray) -> np.ndarray:
        """Per frame: was the last non-blank output heard before it an initial? (0/1, carried
        over from the previous step)."""
        nonblank = heard != 0
        is_initial = self._is_initial[heard]
        # index of the last non-blank frame up to and including each frame (-1: none yet)
        last = np.maximum.accumulate(np.where(nonblank, np.arange(len(heard)), -1))
        upto = np.where(last >= 0, is_initial[np.maximum(last, 0)], self._after_initial)
        before = np.concatenate(([self._after_initial], upto[:-1])).astype(int)
        if len(heard):
            self._after_initial = bool(upto[-1])
        return before
