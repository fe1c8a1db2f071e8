"""The numbers behind the centre's QA reports (中心质检报表), straight from the store.

- pass rate (合格率): calls the box marked `passed` / calls scored.
- average score: mean of score / max_score in %, so calls with not-measured items (smaller
  max_score) weigh the same as the rest.
- problem classes, counted per failed rubric item (a call can add to several):
  A (fatal, 致命): the item failed and is fatal (the rubric's insults and the like);
  B (major, 严重): a non-fatal failed item that cost at least `major_points` (default 10);
  C (minor, 轻微): every other failed item.
- below the warning threshold (80 % by default, 合规率低于80%时预警): groups and agent lines
  whose pass rate in the period is under it.
All aggregation happens in SQL over the indexed UTC range, so a month of a large centre is
read as sums, not rows; only the daily detail reads calls one by one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from callqa_central.coverage import PeriodFleet, period_fleet
from callqa_central.db import Database
from callqa_central.fleet import DEFAULT_WORKING_HOURS, FleetRules, WorkingHours
from callqa_central.periods import Period, utc_key
from callqa_central.scope import Scope

DEFAULT_THRESHOLD = 0.80
DEFAULT_MISSING_AFTER_S = 600.0  # a hole in a box's count older than this is reported
DEFAULT_MAJOR_POINTS = 10.0
TOP_ITEMS = 10


@dataclass(frozen=True)
class Tally:
    calls: int = 0
    passed: int = 0
    score_pct_sum: float = 0.0
    a: int = 0
    b: int = 0
    c: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.calls if self.calls else None

    @property
    def avg_score_pct(self) -> float | None:
        return self.score_pct_sum / self.calls if self.calls else None

    def __add__(self, o: "Tally") -> "Tally":
        return Tally(self.calls + o.calls, self.passed + o.passed, self.score_pct_sum + o.score_pct_sum,
                     self.a + o.a, self.b + o.b, self.c + o.c)


@dataclass(frozen=True)
class GroupRow:
    site: str
    group: str
    now: Tally
    before: Tally  # the previous period


@dataclass(frozen=True)
class LineRow:
    site: str
    group: str
    box: str
    line: str
    tally: Tally

    @property
    def name(self) -> str:
        return f"{self.box}/{self.line}"


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    name: str
    failed: int
    failed_before: int


@dataclass(frozen=True)
class DayPoint:
    day: date
    site: str
    group: str
    tally: Tally


@dataclass(frozen=True)
class CallRow:
    site: str
    group: str
    box: str
    line: str
    call_id: str
    start: datetime  # in the report's zone
    duration_s: float
    score: float
    max_score: float
    passed: bool
    fatal: bool
    failed_items: tuple[str, ...]
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class RefusedRow:
    """Messages the store quarantined in the period (by when they arrived), one row per kind of reason."""

    reason: str  # the reason up to its first ': ' ("payload is not JSON", "envelope invalid", …)
    count: int
    first: datetime  # in the report's zone
    last: datetime
    topic: str  # one of the topics they came on, to find the box


@dataclass(frozen=True)
class MissingRow:
    """Scores and alerts of one box that never reached the store: numbers missing from the box's
    count (the envelope's seq) between two that arrived, still missing after the grace time."""

    site: str
    group: str
    box: str
    count: int
    numbers: str  # "41-43, 97"
    first: datetime  # when the message after the first hole arrived, in the report's zone
    last: datetime


@dataclass(frozen=True)
class Report:
    period: Period
    previous: Period
    scope: Scope
    threshold: float
    major_points: float
    groups: list[GroupRow]
    lines_below: list[LineRow]
    top_items: list[ItemRow]
    trend: list[DayPoint]
    calls: list[CallRow] = field(default_factory=list)  # daily detail only
    refused: list[RefusedRow] = field(default_factory=list)
    missing: list[MissingRow] = field(default_factory=list)
    fleet: PeriodFleet | None = None  # boxes offline and lines silent in the period, coverage

    @property
    def total(self) -> GroupRow:
        now = sum((g.now for g in self.groups), Tally())
        before = sum((g.before for g in self.groups), Tally())
        return GroupRow("all", "all", now, before)

    @property
    def groups_below(self) -> list[GroupRow]:
        return [g for g in self.groups if g.now.calls and g.now.pass_rate < self.threshold]


def _tallies(db: Database, scope: Scope, first: str, end: str, major_points: float,
             by: tuple[str, ...]) -> dict[tuple, Tally]:
    """Tally per value of the `by` columns (of both calls and failed_items) over [first, end)."""
    where, params = scope.where(first, end)
    cols = ", ".join(by)
    calls = db.rows(
        f"SELECT {cols}, COUNT(*), SUM(passed), SUM(CASE WHEN max_score > 0 THEN 100.0 * score / max_score ELSE 0 END)"
        f" FROM calls WHERE {where} GROUP BY {cols}", params)
    problems = db.rows(
        f"SELECT {cols}, SUM(CASE WHEN fatal = 1 THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN fatal = 0 AND deduction >= ? THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN fatal = 0 AND deduction < ? THEN 1 ELSE 0 END)"
        f" FROM failed_items WHERE {where} GROUP BY {cols}", [major_points, major_points, *params])
    n = len(by)
    abc = {tuple(r[:n]): tuple(int(v) for v in r[n:]) for r in problems}
    return {
        tuple(r[:n]): Tally(int(r[n]), int(r[n + 1]), float(r[n + 2]), *abc.get(tuple(r[:n]), (0, 0, 0)))
        for r in calls
    }


def _item_counts(db: Database, scope: Scope, first: str, end: str) -> dict[str, tuple[str, int]]:
    where, params = scope.where(first, end)
    rows = db.rows(f"SELECT item_id, MIN(name), COUNT(*) FROM failed_items WHERE {where} GROUP BY item_id", params)
    return {r[0]: (r[1], int(r[2])) for r in rows}


def trend_period(period: Period) -> Period:
    """A day alone shows no trend: a daily report charts the week up to its day."""
    if period.kind == "daily":
        return Period("daily", period.first_day - timedelta(days=6), 7, period.tz)
    return period


def build_report(db: Database, period: Period, scope: Scope = Scope(), threshold: float = DEFAULT_THRESHOLD,
                 major_points: float = DEFAULT_MAJOR_POINTS, missing_after_s: float = DEFAULT_MISSING_AFTER_S,
                 rules: FleetRules | None = None, at: datetime | None = None) -> Report:
    """The report for `period`, as it stands `at` (default now: what counts as never received, what
    is still offline). `rules`: working hours and the silence rule (default 08:00-20:00, 2 h)."""
    at = at or datetime.now(timezone.utc)
    rules = rules or FleetRules(WorkingHours.parse(DEFAULT_WORKING_HOURS, period.tz))
    previous = period.previous()
    now = _tallies(db, scope, *period.utc_range(), major_points, ("site", "grp"))
    before = _tallies(db, scope, *previous.utc_range(), major_points, ("site", "grp"))
    groups = [GroupRow(s, g, now.get((s, g), Tally()), before.get((s, g), Tally()))
              for s, g in sorted(set(now) | set(before))]
    lines = _tallies(db, scope, *period.utc_range(), major_points, ("site", "grp", "box", "line"))
    lines_below = sorted(
        (LineRow(*key, tally) for key, tally in lines.items() if tally.pass_rate < threshold),
        key=lambda r: (r.tally.pass_rate, -r.tally.calls, r.site, r.group, r.name),
    )
    items_now = _item_counts(db, scope, *period.utc_range())
    items_before = _item_counts(db, scope, *previous.utc_range())
    top_items = sorted(
        (ItemRow(i, name, n, items_before.get(i, ("", 0))[1]) for i, (name, n) in items_now.items()),
        key=lambda r: (-r.failed, r.item_id),
    )[:TOP_ITEMS]
    days = trend_period(period)
    trend = []
    for day in days.day_list():
        start, end = days.day_start(day), days.day_start(day + timedelta(days=1))
        for (s, g), tally in sorted(_tallies(db, scope, start, end, major_points, ("site", "grp")).items()):
            trend.append(DayPoint(day, s, g, tally))
    calls = _call_rows(db, scope, period) if period.kind == "daily" else []
    open_before = at - timedelta(seconds=missing_after_s)
    return Report(period, previous, scope, threshold, major_points, groups, lines_below, top_items, trend, calls,
                  _refused_rows(db, scope, period), _missing_rows(db, scope, period, open_before),
                  period_fleet(db, scope, period, rules, at))


def _like_segment(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _refused_rows(db: Database, scope: Scope, period: Period) -> list[RefusedRow]:
    """Quarantined messages received in the period. A quarantined message has no trusted site or
    group, so a scoped report keeps those whose topic names the scope's site/group segments."""
    sql, params = "received_utc >= ? AND received_utc < ?", list(period.utc_range())
    segments = [_like_segment(v) for v in (scope.site, scope.group) if v is not None]
    if segments:
        sql += " AND topic LIKE ? ESCAPE '\\'"
        params.append("".join(f"%/{s}" for s in segments) + "/%")
    rows = db.rows(f"SELECT reason, COUNT(*), MIN(received_utc), MAX(received_utc), MIN(topic) FROM quarantine"
                   f" WHERE {sql} GROUP BY reason ORDER BY reason", params)
    # Reasons carry their detail (the parser's words, the failing field); a report counts kinds.
    kinds: dict[str, list] = {}
    for reason, n, first, last, topic in rows:
        kind = kinds.setdefault(reason.split(": ")[0], [0, first, last, topic])
        kind[0] += int(n)
        kind[1], kind[2] = min(kind[1], first), max(kind[2], last)
    return sorted((RefusedRow(kind, n, period.local(first), period.local(last), topic)
                   for kind, (n, first, last, topic) in kinds.items()), key=lambda r: (-r.count, r.reason))


def _missing_rows(db: Database, scope: Scope, period: Period, open_before: datetime) -> list[MissingRow]:
    """Holes in each box's count whose next number arrived in the period, before `open_before`
    (a box sends an unreceipted message again within minutes, so an older hole is a loss).
    Only holes between two numbers that arrived count: what came before the store's first
    message, or after a box's last, cannot be told from never sent."""
    where, params = scope.match()
    start, end = period.utc_range()
    rows = db.rows(
        "SELECT site, grp, box, before_n, n, received_utc FROM (SELECT site, grp, box, n, received_utc,"
        " LAG(n) OVER (PARTITION BY site, grp, box, epoch ORDER BY n) AS before_n FROM sequence"
        + (f" WHERE {' AND '.join(where)}" if where else "") + ") AS counted"
        " WHERE n - before_n > 1 AND received_utc >= ? AND received_utc < ? AND received_utc < ?"
        " ORDER BY site, grp, box, received_utc, n",
        [*params, start, end, utc_key(open_before)])
    boxes: dict[tuple[str, str, str], list[tuple[int, int, str]]] = {}
    for site, grp, box, before_n, n, received in rows:
        boxes.setdefault((site, grp, box), []).append((int(before_n) + 1, int(n) - 1, received))
    return [MissingRow(*key, sum(b - a + 1 for a, b, _ in holes),
                       ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b, _ in holes),
                       period.local(min(r for *_, r in holes)), period.local(max(r for *_, r in holes)))
            for key, holes in boxes.items()]


def _call_rows(db: Database, scope: Scope, period: Period) -> list[CallRow]:
    where, params = scope.where(*period.utc_range())
    rows = db.rows(
        "SELECT site, grp, box, line, call_id, start_utc, duration_s, score, max_score, passed, fatal, body"
        f" FROM calls WHERE {where} ORDER BY site, grp, box, line, start_utc", params)
    out = []
    for site, grp, box, line, call_id, start, duration, score, max_score, passed, fatal, body in rows:
        doc = json.loads(body)
        failed = tuple(it["name"] for it in doc["items"] if it["status"] == "failed")
        alerts = tuple(f"{a['severity']}: {a['reason']}" for a in doc["alerts"])
        out.append(CallRow(site, grp, box, line, call_id, period.local(start), duration, score, max_score,
                           bool(passed), bool(fatal), failed, alerts))
    return out
