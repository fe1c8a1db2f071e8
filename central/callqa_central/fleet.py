"""What central QA knows about every box right now: online or offline, silent lines, losing
messages, each with how long it has been so (`callqa-central report boxes`, fleet alerts).

- offline: the box's current status (statuses.py) is offline: its last will or a clean stop.
- silent: a line of an online box (the status's `lines`) that scored no call for `silent_after_h`
  hours of the centre's working hours, counted from its last scored call, or from when the
  box came online if that is later (a line is not silent for the time its box was away).
- losing: the box's status reports messages dropped at its outbox bound, sent without a disk
  copy, refused by the privacy check, or a score waiting for its receipt for over 10 minutes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from callqa_central.db import Database
from callqa_central.errors import ConfigError
from callqa_central.periods import utc_key
from callqa_central.scope import Scope

DEFAULT_WORKING_HOURS = "08:00-20:00"
DEFAULT_WORKING_DAYS = "mon-sun"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SILENT_AFTER_H = 2.0
DEFAULT_OFFLINE_AFTER_MIN = 5.0
HOURLY_HOURS = 8  # the boxes view's calls-per-hour columns, up to now


@dataclass(frozen=True)
class WorkingHours:
    """The centre's working hours in its time zone, on its working days, except its closed dates
    (public holidays): a line is not silent, nor a box missed, on a day nobody works."""

    start: time
    end: time
    tz: ZoneInfo
    days: frozenset[int] = frozenset(range(7))  # date.weekday(): Monday 0
    closed: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo, days: str = DEFAULT_WORKING_DAYS,
              closed: frozenset[date] = frozenset()) -> "WorkingHours":
        try:
            first, last = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ConfigError(f"--working-hours {text!r}: use HH:MM-HH:MM, e.g. {DEFAULT_WORKING_HOURS}") from None
        if first >= last:
            raise ConfigError(f"--working-hours {text!r}: the start must be before the end")
        return cls(first, last, tz, parse_working_days(days), closed)

    def _day(self, day: date) -> tuple[datetime, datetime]:
        first = datetime.combine(day, self.start, self.tz)
        if day.weekday() not in self.days or day in self.closed:
            return first, first
        return first, datetime.combine(day, self.end, self.tz)

    def contains(self, t: datetime) -> bool:
        first, last = self._day(t.astimezone(self.tz).date())
        return first <= t < last

    def seconds_between(self, a: datetime, b: datetime) -> float:
        """Working seconds in [a, b)."""
        total, day = 0.0, a.astimezone(self.tz).date()
        while day <= b.astimezone(self.tz).date():
            first, last = self._day(day)
            total += max(0.0, (min(last, b) - max(first, a)).total_seconds())
            day += timedelta(days=1)
        return total

    def back_from(self, t: datetime, seconds: float) -> datetime:
        """The latest time before `t` with `seconds` of working time between it and `t`, looking
        back a year at most (a centre closed all year: a year back)."""
        left, day = seconds, t.astimezone(self.tz).date()
        for _ in range(366):
            first, last = self._day(day)
            end = min(last, t)
            if end > first:
                if (end - first).total_seconds() >= left:
                    return end - timedelta(seconds=left)
                left -= (end - first).total_seconds()
            day -= timedelta(days=1)
        return datetime.combine(day, self.start, self.tz)


def parse_working_days(text: str) -> frozenset[int]:
    """`mon-fri`, `mon-sat`, `mon,wed,fri`, `sat-mon` (wrapping): weekday numbers, Monday 0."""
    days: set[int] = set()
    try:
        for part in text.lower().replace(" ", "").split(","):
            first, _, last = part.partition("-")
            a, b = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
            days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    except ValueError:
        raise ConfigError(f"--working-days {text!r}: use day names such as mon-fri or mon,wed,fri") from None
    return frozenset(days)


def read_closed_dates(path: Path) -> frozenset[date]:
    """A file of dates the centre is closed (public holidays), one YYYY-MM-DD per line; text after
    the date and lines starting with # are comments."""
    closed: set[date] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"--closed-dates {path}: {e.strerror}") from None
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            closed.add(date.fromisoformat(text.split()[0]))
        except ValueError:
            raise ConfigError(f"--closed-dates {path}, line {number}: {text!r} is not a YYYY-MM-DD date") from None
    return frozenset(closed)


@dataclass(frozen=True)
class FleetRules:
    hours: WorkingHours
    silent_after_h: float = DEFAULT_SILENT_AFTER_H
    offline_after_s: float = 60 * DEFAULT_OFFLINE_AFTER_MIN  # a restart is not worth an alert

    def silent(self, reference: datetime, now: datetime) -> bool:
        return self.hours.seconds_between(reference, now) >= 3600 * self.silent_after_h


@dataclass(frozen=True)
class LineView:
    line: str
    last_call: datetime | None  # UTC
    hourly: tuple[int, ...]  # calls scored in each of the last HOURLY_HOURS clock hours, oldest first
    silent_since: datetime | None  # UTC: last call, or the box's coming online; None when not silent


@dataclass(frozen=True)
class BoxView:
    site: str
    group: str
    box: str
    state: str
    since: datetime  # UTC: when the state began
    last_seen: datetime
    version: str
    model: str | None
    lines: tuple[LineView, ...]
    outbox_depth: int | None
    dropped: int | None
    undurable: int | None
    refused: int | None
    unreceipted: int | None
    oldest_unreceipted_s: float | None
    alerts: tuple[str, ...]
    losing_since: datetime | None

    @property
    def name(self) -> str:
        return f"{self.site}/{self.group}/{self.box}"

    @property
    def offline(self) -> bool:
        return self.state == "offline"

    @property
    def silent_lines(self) -> tuple[LineView, ...]:
        return tuple(ln for ln in self.lines if ln.silent_since is not None)

    @property
    def losing(self) -> bool:
        return self.losing_since is not None

    @property
    def order(self) -> tuple:
        """Offline first, then silent, then losing, then the rest; the longest so first."""
        if self.offline:
            return 0, self.since, self.name
        if self.silent_lines:
            return 1, min(ln.silent_since for ln in self.silent_lines), self.name
        if self.losing:
            return 2, self.losing_since, self.name
        return 3, datetime.max.replace(tzinfo=timezone.utc), self.name


@dataclass(frozen=True)
class FleetView:
    at: datetime  # UTC
    rules: FleetRules
    boxes: list[BoxView]
    hours: tuple[datetime, ...]  # the clock hours of LineView.hourly, UTC

    @property
    def offline(self) -> list[BoxView]:
        return [b for b in self.boxes if b.offline]

    @property
    def silent(self) -> list[BoxView]:
        return [b for b in self.boxes if b.silent_lines]

    @property
    def losing(self) -> list[BoxView]:
        return [b for b in self.boxes if b.losing]


def _utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def fleet_view(db: Database, rules: FleetRules, scope: Scope = Scope(), at: datetime | None = None) -> FleetView:
    at = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    conditions, params = scope.match()
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    boxes = db.rows(
        "SELECT site, grp, box, state, since_utc, last_seen_utc, version, model, lines, outbox_depth, dropped,"
        " undurable, refused, unreceipted, oldest_unreceipted_s, alerts, losing_since_utc"
        f" FROM boxes{where} ORDER BY site, grp, box", params)
    this_hour = at.replace(minute=0, second=0, microsecond=0)
    hours = tuple(this_hour - timedelta(hours=HOURLY_HOURS - 1 - i) for i in range(HOURLY_HOURS))
    # Calls since the silence rule's reach (or the hourly columns', if longer) answer for most
    # lines; a line with none there is looked up alone (calls_line_start index).
    reach = min(rules.hours.back_from(at, 3600 * rules.silent_after_h), hours[0])
    recent_where, recent_params = scope.where(utc_key(reach), utc_key(at + timedelta(days=1)))
    recent = db.rows(
        "SELECT site, grp, box, line, SUBSTR(start_utc, 1, 13), COUNT(*), MAX(start_utc) FROM calls"
        f" WHERE {recent_where} GROUP BY site, grp, box, line, SUBSTR(start_utc, 1, 13)", recent_params)
    per_hour: dict[tuple, int] = {}
    last: dict[tuple, str] = {}
    for site, grp, box, line, hour, n, latest in recent:
        per_hour[(site, grp, box, line, hour)] = int(n)
        last[(site, grp, box, line)] = max(last.get((site, grp, box, line), ""), latest)
    out = []
    for (site, grp, box, state, since, last_seen, version, model, lines, depth, dropped, undurable, refused,
         unreceipted, oldest, alerts, losing_since) in boxes:
        since_t = _utc(since)
        views = []
        for line in json.loads(lines):
            key = (site, grp, box, line)
            latest = last.get(key) or db.rows(
                "SELECT MAX(start_utc) FROM calls WHERE site = ? AND grp = ? AND box = ? AND line = ?", key)[0][0]
            last_call = _utc(latest)
            reference = max(t for t in (last_call, since_t) if t is not None)
            silent = state == "online" and rules.silent(reference, at)
            hourly = tuple(per_hour.get((*key, f"{h:%Y-%m-%dT%H}"), 0) for h in hours)
            views.append(LineView(line, last_call, hourly, reference if silent else None))
        out.append(BoxView(site, grp, box, state, since_t, _utc(last_seen), version, model, tuple(views), depth,
                           dropped, undurable, refused, unreceipted, oldest, tuple(json.loads(alerts)),
                           _utc(losing_since)))
    return FleetView(at, rules, sorted(out, key=lambda b: b.order), hours)
