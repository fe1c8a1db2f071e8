"""The teacher's check before a red light (config `[alerts] teacher_confirms_red`).

A red keyword alert (an insult, a forbidden phrase: the alerts a supervisor acts on) is held
while the teacher (edge/keywords/teacher.py) transcribes the agent's speech around the hit:

    hit → held until the line's audio reaches hit.end + AFTER_S
        → clip [hit.start − BEFORE_S, hit.end + AFTER_S] of the agent's side
        → RedCheck: one worker thread for the box, niced, at most MAX_WAITING checks queued
        → the teacher's text holds the phrase? (edge/keywords/units.heard_in)

- heard (by its characters, or by its toneless syllables for a phrase of two or more): the
  alert is published with `teacher_check` (alert.v1) and the desk light turns red;
- not heard: no alert is published and the call's CallScore does not list it (it never lit).
  The spotter's hit stays in the CallScore's keywords and counts in its items exactly as with
  the check off (the check gates the light, not the score), and the metrics count it:
  callqa_red_checks_total{outcome="not_heard"};
- the teacher heard no words at all in the clip (Whisper took it for no speech: a voice it
  cannot read is no evidence that the phrase was not said), was slower than
  `teacher_timeout_s`, busy (MAX_WAITING checks already queued) or failing: the alert is
  published unconfirmed, `teacher_check.outcome` saying why (unclear, timeout, busy, failed).
  The check removes a red only when the teacher heard words and the phrase was not among them;
  a slow teacher delays a red by at most the timeout, and never swallows one.

The line's thread never waits for the teacher, except when a call ends with a check still in
flight: it is then waited for, at most the rest of its timeout, so the CallScore lists what was
published (a capture line's reader queues 30 s of audio meanwhile: none is lost).
Audio is held in memory only, the agent's last KEEP_S seconds; the teacher's text is never
kept, logged or published: only whether the phrase was in it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.config import Config, ConfigError
from edge.events import Alert, KeywordHit

log = logging.getLogger(__name__)

BEFORE_S = 3.0  # speech before the hit: Whisper needs the words around a phrase to write it
AFTER_S = 1.0  # and after it: the phrase's last syllable, and the next
KEEP_S = 12.0  # agent audio kept per line: BEFORE_S + the longest phrase + AFTER_S, with room
MAX_WAITING = 4  # checks queued or running, all lines together; more are published unconfirmed
THREADS = 1  # the teacher's CPU threads: one core for checks, the others stay with the live lines
NICE = 10  # the worker thread (and so the teacher's compute, THREADS = 1) yields to the lines
NOT_HEARD = "not_heard"  # the outcome of a check that withholds its alert (never published)


@dataclass(frozen=True)
class Heard:
    """What one check found: how the phrase was in the teacher's text (None: it was not)."""

    by: str | None
    words: bool  # the teacher heard any words at all
    teacher_s: float  # wall-clock s of the transcription
    cpu_s: float  # process CPU s meanwhile (the box's other threads included)


def _lower_priority() -> None:
    # Linux nices threads one by one: this lowers the worker only, not the live lines.
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


class RedCheck:
    """The box's teacher, asked by every line whether a red phrase was said."""

    def __init__(self, teacher, timeout_s: float, max_waiting: int = MAX_WAITING):
        self.teacher, self.timeout_s = teacher, timeout_s
        self._pool = ThreadPoolExecutor(1, "red-check", initializer=_lower_priority)
        self._waiting = threading.BoundedSemaphore(max_waiting)

    @classmethod
    def from_config(cls, cfg: Config) -> "RedCheck | None":
        """The check, its teacher loaded, or None when off; ConfigError when the teacher
        cannot be loaded (a box told to check its reds does not start without a teacher)."""
        if not cfg.alerts.teacher_confirms_red:
            return None
        from edge.keywords.teacher import Teacher, TeacherError

        try:
            teacher = Teacher.load(cfg.keywords.teacher, THREADS)
        except TeacherError as e:
            raise ConfigError(f"alerts.teacher_confirms_red: the teacher cannot be loaded: {e}") from None
        return cls(teacher, cfg.alerts.teacher_timeout_s)

    def submit(self, clip: np.ndarray, rate: int, phrase: str) -> "Future[Heard] | None":
        """Queue one check; None when MAX_WAITING are already queued or running."""
        if not self._waiting.acquire(blocking=False):
            return None
        future = self._pool.submit(self.hear, clip, rate, phrase)
        future.add_done_callback(lambda _: self._waiting.release())  # also when cancelled
        return future

    def hear(self, clip: np.ndarray, rate: int, phrase: str) -> Heard:
        """Transcribe `clip` and look for `phrase` in the text (which is then dropped)."""
        from edge.keywords.units import han_only, heard_in  # pypinyin's tables: loaded by the worker, when first asked

        t0, cpu0 = time.perf_counter(), time.process_time()
        text = self.teacher.transcribe(clip, rate, words=False).text
        return Heard(heard_in(text, phrase), bool(han_only(text)), time.perf_counter() - t0, time.process_time() - cpu0)


class AgentTail:
    """The last KEEP_S seconds of one side's audio, as the blocks it came in."""

    def __init__(self, rate: int, keep_s: float = KEEP_S):
        self.rate, self.keep_s = rate, keep_s
        self._blocks: deque[tuple[float, np.ndarray]] = deque()

    def add(self, samples: np.ndarray, t0: float) -> None:
        self._blocks.append((t0, np.array(samples)))  # a copy: a capture buffer may be reused
        end = t0 + len(samples) / self.rate
        while self._blocks and self._blocks[0][0] + len(self._blocks[0][1]) / self.rate < end - self.keep_s:
            self._blocks.popleft()

    def clip(self, start: float, end: float) -> np.ndarray:
        parts = []
        for t0, x in self._blocks:
            a, b = max(0, round((start - t0) * self.rate)), min(len(x), round((end - t0) * self.rate))
            if b > a:
                parts.append(x[a:b])
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)


@dataclass
class _Held:
    alert: Alert
    hit: KeywordHit
    raised: float  # time.monotonic() when the spotter's hit raised it
    future: "Future[Heard] | None" = None
    asked: float | None = None  # time.monotonic() when the check was queued; None: not yet


class HeldReds:
    """One line's red alerts waiting for the teacher, and the agent audio their checks need.
    `ready` and `settle` give back each decided alert with its `teacher_check` dict."""

    def __init__(self, check: RedCheck, rate: int):
        self.check, self.rate = check, rate
        self.tail = AgentTail(rate)
        self._held: list[_Held] = []

    def hear(self, agent: np.ndarray, t0: float) -> None:
        self.tail.add(agent, t0)

    @property
    def waiting(self) -> int:
        return len(self._held)

    def hold(self, alert: Alert, hit: KeywordHit) -> None:
        self._held.append(_Held(alert, hit, time.monotonic()))

    def ready(self, now: float) -> list[tuple[Alert, dict[str, Any]]]:
        """Ask the teacher about holds whose audio is in (stream time `now`); the decided ones."""
        out = []
        for held in list(self._held):
            if held.asked is None and now >= held.hit.end + AFTER_S:
                self._ask(held)
            decided = self._decided(held)
            if decided is not None:
                out.append(decided)
        return out

    def settle(self) -> list[tuple[Alert, dict[str, Any]]]:
        """The call ends: ask about every hold with the audio there is, and wait for each
        check at most the rest of its timeout."""
        out = []
        for held in list(self._held):
            if held.asked is None:
                self._ask(held)
            if held.future is not None:
                try:
                    held.future.result(max(0.0, held.asked + self.check.timeout_s - time.monotonic()))
                except Exception:  # noqa: BLE001 - a timeout or the teacher's failure: _decided says which
                    pass
            out.append(self._decided(held, final=True))
        return out

    def _ask(self, held: _Held) -> None:
        clip = self.tail.clip(held.hit.start - BEFORE_S, held.hit.end + AFTER_S)
        held.asked = time.monotonic()
        held.future = self.check.submit(clip, self.rate, held.hit.phrase)

    def _decided(self, held: _Held, final: bool = False) -> tuple[Alert, dict[str, Any]] | None:
        if held.asked is None:
            return None
        check: dict[str, Any]
        future = held.future
        answered = future is not None and future.done() and not future.cancelled()
        if future is None:
            check = {"confirmed": False, "outcome": "busy"}
        elif answered and future.exception() is None:
            heard = future.result()
            outcome = "confirmed" if heard.by else NOT_HEARD if heard.words else "unclear"
            check = {"confirmed": heard.by is not None, "outcome": outcome, "teacher_s": round(heard.teacher_s, 3)}
            if heard.by:
                check["heard_by"] = heard.by
        elif answered:
            log.warning("line %s: the red check failed (%s): alert %s published unconfirmed", held.alert.line,
                        future.exception(), held.alert.item)
            check = {"confirmed": False, "outcome": "failed"}
        elif final or time.monotonic() - held.asked >= self.check.timeout_s:
            future.cancel()  # still queued: never run; running: its answer is dropped
            check = {"confirmed": False, "outcome": "timeout"}
        else:
            return None
        self._held.remove(held)
        check["held_s"] = round(time.monotonic() - held.raised, 3)
        return held.alert, check
