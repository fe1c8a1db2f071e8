"""`callqa-central cti FILE.csv`: the calls the site's CTI says each seat group took, per hour, for the
reports' coverage (calls scored against calls taken).

The CSV has a header and one row per seat group and hour: `site,group,hour,calls`, where hour is
the hour's start, `2025-06-02T09:00` in --tz or with a UTC offset. Importing an hour again
replaces its count, so a day's export can be imported as often as it is corrected.
"""

from __future__ import annotations

import argparse
import csv
from datetime import datetime, timezone

from callqa_central.db import open_database
from callqa_central.errors import ConfigError
from callqa_central.periods import zone
from callqa_central.service import DEFAULT_DB

UPSERT_CTI = ("INSERT INTO cti_calls (site, grp, hour_utc, calls) VALUES (?, ?, ?, ?)"
              " ON CONFLICT (site, grp, hour_utc) DO UPDATE SET calls = excluded.calls")
COLUMNS = ("site", "group", "hour", "calls")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", help="site,group,hour,calls (hour: 2025-06-02T09:00, local in --tz or with an offset)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"the store's database (default {DEFAULT_DB})")
    p.add_argument("--tz", help="the zone of hours without an offset (default this machine's)")


def read_rows(path: str, tz) -> list[tuple[str, str, str, int]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise ConfigError(f"{path}: the header must be {','.join(COLUMNS)}, not {','.join(reader.fieldnames or ())}")
            rows = []
            for n, r in enumerate(reader, start=2):
                try:
                    hour = datetime.fromisoformat(r["hour"])
                    calls = int(r["calls"])
                except (TypeError, ValueError):
                    raise ConfigError(f"{path} line {n}: cannot read hour {r['hour']!r} / calls {r['calls']!r}") from None
                if hour.minute or hour.second or calls < 0:
                    raise ConfigError(f"{path} line {n}: the hour must start on the hour and calls be 0 or more")
                hour = hour if hour.tzinfo else hour.replace(tzinfo=tz)
                rows.append((r["site"], r["group"], f"{hour.astimezone(timezone.utc):%Y-%m-%dT%H}", calls))
            return rows
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None


def run(args: argparse.Namespace) -> int:
    rows = read_rows(args.csv, zone(args.tz))
    db = open_database(args.db)
    try:
        db.migrate()
        with db.transaction():
            db.executemany(UPSERT_CTI, rows)
    finally:
        db.close()
    print(f"{len(rows)} hourly CTI counts imported")
    return 0
