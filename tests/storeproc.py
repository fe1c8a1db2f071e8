"""The tests' `callqa-central store` child process (callqa_lab/testproc.py, shared with `callqa bench`),
row-count polling for assertions, and a time zone in which it is noon now."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from callqa_central.db import open_database
from callqa_lab.testproc import StoreProcess

__all__ = ["StoreProcess", "count", "noon_zone", "wait_for_count"]


def noon_zone() -> str:
    """A zone where it is about noon now, so that now is in working hours 06:00-18:00 whenever a test runs."""
    offset = (12 - datetime.now(timezone.utc).hour + 12) % 24 - 12
    return f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"


def count(db_url: str, sql: str) -> int:
    db = open_database(db_url)
    try:
        return db.rows(sql)[0][0]
    finally:
        db.close()


def wait_for_count(db_url: str, sql: str, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        try:
            n = count(db_url, sql)
        except Exception:  # noqa: BLE001 - tables appear once the first store has migrated
            n = -1
        if n >= expected:
            return n
        time.sleep(0.05)
    return n
