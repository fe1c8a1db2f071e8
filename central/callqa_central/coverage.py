"""What a report's period missed: boxes offline and lines silent during it, and coverage, so that a
pass rate is never read from half the calls.

- offline spells: from the box_status history (statuses.py), ordered by the status key; a spell
  runs from when the box went offline to the session.connected of its next online status, and
  is reported when it overlaps the centre's working hours in the period.
- silent spells: whole clock hours of working time in which a line of a box (its status's
  `lines`) scored no call, at least `silent_after_h` of them in a row (hours before the box was
  first heard from, in the future, or while it was offline do not count).
- coverage: where the site's CTI counts were imported (`callqa-central cti`, table cti_calls),
  calls scored against calls taken per seat group, in the hours the CTI counted; otherwise calls scored per box against its
  usual level: for each hour of the period, the median of the box's calls in the same hour of
  the 4 weeks before, summed.
Hours are the store's UTC clock hours; in a zone whose offset is not whole hours they are
shifted against the local working hours by that fraction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from statistics import median

from callqa_central.db import Database
from callqa_central.fleet import FleetRules
from callqa_central.periods import Period, utc_key
from callqa_central.scope import Scope

USUAL_WEEKS = 4
OFFLINE_LOOKBACK = timedelta(days=7)  # statuses read before the period, to know how it began
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Spell:
    """A box offline (line None) or a line silent, within the report's period."""

    site: str
    group: str
    box: str
    line: str | None
    first: datetime  # in the report's zone, clipped to the period
    last: datetime
    working_h: float  # of it in working hours
    ongoing: bool  # still so when the report was made

    @property
    def name(self) -> str:
        return f"{self.site}/{self.group}/{self.box}" + (f" line {self.line}" if self.line else "")


@dataclass(frozen=True)
class CoverageRow:
    site: str
    group: str
    box: str | None  # None: a seat group against its CTI count
    scored: int
    expected: float | None  # calls taken (CTI) or the box's usual level; None: no usual level yet

    @property
    def ratio(self) -> float | None:
        return self.scored / self.expected if self.expected else None


@dataclass(frozen=True)
class PeriodFleet:
    """The fleet facts of one report period."""

    known_boxes: int  # boxes whose status the store has: without any, offline and silent cannot be told
    offline: list[Spell]
    silent: list[Spell]
    coverage: list[CoverageRow]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _hour(t: datetime) -> str:
    return f"{t.astimezone(timezone.utc):%Y-%m-%dT%H}"


def period_fleet(db: Database, scope: Scope, period: Period, rules: FleetRules, at: datetime) -> PeriodFleet:
    conditions, params = scope.match()
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    boxes = db.rows(f"SELECT site, grp, box, state, since_utc, first_seen_utc, lines FROM boxes{where}", params)
    start, end = (_utc(t) for t in period.utc_range())
    until = min(end, at)
    offline = _offline_spells(db, scope, period, rules, boxes, start, until, at)
    away = {}
    for s in offline:
        away.setdefault((s.site, s.group, s.box), []).append((s.first, s.last))
    silent = _silent_spells(db, scope, period, rules, boxes, away, start, until)
    return PeriodFleet(len(boxes), offline, silent, _coverage(db, scope, period))


def _offline_spells(db, scope, period, rules, boxes, start, until, at) -> list[Spell]:
    where, params = scope.where(utc_key(start - OFFLINE_LOOKBACK), utc_key(until), "received_utc")
    key = "session_started, session_connected, state_rank, created_utc"
    rows = db.rows(
        "SELECT site, grp, box, state, created_utc, session_connected, prev_received FROM ("
        " SELECT site, grp, box, state, created_utc, session_connected,"
        f"  LAG(state) OVER (PARTITION BY site, grp, box ORDER BY {key}) AS prev_state,"
        f"  LAG(received_utc) OVER (PARTITION BY site, grp, box ORDER BY {key}) AS prev_received,"
        f"  ROW_NUMBER() OVER (PARTITION BY site, grp, box ORDER BY {key}) AS n"
        f" FROM box_status WHERE {where}) AS ordered"
        " WHERE prev_state IS NULL OR prev_state <> state ORDER BY site, grp, box, n", params)
    went: dict[tuple, list[tuple[datetime, datetime | None]]] = {}
    for site, grp, box, state, created, connected, prev_received in rows:
        spells = went.setdefault((site, grp, box), [])
        if state == "offline":
            spells.append((max(_utc(created), _utc(prev_received)) if prev_received else _utc(created), None))
        elif spells and spells[-1][1] is None:
            spells[-1] = (spells[-1][0], _utc(connected))
    for site, grp, box, state, since, *_ in boxes:
        if state == "offline" and (site, grp, box) not in went:  # offline since before the statuses read
            went[(site, grp, box)] = [(_utc(since), None)]
    out = []
    for (site, grp, box), spells in went.items():
        for first, last in spells:
            ongoing = last is None
            a, b = max(first, start), min(last or at, until)
            working = rules.hours.seconds_between(a, b) / 3600 if b > a else 0.0
            if working > 0:
                out.append(Spell(site, grp, box, None, period.local(utc_key(a)), period.local(utc_key(b)),
                                 working, ongoing))
    return sorted(out, key=lambda s: (s.name, s.first))


def _silent_spells(db, scope, period, rules, boxes, away, start, until) -> list[Spell]:
    where, params = scope.where(*period.utc_range())
    counts = {tuple(r[:5]): int(r[5]) for r in db.rows(
        f"SELECT site, grp, box, line, SUBSTR(start_utc, 1, 13), COUNT(*) FROM calls WHERE {where}"
        " GROUP BY site, grp, box, line, SUBSTR(start_utc, 1, 13)", params)}
    hours = []
    h = start
    while h + HOUR <= until:
        if rules.hours.contains(h) and rules.hours.contains(h + HOUR - timedelta(microseconds=1)):
            hours.append(h)
        h += HOUR
    out = []
    for site, grp, box, _, _, first_seen, lines in boxes:
        seen = _utc(first_seen)
        gone = [(a.astimezone(timezone.utc), b.astimezone(timezone.utc)) for a, b in away.get((site, grp, box), [])]
        # Hours before the box was first heard from, or while it was offline, break a run.
        watched = [h + HOUR > seen and not any(a < h + HOUR and h < b for a, b in gone) for h in hours]
        for line in json.loads(lines):
            run: list[datetime] = []
            for h, watch in [*zip(hours, watched), (None, False)]:
                if watch and not counts.get((site, grp, box, line, _hour(h))):
                    run.append(h)
                    continue
                if len(run) >= rules.silent_after_h:
                    out.append(Spell(site, grp, box, line, period.local(utc_key(run[0])),
                                     period.local(utc_key(run[-1] + HOUR)), float(len(run)), run[-1] + HOUR >= until))
                run = []
    return sorted(out, key=lambda s: (s.name, s.first))


def _coverage(db: Database, scope: Scope, period: Period) -> list[CoverageRow]:
    first, end = period.utc_range()
    where, params = scope.where(first[:13], end[:13], "hour_utc")
    taken: dict[tuple, dict[str, int]] = {}  # (site, grp) -> hour -> calls taken
    for site, grp, hour, n in db.rows(f"SELECT site, grp, hour_utc, calls FROM cti_calls WHERE {where}", params):
        taken.setdefault((site, grp), {})[hour] = int(n)
    start = _utc(first)
    back = start - timedelta(weeks=USUAL_WEEKS)
    where, params = scope.where(utc_key(back), end)
    hourly: dict[tuple, dict[str, int]] = {}
    for site, grp, box, hour, n in db.rows(
            f"SELECT site, grp, box, SUBSTR(start_utc, 1, 13), COUNT(*) FROM calls WHERE {where}"
            " GROUP BY site, grp, box, SUBSTR(start_utc, 1, 13)", params):
        hourly.setdefault((site, grp, box), {})[hour] = int(n)
    period_hours = [start + i * HOUR for i in range(int((_utc(end) - start) / HOUR))]
    scored_groups: dict[tuple, int] = {}
    rows = []
    for (site, grp, box), counts in sorted(hourly.items()):
        if (site, grp) in taken:  # counted in the hours the CTI counted
            counted = sum(counts.get(hour, 0) for hour in taken[(site, grp)])
            scored_groups[(site, grp)] = scored_groups.get((site, grp), 0) + counted
            continue
        scored = sum(counts.get(_hour(h), 0) for h in period_hours)
        before = [h for h in counts if h < first[:13]]
        if not before:
            expected = None  # a new box: no usual level yet
        else:
            expected = sum(median(counts.get(_hour(h - timedelta(weeks=k)), 0) for k in range(1, USUAL_WEEKS + 1))
                           for h in period_hours)
        if scored or expected:
            rows.append(CoverageRow(site, grp, box, scored, expected))
    groups = [CoverageRow(s, g, None, scored_groups.get((s, g), 0), float(sum(hours.values())))
              for (s, g), hours in sorted(taken.items())]
    return groups + rows
