"""Live alerts: the rubric's rules that light the desk light while a call goes on.

    raised_voice    the agent's raised voice, as soon as the prosody tracker reports it
    keyword_absent  a forbidden phrase or an insult from the agent, as soon as it is heard
    apology         the customer agitated (raised voice that lasts), no apology within within_s
    dead_air        both sides silent for alert_after_s

`AlertRules` are the rubric items that alert, read once per rubric; `CallAlerts` applies them
to what the pipeline heard in each block of one open call (`on_*` as it is heard, `check_*`
once per block) and keeps the alerts it raised.
Every time is s on the line's stream clock; an Alert's `t` is s from the call's start.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from edge.events import Alert, KeywordHit, ProsodyEvent, Side
from edge.scoring.misses import MissedPhrases
from edge.scoring.rubric import Item, Rubric


@dataclass(frozen=True)
class AlertRules:
    """The rubric items that raise live alerts; None (or empty) where a rule is off."""

    raised_voice: Item | None
    phrases: tuple[Item, ...]  # keyword_absent items, by category
    apology: Item | None
    dead_air: Item | None

    @classmethod
    def of(cls, rubric: Rubric, spotting: bool, missed: MissedPhrases) -> "AlertRules":
        """`spotting`: a keyword spotter listens on the line. Without one, or where its misses
        of an apology are not trusted (config keywords.count_missing_phrases), "no apology"
        would only mean "none heard": the apology rule is off."""
        def alerting(item: Item | None) -> Item | None:
            return item if item is not None and item.alert else None

        dead_air = alerting(rubric.item("dead_air"))
        apology = alerting(rubric.item("apology"))
        return cls(
            raised_voice=alerting(rubric.item("raised_voice")),
            phrases=tuple(i for i in rubric.items if i.signal == "keyword_absent" and i.alert),
            apology=apology if apology is not None and spotting and missed.count_in(apology.category) else None,
            dead_air=dead_air if dead_air is not None and dead_air.alert_after_s is not None else None,
        )


class CallAlerts:
    """The live alerts of one open call. Each method takes what one block brought and
    returns the alerts it raised (also kept, in order, in `raised` for the CallScore)."""

    def __init__(self, rules: AlertRules, line: str, call_id: str, start: float):
        self.rules, self.line, self.call_id, self.start = rules, line, call_id, start
        self.raised: list[Alert] = []
        self._agitation: list[float] = []  # customer raised voice, not yet answered or alerted
        self._dead_air_from: float | None = None  # start of the silence already alerted

    def _alert(self, item: Item, reason: str, t: float, evidence: dict[str, Any]) -> Alert:
        assert item.alert is not None
        alert = Alert(uuid.uuid4().hex, self.line, self.call_id, item.id, item.alert, reason,
                      round(max(0.0, t - self.start), 3), evidence)
        self.raised.append(alert)
        return alert

    def on_prosody(self, side: Side, events: Iterable[ProsodyEvent]) -> list[Alert]:
        """The agent's raised voice alerts at once; the customer's is agitation, which the
        apology rule answers later."""
        out = []
        for ev in events:
            if ev.kind != "raised_voice":
                continue
            if side == Side.CUSTOMER:
                self._agitation.append(ev.start)
            elif self.rules.raised_voice is not None:
                out.append(self._alert(self.rules.raised_voice, f"agent raised voice (+{ev.value:.0f} dB)", ev.start,
                                       {"start": round(ev.start - self.start, 3),
                                        "db_above_running": round(ev.value, 1)}))
        return out

    def on_keywords(self, hits: Iterable[KeywordHit]) -> list[Alert]:
        """A forbidden phrase or an insult from the agent, heard inside the call."""
        out = []
        for h in hits:
            item = next((i for i in self.rules.phrases if i.category == h.category), None)
            if item is not None and h.side == Side.AGENT and h.start >= self.start:
                out.append(self._alert(item, f"{item.name}: '{h.phrase}'", h.start,
                                       {"phrase": h.phrase, "confidence": round(h.confidence, 3)}))
        return out

    def teacher_checked(self, alert: Alert) -> bool:
        """A held red alert, now carrying the teacher's check (edge/redcheck.py): True, and
        kept in `raised` as it is now, when it is to be published; False, and no longer among
        `raised`, when the teacher did not hear the phrase."""
        i = next(i for i, a in enumerate(self.raised) if a.alert_id == alert.alert_id)
        if alert.teacher_check is not None and alert.teacher_check["outcome"] == "not_heard":
            del self.raised[i]
            return False
        self.raised[i] = alert
        return True

    def check_apologies(self, now: float, hits: Sequence[KeywordHit]) -> list[Alert]:
        """Agitation older than within_s with no apology from the agent in between;
        `hits`: the line's keyword hits of the call so far."""
        item = self.rules.apology
        if item is None:
            return []
        out = []
        for t in list(self._agitation):
            if now - t < item.within_s:
                continue
            self._agitation.remove(t)
            said = any(h.category == item.category and h.side == Side.AGENT and t <= h.start <= t + item.within_s
                       for h in hits)
            if not said:
                out.append(self._alert(item, "customer agitated, no apology", t,
                                       {"agitation_at": round(t - self.start, 3), "within_s": item.within_s}))
        return out

    def check_dead_air(self, now: float, segments: Mapping[Side, Sequence[tuple[float, float]]],
                       speech_start: float | None, cti_bounded: bool, hold_min_s: float = math.inf) -> list[Alert]:
        """Long dead air, as soon as it is known. A CTI-bounded call is known to go on, so its
        silence is alerted while it lasts; otherwise a silence may just be the call's end, and
        the alert waits for speech to resume inside the same call. A silence of `hold_min_s`
        or more that the call went on after (calls.end_silence_s) is a hold, not dead air: not
        alerted (a CTI-bounded call's is, while it lasts: no one knows yet it will be a hold).

        `segments`: each side's finished speech (start, end) so far; `speech_start`: the
        earliest start of speech going on or begun in this block (None: nobody speaks)."""
        item = self.rules.dead_air
        if item is None:
            return []
        limit = item.alert_after_s
        ends = [e for side in Side for _, e in segments[side][-1:] if e > self.start]
        silence_from = max(ends + [self.start])
        if cti_bounded:
            ongoing = speech_start is None and now - silence_from >= limit
            gap = (silence_from, now) if ongoing else None
        else:
            prev = sorted(e for side in Side for _, e in segments[side] if self.start < e < (speech_start or -1))
            gap = (prev[-1], speech_start) if prev and limit <= speech_start - prev[-1] < hold_min_s else None
        if gap is None or self._dead_air_from == gap[0]:
            return []
        self._dead_air_from = gap[0]
        return [self._alert(item, f"dead air {gap[1] - gap[0]:.0f} s", gap[0],
                            {"start": round(gap[0] - self.start, 3), "silent_s": round(gap[1] - gap[0], 1)})]
