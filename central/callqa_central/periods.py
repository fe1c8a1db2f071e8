"""Report periods: a day, an ISO week or a calendar month in the centre's time zone, as the
UTC text range the store's indexes are built on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callqa_central.errors import ConfigError

KINDS = ("daily", "weekly", "monthly")


def utc_key(t: datetime) -> str:
    """The stored form of a time (see migrations/0001_initial.sql)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def system_zone() -> ZoneInfo:
    """The machine's zone by name (so DST is right): $TZ, /etc/timezone, the /etc/localtime link, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    if Path("/etc/timezone").exists():
        candidates.append(Path("/etc/timezone").read_text().strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).split("zoneinfo/", 1)[-1])
    for name in filter(None, candidates):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def zone(name: str | None) -> ZoneInfo:
    if not name:
        return system_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz {name!r}: unknown time zone (use a name like Asia/Shanghai)") from None


@dataclass(frozen=True)
class Period:
    kind: str
    first_day: date
    days: int
    tz: ZoneInfo

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.first_day.isoformat()
        if self.kind == "weekly":
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first_day:%Y-%m}"

    @property
    def end_day(self) -> date:
        """First day after the period."""
        return self.first_day + timedelta(days=self.days)

    def day_start(self, day: date) -> str:
        return utc_key(datetime.combine(day, time(), self.tz))

    def local(self, utc: str) -> datetime:
        """A stored UTC time as the centre's local time."""
        return datetime.fromisoformat(utc).astimezone(self.tz)

    def utc_range(self) -> tuple[str, str]:
        return self.day_start(self.first_day), self.day_start(self.end_day)

    def day_list(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> "Period":
        if self.kind == "monthly":
            return month_period(_month_before(self.first_day), self.tz)
        return Period(self.kind, self.first_day - timedelta(days=self.days), self.days, self.tz)


def _month_before(d: date) -> date:
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


def month_period(first: date, tz: ZoneInfo) -> Period:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period("monthly", first, (following - first).days, tz)


def parse_period(kind: str, value: str | None, tz: ZoneInfo, today: date | None = None) -> Period:
    """`value`: 2025-06-02 (daily), 2025-W23 (weekly), 2025-06 (monthly); None = the last complete one."""
    today = today or datetime.now(tz).date()
    try:
        if kind == "daily":
            day = date.fromisoformat(value) if value else today - timedelta(days=1)
            return Period("daily", day, 1, tz)
        if kind == "weekly":
            if value:
                year, week = value.upper().split("-W")
                monday = date.fromisocalendar(int(year), int(week), 1)
            else:
                monday = today - timedelta(days=today.weekday() + 7)
            return Period("weekly", monday, 7, tz)
        if kind == "monthly":
            first = datetime.strptime(value, "%Y-%m").date() if value else _month_before(today)
            return month_period(first, tz)
    except ValueError:
        example = {"daily": "--date 2025-06-02", "weekly": "--week 2025-W23", "monthly": "--month 2025-06"}[kind]
        raise ConfigError(f"{kind} report: cannot read period {value!r} (example: {example})") from None
    raise ConfigError(f"unknown report kind {kind!r} (one of {', '.join(KINDS)})")
