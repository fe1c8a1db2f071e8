"""Central QA knows every box: online or offline (statuses and the last will, in the right order),
silent lines in working hours, boxes losing messages, the period reports' spells and coverage,
and fleet alerts, on SQLite and PostgreSQL and through a real Mosquitto."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callqa_central.coverage import period_fleet
from callqa_central.db import open_database
from callqa_central.errors import ConfigError
from callqa_central.fleet import FleetRules, WorkingHours, fleet_view, parse_working_days, read_closed_dates
from callqa_central.periods import parse_period
from callqa_central.queries import Scope
from callqa_central.writer import Received, StoreWriter
from callqa_contract.messages import validation_errors
from callqa_lab.simulate import make_callscore, publish_all, score_message, status_message
from tests.mqtt_helpers import Collector, config_toml
from tests.postgres import postgres_cluster  # noqa: F401 - fixture
from tests.storeproc import StoreProcess, noon_zone, wait_for_count

REPO = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Shanghai")
RULES = FleetRules(WorkingHours.parse("08:00-20:00", TZ))
NOON = datetime(2025, 6, 2, 12, 0, tzinfo=TZ)  # a Monday at the centre


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/store.sqlite"
    return request.getfixturevalue("postgres_cluster").new_database()


def write(db_url: str, messages: list[tuple[str, bytes]], received: datetime = NOON) -> None:
    db = open_database(db_url)
    db.migrate()
    try:
        at = received.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        StoreWriter(db, "callqa/v1").write([Received(t, p, at) for t, p in messages])
    finally:
        db.close()


def box_row(db_url: str, box: str) -> tuple:
    db = open_database(db_url)
    try:
        return db.rows("SELECT state, session_connected, created_utc, dropped FROM boxes WHERE box = ?", (box,))[0]
    finally:
        db.close()


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


def status(box: str, state: str, created: float, connected: float | None, started: float = 0, **counters):
    session = None if connected is None else (at(started), at(connected))
    return status_message("s1", "g1", box, state, at(created), session, **counters)


def test_statuses_in_any_order_keep_the_newest_state_and_the_will_beats_its_own_connection(db_url):
    # One connection (set up at minute 0): two online statuses, then its last will, made at minute 0.
    connection = [status("b", "online", 1, 0), status("b", "online", 2, 0, dropped=1), status("b", "offline", 0, 0)]
    for n, order in enumerate(itertools.permutations(connection)):
        write(db_url, [order[0]])
        for message in order[1:]:  # one by one, as separate batches
            write(db_url, [message])
        write(db_url, [(t.replace("/b/", f"/b{n}/"), p.replace(b'"id": "b"', f'"id": "b{n}"'.encode()))
                       for t, p in order])
        assert box_row(db_url, f"b{n}")[0] == "offline", order
    assert box_row(db_url, "b")[0] == "offline"
    assert box_row(db_url, "b")[3] == 1  # the offline will keeps the last known counters
    # The box reconnects (minute 10); a stale online and the old will arriving late change nothing.
    write(db_url, [status("b", "online", 11, 10)])
    write(db_url, [status("b", "online", 3, 0), status("b", "offline", 0, 0)])
    assert box_row(db_url, "b")[:3] == ("online", "2025-06-02T04:10:00.000000Z", "2025-06-02T04:11:00.000000Z")
    # A new process (started minute 20) beats anything of the old one, whatever its times.
    write(db_url, [status("b", "online", 19, 19, started=20), status("b", "offline", 30, 30, started=0)])
    assert box_row(db_url, "b")[0] == "online"
    # A box older than `session`: ordered by created alone, so it comes back online after a stop.
    write(db_url, [status("old", "online", 1, None), status("old", "offline", 2, None)])
    assert box_row(db_url, "old")[0] == "offline"
    write(db_url, [status("old", "online", 3, None), status("old", "offline", 2, None)])
    assert box_row(db_url, "old")[0] == "online"
    db = open_database(db_url)
    try:  # every status is history, once
        assert db.rows("SELECT COUNT(*), COUNT(DISTINCT msg_id) FROM box_status WHERE box = 'b'")[0] == (8, 8)
    finally:
        db.close()


def score(box: str, line: str, start: datetime, k: int = 0) -> tuple[str, bytes]:
    return score_message(make_callscore("s1", "g1", box, line, start, k))


def fill_fleet(db_url: str) -> None:
    """At noon, all online since 08:00: 'gone' went offline at 10:59 (last heard), 'quiet' has l2 silent
    since 09:10, 'lossy' dropped 3, 'fine' is fine. Lines score a call every hour until then."""
    write(db_url, [status(b, "online", -240, -240, lines=("l1", "l2")) for b in ("gone", "quiet", "lossy", "fine")],
          received=at(-240))
    write(db_url, [status("gone", "online", -61, -240)], received=at(-61))
    write(db_url, [status("gone", "offline", -240, -240), status("lossy", "online", -30, -240, dropped=3)],
          received=at(-60))
    calls = {b: [-230, -170, -110, -50, -20] for b in ("quiet", "lossy", "fine")} | {"gone": [-230, -170, -110]}
    write(db_url, [score(b, ln, at(m), k) for b, minutes in calls.items() for ln in ("l1", "l2") for k, m in
                   enumerate(minutes) if (b, ln) != ("quiet", "l2") or m < -140])


def test_the_boxes_view_shows_offline_silent_and_losing_first_with_how_long(db_url):
    fill_fleet(db_url)
    db = open_database(db_url)
    try:
        view = fleet_view(db, RULES, at=NOON)
    finally:
        db.close()
    assert [b.box for b in view.boxes] == ["gone", "quiet", "lossy", "fine"]
    gone, quiet, lossy, fine = view.boxes
    assert gone.offline and gone.since == at(-61) and not gone.silent_lines  # last heard online
    assert [(ln.line, ln.silent_since) for ln in quiet.silent_lines] == [("l2", at(-170))]
    assert lossy.losing and lossy.dropped == 3 and not lossy.silent_lines
    assert not (fine.offline or fine.silent_lines or fine.losing)
    assert quiet.lines[0].last_call == at(-20) and sum(quiet.lines[0].hourly) == 5


def test_silence_counts_working_hours_only():
    hours = WorkingHours.parse("08:00-20:00", TZ)
    evening = datetime(2025, 6, 1, 19, 30, tzinfo=TZ)
    assert hours.seconds_between(evening, datetime(2025, 6, 2, 8, 30, tzinfo=TZ)) == 3600
    assert not RULES.silent(evening, datetime(2025, 6, 2, 9, 29, tzinfo=TZ))
    assert RULES.silent(evening, datetime(2025, 6, 2, 9, 30, tzinfo=TZ))
    assert hours.back_from(datetime(2025, 6, 2, 9, 0, tzinfo=TZ), 7200) == evening - timedelta(minutes=30)


def test_weekends_and_public_holidays_are_not_working_time(tmp_path):
    # 2025-06-02 is a Monday; the centre works Monday to Friday and is closed on Tuesday 3 June.
    holidays = tmp_path / "closed.txt"
    holidays.write_text("# public holidays\n2025-06-03  Dragon Boat (example)\n", encoding="utf-8")
    hours = WorkingHours.parse("08:00-20:00", TZ, "mon-fri", read_closed_dates(holidays))
    friday_evening = datetime(2025, 5, 30, 19, 0, tzinfo=TZ)
    monday = datetime(2025, 6, 2, 9, 0, tzinfo=TZ)
    assert hours.seconds_between(friday_evening, monday) == 2 * 3600  # Friday 19-20, Monday 08-09
    assert not hours.contains(datetime(2025, 5, 31, 12, 0, tzinfo=TZ))  # Saturday noon
    assert not hours.contains(datetime(2025, 6, 3, 12, 0, tzinfo=TZ))  # the holiday
    assert hours.contains(datetime(2025, 6, 4, 12, 0, tzinfo=TZ))
    assert hours.back_from(monday, 2 * 3600) == friday_evening
    rules = FleetRules(hours)
    # A line quiet since Friday evening is not silent on Monday at 08:30 (1.5 working hours)...
    assert not rules.silent(friday_evening, datetime(2025, 6, 2, 8, 30, tzinfo=TZ))
    # ...nor through the holiday, but it is by Wednesday at 09:00.
    assert not rules.silent(datetime(2025, 6, 2, 19, 30, tzinfo=TZ), datetime(2025, 6, 3, 23, 0, tzinfo=TZ))
    assert rules.silent(datetime(2025, 6, 2, 19, 30, tzinfo=TZ), datetime(2025, 6, 4, 9, 30, tzinfo=TZ))
    assert parse_working_days("sat-mon") == {5, 6, 0} and parse_working_days("mon,wed") == {0, 2}


def test_bad_working_days_and_closed_dates_are_refused_naming_the_option_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"--working-days 'weekdays': use day names such as mon-fri"):
        parse_working_days("weekdays")
    bad = tmp_path / "closed.txt"
    bad.write_text("2025-06-03\n2025-13-01\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"--closed-dates .*closed.txt, line 2: '2025-13-01' is not a YYYY-MM-DD date"):
        read_closed_dates(bad)
    with pytest.raises(ConfigError, match=r"--closed-dates .*absent.txt: No such file"):
        read_closed_dates(tmp_path / "absent.txt")


def test_the_daily_report_says_which_boxes_were_offline_or_silent_and_gives_coverage(db_url, tmp_path):
    fill_fleet(db_url)
    # Usual level: 'fine' scored one call on l1 at 09:00 on each of the 4 Mondays before.
    write(db_url, [score("fine", "l1", NOON - timedelta(weeks=k, hours=3), k) for k in range(1, 5)])
    db = open_database(db_url)
    try:
        f = period_fleet(db, Scope(), parse_period("daily", "2025-06-02", TZ), RULES, at=NOON)
    finally:
        db.close()
    assert [(s.name, f"{s.first:%H:%M}", f"{s.last:%H:%M}", s.ongoing) for s in f.offline] == [
        ("s1/g1/gone", "10:59", "12:00", True)]
    # 10:00 and 11:00 without a call; an offline box is offline, not silent.
    assert [(s.name, f"{s.first:%H:%M}", f"{s.last:%H:%M}") for s in f.silent] == [
        ("s1/g1/quiet line l2", "10:00", "12:00")]
    assert [(r.box, r.scored, r.expected) for r in f.coverage if r.box == "fine"] == [("fine", 10, 1.0)]
    # With the site's CTI counts, the seat group is counted against calls taken instead.
    cti = tmp_path / "cti.csv"
    cti.write_text("site,group,hour,calls\ns1,g1,2025-06-02T11:00,40\ns1,g1,2025-06-02T10:00+08:00,26\n")
    proc = central("cti", str(cti), "--db", db_url, "--tz", "Asia/Shanghai")
    assert proc.returncode == 0 and "2 hourly CTI counts imported" in proc.stdout, proc.stderr
    page = tmp_path / "daily.txt"
    proc = central("report", "daily", "--db", db_url, "--date", "2025-06-02", "--tz", "Asia/Shanghai", "--out", str(page))
    assert proc.returncode == 0, proc.stderr
    out = page.read_text(encoding="utf-8")
    assert "During 2025-06-02, 1 box was offline and" in out and "s1/g1/gone" in out and "quiet line l2" in out
    # In the two hours the CTI counted: gone 2 (l1, l2 at 10:10), quiet 3, lossy 6, fine 6 = 17 of 66 taken.
    assert "(seat group)" in out and "25.8 %" in out


def central(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callqa_central", *args], capture_output=True, text=True, timeout=120)


def test_box_killed_shows_offline_silent_and_losing_boxes_are_flagged_and_alerted_once(broker, tmp_path, db_url):
    zone = noon_zone()
    fleet = ["--tz", zone, "--working-hours", "06:00-18:00", "--offline-after", "0", "--fleet-check", "0.5"]
    alerts = Collector(broker.port, "callqa/v1/hq/fleet/alert")
    stores = [StoreProcess(broker.url, db_url, f"store-{n}", tmp_path, sites=("hq",), extra=fleet).start()
              for n in "ab"]
    config = tmp_path / "box.toml"
    config.write_text(config_toml({
        "box": {"site": "hq", "group": "g1", "id": "box1", "state_dir": str(tmp_path / "state")},
        "lines": [{"name": "l1", "source": "replay", "path": str(tmp_path)}],
        "mqtt": {"enabled": True, "url": broker.url, "status_interval_s": 0.5},
    }))
    box = subprocess.Popen([sys.executable, "-m", "tests.mqtt_box_driver", str(config), "--calls", "1",
                            "--run-for", "60"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        online = "SELECT COUNT(*) FROM boxes WHERE box = 'box1' AND state = 'online'"
        assert wait_for_count(db_url, online, 1, 30) == 1
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM calls WHERE box = 'box1'", 1, 30) == 1
        box.send_signal(signal.SIGKILL)  # no clean disconnect: only the last will says it is gone
        box.wait()
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM boxes WHERE box = 'box1' AND state = 'offline'", 1, 30) == 1
        # Two simulated boxes: 'quiet' online for 3 h with no call on l1, 'lossy' dropping messages.
        now = datetime.now(timezone.utc)
        publish_all(broker.url, [
            status_message("hq", "g1", "quiet", "online", now, (now - timedelta(hours=3),) * 2, lines=("l1",)),
            status_message("hq", "g1", "lossy", "online", now, (now, now), lines=(), dropped=4),
        ], "sim-boxes", retain=True)
        want = {("offline", "box1", None), ("silent", "quiet", "l1")}
        alerts.wait_for(lambda: {(d["body"]["condition"], d["body"]["box"], d["body"]["line"])
                                 for _, d, _ in alerts.messages} >= want, 30, "a fleet alert for each")
        time.sleep(2)  # a few more checks by both processes raise nothing new
        page = tmp_path / "boxes.txt"
        proc = central("report", "boxes", "--db", db_url, "--tz", zone, "--working-hours", "06:00-18:00",
                       "--out", str(page))
    finally:
        box.kill()
        for s in stores:
            s.stop()
    assert [(d["body"]["condition"], d["body"]["box"]) for _, d, _ in alerts.messages].count(("offline", "box1")) == 1
    assert len(alerts.messages) == 2 and not alerts.invalid
    assert all(validation_errors(d) == [] and "hq/g1/" in d["body"]["message"] for _, d, _ in alerts.messages)
    assert proc.returncode == 0, proc.stderr
    rows = [ln for ln in page.read_text(encoding="utf-8").splitlines() if "hq/g1/" in ln]
    assert [next(b for b in ("box1", "quiet", "lossy") if b in ln) for ln in rows[:3]] == ["box1", "quiet", "lossy"]
    assert "OFFLINE" in rows[0] and "l1 for 3 h" in rows[1] and "dropped 4" in rows[2]
